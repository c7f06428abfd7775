"""Dunning (Mahnwesen): per-organization settings and the scheduler's ``send_dunning_notices``.

A level is due for an open invoice ``days_after_due`` days after its due date (and, from the
second level on, at least as many days after the previous notice as the two levels are apart).
Each level is recorded once per invoice. Fees and interest are reported in the
``dunning.notice_sent`` event and in the notice; they never change the finalized invoice (a fee
invoice, if wanted, is a separate invoice). See docs/dunning.md.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from decimal import Decimal
from typing import Annotated, ClassVar, Literal
from uuid import UUID

from invoicing.domain.money import fits_minor_units
from invoicing.schemas.commands import ADMIN, Command
from invoicing.schemas.common import (
    Contract,
    CurrencyCode,
    NonNegativeDec,
    Percent,
    rule_error,
)
from invoicing.schemas.sending import CopyRecipients
from pydantic import Field, StringConstraints, ValidationInfo, field_validator, model_validator

DunningLocale = Literal["de", "en", "fr", "nl"]

#: placeholders a configured subject or body may use, written ``{name}``; values are inserted
#: as plain text and never interpreted again
PLACEHOLDERS = frozenset(
    {
        "level",
        "level_title",
        "number",
        "issue_date",
        "due_date",
        "days_overdue",
        "gross_total",
        "open_amount",
        "fee",
        "interest",
        "total_due",
        "earlier_fees",
        "flat_compensation",
        "payment_deadline",
        "seller_name",
        "contact_name",
        "iban",
        "reference",
    }
)
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")

Subject = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=250)]
Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20000)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


def _check_placeholders(text: str, where: str) -> None:
    unknown = sorted(set(_PLACEHOLDER.findall(text)) - PLACEHOLDERS)
    if unknown:
        raise ValueError(
            f"{where}: unknown placeholder {{{unknown[0]}}}; "
            f"known: {', '.join(sorted(PLACEHOLDERS))}"
        )


class DunningText(Contract):
    """The organization's own wording of one level in one language (else the defaults)."""

    subject: Subject | None = None
    body: Body | None = None

    @model_validator(mode="after")
    def _placeholders(self) -> DunningText:
        if self.subject is not None:
            _check_placeholders(self.subject, "subject")
        if self.body is not None:
            _check_placeholders(self.body, "body")
        return self


class DunningLevel(Contract):
    days_after_due: Annotated[int, Field(ge=1, le=730)] = Field(
        description="days after the due date from which this level is due"
    )
    fee: NonNegativeDec = Field(
        default=Decimal(0),
        description="dunning fee in the settings' currency (at most its minor units); a "
        "consumer is not charged it before default (Germany, § 286 BGB) nor on a Belgian "
        "consumer's first reminder, within its 14 days, without a damages clause or beyond the "
        "scale of art. XIX.4 WER (docs/dunning.md, Consumers)",
    )
    interest_rate_per_year: Percent | None = Field(
        default=None,
        description="a fixed default interest in percent per year on what was open each day "
        "from the first day of default (a business: the day after the due date; consumers: "
        "docs/dunning.md); reported only. Not with interest: statutory",
    )
    interest: Literal["statutory"] | None = Field(
        default=None,
        description="statutory: the legal default interest, day by day at the rate of each "
        "day's half-year: in Germany the Basiszinssatz + 9 points for a business debtor, + 5 "
        "for a consumer (§ 288 Abs. 1, 2 BGB); in Belgium, business debtors only, the ECB "
        "main refinancing rate + 8 points rounded up to a half point (law of 2 August 2002). "
        "Not with interest_rate_per_year",
    )
    flat_compensation: bool = Field(
        default=False,
        description="claim the EUR 40 flat compensation from business debtors on EUR invoices "
        "from this level on, once per invoice (§ 288 Abs. 5 BGB; Belgium: art. 6 law of 2 "
        "August 2002); dunning fees are credited against it",
    )
    payment_days: Annotated[int, Field(ge=1, le=90)] | None = Field(
        default=10,
        description="the notice sets a new payment deadline this many days after its date; "
        "null: none",
    )
    texts: dict[DunningLocale, DunningText] = Field(
        default_factory=dict, description="own subject/body per language; defaults otherwise"
    )

    @field_validator("interest")
    @classmethod
    def _one_interest(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("interest_rate_per_year") is not None:
            raise rule_error(
                "conflicting_attributes",
                "interest_rate_per_year (a fixed rate) and interest: statutory exclude each other",
                "give one of them on this level",
            )
        return value


class ReferenceRate(Contract):
    """A half-year's reference rate the shipped table does not know (yet): the Basiszinssatz
    for a seller in Germany, the ECB main refinancing rate on the half-year's first day for
    one in Belgium (the service adds the statutory points)."""

    half_year: dt.date = Field(description="its first day: 1 January or 1 July")
    country: Literal["DE", "BE"] | None = Field(
        default=None,
        description="the seller's country whose reference rate this is (DE: the "
        "Basiszinssatz, BE: the ECB rate); null: every seller's of the organization (one "
        "whose invoices all come from one country; with subsidiaries in both, give it)",
    )
    rate: Annotated[Decimal, Field(ge=-10, le=50, decimal_places=2)] = Field(
        description="percent per year, as published"
    )

    @field_validator("half_year")
    @classmethod
    def _starts_a_half_year(cls, value: dt.date) -> dt.date:
        if not (value.day == 1 and value.month in (1, 7)):
            raise rule_error(
                "invalid_attribute",
                f"{value.isoformat()} is not a half-year's first day",
                "give the half-year's first day: 1 January or 1 July",
            )
        return value


class BelgianConsumerTerms(Contract):
    """What the organization's contracts (general terms) with consumers provide, for sellers
    in Belgium (Code de droit économique / Wetboek van economisch recht, art. XIX.4)."""

    damages_clause: bool = Field(
        default=False,
        description="the contracts provide a flat damages amount for late payment: only then "
        "are a Belgian consumer's dunning fees claimed, after the free first reminder and its "
        "14 days, and at most the legal scale (20 euros up to a balance of 150, 30 + 10 % of the "
        "part above 150 up to 500, 65 + 5 % of the part above 500, at most 2,000)",
    )
    interest_clause: bool = Field(
        default=False,
        description="the contracts provide late-payment interest: only then is a Belgian "
        "consumer charged the level's interest_rate_per_year, after the free first reminder "
        "and its 14 days, each half-year at most the rate of art. 5 al. 2 of the law of 2 "
        "August 2002 (the ECB rate + 8 points, rounded up to the half point)",
    )


class DunningSettings(Contract):
    enabled: bool = True
    currency: CurrencyCode = Field(
        default="EUR", description="currency of the fees; invoices in another currency get none"
    )
    levels: list[DunningLevel] = Field(min_length=1, max_length=6)
    bcc: CopyRecipients = Field(
        default_factory=list, description="blind copies of every notice (e.g. the archive)"
    )
    attach_pdf: bool = Field(default=True, description="attach the invoice's frozen PDF")
    reference_rates: list[ReferenceRate] = Field(
        default_factory=list,
        max_length=40,
        description="half-years of the reference rate of statutory interest beyond the "
        "release's table (or correcting it), for this organization",
    )
    belgian_consumers: BelgianConsumerTerms = Field(
        default_factory=BelgianConsumerTerms,
        description="what the contracts with consumers provide, for sellers in Belgium "
        "(without a clause: no fee, no interest from a Belgian consumer)",
    )

    @model_validator(mode="after")
    def _ordered(self) -> DunningSettings:
        days = [level.days_after_due for level in self.levels]
        if any(b <= a for a, b in itertools.pairwise(days)):
            raise ValueError("levels must have strictly increasing days_after_due")
        for i, level in enumerate(self.levels):
            if not fits_minor_units(level.fee, self.currency):
                raise ValueError(
                    f"levels[{i}].fee {level.fee} has more decimals than {self.currency} allows"
                )
        for country in ("DE", "BE"):
            starts = [r.half_year for r in self.reference_rates if r.country in (None, country)]
            twice = sorted({d for d in starts if starts.count(d) > 1})
            if twice:
                raise ValueError(
                    f"reference_rates: half_year {twice[0].isoformat()} given twice for "
                    f"sellers in {country}"
                )
        return self

    def own_rates(self, country: str) -> dict[dt.date, Decimal]:
        """The organization's own half-years for a seller in ``country`` (those without a
        country apply to every seller)."""
        return {r.half_year: r.rate for r in self.reference_rates if r.country in (None, country)}

    def flat_compensation_from(self) -> int | None:
        """The first level (1-based) that claims the flat compensation, or None."""
        return next((n for n, lv in enumerate(self.levels, 1) if lv.flat_compensation), None)


class ConfigureDunning(Command):
    """Create or replace the organization's dunning levels, fees and texts."""

    type: Literal["configure_dunning"] = "configure_dunning"
    payload: DunningSettings
    scope: ClassVar[str] = ADMIN


class SendDunningNotices(Command):
    """Send the next due dunning level for every overdue, unpaid invoice (by the scheduler).

    Invoices are taken oldest due date first, at most ``max_notices`` per command; a later
    command (a new command id) continues with the rest. The command records one delivery job
    per notice; each notice is emailed after the commit in its own step and published as
    ``dunning.notice_sent`` (or ``invoice.delivery_failed``). A redelivered command sends no
    second email (the sending journal).
    """

    type: Literal["send_dunning_notices"] = "send_dunning_notices"

    class Payload(Contract):
        as_of: dt.date
        max_notices: Annotated[int, Field(ge=1, le=1000)] = 100

    payload: Payload


class DunningBlockSubject(Contract):
    """One invoice or one customer (every invoice of it), exactly one of the two."""

    invoice_id: UUID | None = Field(default=None, description="one invoice")
    customer_id: UUID | None = Field(default=None, description="every invoice of one customer")

    @model_validator(mode="after")
    def _one(self) -> DunningBlockSubject:
        if (self.invoice_id is None) == (self.customer_id is None):
            raise ValueError("give exactly one of invoice_id and customer_id")
        return self


class BlockDunning(Command):
    """Stop dunning one invoice or every invoice of one customer (Mahnsperre), e.g. while an
    invoice is disputed or a customer is in insolvency proceedings.

    A run (``send_dunning_notices``) leaves a blocked invoice out while the block holds on its
    ``as_of`` (every day up to ``until``; without ``until``, until ``lift_dunning_block``), and a
    notice scheduled before the block was set is not sent. Blocking again replaces ``until``
    and ``reason``. Published as ``dunning_block.set``. Nothing else changes: the invoice stays
    open and overdue, and its levels go on where they stopped once the block ends."""

    type: Literal["block_dunning"] = "block_dunning"

    class Payload(DunningBlockSubject):
        until: dt.date | None = Field(
            default=None, description="the last day of the block; none: until lifted"
        )
        reason: Reason | None = Field(default=None, description="why, for the dunning clerk")

    payload: Payload


class LiftDunningBlock(Command):
    """End a block of ``block_dunning`` before its ``until``: the next run duns the invoice (or
    the customer's invoices) again. Published as ``dunning_block.lifted``."""

    type: Literal["lift_dunning_block"] = "lift_dunning_block"
    payload: DunningBlockSubject
