"""The invoice state machine: which command may act on a document in which status.

Pure rules over plain values (status, kind, amounts): no database, no ORM. Each ``check_*``
returns None when the action is allowed and raises the :class:`InvalidState` the command is
rejected with otherwise (codes, texts and pointers are part of the contract: clients and the
seeds match on them). The ``*_status`` functions give the status a document moves to.

Statuses (``invoices.status``)::

    draft ──finalize──▶ finalized ──send/mark_sent──▶ sent
                           │   ╲                        │
                           │    ╲──record_payment──▶ partially_paid ──▶ paid
                           ▼                             (settled_status, both ways)
                          void  ◀──void_invoice / full credit (from any open status)

Quotes and credit notes use draft, finalized, sent and void; only invoices take payments,
credits and the payment statuses.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from invoicing.domain.errors import InvalidState


class Status(StrEnum):
    DRAFT = "draft"
    FINALIZED = "finalized"
    SENT = "sent"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    VOID = "void"


#: a receivable: numbered, not paid in full, not void (what dunning and overdue look at)
OPEN_STATES: tuple[str, ...] = (
    Status.FINALIZED.value,
    Status.SENT.value,
    Status.PARTIALLY_PAID.value,
)
#: the statuses in which an invoice takes a payment
PAYABLE: tuple[str, ...] = OPEN_STATES

_POINTER = "/invoice_id"


def is_open(status: str) -> bool:
    return status in OPEN_STATES


def check_editable(
    status: str, kind: str, label: str, *, frozen: bool, action: str, pointer: str = _POINTER
) -> None:
    """Only a draft (not frozen by a pending delivery) can be changed; ``label`` names it,
    ``pointer`` is the payload field that named it (``/id`` in update_invoice)."""
    if status != Status.DRAFT or frozen:
        raise InvalidState(
            "invalid_state",
            f"{kind} {label} is {status}; only drafts can be {action}",
            pointer=pointer,
            hint="correct a finalized invoice with issue_credit_note or void_invoice",
        )


def check_finalizable(status: str, kind: str, number: str | None, *, in_trash: bool) -> None:
    if status != Status.DRAFT:
        raise InvalidState(
            "already_finalized", f"{kind} {number} is already finalized", pointer=_POINTER
        )
    if in_trash:
        raise InvalidState(
            "in_trash",
            "the invoice is in the trash",
            pointer=_POINTER,
            hint="restore_invoice first",
        )


def check_sendable(status: str) -> None:
    """send_invoice and mark_sent: anything but a void document (a draft is finalized first)."""
    if status == Status.VOID:
        raise InvalidState("invalid_state", "a void invoice cannot be sent", pointer=_POINTER)


def sent_status(status: str) -> str:
    """The status once the document has been delivered: only ``finalized`` moves (to sent)."""
    return Status.SENT.value if status == Status.FINALIZED else status


def check_publishable(status: str) -> None:
    if status == Status.VOID:
        raise InvalidState("invalid_state", "a void invoice cannot be published", pointer=_POINTER)


#: the kinds accounting books (DATEV, ``export_invoice``): never a quote
EXPORTABLE_KINDS = ("invoice", "credit_note")


def check_exportable(kind: str, status: str) -> None:
    """export_invoice: what accounting books, i.e. a finalized invoice or credit note (a void
    one too: it was booked and reversed); never a draft or a quote. The list filter
    ``export_status: unexported`` selects the same documents not yet exported."""
    if kind not in EXPORTABLE_KINDS:
        raise InvalidState(
            "invalid_kind", "a quote is not exported to accounting", pointer=_POINTER
        )
    if status == Status.DRAFT:
        raise InvalidState(
            "invalid_state",
            "a draft cannot be exported to accounting",
            pointer=_POINTER,
            hint="finalize it first",
        )


def check_creditable(kind: str, status: str) -> None:
    if kind != "invoice":
        raise InvalidState("invalid_kind", f"a {kind} cannot be credited", pointer=_POINTER)
    if status in (Status.DRAFT, Status.VOID):
        raise InvalidState(
            "invalid_state",
            f"a {status} invoice cannot be credited",
            pointer=_POINTER,
            hint="delete a draft instead" if status == Status.DRAFT else "",
        )


def check_voidable(status: str, number: str | None) -> None:
    """void_invoice (a quote is voided outright; an invoice also needs something open)."""
    if status == Status.VOID:
        raise InvalidState("already_void", f"{number} is already void", pointer=_POINTER)
    if status == Status.DRAFT:
        raise InvalidState(
            "invalid_state",
            "a draft cannot be voided",
            pointer=_POINTER,
            hint="delete_invoice moves a draft to the trash",
        )


def check_open_to_void(number: str | None, open_amount: Decimal) -> None:
    if open_amount == 0:
        raise InvalidState(
            "invalid_state",
            f"{number} is fully paid; nothing is open to void",
            pointer=_POINTER,
            hint="issue_credit_note to refund it",
        )


def check_recipient_changeable(status: str, paid: Decimal, credited: Decimal) -> None:
    if status == Status.DRAFT:
        raise InvalidState(
            "invalid_state",
            "a draft's customer can simply be changed",
            pointer=_POINTER,
            hint="update_invoice with customer_id",
        )
    if paid > 0 or credited > 0 or status == Status.VOID:
        raise InvalidState(
            "invalid_state",
            "only an unpaid, uncredited invoice can change its recipient",
            pointer=_POINTER,
            hint="issue_credit_note and create a new invoice instead",
        )


_UNPAYABLE_HINTS: dict[str, str] = {
    Status.DRAFT: "finalize_invoice or mark_sent first",
    Status.PAID: "the invoice is already paid",
    Status.VOID: "the invoice is void",
}


def check_payable(kind: str, status: str) -> None:
    if kind != "invoice":
        raise InvalidState("invalid_kind", f"a {kind} cannot receive payments", pointer=_POINTER)
    if status not in PAYABLE:
        raise InvalidState(
            "invalid_state",
            f"invoice not in SENT status: it is {status}",
            pointer=_POINTER,
            hint=_UNPAYABLE_HINTS.get(status, ""),
        )


def check_payment_deletable(status: str) -> None:
    if status == Status.VOID:
        raise InvalidState(
            "invalid_state", "payments of a void invoice cannot be deleted", pointer=_POINTER
        )


def takes_settlement(kind: str, status: str) -> bool:
    """Whether payments and credits decide the status (a numbered, non-void invoice)."""
    return kind == "invoice" and status not in (Status.DRAFT, Status.VOID)


def settled_status(owed: Decimal, paid: Decimal, *, sent: bool) -> str:
    """The payment status of a settling invoice: paid, partially paid, else sent or finalized.

    ``owed`` is gross less credited and written off; a zero invoice with no payment stays
    finalized/sent (nothing was paid).
    """
    if paid > 0 and paid >= owed:
        return Status.PAID.value
    if paid > 0:
        return Status.PARTIALLY_PAID.value
    return (Status.SENT if sent else Status.FINALIZED).value
