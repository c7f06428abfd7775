"""Gross amounts whose VAT DATEV extracts to the cent the ledger states (docs/datev.md).

DATEV books a gross amount on an automatic account (or on an account with a BU key) as net and
VAT, taking the VAT out of the gross as round_half_up(gross x r / (100 + r)). An invoice's group
gross always comes back to its own VAT that way (its VAT is the group's net x r, rounded once;
reference/datev.md section 4). A correction that takes what *remains* of a group (the last
credit note, a void after partial credit notes, a partial write-off) carries the VAT that
remains there, which can be a cent or two away from what DATEV would extract from its gross;
so can a foreign-currency group, whose net and VAT are converted one by one.

Such a row is booked as a few rows of the same account, Debitor, date and Belegfeld 1 (the
further ones' text marked ``USt-Rundung``, datev_db.py) whose amounts add up to the gross and
whose extracted VAT adds up to the ledger's VAT (``Extraction.split``). The revenue and VAT
accounts then hold the ledger's net and VAT to the cent, and the Debitor the same total. The
alternative, a correction booked on the VAT account itself (SKR03 1776 / SKR04 3806 with the
automatic switched off), would put a manual booking on an account the VAT return reads from
the automatic bookings; the split keeps every row an ordinary automatic booking. Pure code.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from functools import cached_property, lru_cache

#: the small amounts tried, in cents: every rounding between -1/2 and +1/2 cent occurs among
#: them closely enough at the usual rates
_LIMIT = 500
#: at most this many rows for one booking (a difference of up to about three cents)
_MAX_PIECES = 7
_HALF_CENT = Decimal("0.005")


@lru_cache(maxsize=64)
def extraction(rate: Decimal) -> Extraction:
    """The (cached) extraction at ``rate`` percent."""
    return Extraction(rate)


def _cents(amount: Decimal) -> int | None:
    """``amount`` in cents, or None when it has fractions of a cent."""
    scaled = amount.scaleb(2)
    cents = int(scaled)
    return cents if cents == scaled else None


class Extraction:
    """DATEV's VAT extraction at one rate: round_half_up(cents x r / (100 + r)), in integers."""

    def __init__(self, rate: Decimal) -> None:
        self.rate = rate
        self._base = 100 + rate
        self._cent_base = self._base / 100
        k = Fraction(rate) / (100 + Fraction(rate))
        self.num, self.den = k.numerator, k.denominator

    def cents(self, cents: int) -> int:
        """The VAT of ``cents`` of gross, in cents (either sign: half away from zero)."""
        value = (2 * abs(cents) * self.num + self.den) // (2 * self.den)
        return value if cents >= 0 else -value

    def vat(self, gross: Decimal) -> Decimal:
        """The VAT DATEV takes out of ``gross`` (an amount in cents)."""
        cents = _cents(gross)
        if cents is None:
            raise ValueError(f"{gross} is not an amount in cents")
        return Decimal(self.cents(cents)).scaleb(-2)

    def round_trips(self, gross: Decimal, vat: Decimal) -> bool:
        """Whether DATEV takes ``vat`` out of ``gross``: vat - 0.005 <= gross x r / (100 + r)
        < vat + 0.005, multiplied out (exact Decimal products, no division: the check runs on
        every taxed row of an export)."""
        if gross < 0:
            gross, vat = -gross, -vat
        low = (vat - _HALF_CENT) * self._base
        return low <= gross * self.rate < low + self._cent_base

    def split(self, gross: Decimal, vat: Decimal) -> list[Decimal]:
        """``gross`` as the fewest amounts of its sign, all different, that add up to it and
        whose extracted VAT adds up to ``vat``: ``[gross]`` when it round-trips already (and
        when no split exists: a VAT of the wrong sign or larger than the gross, or amounts
        with fractions of a cent; then DATEV's own figure stands). The largest comes first."""
        total, target = _cents(gross), _cents(vat)
        if total is None or target is None or self.rate <= 0 or total == 0:
            return [gross]
        if self.cents(total) == target:
            return [gross]
        sign = 1 if total > 0 else -1
        total, target = sign * total, sign * target
        if not 0 <= target <= total:
            return [gross]
        found = _pieces(self, total, target)
        if found is None:
            return [gross]
        return [Decimal(sign * p).scaleb(-2) for p in sorted(found, reverse=True)]

    @cached_property
    def roundings(self) -> list[tuple[int, int]]:
        """(c, d(c) x den) of the small amounts: how each rounds, in the denominator's units."""
        return [(c, self.cents(c) * self.den - c * self.num) for c in range(1, _LIMIT)]


def _pieces(e: Extraction, total: int, target: int) -> list[int] | None:
    """Small amounts (cents) and the rest, adding up to ``total``, whose extracted VAT adds up
    to ``target``.

    Each amount c rounds by d(c) = e(c) - c x k (k = r / (100 + r)), between -1/2 and +1/2.
    The rest R books ``target`` less what the small amounts extract exactly when
    D = target - (small amounts' VAT) - R x k lies in (-1/2, 1/2], the window of R's own
    rounding. Taking a small amount c moves D by -d(c). So: while D is outside the window,
    take the smallest amount that brings it inside, else the one that moves it furthest
    towards it (never past it: |d(c)| <= 1/2). All in integers scaled by k's denominator."""
    num, den = e.num, e.den
    chosen: list[int] = []
    rest, tgt = total, target
    while e.cents(rest) != tgt:
        if len(chosen) == _MAX_PIECES - 1:
            return None
        need = tgt * den - rest * num  # what the rest's rounding would have to be, x den
        best: int | None = None
        best_d = 0
        for c, dc in e.roundings:
            if c >= rest:
                break
            if c in chosen:
                continue
            after = 2 * (need - dc)
            if -den < after <= den and rest - c not in chosen:
                best = c
                break
            if (need > 0) == (dc > 0) and abs(dc) > best_d:
                best, best_d = c, abs(dc)
        if best is None:
            return None
        chosen.append(best)
        rest, tgt = rest - best, tgt - e.cents(best)
    if rest in chosen or rest <= 0:
        return None
    return [*chosen, rest]
