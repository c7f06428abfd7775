#!/usr/bin/env bash
# Install the fonts the PDF documents are set in (idempotent; called by scripts/setup.sh).
#
# Typst's own fonts cover Latin only. Customer text may hold any script, so the renderer
# (src/documents/pdf/fonts.py) falls back through Noto fonts for Latin/Greek/Cyrillic, Arabic,
# Hebrew, CJK and emoji, and embeds what it uses (PDF/A-3b). Without these packages nothing
# fails: characters no available font covers print as a visible U+FFFD replacement.
#
#   fonts-noto-core         Noto Sans / Serif (Latin, Greek, Cyrillic), Noto Sans Arabic, Hebrew
#   fonts-noto-cjk          Noto Sans CJK (Chinese, Japanese, Korean)
#   fonts-noto-color-emoji  Noto Color Emoji
#
# INVOICING_SKIP_FONTS=1 skips the step (e.g. in an image that ships the fonts another way).
set -euo pipefail
PACKAGES=(fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji)
if [ "${INVOICING_SKIP_FONTS:-0}" = "1" ]; then
  exit 0
fi
missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-fonts: no apt-get; install Noto fonts for ${missing[*]} by hand" \
    "(documents still render; uncovered characters print as U+FFFD)" >&2
  exit 0
fi
SUDO=()
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo -n)
  else
    echo "ensure-fonts: not root and no sudo; missing ${missing[*]}" \
      "(documents still render; uncovered characters print as U+FFFD)" >&2
    exit 0
  fi
fi
echo "ensure-fonts: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; then
  "${SUDO[@]}" apt-get update -q >/dev/null
  "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
