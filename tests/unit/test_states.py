"""The invoice state machine (invoicing.domain.states): every status against every action."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from invoicing.domain import states
from invoicing.domain.errors import InvalidState
from invoicing.domain.states import Status

ALL = [s.value for s in Status]
KINDS = ("invoice", "credit_note", "quote")
D0, D1 = Decimal(0), Decimal(1)

Check = Callable[[str, str], None]

#: action -> check(kind, status); the expected outcome per (kind, status) is in EXPECTED
ACTIONS: dict[str, Check] = {
    "edit": lambda k, s: states.check_editable(s, k, "X", frozen=False, action="edited"),
    "finalize": lambda k, s: states.check_finalizable(s, k, "RE-1", in_trash=False),
    "send": lambda k, s: states.check_sendable(s),
    "publish": lambda k, s: states.check_publishable(s),
    "credit": states.check_creditable,
    "void": lambda k, s: states.check_voidable(s, "RE-1"),
    "change_recipient": lambda k, s: states.check_recipient_changeable(s, D0, D0),
    "pay": states.check_payable,
    "delete_payment": lambda k, s: states.check_payment_deletable(s),
    "export": states.check_exportable,
}


def expected(action: str, kind: str, status: str) -> str | None:
    """The error code each (action, kind, status) gives; None where it is allowed."""
    if action == "edit":
        return None if status == "draft" else "invalid_state"
    if action == "finalize":
        return None if status == "draft" else "already_finalized"
    if action in ("send", "publish", "delete_payment"):
        return "invalid_state" if status == "void" else None
    if action == "credit":
        if kind != "invoice":
            return "invalid_kind"
        return "invalid_state" if status in ("draft", "void") else None
    if action == "void":
        return {"void": "already_void", "draft": "invalid_state"}.get(status)
    if action == "change_recipient":
        return "invalid_state" if status in ("draft", "void") else None
    if action == "export":
        if kind == "quote":
            return "invalid_kind"
        return "invalid_state" if status == "draft" else None
    if action == "pay":
        if kind != "invoice":
            return "invalid_kind"
        return None if status in ("finalized", "sent", "partially_paid") else "invalid_state"
    raise AssertionError(action)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("status", ALL)
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_every_action_in_every_status(action: str, status: str, kind: str) -> None:
    code = expected(action, kind, status)
    if code is None:
        ACTIONS[action](kind, status)
        return
    with pytest.raises(InvalidState) as exc:
        ACTIONS[action](kind, status)
    (error,) = exc.value.errors
    assert (error.code, error.status, error.pointer) == (code, "409", "/invoice_id")


def test_refusal_texts_and_hints_are_the_contract() -> None:
    def refusal(fn: Callable[[], None]) -> tuple[str, str]:
        with pytest.raises(InvalidState) as exc:
            fn()
        return exc.value.errors[0].detail, exc.value.errors[0].hint

    assert refusal(
        lambda: states.check_editable("sent", "invoice", "RE-7", frozen=False, action="edited")
    ) == (
        "invoice RE-7 is sent; only drafts can be edited",
        "correct a finalized invoice with issue_credit_note or void_invoice",
    )
    assert refusal(lambda: states.check_finalizable("paid", "invoice", "RE-7", in_trash=False)) == (
        "invoice RE-7 is already finalized",
        "",
    )
    assert refusal(lambda: states.check_finalizable("draft", "quote", None, in_trash=True)) == (
        "the invoice is in the trash",
        "restore_invoice first",
    )
    assert refusal(lambda: states.check_sendable("void")) == ("a void invoice cannot be sent", "")
    assert refusal(lambda: states.check_publishable("void"))[0] == (
        "a void invoice cannot be published"
    )
    assert refusal(lambda: states.check_creditable("quote", "sent"))[0] == (
        "a quote cannot be credited"
    )
    assert refusal(lambda: states.check_creditable("invoice", "draft")) == (
        "a draft invoice cannot be credited",
        "delete a draft instead",
    )
    assert refusal(lambda: states.check_creditable("invoice", "void")) == (
        "a void invoice cannot be credited",
        "",
    )
    assert refusal(lambda: states.check_voidable("void", "RE-7"))[0] == "RE-7 is already void"
    assert refusal(lambda: states.check_voidable("draft", None)) == (
        "a draft cannot be voided",
        "delete_invoice moves a draft to the trash",
    )
    assert refusal(lambda: states.check_open_to_void("RE-7", D0)) == (
        "RE-7 is fully paid; nothing is open to void",
        "issue_credit_note to refund it",
    )
    assert refusal(lambda: states.check_recipient_changeable("draft", D0, D0)) == (
        "a draft's customer can simply be changed",
        "update_invoice with customer_id",
    )
    assert refusal(lambda: states.check_payable("invoice", "paid")) == (
        "invoice not in SENT status: it is paid",
        "the invoice is already paid",
    )
    assert refusal(lambda: states.check_payable("invoice", "draft"))[1] == (
        "finalize_invoice or mark_sent first"
    )
    assert refusal(lambda: states.check_payable("credit_note", "sent"))[0] == (
        "a credit_note cannot receive payments"
    )
    assert refusal(lambda: states.check_payment_deletable("void"))[0] == (
        "payments of a void invoice cannot be deleted"
    )


def test_a_frozen_draft_is_not_editable() -> None:
    with pytest.raises(InvalidState):
        states.check_editable("draft", "invoice", "X", frozen=True, action="edited")


@pytest.mark.parametrize(("paid", "credited"), [(D1, D0), (D0, D1), (D1, D1)])
def test_a_paid_or_credited_invoice_keeps_its_recipient(paid: Decimal, credited: Decimal) -> None:
    with pytest.raises(InvalidState) as exc:
        states.check_recipient_changeable("partially_paid", paid, credited)
    assert (
        exc.value.errors[0].detail == "only an unpaid, uncredited invoice can change its recipient"
    )


def test_something_open_can_be_voided() -> None:
    states.check_open_to_void("RE-7", Decimal("0.01"))


@pytest.mark.parametrize("status", ALL)
def test_delivery_moves_only_finalized_to_sent(status: str) -> None:
    assert states.sent_status(status) == ("sent" if status == "finalized" else status)
    assert type(states.sent_status(status)) is str


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("status", ALL)
def test_only_numbered_live_invoices_settle(kind: str, status: str) -> None:
    assert states.takes_settlement(kind, status) == (
        kind == "invoice" and status not in ("draft", "void")
    )


@pytest.mark.parametrize(
    ("owed", "paid", "sent", "status"),
    [
        ("100", "0", False, "finalized"),
        ("100", "0", True, "sent"),
        ("100", "0.01", False, "partially_paid"),
        ("100", "99.99", True, "partially_paid"),
        ("100", "100", False, "paid"),
        ("100", "120", True, "paid"),  # overpaid: paid, the rest is the customer's credit
        ("0", "0", True, "sent"),  # fully credited, nothing paid: not "paid"
        ("0", "5", False, "paid"),
        ("-10", "0", False, "finalized"),
    ],
)
def test_settled_status(owed: str, paid: str, sent: bool, status: str) -> None:
    got = states.settled_status(Decimal(owed), Decimal(paid), sent=sent)
    assert got == status
    assert type(got) is str


def test_open_states_are_plain_strings_for_sql() -> None:
    assert states.OPEN_STATES == ("finalized", "sent", "partially_paid")
    assert all(type(s) is str for s in states.OPEN_STATES)
    assert [s for s in ALL if states.is_open(s)] == list(states.OPEN_STATES)
