"""Whether a write-off may correct the VAT, by the seller's law: the domain's decision with a
reason code, before the ledger takes the write-off (docs/arithmetic.md, "Write-offs").

Germany (§ 17 UStG): an uncollectible receivable (Abs. 2 Nr. 1) and a reduction of the price or
a cash discount taken (Abs. 1) correct the VAT in the period of the change; the seller judges
uncollectibility, nothing here can check it.

Belgium (Code TVA / WBTW art. 77 § 1): a price reduction granted after the supply or a cash
discount taken (2°) gives the VAT back; a lost receivable (7°) only when the loss is
established: the customer's insolvency (bankruptcy judgment, judicial reorganisation), a loss
shown definitive by the seller (every means of recovery used), or, since 1 January 2023, a
receivable still unpaid one year after its due date. A write-off that meets none of these is
refused: the VAT cannot be recovered yet, and the ledger only writes off with its VAT. The
conditions follow ../shared/reference/legal-texts.md; the formal steps the seller must take
beside it (informing the customer with a corrective document) stay with the seller.

Other sellers are not checked (``not_checked``). Pure code: dates come in, no clock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from invoicing.domain.errors import DomainError

Ground = Literal["insolvency", "definitive_loss"]

#: the Belgian one-year rule applies to write-offs from this day (art. 77 § 1, 7° as amended)
BE_ONE_YEAR_RULE_FROM = dt.date(2023, 1, 1)


@dataclass(frozen=True)
class VatDecision:
    """The write-off's VAT correction: ``code`` names the rule, ``law`` cites it."""

    code: str
    law: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "law": self.law}


def one_year_after(day: dt.date) -> dt.date:
    """The same calendar day a year later (29 February: 28 February)."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return day.replace(year=day.year + 1, day=28)


def _belgian(
    reason: str, ground: Ground | None, due_date: dt.date | None, day: dt.date
) -> VatDecision:
    if reason in ("small_difference", "cash_discount"):
        return VatDecision("be_price_reduction", "art. 77 § 1, 2° Code TVA / WBTW")
    if ground == "insolvency":
        return VatDecision("be_insolvency", "art. 77 § 1, 7° Code TVA / WBTW (insolvency)")
    if ground == "definitive_loss":
        return VatDecision("be_definitive_loss", "art. 77 § 1, 7° Code TVA / WBTW")
    earliest = max(one_year_after(due_date or day), BE_ONE_YEAR_RULE_FROM)
    if due_date is not None and day >= earliest:
        return VatDecision(
            "be_unpaid_one_year", "art. 77 § 1, 7° Code TVA / WBTW (unpaid a year after due)"
        )
    when = (
        f"from {earliest.isoformat()} (a year after the due date {due_date.isoformat()})"
        if due_date
        else "once the loss is established"
    )
    raise DomainError(
        "vat_not_recoverable",
        "under Belgian law the VAT of an uncollectible receivable is refunded only once the "
        "loss is established (art. 77 § 1, 7° Code TVA)",
        pointer="/reason",
        hint=(
            f"write it off {when}, or give ground 'insolvency' (bankruptcy or judicial "
            "reorganisation of the customer) or 'definitive_loss' (every means of recovery "
            "used)"
        ),
    )


def write_off_vat(
    seller_country: str | None,
    reason: str,
    ground: Ground | None,
    due_date: dt.date | None,
    day: dt.date,
) -> VatDecision:
    """Which rule lets a write-off of ``reason`` on ``day`` correct the VAT, for a seller in
    ``seller_country`` (ISO 3166 alpha-2); a ``DomainError`` when the seller's law does not
    (yet) allow it. ``ground``: the evidence an uncollectible write-off rests on."""
    country = (seller_country or "").upper()
    if country == "BE":
        return _belgian(reason, ground, due_date, day)
    if country == "DE":
        if reason == "uncollectible":
            return VatDecision("de_uncollectible", "§ 17 Abs. 2 Nr. 1 UStG")
        return VatDecision("de_price_reduction", "§ 17 Abs. 1 UStG")
    return VatDecision("not_checked", "")
