"""The Belgian structured communication (OGM/VCS, BT-83) a document asks its payer to quote.

Which documents get one: invoices (kind ``invoice``) of a Belgian seller in EUR — the rule the
renderers applied before the reference was stored (credit notes, quotes and every other seller
keep their number as BT-83). Assigned once at finalize (``handlers.payment_reference``),
stored on the invoice (``invoices.payment_reference``, unique per organization) and read by the
e-invoice, the PDF, the email and the EPC QR code, so a bank reconciliation that matches an
incoming payment on the communication finds exactly one document.

An OGM is ten digits and two check digits (the ten digits mod 97, 97 for 0), written
``+++123/4567/89012+++``. The first choice is derived from the invoice number as before (its
last ten digits, left-padded with zeros), which customers recognize. When another document of
the organization already holds it (an invoice of a subsidiary's own series, a series whose
pattern changed: the same digits), the next candidate in a fixed order is taken:

    candidate(i) = (base + (i mod 100) * 10**8 + i // 100) mod 10**10,  i = 0, 1, 2, ...

``i`` from 1 to 99 writes a disambiguator into the two leading digits and keeps the number's
last eight digits (``F-2026-0001`` -> ``20260001``) visible; i = 100 ... continue with the
same leading digits plus one, two, ... in the last ones. The map from ``i`` to the ten digits
is one-to-one over 0 <= i < 10**10, so the sequence never repeats itself; zero (not a valid
OGM) is skipped. No counter, nothing random: the same number and the same taken references give
the same choice, and nothing depends on gaps.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator

from invoicing.domain.errors import DomainError
from stdnum.be import ogm_vcs

#: candidates looked up in one statement (``handlers.payment_reference``)
BATCH = 100
_SPACE = 10**10
_SEPARATORS = re.compile(r"[\s+*/.\-]")


def gets_structured_communication(
    kind: str, currency: str | None, seller_country: str | None
) -> bool:
    """Whether a document's BT-83 is an OGM: an invoice of a Belgian seller in EUR."""
    return kind == "invoice" and currency == "EUR" and seller_country == "BE"


def number_digits(number: str) -> int:
    """The number's digits, the last ten when longer, as an integer (0 when it has none)."""
    digits = "".join(ch for ch in number if ch.isdigit())[-10:]
    return int(digits) if digits else 0


def formatted(value: int) -> str:
    """``+++ddd/dddd/ddddd+++`` for the ten digits ``value`` (1 <= value < 10**10)."""
    digits = str(value).rjust(10, "0")
    return f"+++{ogm_vcs.format(digits + ogm_vcs.calc_check_digits(digits))}+++"


def derive(number: str) -> str:
    """The structured communication derived from an invoice number (its last ten digits):
    the first choice at finalize, and what a document finalized before the reference was
    stored (migration 0036_payment_reference) said."""
    base = number_digits(number)
    if base == 0:
        raise DomainError(
            "payment_reference_impossible",
            f"the invoice number {number} has no digits for a structured communication",
        )
    return formatted(base)


def candidate_values(base: int) -> Iterator[int]:
    """The ten-digit values in the order they are tried (see the module's docstring)."""
    for i in range(_SPACE):
        value = (base + (i % 100) * 10**8 + i // 100) % _SPACE
        if value:
            yield value


def candidates(number: str, start: int = 0, count: int = BATCH) -> list[str]:
    """``count`` formatted candidates from the ``start``-th on (the first is :func:`derive`'s
    value). Empty when the number has no digits."""
    base = number_digits(number)
    if base == 0:
        return []
    out: list[str] = []
    for n, value in enumerate(candidate_values(base)):
        if n >= start + count:
            break
        if n >= start:
            out.append(formatted(value))
    return out


def first_free(choices: list[str], taken: Collection[str]) -> str | None:
    """The first of ``choices`` not in ``taken`` (None: all taken, look at the next batch)."""
    return next((c for c in choices if c not in taken), None)


def normalize(text: str) -> str | None:
    """A structured communication as a payer or a bank writes it (``+++123/4567/89012+++``,
    ``***…***``, ``123/4567/89012``, ``123456789012``, with spaces, dots or dashes) in the
    stored form; None when it is not twelve digits with valid check digits."""
    digits = _SEPARATORS.sub("", text)
    if len(digits) != 12 or not digits.isascii() or not digits.isdigit():
        return None
    if not ogm_vcs.is_valid(digits):
        return None
    return f"+++{ogm_vcs.format(digits)}+++"
