"""Email addresses: syntax checked with email-validator (no DNS look-up)."""

from __future__ import annotations

from collections.abc import Sequence

from email_validator import EmailNotValidError, validate_email


def normalize_email(value: str) -> str | None:
    """The normalized address, or None when ``value`` is not an email address.

    CR and LF are never accepted, so an address can't smuggle in a mail header.
    """
    if "\r" in value or "\n" in value:
        return None
    try:
        return str(validate_email(value, check_deliverability=False).normalized)
    except EmailNotValidError:
        return None


def distinct_recipients(
    to: Sequence[str], cc: Sequence[str], bcc: Sequence[str]
) -> tuple[list[str], list[str], list[str]]:
    """To, Cc and Bcc with each address once: the first occurrence stays (To before Cc before
    Bcc, each in its order) with its spelling, later ones that differ only in case (or in
    surrounding spaces) are left out. Mail servers deliver to case variants of one address as
    to one mailbox, so ``A@x.de`` beside ``a@x.de``, or an address in both To and Cc, made the
    recipient get the email twice."""
    seen: set[str] = set()

    def keep(addresses: Sequence[str]) -> list[str]:
        kept: list[str] = []
        for address in addresses:
            key = address.strip().casefold()
            if key not in seen:
                seen.add(key)
                kept.append(address)
        return kept

    return keep(to), keep(cc), keep(bcc)
