"""``invoice_document``: the plain values ``invoice_state`` validates in one pydantic call.

The document is a dict, so a misspelt key would not fail: ``State`` ignores unknown keys (a
tolerant reader) and the field would quietly take its default. These tests build an invoice row
with every part present (lines with a discount, a payment at its own rate, a credit note and a
write-off in the ledger, a foreign currency, an integration export) and check that each dict the
mapping builds names exactly the fields of its model, then that the validated state holds the
values given.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from invoicing.domain.ledger import GroupAmount, Movement, MovementKind
from invoicing.domain.tax import TaxCategory
from invoicing.handlers.views import invoice_document, invoice_state
from invoicing.queries.rows import InvoiceRow, LineRow, PaymentRow
from invoicing.schemas.events import (
    InvoiceState,
    LedgerEntry,
    LedgerEntryGroup,
    LedgerGroup,
    LineState,
    Normalized,
    NormalizedGroup,
    PaymentState,
    Totals,
)
from pydantic import BaseModel

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
STANDARD = TaxCategory.STANDARD


def _row() -> InvoiceRow:
    inv_id = uuid.uuid4()
    groups = [
        {
            "category": STANDARD.value,
            "code": "S",
            "rate": "19",
            "lines_net": "1000.00",
            "allowance": "0.00",
            "taxable_amount": "1000.00",
            "tax_amount": "190.00",
        }
    ]
    credit = Movement(
        MovementKind.CREDIT,
        dt.date(2026, 3, 5),
        (GroupAmount(STANDARD, Decimal(19), Decimal("100.00"), Decimal("19.00")),),
        document_id=str(uuid.uuid4()),
        number="GS-1",
        reason="returned goods",
    )
    write_off = Movement(
        MovementKind.WRITE_OFF,
        dt.date(2026, 4, 1),
        (GroupAmount(STANDARD, Decimal(19), Decimal("10.00"), Decimal("1.90")),),
    )
    line = LineRow(
        id=uuid.uuid4(),
        invoice_id=inv_id,
        position=1,
        description="Consulting",
        subtitle="March",
        quantity=Decimal(10),
        unit="h",
        unit_price=Decimal("110.00"),
        tax_category=STANDARD.value,
        tax_rate=Decimal(19),
        base_amount=Decimal("1100.00"),
        discount_amount=Decimal("100.00"),
        amount=Decimal("1000.00"),
        net_amount=Decimal("1000.00"),
        budget_id="b-1",
        service_id="s-1",
        discount={"type": "amount", "value": "100.00"},
        billable_entry_ids=["e-1"],
    )
    payment = PaymentRow(
        id=uuid.uuid4(),
        invoice_id=inv_id,
        amount=Decimal("500.00"),
        date=dt.date(2026, 3, 10),
        method="bank_transfer",
        reference="ref",
        recorded_at=NOW,
        customer_payment_id=uuid.uuid4(),
        credit_entry_id=None,
        exchange_rate=Decimal("1.10"),
    )
    values: dict[str, Any] = dict.fromkeys(InvoiceRow._fields, None)
    values.update(
        organization_id=uuid.uuid4(),
        id=inv_id,
        kind="invoice",
        status="partially_paid",
        number="RE-1",
        issue_date=dt.date(2026, 3, 2),
        due_date=dt.date(2026, 3, 16),
        currency="USD",
        calculate_from_net=True,
        locale="de",
        line_net_total=Decimal("1000.00"),
        allowance_total=Decimal("0.00"),
        net_total=Decimal("1000.00"),
        tax_total=Decimal("190.00"),
        gross_total=Decimal("1190.00"),
        paid_amount=Decimal("500.00"),
        credited_amount=Decimal("119.00"),
        credited_net=Decimal("100.00"),
        written_off_amount=Decimal("11.90"),
        exchange_rate=Decimal("1.20"),
        exchange_rate_date=dt.date(2026, 3, 1),
        normalized_currency="EUR",
        overdue=False,
        dunning_level=2,
        dunned_on=dt.date(2026, 4, 1),
        default_note=True,
        exported_at=NOW,
        finalized_at=NOW,
        sent_at=NOW,
        created_at=NOW,
        updated_at=NOW,
        event_sequence=4,
        seller={"name": "Nordwind GmbH", "vat_id": "DE123456789"},
        buyer={"name": "Kunde AG"},
        subscriber_ids=["p-1"],
        tags=["a"],
        custom_fields={"priority": 3},
        discount=None,
        tax_breakdown=groups,
        legal_notes=["note"],
        ledger=[credit.to_json(), write_off.to_json()],
        credit_note_ids=[str(credit.document_id)],
        integration_exports={
            "lexoffice": {"integration": "lexoffice", "external_id": "x-1", "exported_at": NOW}
        },
        lines=[line],
        payments=[payment],
    )
    return InvoiceRow(**values)


def _names(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields)


def test_every_dict_names_exactly_its_models_fields() -> None:
    doc = invoice_document(_row())
    assert set(doc) == _names(InvoiceState)
    assert set(doc["totals"]) == _names(Totals)
    assert [set(x) for x in doc["lines"]] == [_names(LineState)]
    assert [set(x) for x in doc["payments"]] == [_names(PaymentState)]
    assert len(doc["tax_ledger"]) == 1
    assert set(doc["tax_ledger"][0]) == _names(LedgerGroup)
    assert len(doc["ledger_entries"]) == 2
    for entry in doc["ledger_entries"]:
        assert set(entry) == _names(LedgerEntry)
        assert [set(g) for g in entry["groups"]] == [_names(LedgerEntryGroup)]
    assert set(doc["normalized"]) == _names(Normalized)
    assert [set(g) for g in doc["normalized"]["tax_breakdown"]] == [_names(NormalizedGroup)]


def test_the_state_holds_the_values_given() -> None:
    row = _row()
    state = invoice_state(row)
    assert state.number == "RE-1" and state.status == "partially_paid"
    assert state.seller is not None and state.seller.name == "Nordwind GmbH"
    assert state.lines[0].discount is not None and state.lines[0].discount.value == Decimal(100)
    assert state.lines[0].tax_code == "S"
    assert state.totals.open_amount == Decimal("559.10")  # 1190 - 119 - 11.90 - 500
    assert state.payments[0].exchange_difference is not None
    assert [e.kind for e in state.ledger_entries] == ["credit", "write_off"]
    assert state.tax_ledger[0].credited_net == Decimal("100.00")
    assert state.normalized is not None and state.normalized.currency == "EUR"
    assert state.integration_exports[0].external_id == "x-1"
    assert state.credit_note_ids == [uuid.UUID(row.credit_note_ids[0])]
    assert state.sequence == 4 and state.sent_on == NOW.date()
    assert (state.dunning_level, state.dunned_on) == (2, dt.date(2026, 4, 1))
    assert state.default_note is True


def test_a_draft_has_no_ledger_and_no_normalized_amounts() -> None:
    row = _row()._replace(
        status="draft", finalized_at=None, exchange_rate=None, ledger=[], paid_amount=Decimal(0)
    )
    doc = invoice_document(row)
    assert doc["tax_ledger"] == [] and doc["ledger_entries"] == [] and doc["normalized"] is None
    assert invoice_state(row).totals.open_amount == Decimal(0)


def test_the_state_shares_no_container_with_the_record() -> None:
    """The document hands the record's lists and dicts over as they are (no copies of its
    own): validation builds the state's own, so changing the state's containers leaves the
    record (an ORM entity's attributes, for events) as it was."""
    row = _row()
    state = invoice_state(row)
    pairs = [
        (state.subscriber_ids, row.subscriber_ids),
        (state.tags, row.tags),
        (state.custom_fields, row.custom_fields),
        (state.legal_notes, row.legal_notes),
        (state.credit_note_ids, row.credit_note_ids),
        (state.tax_breakdown, row.tax_breakdown),
        (state.lines[0].billable_entry_ids, row.lines[0].billable_entry_ids),
    ]
    for made, given in pairs:
        assert made is not given
    state.tags.append("b")
    state.custom_fields["priority"] = 9
    state.subscriber_ids.clear()
    assert row.tags == ["a"] and row.custom_fields == {"priority": 3}
    assert row.subscriber_ids == ["p-1"]
