"""The dunning notice as a document of its own (Zahlungserinnerung / Mahnung, PDF/A-3b).

Renders the notice itself from the invoice's state and the level's figures, with the same
layout as the invoice: letterhead, the overdue invoice, open amount, fee, interest and the
total due, payment details with an EPC QR code for the total, and the notes the level needs.
The dunning delivery (``handlers/dunning.py``) renders it through the process's renderer
(``render(state, template="dunning_notice", view=dunning_view(...))``), stores it like the
invoice's documents and attaches it to the notice's email, before the invoice's PDF.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from invoicing.documents.pdf.engine import PdfRenderer, default_renderer
from invoicing.documents.pdf.payment import payment_qr
from invoicing.documents.pdf.view import Formatter, build_view, payment_reference
from invoicing.domain.dunning import InterestPeriod, total_due
from invoicing.schemas.events import InvoiceState
from invoicing.texts import has, language, section, text

ZERO = Decimal(0)


@dataclass(frozen=True)
class DunningFigures:
    """What a dunning level claims on ``as_of`` (``handlers.dunning`` computes them)."""

    level: int
    as_of: dt.date
    days_overdue: int
    open_amount: Decimal
    fee: Decimal = ZERO
    interest: Decimal = ZERO
    interest_rate: Decimal | None = None
    pay_by: dt.date | None = None
    earlier_costs: Decimal = ZERO  # what the earlier notices claimed beside the principal
    flat_compensation: Decimal = ZERO
    credited: Decimal = ZERO  # fees credited against the flat compensation
    interest_periods: tuple[InterestPeriod, ...] = ()
    interest_basis: str | None = None  # de_business, de_consumer, be_business, be_consumer
    #: a Belgian consumer's first reminder (art. XIX.2 WER): the last day to pay without costs,
    #: the most the later levels' fees will claim, and whether interest will run after it
    free_until: dt.date | None = None
    announced_damages: Decimal | None = None
    announce_interest: bool = False

    @property
    def total_due(self) -> Decimal:
        return total_due(self)


@dataclass(frozen=True)
class ClaimLines:
    """The notice's lines beyond principal, fee and interest, worded in one language (the
    email's rows; the PDF has its own table). Empty strings where there is nothing to say."""

    earlier_costs: str
    flat_compensation: str
    credited: str
    interest_basis: str
    pay_by: str
    deadline: str
    consumer_note: str = ""


def _country(state: InvoiceState) -> str:
    seller = state.seller
    return ((seller.address.country_code if seller and seller.address else "") or "").upper()


def _interest_label(figures: DunningFigures, lang: str, fmt: Formatter) -> str:
    """What the interest is: its legal basis (statutory) or its one rate; the periods of a
    rate that changed within the interest period follow in :func:`_period_lines`."""
    t = section("pdf", lang)
    if figures.interest_basis:
        basis = text(f"dunning.basis.{figures.interest_basis}", lang)
        return t["dunning_interest_basis"].format(basis=basis)
    if figures.interest_rate is not None:
        return t["dunning_interest"].format(rate=fmt.number(figures.interest_rate))
    return t["dunning_fee"]


def _period_lines(figures: DunningFigures, lang: str, fmt: Formatter) -> list[tuple[str, str]]:
    if not figures.interest_basis:
        return []
    t = section("pdf", lang)
    return [
        (
            t["dunning_interest_period"].format(
                start=fmt.date(p.start), end=fmt.date(p.end), rate=fmt.number(p.rate)
            ),
            fmt.money(p.amount),
        )
        for p in figures.interest_periods
    ]


def claim_lines(figures: DunningFigures, state: InvoiceState, lang: str) -> ClaimLines:
    lang = language(lang)
    fmt = Formatter(lang, state.currency)
    t = section("pdf", lang)

    def line(label: str, amount: str) -> str:
        return text("dunning.line", lang, label=label, amount=amount)

    law = text(f"dunning.law.{_country(state)}", lang) if _country(state) in ("DE", "BE") else ""
    basis = ""
    if figures.interest and figures.interest_basis:
        rows = [_interest_label(figures, lang, fmt)]
        rows += [f"  {label}: {amount}" for label, amount in _period_lines(figures, lang, fmt)]
        basis = "\n".join(rows)
    return ClaimLines(
        earlier_costs=(
            line(t["dunning_earlier_costs"], fmt.money(figures.earlier_costs))
            if figures.earlier_costs
            else ""
        ),
        flat_compensation=(
            line(
                t["dunning_flat_compensation"].format(law=law), fmt.money(figures.flat_compensation)
            )
            if figures.flat_compensation
            else ""
        ),
        credited=(
            line(t["dunning_credited"], "-" + fmt.money(figures.credited))
            if figures.credited
            else ""
        ),
        interest_basis=basis,
        pay_by=(
            t["dunning_pay_by"].format(
                amount=fmt.money(figures.total_due), date=fmt.date(figures.pay_by)
            )
            if figures.pay_by
            else ""
        ),
        deadline=fmt.date(figures.pay_by) if figures.pay_by else "",
        consumer_note=consumer_note(figures, lang, fmt),
    )


def consumer_note(figures: DunningFigures, lang: str, fmt: Formatter) -> str:
    """A Belgian consumer's first reminder says until when the consumer may pay without costs,
    interest or damages, and what will be claimed after (art. XIX.2 WER); empty otherwise."""
    if figures.free_until is None:
        return ""
    parts = [text("dunning.free_until", lang, date=fmt.date(figures.free_until))]
    if figures.announced_damages:
        parts.append(
            text("dunning.free_until.damages", lang, amount=fmt.money(figures.announced_damages))
        )
    if figures.announce_interest:
        parts.append(text("dunning.free_until.interest", lang))
    return " ".join(parts)


def level_title(level: int, lang: str) -> str:
    """German practice: level 1 is the friendly Zahlungserinnerung, then 1., 2. ... Mahnung
    (texts ``dunning.level.<n>`` of the catalog); the notice's PDF, its email's subject and
    the event's title all take it from here."""
    key = f"dunning.level.{level}"
    return text(key, lang) if has(key) else text("dunning.level.n", lang, number=level - 1)


def dunning_view(state: InvoiceState, figures: DunningFigures) -> dict[str, Any]:
    """The invoice's view with the notice's title, dates, figures and payment block."""
    view = build_view(state)
    lang = language(view["lang"])
    fmt = Formatter(lang, state.currency)
    t = view["t"]
    title = level_title(figures.level, lang)
    contact = view["buyer"]["contact_name"]
    greeting = (
        text("mail.greeting.named", lang, name=contact)
        if contact
        else text("mail.greeting.anonymous", lang)
    )
    values = {
        "number": state.number or "",
        "issue_date": fmt.date(state.issue_date),
        "due_date": fmt.date(state.due_date),
    }
    body = (
        text("dunning.first", lang, **values)
        if figures.level == 1
        else text("dunning.later", lang, days=figures.days_overdue, **values)
    )
    reference = payment_reference(state) or ""
    qr = ""
    seller = state.seller
    if state.currency == "EUR" and seller is not None and seller.iban:
        qr = payment_qr(
            name=seller.name,
            iban=seller.iban,
            bic=seller.bic,
            amount=figures.total_due,
            text=reference or None,
        )
    lines = claim_lines(figures, state, lang)
    law = text(f"dunning.law.{_country(state)}", lang) if _country(state) in ("DE", "BE") else ""
    view.update(
        kind="dunning_notice",
        title=title,
        issue_date=fmt.date(figures.as_of),
        issue_date_label=t["dunning_date"],
        due_date="",
        valid_until="",
        delivery="",
        credited=None,
        legal_notes=(
            [t["dunning_no_vat"]]
            if figures.fee or figures.interest or figures.earlier_costs or figures.flat_compensation
            else []
        )
        + ([lines.consumer_note] if lines.consumer_note else []),
        notes=text("dunning.already_paid", lang),
        meta={"title": f"{title} {state.number or ''}".strip(), "author": view["meta"]["author"]},
    )
    view["dunning"] = {
        "greeting": greeting,
        "body": body,
        "invoice_date": fmt.date(state.issue_date),
        "invoice_due": fmt.date(state.due_date),
        "days_overdue": str(figures.days_overdue),
        "invoice_amount": fmt.money(state.totals.gross_total),
        "open_amount": fmt.money(figures.open_amount),
        "fee": fmt.money(figures.fee) if figures.fee else "",
        "interest": fmt.money(figures.interest) if figures.interest else "",
        "interest_label": _interest_label(figures, lang, fmt),
        "interest_periods": [
            {"label": label, "amount": amount}
            for label, amount in _period_lines(figures, lang, fmt)
        ]
        if figures.interest
        else [],
        "earlier_costs": fmt.money(figures.earlier_costs) if figures.earlier_costs else "",
        "flat_compensation": (
            fmt.money(figures.flat_compensation) if figures.flat_compensation else ""
        ),
        "flat_compensation_label": t["dunning_flat_compensation"].format(law=law),
        "credited": "-" + fmt.money(figures.credited) if figures.credited else "",
        "total_due": fmt.money(figures.total_due),
        "pay_by": lines.pay_by,
    }
    view["payment"] = {
        "show": True,
        "terms": view["dunning"]["pay_by"],
        "reference": reference,
        "structured": reference.startswith("+++"),
        "qr_svg": qr,
    }
    return view


def render_dunning_notice(
    state: InvoiceState, figures: DunningFigures, *, renderer: PdfRenderer | None = None
) -> bytes:
    """The notice's PDF/A-3b (``dunning_notice.typ.j2``, overridable per organization)."""
    return (renderer or default_renderer()).render(
        state, template="dunning_notice", view=dunning_view(state, figures)
    )


__all__ = [
    "ClaimLines",
    "DunningFigures",
    "claim_lines",
    "dunning_view",
    "level_title",
    "render_dunning_notice",
]
