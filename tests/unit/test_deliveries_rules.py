"""Rules of the delivery steps: the retry schedule, failure pointers, the content
fingerprint that guards a draft's finalize after its e-invoice was validated."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from invoicing.documents.einvoice import EInvoiceFormat
from invoicing.domain.contact import distinct_recipients
from invoicing.handlers.deliveries import DeliveryPolicy, _payload_pointer, content_fingerprint
from invoicing.schemas.events import InvoiceState

from tests.support import scenarios


def test_backoff_follows_the_delays_and_repeats_the_last() -> None:
    policy = DeliveryPolicy(retry_delays_s=(1.0, 5.0, 30.0))
    assert [policy.delay(n) for n in (1, 2, 3, 4, 50)] == [1.0, 5.0, 30.0, 30.0, 30.0]
    assert DeliveryPolicy(retry_delays_s=()).delay(1) == 30.0


def test_failure_pointers_are_relative_to_the_causing_command() -> None:
    assert _payload_pointer("/to") == "/payload/to"
    assert _payload_pointer("/payload/to/0") == "/payload/to/0"
    assert _payload_pointer("") == ""
    assert _payload_pointer("/organization_id") == "/organization_id"


@pytest.fixture(scope="module")
def de_invoice(tmp_path_factory: pytest.TempPathFactory) -> InvoiceState:
    return scenarios.german_domestic(scenarios.Core(tmp_path_factory.mktemp("deliveries")))


def test_the_content_fingerprint_ignores_the_number_only(de_invoice: InvoiceState) -> None:
    """A draft validated with a provisional number is finalized only when its content is
    what was validated: another number is the same content, another line is not."""
    fmt = EInvoiceFormat.XRECHNUNG_CII
    base = content_fingerprint(de_invoice, fmt)
    assert content_fingerprint(de_invoice.model_copy(update={"number": "RE-2026-999"}), fmt) == (
        base
    )
    line = de_invoice.lines[0].model_copy(update={"description": "Beratung (geändert)"})
    changed = de_invoice.model_copy(update={"lines": [line, *de_invoice.lines[1:]]})
    assert content_fingerprint(changed, fmt) != base
    later = de_invoice.model_copy(
        update={"issue_date": de_invoice.issue_date + dt.timedelta(days=1)}  # type: ignore[operator]
    )
    assert content_fingerprint(later, fmt) != base


def test_a_belgian_invoice_has_a_content_fingerprint(tmp_path: Path) -> None:
    """The fingerprint builds the e-invoice with a placeholder number. It was "0", from whose
    digits no Belgian structured communication (BT-83) can be made: every send_invoice of a
    Belgian seller's draft with an e-invoice failed (payment_reference_impossible) after its
    validation had passed. Found by the differential walk (the same failure on both
    backends)."""
    be_invoice = scenarios.belgian_domestic(scenarios.Core(tmp_path))
    fmt = EInvoiceFormat.PEPPOL
    base = content_fingerprint(be_invoice, fmt)
    other = be_invoice.model_copy(update={"number": "F20269999"})
    assert content_fingerprint(other, fmt) == base


def test_each_recipient_once_whatever_the_case_first_spelling_kept() -> None:
    assert distinct_recipients(
        ["A@x.de", "a@x.de", "b@x.de"], ["B@X.DE", "c@x.de", "a@X.de"], ["C@x.de", "d@x.de"]
    ) == (["A@x.de", "b@x.de"], ["c@x.de"], ["d@x.de"])
    assert distinct_recipients(["a@x.de"], [], []) == (["a@x.de"], [], [])
