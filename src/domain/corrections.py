"""The date of a correction of an invoice: a credit note against it (full, partial, the credit
note of a void or of a change of recipient), a write-off, the reversal of a write-off.

A correction cannot precede the document it corrects: a credit note refers to the invoice it
corrects, by number and date, in Germany and in Belgium (../shared/reference/legal-texts.md,
"Credit notes"), and a write-off corrects the VAT in the period of its date (§ 17 UStG), which
cannot be a period before the invoice charged that VAT. So an explicit date earlier than the
invoice's issue date is refused (``date_before_invoice``, pointer at the date); the same day is
fine.

Without a date, a correction takes today on the organization's calendar; for an invoice dated
in the future (issue date after today) it takes the invoice's issue date instead, the earliest
day it may carry. Payments are not corrections (a payment before the invoice is a prepayment),
nor are standalone credit notes, which correct no single invoice. Pure code: dates come in, no
clock (docs/arithmetic.md, "Dates of corrections").
"""

from __future__ import annotations

import datetime as dt

from invoicing.domain.errors import DomainError


def check_not_before_invoice(
    day: dt.date, invoice_issued: dt.date | None, *, what: str, field: str
) -> None:
    """Refuse ``day``, the date of a correction (``what``: "credit note", "write-off", ...) sent
    as ``field`` of the payload, when it lies before ``invoice_issued``. An invoice without an
    issue date (never finalized) has nothing to compare with."""
    if invoice_issued is None or day >= invoice_issued:
        return
    issued = invoice_issued.isoformat()
    later = " (or leave issue_date out: it then takes today, or that day if later)"
    raise DomainError(
        "date_before_invoice",
        f"{field} {day.isoformat()} of the {what} is before the invoice's issue date {issued}; "
        "a correction cannot precede the invoice it corrects",
        pointer=f"/{field}",
        hint=f"date the {what} on or after {issued}" + (later if field == "issue_date" else ""),
    )


def correction_date(
    requested: dt.date | None, invoice_issued: dt.date | None, today: dt.date
) -> dt.date:
    """The date a credit note against an invoice issued on ``invoice_issued`` carries:
    ``requested`` (its ``issue_date``) when given, refused before the invoice's issue date,
    else the later of ``today`` (the organization's calendar day) and the invoice's issue
    date."""
    if requested is not None:
        check_not_before_invoice(requested, invoice_issued, what="credit note", field="issue_date")
        return requested
    return today if invoice_issued is None else max(today, invoice_issued)
