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
from invoicing.schemas.events import InvoiceState
from invoicing.texts import has, language, text

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

    @property
    def total_due(self) -> Decimal:
        return self.open_amount + self.fee + self.interest


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
    rate = ""
    if figures.interest_rate is not None:
        rate = fmt.number(figures.interest_rate)
    view.update(
        kind="dunning_notice",
        title=title,
        issue_date=fmt.date(figures.as_of),
        issue_date_label=t["dunning_date"],
        due_date="",
        valid_until="",
        delivery="",
        credited=None,
        legal_notes=[t["dunning_no_vat"]] if figures.fee or figures.interest else [],
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
        "interest_label": t["dunning_interest"].format(rate=rate) if rate else t["dunning_fee"],
        "total_due": fmt.money(figures.total_due),
        "pay_by": (
            t["dunning_pay_by"].format(
                amount=fmt.money(figures.total_due), date=fmt.date(figures.pay_by)
            )
            if figures.pay_by
            else ""
        ),
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


__all__ = ["DunningFigures", "dunning_view", "level_title", "render_dunning_notice"]
