#!/usr/bin/env bash
# Make sure Debian's Chromium (and its WebDriver) is installed for the browser tests of the
# hosted invoice page (tests/e2e/test_web_browser.py). Idempotent; never downloads a browser
# build of its own: Playwright drives /usr/bin/chromium. Also poppler-utils: pdftoppm rasterizes
# a rendered PDF so that tests/unit/test_qr_code.py can scan the printed QR code.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
# fonts for the page's text (Chromium renders tofu without any)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]} from Debian" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v chromium >/dev/null 2>&1 || { echo "chromium is still missing" >&2; exit 1; }
