"""Money: Decimal only, the currency's ISO 4217 minor units, half-up rounding."""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from functools import cache

ZERO = Decimal(0)
HUNDRED = Decimal(100)


#: X-codes that are real currencies (CFA francs, CFP franc, East Caribbean dollar); the other
#: X-codes are gold, SDR, test and "no currency" codes, never invoiced.
_CFA = {"XAF", "XOF", "XPF", "XCD"}


@cache
def _iso_exponents() -> dict[str, int]:
    """ISO 4217 list one (current currencies and funds) -> minor unit, from the ``iso4217``
    package (which ships the ISO 4217 maintenance agency's table). Codes without a minor unit
    ("N.A.": gold, SDR, ...) are not currencies one invoices in."""
    from iso4217 import Currency

    return {
        c.code: int(c.exponent)
        for c in Currency
        if c.exponent is not None and (not c.code.startswith("X") or c.code in _CFA)
    }


def is_currency(code: str) -> bool:
    """True for an ISO 4217 code in use today (EUR, USD, JPY, KWD, CLF ...)."""
    return code in _iso_exponents()


def minor_units(currency: str) -> int:
    """Number of decimals of the currency's minor unit per ISO 4217 (EUR 2, HUF 2, JPY 0,
    KWD 3, CLF 4). CLDR (Babel) differs for some (HUF, IDR, COP 0; IQD 0): it says what is
    customary in cash, ISO what the currency is, and invoices follow ISO. Babel is used only to
    format numbers (``invoicing.texts.formatting``)."""
    try:
        return _iso_exponents()[currency]
    except KeyError:
        raise ValueError(f"unknown currency {currency!r}") from None


@cache
def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half-up (away from zero on a tie) to the currency's minor unit; never a negative
    zero (see ``rounder``)."""
    # positional: ``quantize``'s keyword parsing costs more than the rounding itself
    rounded = amount.quantize(quantum(currency), ROUND_HALF_UP)
    return rounded if rounded else rounded.copy_abs()


@cache
def rounder(currency: str) -> Callable[[Decimal], Decimal]:
    """``round_money(·, currency)`` with the currency's quantum looked up once: the read path
    rounds about 15 amounts per invoice. A plain function calling ``quantize`` with positional
    arguments: 181 ns a call against 652 ns for the ``functools.partial`` of ``quantize`` with
    keywords it was (the partial merges its keywords into a new dict at every call, which
    ``quantize`` then parses): 2.1 of a list page's 35.2 million instructions (session 23).

    Never a negative zero: ``quantize`` keeps the sign of what rounds to zero, and a zero
    rate's tax on a negative base (``-5.00 * 0``) is ``-0.00``, which events, documents and
    e-invoices would print as ``-0.00`` (EN 16931 BR-E-09 refuses it as an exempt group's
    tax). ``tests/unit/test_money.py``."""
    q = quantum(currency)

    def rounded(amount: Decimal) -> Decimal:
        result = amount.quantize(q, ROUND_HALF_UP)
        return result if result else result.copy_abs()

    return rounded


def fits_minor_units(amount: Decimal, currency: str) -> bool:
    """True when ``amount`` has no more decimals than the currency allows."""
    return amount == round_money(amount, currency)


def format_plain(amount: Decimal, currency: str) -> str:
    """Decimal string with exactly the currency's minor units, e.g. ``'1190.00'``."""
    return str(round_money(amount, currency))


def allocate(total: Decimal, weights: list[Decimal], currency: str) -> list[Decimal]:
    """Split ``total`` over ``weights`` pro rata so that the parts sum to ``total`` exactly.

    Largest-remainder method in minor units; ties go to the earliest weight. Used for document
    discounts spread over tax groups and for group nets spread over gross-entry lines.
    """
    if not weights:
        return []
    q = quantum(currency)
    units_total = int((total / q).to_integral_value())
    if round_money(total, currency) != total:
        raise ValueError("total must already be in minor units")
    weight_sum = sum(weights, ZERO)
    if weight_sum == 0:
        shares = [ZERO] * len(weights)
        shares[0] = total
        return shares
    exact = [Decimal(units_total) * w / weight_sum for w in weights]
    floors = [int(e.to_integral_value(rounding="ROUND_FLOOR")) for e in exact]
    remainder = units_total - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[: abs(remainder)]:
        floors[i] += 1 if remainder > 0 else -1
    return [Decimal(f) * q for f in floors]
