"""send_invoice and the payment confirmation against a REAL SMTP server (aiosmtpd on loopback),
on SQLite and PostgreSQL. The received MIME message is parsed and checked."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import io
import json
import re
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pypdf
import pytest
from aiosmtpd.controller import Controller
from invoicing import bootstrap, db
from invoicing.documents.store import DocumentStore, invoice_document_id, sha256_hex
from invoicing.handlers.deliveries import Deliverer, StepResult
from invoicing.handlers.registry import Deps
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.mail import SmtpSender, SmtpSettings
from invoicing.models.deliveries import DeliveryJob
from invoicing.models.documents import DocumentContent, EmailDelivery, StoredDocument
from invoicing.pipeline import Outcome, Pipeline
from invoicing.pipeline.authenticate import LocalOperator
from sqlalchemy import Engine, select, update

from tests.support import scenarios
from tests.support.documents import fetch

pytestmark = pytest.mark.integration


@dataclass
class Received:
    envelope_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Sink:
    messages: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), msg))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Sink, int]]:
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


class CrashAfterAccept:
    """Crash injection: the real server accepts the message, then the process 'dies'."""

    def __init__(self, inner: SmtpSender) -> None:
        self.inner = inner

    def send(self, message: Any, envelope_from: str, recipients: list[str]) -> Any:
        self.inner.send(message, envelope_from, recipients)
        raise KeyboardInterrupt("worker killed between SMTP acceptance and commit")


@dataclass
class World:
    bus: Pipeline
    engine: Engine
    sink: Sink
    deps: Deps
    deliverer: Deliverer
    org: uuid.UUID
    customer: uuid.UUID
    steps: list[StepResult] = field(default_factory=list)

    def run(
        self,
        type_: str,
        payload: dict[str, Any],
        command_id: uuid.UUID | None = None,
        *,
        deliver: bool = True,
    ) -> Outcome:
        """The command, then (like `invoicing process`) its deliveries, each its own step
        after the commit; the outcome's events are the command's and the deliveries'."""
        out = self.bus.handle_document(
            {
                "type": type_,
                "command_id": str(command_id or uuid.uuid4()),
                "organization_id": str(self.org),
                "payload": payload,
            }
        )
        if deliver and out.status != "rejected" and out.command_id:
            self.steps = self.deliverer.run_for_command(self.org, uuid.UUID(out.command_id))
            for step in self.steps:
                out.events.extend(step.events)
        return out

    def draft(self, lines: list[dict[str, Any]] | None = None) -> uuid.UUID:
        inv = uuid.uuid4()
        out = self.run(
            "create_invoice",
            {
                "id": str(inv),
                "customer_id": str(self.customer),
                "delivery_date": "2026-11-18",
                "lines": lines
                or [
                    {
                        "description": "Beratung",
                        "quantity": "2",
                        "unit": "hours",
                        "unit_price": "150.00",
                    },
                    {
                        "description": "Fachbuch",
                        "quantity": "1",
                        "unit_price": "49.90",
                        "tax_rate": "7",
                    },
                ],
            },
        )
        assert out.status == "applied", out.errors
        return inv


def make_world(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path, buyer: dict[str, Any] | None = None
) -> World:
    sink, port = smtp
    settings = SmtpSettings(
        host="127.0.0.1", port=port, security="none", sender="billing@invoicing.test"
    )
    engine = db.make_engine(db_url)
    deps = bootstrap.build_deps(engine, tmp_path, smtp=settings, documents_dir=tmp_path / "docs")
    bus = Pipeline(engine, deps, LocalOperator())
    world = World(bus, engine, sink, deps, bootstrap.deliverer(bus), uuid.uuid4(), uuid.uuid4())
    assert world.run("configure_organization", scenarios.DE_SELLER).status == "applied"
    customer = {**scenarios.DE_BUYER, "einvoice_format": "none", **(buyer or {})}
    out = world.run("create_customer", {"id": str(world.customer), **customer})
    assert out.status == "applied", out.errors
    return world


def pdf_attachments(msg: EmailMessage) -> list[bytes]:
    return [
        part.get_content()
        for part in msg.iter_attachments()
        if part.get_content_type() == "application/pdf"
    ]


def test_send_draft_finalizes_attaches_pdf_and_records_delivery(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    w = make_world(db_url, smtp, tmp_path)
    inv = w.draft()
    cmd = uuid.uuid4()
    out = w.run(
        "send_invoice",
        {
            "invoice_id": str(inv),
            "to": ["jane@acme.example"],
            "cc": ["boss@acme.example"],
            "bcc": ["archive@kanzlei.example"],
        },
        cmd,
    )
    assert out.status == "applied", out.errors
    types = [e["type"] for e in out.events]
    assert types == ["invoice.finalized", "invoice.sent"]
    sent = out.events[-1]["data"]
    assert sent["invoice"]["status"] == "sent"
    assert sent["delivery_status"] == "sent"

    assert len(w.sink.messages) == 1
    got = w.sink.messages[0]
    msg = got.message
    assert msg["Message-ID"] == sent["message_id"]
    assert msg["To"] == "jane@acme.example" and msg["Cc"] == "boss@acme.example"
    assert msg["Bcc"] is None  # bcc only on the envelope
    assert set(got.rcpt_tos) == {
        "jane@acme.example",
        "boss@acme.example",
        "archive@kanzlei.example",
    }
    assert got.envelope_from == "billing@invoicing.test"
    number = sent["invoice"]["number"]
    assert msg["Subject"] == f"Rechnung {number} von Kanzlei Müller GmbH"
    assert "Kanzlei Müller GmbH" in msg["From"]
    assert msg["Reply-To"] == "rechnung@kanzlei-mueller.de"
    body = msg.get_body(("plain",))
    assert body is not None and number in body.get_content()
    html = msg.get_body(("html",))
    assert html is not None and "<p>" in html.get_content()

    pdfs = pdf_attachments(msg)
    assert len(pdfs) == 1
    reader = pypdf.PdfReader(io.BytesIO(pdfs[0]))
    assert number in reader.pages[0].extract_text()
    xmp = bytes(reader.trailer["/Root"]["/Metadata"].get_object().get_data()).decode()
    assert re.search(r"pdfaid:part[>=\"']+3", xmp) and re.search(
        r"pdfaid:conformance[>=\"']+B", xmp
    )

    with UnitOfWork.for_engine(w.engine) as uow:
        delivery = uow.session.execute(
            select(EmailDelivery).where(EmailDelivery.command_id == cmd)
        ).scalar_one()
        assert delivery.status == "sent" and delivery.message_id == sent["message_id"]
        assert delivery.recipients["bcc"] == ["archive@kanzlei.example"]
        doc = uow.session.get(StoredDocument, (w.org, invoice_document_id(inv, "pdf")))
        assert doc is not None and doc.frozen and doc.sha256 == sha256_hex(pdfs[0])
        assert doc.storage == "database" and doc.path is None
        document_id = str(doc.id)
    ref = sent["documents"][0]
    assert ref["sha256"] == sha256_hex(pdfs[0]) and ref["document_id"] == document_id
    assert ref["query"] == "get_document" and ref["size"] == len(pdfs[0])
    assert fetch(w.bus, w.org, ref, limit=1000) == pdfs[0]  # in chunks of 1,000 bytes

    # the same command again: the inbox makes it a no-op, no second email
    again = w.run(
        "send_invoice",
        {
            "invoice_id": str(inv),
            "to": ["jane@acme.example"],
            "cc": ["boss@acme.example"],
            "bcc": ["archive@kanzlei.example"],
        },
        cmd,
    )
    assert again.status == "duplicate"
    assert len(w.sink.messages) == 1

    # a new send command re-sends the SAME frozen PDF
    resend = w.run("send_invoice", {"invoice_id": str(inv)})
    assert resend.status == "applied", resend.errors
    assert len(w.sink.messages) == 2
    assert w.sink.messages[1].rcpt_tos == ["buchhaltung@acme.example"]  # customer default
    assert pdf_attachments(w.sink.messages[1].message) == pdfs
    assert resend.events[-1]["data"]["first_delivery"] is False


def test_an_address_given_twice_gets_the_email_once(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    """Addresses that differ only in case are one mailbox: each gets the email once, under its
    first spelling, To before Cc before Bcc (before, ``Jane@…`` and ``jane@…`` were two
    recipients and the mailbox got the email twice; so did an address in both To and Cc)."""
    w = make_world(db_url, smtp, tmp_path)
    out = w.run(
        "send_invoice",
        {
            "invoice_id": str(w.draft()),
            "to": ["Jane@acme.example", "jane@acme.example", "max@acme.example"],
            "cc": ["JANE@acme.example", "boss@acme.example", "Max@acme.example"],
            "bcc": ["Boss@acme.example", "archive@kanzlei.example", "ARCHIVE@kanzlei.example"],
        },
    )
    assert out.status == "applied", out.errors
    (got,) = w.sink.messages
    assert got.message["To"] == "Jane@acme.example, max@acme.example"
    assert got.message["Cc"] == "boss@acme.example"
    assert got.rcpt_tos == [
        "Jane@acme.example",
        "max@acme.example",
        "boss@acme.example",
        "archive@kanzlei.example",
    ]
    assert out.events[-1]["data"]["recipients"] == {
        "to": ["Jane@acme.example", "max@acme.example"],
        "cc": ["boss@acme.example"],
        "bcc": ["archive@kanzlei.example"],
    }


def test_the_email_names_the_einvoice_as_the_customer_knows_it(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    """An English-speaking public buyer with a Leitweg-ID asks for XRechnung: the email names
    the format "XRechnung (CII)", not the command value ``xrechnung_cii``, and its body starts
    as an English letter does."""
    w = make_world(db_url, smtp, tmp_path, buyer={"einvoice_format": "xrechnung_cii"})
    cid = uuid.uuid4()
    buyer = {**scenarios.DE_BUYER, "email": "accounts@acme.example", "locale": "en"}
    out = w.run("create_customer", {"id": str(cid), **buyer, "einvoice_format": "xrechnung_cii"})
    assert out.status == "applied", out.errors
    w.customer = cid
    out = w.run("send_invoice", {"invoice_id": str(w.draft())})
    assert out.status == "applied", out.errors
    sent = out.events[-1]["data"]
    assert sent["einvoice_format"] == "xrechnung_cii"
    msg = w.sink.messages[-1].message
    number = sent["invoice"]["number"]
    names = [part.get_filename() for part in msg.iter_attachments()]
    assert names == [f"{number}.pdf", f"{number}.xrechnung-cii.xml"]
    body = msg.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "The electronic invoice (XRechnung (CII)) is attached." in text
    assert "xrechnung_cii" not in text
    assert f"Dear customer,\r\n\r\nPlease find attached our invoice {number} of " in text


def test_crash_between_smtp_acceptance_and_commit_sends_no_second_email(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    w = make_world(db_url, smtp, tmp_path)
    inv = w.draft()
    cmd = uuid.uuid4()
    payload = {"invoice_id": str(inv), "to": ["jane@acme.example"]}
    real = w.deps.mailer
    w.deps.mailer = CrashAfterAccept(real)
    with pytest.raises(KeyboardInterrupt):
        w.run("send_invoice", payload, cmd)
    assert len(w.sink.messages) == 1  # the server has it; the step died before recording it
    w.deps.mailer = real
    # the command is committed (a duplicate now); its delivery job is run again, as a runner
    # does once the dead one's lease ran out
    redelivered = w.run("send_invoice", payload, cmd)
    assert redelivered.status == "duplicate", redelivered.errors
    assert len(w.sink.messages) == 1  # no second email
    assert [e["type"] for e in redelivered.events] == ["invoice.sent"]
    sent = redelivered.events[-1]["data"]
    assert sent["delivery_status"] == "uncertain"
    assert sent["message_id"] == w.sink.messages[0].message["Message-ID"]
    with UnitOfWork.for_engine(w.engine) as uow:
        row = uow.session.execute(
            select(EmailDelivery).where(EmailDelivery.command_id == cmd)
        ).scalar_one()
        assert row.status == "uncertain"


def test_smtp_down_is_retried_not_rejected(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    """The command commits (finalized, job recorded); the email waits for the mail server and
    goes out exactly once when a later step finds it back."""
    w = make_world(db_url, smtp, tmp_path)
    inv = w.draft()
    cmd = uuid.uuid4()
    payload = {"invoice_id": str(inv), "to": ["jane@acme.example"]}
    real = w.deps.mailer
    w.deps.mailer = SmtpSender(
        SmtpSettings(host="127.0.0.1", port=free_port(), security="none", timeout_seconds=2)
    )
    down = w.run("send_invoice", payload, cmd)
    assert down.status == "applied", down.errors
    assert [e["type"] for e in down.events] == ["invoice.finalized"]  # no sent, no rejection
    (step,) = w.steps
    assert step.status == "retry" and step.unavailable and "cannot connect" in str(step.error)
    again = w.run("send_invoice", payload, cmd)  # a second attempt while it is still down
    assert again.status == "duplicate" and again.events == [] and w.steps[0].unavailable
    w.deps.mailer = real
    out = w.run("send_invoice", payload, cmd)  # the next attempt after the outage: sent once
    assert out.status == "duplicate"
    assert [e["type"] for e in out.events] == ["invoice.sent"]
    assert out.events[-1]["data"]["delivery_status"] == "sent"
    number = down.events[0]["data"]["invoice"]["number"]
    assert out.events[-1]["data"]["invoice"]["number"] == number
    assert len(w.sink.messages) == 1
    with UnitOfWork.for_engine(w.engine) as uow:
        row = uow.session.execute(
            select(EmailDelivery).where(EmailDelivery.command_id == cmd)
        ).scalar_one()
        assert row.status == "sent" and row.attempts == 3
        job = uow.session.execute(
            select(DeliveryJob).where(DeliveryJob.command_id == cmd)
        ).scalar_one()
        assert job.status == "done" and job.attempts == 3
    # nothing left to do: another run of the same command sends nothing
    assert w.run("send_invoice", payload, cmd).events == [] and len(w.sink.messages) == 1


def test_no_header_or_template_injection(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    w = make_world(
        db_url,
        smtp,
        tmp_path,
        buyer={
            "company": "{{ 7*7 }} <script>alert(1)</script>\r\nBcc: victim@evil.example",
            "given_name": "{{ config }}",
            "family_name": "<b>Doe</b>",
        },
    )
    inv = w.draft()
    out = w.run(
        "send_invoice",
        {
            "invoice_id": str(inv),
            "to": ["jane@acme.example"],
            "subject": "Rechnung\r\nBcc: attacker@evil.example\r\nX-Injected: yes {{ 7*7 }}",
        },
    )
    assert out.status == "applied", out.errors
    got = w.sink.messages[0]
    msg = got.message
    assert got.rcpt_tos == ["jane@acme.example"]
    assert msg["Bcc"] is None and msg["X-Injected"] is None
    assert msg["Subject"] == "Rechnung Bcc: attacker@evil.example X-Injected: yes {{ 7*7 }}"
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "{{ config }} <b>Doe</b>" in text and "49" not in text.split("\n")[0]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "&lt;b&gt;Doe&lt;/b&gt;" in html and "<b>Doe" not in html
    pdf_text = pypdf.PdfReader(io.BytesIO(pdf_attachments(msg)[0])).pages[0].extract_text()
    assert "{{ 7*7 }} <script>alert(1)</script>" in pdf_text


def test_send_validation_errors(db_url: str, smtp: tuple[Sink, int], tmp_path: Path) -> None:
    w = make_world(db_url, smtp, tmp_path)
    inv = w.draft()
    out = w.run(
        "send_invoice",
        {
            "invoice_id": str(inv),
            "to": ["invalid mail"],
            "cc": ["ok@acme.example", "nope"],
            "subject": " ",
            "body": "",
        },
    )
    assert out.status == "rejected"
    got = {(e["source"]["pointer"], e["detail"]) for e in out.errors}
    assert got == {
        ("/payload/to/0", "invalid mail is not an email"),
        ("/payload/cc/1", "nope is not an email"),
        ("/payload/subject", "can't be blank"),
        ("/payload/body", "can't be blank"),
    }
    empty = w.run("send_invoice", {"invoice_id": str(inv), "to": []})
    assert [(e["source"]["pointer"], e["detail"]) for e in empty.errors] == [
        ("/payload/to", "can't be blank")
    ]
    assert w.sink.messages == []


def test_mark_paid_with_notification_sends_confirmation_once(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    w = make_world(db_url, smtp, tmp_path)
    inv = w.draft()
    assert w.run("send_invoice", {"invoice_id": str(inv)}).status == "applied"
    cmd = uuid.uuid4()
    payload = {"invoice_id": str(inv), "send_notification": True, "date": "2026-11-25"}
    out = w.run("mark_paid", payload, cmd)
    assert out.status == "applied", out.errors
    assert len(w.sink.messages) == 2
    confirmation = w.sink.messages[1].message
    assert confirmation["Subject"].startswith("Zahlungseingang zu Rechnung")
    assert "vollständig bezahlt" in confirmation.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    recorded = next(e for e in out.events if e["type"] == "payment.recorded")
    assert recorded["data"]["notification"]["message_id"] == confirmation["Message-ID"]
    assert recorded["data"]["notification"]["status"] == "queued"  # sent after the commit
    confirmed = out.events[-1]
    assert confirmed["type"] == "payment.confirmation_sent"
    assert confirmed["data"]["message_id"] == confirmation["Message-ID"]
    assert confirmed["data"]["delivery_status"] == "sent"
    assert confirmed["sequence"] > recorded["sequence"]  # per-invoice order holds
    assert w.run("mark_paid", payload, cmd).status == "duplicate"
    assert len(w.sink.messages) == 2
    # without the flag: no email
    inv2 = w.draft()
    assert w.run("finalize_invoice", {"invoice_id": str(inv2)}).status == "applied"
    assert w.run("mark_paid", {"invoice_id": str(inv2)}).status == "applied"
    assert len(w.sink.messages) == 2


def test_frozen_documents_verify_their_hash(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    w = make_world(db_url, smtp, tmp_path)
    inv = w.draft()
    assert w.run("send_invoice", {"invoice_id": str(inv)}).status == "applied"
    store = w.deps.document_store
    assert isinstance(store, DocumentStore)
    with UnitOfWork.for_engine(w.engine) as uow:
        doc = store.get(uow.session, w.org, inv, "pdf")
        assert doc is not None and doc.frozen
        uow.session.execute(
            update(DocumentContent)
            .where(DocumentContent.organization_id == w.org, DocumentContent.part == 0)
            .where(DocumentContent.sha256 == doc.sha256)
            .values(data=doc.content[:100] + b"tampered")
        )
        uow.commit()
    out = w.run("send_invoice", {"invoice_id": str(inv)})
    assert out.status == "applied" and out.events == []  # the step refuses to send it
    (step,) = w.steps
    assert step.status == "retry" and "DocumentIntegrityError" in str(step.error)
    assert len(w.sink.messages) == 1


def test_process_cli_leaves_a_send_for_later_when_the_mail_server_is_down(
    tmp_path: Path,
) -> None:
    """`invoicing process`: an unreachable mail server is not a rejection and not a crash; the
    line is reported and can be processed again, which then sends the email once."""
    import subprocess
    import sys

    examples = Path(__file__).resolve().parents[2] / "examples"
    text = (examples / "lifecycle.jsonl").read_text() + (examples / "send.jsonl").read_text()
    port = free_port()
    env = {
        "INVOICING_DATA_DIR": str(tmp_path),
        "PATH": "/usr/bin:/bin",
        "INVOICING_SMTP_HOST": "127.0.0.1",
        "INVOICING_SMTP_PORT": str(port),
        "INVOICING_SMTP_SECURITY": "none",
        "INVOICING_SMTP_SENDER": "rechnung@kanzlei-mueller.example",
    }

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "invoicing.cli", "process", "-"],
            input=text,
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=300,
        )

    send_ids = {
        json.loads(line)["command_id"]
        for line in text.splitlines()
        if line.strip() and json.loads(line)["type"] == "send_invoice"
    }
    sends = len(send_ids)
    assert sends >= 1

    def events_of_sends(stdout: str) -> list[dict[str, Any]]:
        events = [json.loads(line) for line in stdout.splitlines()]
        return [e for e in events if e.get("commandid") in send_ids]

    down = run()
    assert down.returncode == 75, down.stderr  # EX_TEMPFAIL: run it again later
    assert f"unavailable={sends}" in down.stderr and "process the line again later" in down.stderr
    assert events_of_sends(down.stdout) == []
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        up = run()  # the same file again: everything else is a duplicate, the sends go out
    finally:
        controller.stop()
    assert up.returncode == 0, up.stderr
    sent = [e for e in events_of_sends(up.stdout) if e["type"] == "invoice.sent"]
    assert len(sent) == sends and len(sink.messages) == sends


def test_two_organizations_may_send_with_the_same_command_id(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    """Command ids are unique per organization (the inbox keys them so): another
    organization's send with the same id gets its own job, journal row and email."""
    cmd = uuid.uuid4()
    worlds = [make_world(db_url, smtp, tmp_path / str(n)) for n in range(2)]
    for w in worlds:
        out = w.run("send_invoice", {"invoice_id": str(w.draft())}, cmd)
        assert out.status == "applied", out.errors
        assert out.events[-1]["data"]["delivery_status"] == "sent"
    sink = worlds[0].sink
    assert len(sink.messages) == 2
    assert len({m.message["Message-ID"] for m in sink.messages}) == 2
    with UnitOfWork.for_engine(worlds[0].engine) as uow:
        jobs = uow.session.execute(select(DeliveryJob).where(DeliveryJob.command_id == cmd))
        assert {job.organization_id for job in jobs.scalars()} == {w.org for w in worlds}
        rows = uow.session.execute(select(EmailDelivery).where(EmailDelivery.command_id == cmd))
        assert {(r.organization_id, r.status) for r in rows.scalars()} == {
            (w.org, "sent") for w in worlds
        }


def test_a_credit_notes_email_names_its_invoice_and_a_quotes_its_last_day(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    """A credit note's email said only "anbei erhalten Sie unsere Rechnungskorrektur ...", not
    which invoice it corrects; a quote's email did not say how long the quote holds (only its
    PDF did)."""
    w = make_world(db_url, smtp, tmp_path)
    out = w.run("send_invoice", {"invoice_id": str(w.draft())})
    assert out.status == "applied", out.errors
    invoice = out.events[-1]["data"]["invoice"]
    note = uuid.uuid4()
    credit = {"invoice_id": invoice["id"], "credit_note_id": str(note), "reason": "Storno"}
    assert w.run("issue_credit_note", credit).status == "applied"
    assert w.run("send_invoice", {"invoice_id": str(note)}).status == "applied"
    day = dt.date.fromisoformat(invoice["issue_date"])
    german = f"{day.day:02d}.{day.month:02d}.{day.year}"
    body = w.sink.messages[-1].message.get_body(("plain",))
    assert body is not None
    assert (
        f"Die Rechnungskorrektur bezieht sich auf unsere Rechnung {invoice['number']} vom "
        f"{german}." in " ".join(body.get_content().split())
    )
    quote = uuid.uuid4()
    lines = [{"description": "Beratung", "quantity": "2", "unit_price": "150.00"}]
    draft = {"id": str(quote), "customer_id": str(w.customer), "is_quote": True, "lines": lines}
    assert w.run("create_invoice", draft).status == "applied"
    out = w.run("send_invoice", {"invoice_id": str(quote)})
    assert out.status == "applied", out.errors
    until = dt.date.fromisoformat(out.events[-1]["data"]["invoice"]["due_date"])
    body = w.sink.messages[-1].message.get_body(("plain",))
    assert body is not None
    text = " ".join(body.get_content().split())
    assert f"Das Angebot ist gültig bis zum {until.day:02d}.{until.month:02d}.{until.year}." in text
    assert "Rechnungskorrektur bezieht" not in text
