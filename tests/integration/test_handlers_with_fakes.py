"""Handlers run with fakes of their collaborators (tests/support/fakes.py): the mail a send
or a payment confirmation produces (in its delivery step, after the command's commit) is in the
fake mailer, no SMTP server or Typst involved."""

from __future__ import annotations

import uuid

from invoicing import bootstrap
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import LocalOperator
from sqlalchemy import Engine

from tests.support.client import Client, line
from tests.support.fakes import MemoryJournal, RecordingMailer, StubRenderer, fake_deps


def test_send_and_payment_confirmation_go_through_the_fakes(engine: Engine) -> None:
    mailer, renderer, journal = RecordingMailer(), StubRenderer(), MemoryJournal()
    deps = fake_deps(mailer=mailer, pdf_renderer=renderer, delivery_journal=journal)
    pipeline = Pipeline(engine, deps, LocalOperator())
    client, deliverer = Client(pipeline), bootstrap.deliverer(pipeline)
    client.setup_org()
    cust = client.customer(einvoice_format="none", email="buyer@acme.example")
    iid = client.invoice(cust, [line()])
    cmd = uuid.uuid4()
    out = client.ok("send_invoice", {"invoice_id": str(iid)}, command_id=cmd)
    assert out.events == [] and mailer.sent == []  # the command only records the delivery
    (step,) = deliverer.run_for_command(client.org, cmd)
    assert [e["type"] for e in step.events] == ["invoice.finalized", "invoice.sent"]
    [(message, sender, recipients)] = mailer.sent
    assert sender == "billing@invoicing.test" and recipients == ["buyer@acme.example"]
    assert [a.get_content_type() for a in message.iter_attachments()] == ["application/pdf"]
    assert renderer.rendered == [iid]
    assert len(journal.statuses) == 1  # recorded before the SMTP conversation
    # a redelivered send is a no-op: no second mail
    assert client.send("send_invoice", {"invoice_id": str(iid)}, command_id=cmd).status == (
        "duplicate"
    )
    assert len(mailer.sent) == 1
    paid = uuid.uuid4()
    client.ok("mark_paid", {"invoice_id": str(iid), "send_notification": True}, command_id=paid)
    (confirmation,) = deliverer.run_for_command(client.org, paid)
    assert confirmation.events[-1]["type"] == "payment.confirmation_sent"
    assert len(mailer.sent) == 2
    assert mailer.sent[1][2] == ["buyer@acme.example"]
