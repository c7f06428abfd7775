"""Email addresses: syntax checked with email-validator (no DNS look-up)."""

from __future__ import annotations

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
