"""Money: Decimal only, the currency's ISO 4217 minor units, half-up rounding."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from functools import cache

from babel.core import get_global
from babel.numbers import get_currency_precision, get_territory_currencies

ZERO = Decimal(0)
HUNDRED = Decimal(100)


@cache
def _known_currencies() -> frozenset[str]:
    """ISO 4217 codes that are legal tender somewhere today (CLDR data through Babel).

    Historical currencies (DEM, BEF) and the X-codes (gold, test, SDR) are not invoiceable.
    """
    territories = get_global("territory_currencies").keys()
    codes: set[str] = set()
    for territory in territories:
        codes.update(get_territory_currencies(territory, tender=True))
    return frozenset(code for code in codes if not code.startswith("X") or code in _CFA)


_CFA = {"XAF", "XOF", "XPF", "XCD"}


def is_currency(code: str) -> bool:
    """True for an ISO 4217 code in use today (EUR, USD, JPY, KWD ...)."""
    return code in _known_currencies()


@cache
def minor_units(currency: str) -> int:
    """Number of decimals of the currency's minor unit (EUR 2, JPY 0, KWD 3)."""
    if not is_currency(currency):
        raise ValueError(f"unknown currency {currency!r}")
    return int(get_currency_precision(currency))


@cache
def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half-up (away from zero on a tie) to the currency's minor unit."""
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


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
