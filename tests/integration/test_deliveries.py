"""Deliveries after the commit, against a REAL SMTP server (aiosmtpd), SQLite and PostgreSQL.

* no rendering and no SMTP inside a transaction: while a delivery step is stuck in the PDF
  renderer or on a stalling mail server, a finalize of another invoice of the same
  organization (same number series) completes, and the invoice being sent is not locked;
* a send whose e-invoice fails the official rules takes no number;
* a mail server that is down during a send or a dunning run: the commands commit, the emails
  wait, and exactly one email per delivery goes out once it is back;
* runner threads share the due jobs without ever taking one twice.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from invoicing import retention
from invoicing.bootstrap import deliverer
from invoicing.handlers.deliveries import DeliveryPolicy, StepResult, due_job
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.models import Invoice, NumberSeries
from invoicing.models.deliveries import DeliveryJob
from invoicing.models.dunning import DunningNotice
from invoicing.schemas.events import DeliveryFailedData
from invoicing.workers.deliveries import DeliveryRunner
from invoicing.workers.settings import PipelineSettings
from prometheus_client import REGISTRY
from sqlalchemy import func, select, text

from tests.integration import test_send_invoice as _send
from tests.integration.test_dunning import configure, dun, finalized
from tests.integration.test_send_invoice import (
    CrashAfterAccept,
    Sink,
    World,
    free_port,
    make_world,
)
from tests.support import scenarios

pytestmark = pytest.mark.integration

smtp = _send.smtp


class StallingSink(Sink):
    """A mail server that holds every DATA until released."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.entered.set()
        self.release.wait(60)  # blocks the server's loop: it is stuck, as a slow server is
        return await super().handle_DATA(server, session, envelope)


class StallingRenderer:
    """The PDF renderer, held up until released."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.entered = threading.Event()
        self.release = threading.Event()

    def render(self, state: Any, **kwargs: Any) -> bytes:
        self.entered.set()
        self.release.wait(60)
        return bytes(self.inner.render(state, **kwargs))


def _number_of(w: World, invoice_id: uuid.UUID) -> str | None:
    with UnitOfWork.for_engine(w.engine) as uow:
        inv = uow.session.get(Invoice, (w.org, invoice_id))
        assert inv is not None
        return inv.number


@pytest.mark.parametrize("stall", ["smtp", "render"])
def test_a_stuck_delivery_holds_no_lock(db_url: str, tmp_path: Path, stall: str) -> None:
    sink, port = StallingSink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        w = make_world(db_url, (sink, port), tmp_path)
        stuck: StallingSink | StallingRenderer = sink
        if stall == "render":
            stuck = StallingRenderer(w.deps.pdf_renderer)
            w.deps.pdf_renderer = stuck
            sink.release.set()
        sent, other = w.draft(), w.draft()
        out = w.run("send_invoice", {"invoice_id": str(sent)}, deliver=False)
        assert out.status == "applied" and out.events == []  # nothing sent in the command
        assert _number_of(w, sent) is None  # nor finalized: the step does that
        results: list[list[StepResult]] = []
        step = threading.Thread(
            target=lambda: results.append(
                w.deliverer.run_for_command(w.org, uuid.UUID(str(out.command_id)))
            )
        )
        step.start()
        assert stuck.entered.wait(30), "the delivery step never reached the stall"
        # the draft was finalized by the step (its number taken) before the stall
        assert _number_of(w, sent) is not None
        started = time.monotonic()
        fin = w.run("finalize_invoice", {"invoice_id": str(other)})
        took = time.monotonic() - started
        assert fin.status == "applied", fin.errors
        # the stall lasts until released (up to 60 s): a finalize that waited for the stuck
        # step would take that long (or time out on the lock); 15 s leaves room for a busy box
        assert took < 15, f"finalize waited {took:.1f} s for the stuck delivery"
        if w.engine.dialect.name == "postgresql":
            with w.engine.begin() as conn:  # the invoice being sent is not locked either
                conn.execute(text("SET LOCAL lock_timeout = '2s'"))
                locked = conn.execute(
                    select(Invoice.id)
                    .where(Invoice.organization_id == w.org, Invoice.id == sent)
                    .with_for_update(nowait=True)
                ).all()
                assert len(locked) == 1
        stuck.release.set()
        step.join(60)
        assert not step.is_alive()
    finally:
        sink.release.set()
        controller.stop()
    ((result,),) = results
    assert result.status == "done"
    assert [e["type"] for e in result.events] == ["invoice.finalized", "invoice.sent"]
    assert len(sink.messages) == 1
    first, second = _number_of(w, sent), _number_of(w, other)
    assert first is not None and second is not None
    assert int(first.rsplit("-", 1)[1]) + 1 == int(second.rsplit("-", 1)[1])


def test_a_send_whose_einvoice_fails_the_rules_takes_no_number(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    w = make_world(db_url, smtp, tmp_path, buyer={"einvoice_format": "xrechnung_cii"})
    bad = w.draft()
    out = w.run("send_invoice", {"invoice_id": str(bad)}, deliver=False)
    assert out.status == "applied", out.errors
    # XRechnung needs the seller contact's telephone number (BR-DE-6): gone after the send
    # was accepted (the command refuses a send without it), before its step ran
    seller = {k: v for k, v in scenarios.DE_SELLER.items() if k != "phone"}
    assert w.run("configure_organization", seller).status == "applied"
    assert out.command_id is not None
    w.steps = w.deliverer.run_for_command(w.org, uuid.UUID(out.command_id))
    (failed,) = [e for step in w.steps for e in step.events]
    assert failed["type"] == "invoice.delivery_failed" and failed["subject"] == str(bad)
    data = DeliveryFailedData.model_validate(failed["data"])
    # the step checks what the command checks before it builds the XML and validates it
    assert data.reason == "einvoice_seller_contact_missing" and data.purpose == "invoice"
    assert any("BR-DE-6" in e.detail for e in data.errors)
    assert data.invoice is not None and data.invoice.status == "draft"
    assert data.invoice.number is None
    assert w.sink.messages == []
    assert _number_of(w, bad) is None
    with UnitOfWork.for_engine(w.engine) as uow:
        job = uow.session.get(DeliveryJob, w.steps[0].job_id)
        assert job is not None and job.status == "failed" and "BR-DE-6" in str(job.last_error)
    # the next finalize gets the number the failed send would have had: the series' first
    good = w.draft()
    fin = w.run("finalize_invoice", {"invoice_id": str(good)})
    assert fin.status == "applied", fin.errors
    number = fin.events[-1]["data"]["invoice"]["number"]
    assert number == f"RE-{dt.date.today().year}-001"
    with UnitOfWork.for_engine(w.engine) as uow:
        series = uow.session.execute(
            select(NumberSeries.next_value).where(NumberSeries.organization_id == w.org)
        ).scalar_one()
        assert series == 2


#: a subsidiary with neither telephone nor e-mail of its own
_NO_CONTACT_SUBSIDIARY: dict[str, Any] = {
    "id": "bonn",
    "name": "Müller Bonn GmbH",
    "address": {
        "street_address": "Markt 1",
        "zip_code": "53111",
        "city": "Bonn",
        "country_code": "DE",
    },
    "vat_id": "DE811907980",
    "iban": "DE02120300000000202051",
}


def _subsidiary_draft(w: World) -> uuid.UUID:
    draft = uuid.uuid4()
    payload = {
        "id": str(draft),
        "customer_id": str(w.customer),
        "subsidiary_id": "bonn",
        "lines": [{"description": "Beratung", "quantity": "1", "unit_price": "100.00"}],
    }
    assert w.run("create_invoice", payload).status == "applied"
    return draft


def test_a_subsidiary_without_contact_sends_xrechnung_with_the_organization_s(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    """A subsidiary without telephone and e-mail while the organization has them: the seller
    snapshot takes the organization's (docs/budgets.md), so the XRechnung carries them as the
    seller contact and passes BR-DE-6/7 (the step validated it before the number)."""
    w = make_world(db_url, smtp, tmp_path, buyer={"einvoice_format": "xrechnung_cii"})
    assert w.run("configure_subsidiary", _NO_CONTACT_SUBSIDIARY).status == "applied"
    draft = _subsidiary_draft(w)
    out = w.run("send_invoice", {"invoice_id": str(draft)})
    assert out.status == "applied", out.errors
    assert [e["type"] for e in out.events] == ["invoice.finalized", "invoice.sent"]
    (message,) = w.sink.messages
    (xml,) = [p for p in message.message.iter_attachments() if p.get_filename().endswith(".xml")]
    text_of_xml = xml.get_content()
    text_of_xml = text_of_xml if isinstance(text_of_xml, str) else text_of_xml.decode()
    assert "Müller Bonn GmbH" in text_of_xml
    assert scenarios.DE_SELLER["phone"] in text_of_xml
    assert scenarios.DE_SELLER["email"] in text_of_xml


@pytest.mark.parametrize("subsidiary", [True, False], ids=["subsidiary", "organization"])
def test_an_xrechnung_without_seller_contact_is_refused_with_the_send(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path, subsidiary: bool
) -> None:
    """XRechnung needs the seller contact's telephone (BR-DE-6) and e-mail (BR-DE-7): when
    neither the issuer nor (for a subsidiary) the organization has them, ``send_invoice`` is
    refused at once, naming whom to configure, before any number or delivery job (the send
    was accepted before and its step failed the official rules)."""
    w = make_world(db_url, smtp, tmp_path, buyer={"einvoice_format": "xrechnung_cii"})
    seller = {k: v for k, v in scenarios.DE_SELLER.items() if k not in ("phone", "email")}
    assert w.run("configure_organization", seller).status == "applied"
    if subsidiary:
        assert w.run("configure_subsidiary", _NO_CONTACT_SUBSIDIARY).status == "applied"
    draft = _subsidiary_draft(w) if subsidiary else w.draft()
    refused = w.run("send_invoice", {"invoice_id": str(draft)})
    assert refused.status == "rejected"
    assert [(e["code"], e["source"]["pointer"]) for e in refused.errors] == [
        ("einvoice_seller_contact_missing", "/payload/invoice_id"),
        ("einvoice_seller_contact_missing", "/payload/invoice_id"),
    ]
    phone, mail = refused.errors
    assert "BR-DE-6" in phone["detail"] and "BR-DE-7" in mail["detail"]
    issuer = "subsidiary bonn" if subsidiary else "the organization"
    assert issuer in phone["detail"], phone
    configure = "configure_subsidiary" if subsidiary else "configure_organization"
    assert configure in phone["meta"]["hint"] and "attach_xml" in phone["meta"]["hint"]
    assert _number_of(w, draft) is None and w.sink.messages == []
    with UnitOfWork.for_engine(w.engine) as uow:
        assert uow.session.execute(select(func.count()).select_from(DeliveryJob)).scalar() == 0


@pytest.mark.parametrize(
    ("buyer", "invoice", "code", "pointer", "says"),
    [
        (  # EN 16931 carries amounts with at most two decimals (BR-DEC-*)
            {"einvoice_format": "xrechnung_cii"},
            {
                "currency": "KWD",
                "exchange_rate": "3.05",
                "delivery_date": "2026-11-18",
                "lines": [{"description": "Beratung", "quantity": "3", "unit_price": "12.345"}],
            },
            "einvoice_currency_decimals",
            "/payload/currency",
            "KWD amounts have 3 decimals",
        ),
        (  # EN 16931 BR-O-11..14: outside the scope of VAT only on a document of its own
            {"einvoice_format": "xrechnung_cii"},
            {
                "lines": [
                    {"description": "Beratung", "quantity": "2", "unit_price": "250.00"},
                    {
                        "description": "Gerichtskosten (Auslage)",
                        "quantity": "1",
                        "unit_price": "180.00",
                        "tax_category": "outside_scope",
                        "tax_rate": "0",
                    },
                ]
            },
            "einvoice_not_subject_mixed",
            "/payload/lines/1/tax_category",
            "BR-O-11",
        ),
        (  # Peppol delivers to participants only: no peppol_id, VAT id or enterprise number
            {**scenarios.US_BUYER, "vat_id": None, "einvoice_format": "peppol"},
            {"lines": [{"description": "Legal opinion", "quantity": "1", "unit_price": "900"}]},
            "peppol_buyer_endpoint_missing",
            "/payload/customer_id",
            "participant id",
        ),
    ],
    ids=["kwd", "not_subject_mixed", "peppol_buyer"],
)
def test_a_send_whose_einvoice_cannot_be_built_gets_no_number(
    db_url: str,
    smtp: tuple[Sink, int],
    tmp_path: Path,
    buyer: dict[str, Any],
    invoice: dict[str, Any],
    code: str,
    pointer: str,
    says: str,
) -> None:
    """What is known of an e-invoice before it is built is checked in ``send_invoice``
    itself: a send of a draft that would attach an e-invoice EN 16931 cannot carry is
    rejected with the command, saying why, where and what to do, before any number or
    delivery job; the same send without the e-invoice goes out with the PDF alone."""
    w = make_world(db_url, smtp, tmp_path, buyer=buyer)
    draft = uuid.uuid4()
    created = w.run("create_invoice", {"id": str(draft), "customer_id": str(w.customer), **invoice})
    assert created.status == "applied", created.errors
    refused = w.run("send_invoice", {"invoice_id": str(draft)})
    assert refused.status == "rejected"
    (error,) = refused.errors
    assert error["code"] == code and error["source"]["pointer"] == pointer
    assert says in error["detail"], error
    assert ("peppol_id" if code.startswith("peppol") else "attach_xml") in error["meta"]["hint"]
    assert _number_of(w, draft) is None and w.sink.messages == []
    with UnitOfWork.for_engine(w.engine) as uow:
        assert uow.session.execute(select(func.count()).select_from(DeliveryJob)).scalar() == 0
    sent = w.run("send_invoice", {"invoice_id": str(draft), "attach_xml": False})
    assert sent.status == "applied", sent.errors
    assert [e["type"] for e in sent.events] == ["invoice.finalized", "invoice.sent"]
    (message,) = w.sink.messages
    names = [part.get_filename() for part in message.message.iter_attachments()]
    number = _number_of(w, draft)
    assert number is not None and names == [f"{number}.pdf"]


def test_a_draft_that_cannot_be_finalized_is_rejected_with_the_send(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    """finalize's checks run in the command (rolled back): the send is rejected at once and
    the draft is left exactly as it was."""
    w = make_world(db_url, smtp, tmp_path, buyer={"address": None})
    draft = w.draft()
    out = w.run("send_invoice", {"invoice_id": str(draft)})
    assert out.status == "rejected"
    assert [e["code"] for e in out.errors] == ["buyer_address_missing"]
    with UnitOfWork.for_engine(w.engine) as uow:
        inv = uow.session.get(Invoice, (w.org, draft))
        assert inv is not None and inv.status == "draft" and inv.number is None
        assert inv.finalized_at is None and inv.buyer is None
        assert uow.session.execute(select(func.count()).select_from(DeliveryJob)).scalar() == 0
    assert w.sink.messages == []


def test_mail_server_down_during_a_send_and_a_dunning_run(db_url: str, tmp_path: Path) -> None:
    sink, port = Sink(), free_port()  # nothing listens on the port yet
    w = make_world(db_url, (sink, port), tmp_path)
    configure(w)
    a = finalized(w, "2026-01-05")
    b = finalized(w, "2026-01-05")
    run = dun(w, "2026-01-26")
    assert run.status == "applied" and run.events == []
    assert [s.status for s in w.steps] == ["retry", "retry"]
    assert all(s.unavailable for s in w.steps)
    draft = w.draft()
    send = w.run("send_invoice", {"invoice_id": str(draft)})
    assert [e["type"] for e in send.events] == ["invoice.finalized"]
    assert w.steps[0].unavailable
    # the next day's run does not dun the invoices again while their notices wait
    assert dun(w, "2026-01-27").events == []
    with UnitOfWork.for_engine(w.engine) as uow:
        jobs = uow.session.execute(select(DeliveryJob.purpose, DeliveryJob.status)).all()
        assert sorted(jobs) == [
            ("dunning", "pending"),
            ("dunning", "pending"),
            ("invoice", "pending"),
        ]
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        steps = w.deliverer.run_pending(due_only=False)
        again = w.deliverer.run_pending(due_only=False)
    finally:
        controller.stop()
    assert again == []
    events = [e for s in steps for e in s.events]
    assert sorted(e["type"] for e in events) == [
        "dunning.notice_sent",
        "dunning.notice_sent",
        "invoice.sent",
    ]
    assert sorted(e["subject"] for e in events if e["type"] == "dunning.notice_sent") == sorted(
        [a["id"], b["id"]]
    )
    assert len(sink.messages) == 3, "exactly one email per delivery"
    assert len({m.message["Message-ID"] for m in sink.messages}) == 3
    with UnitOfWork.for_engine(w.engine) as uow:
        notices = uow.session.execute(select(DunningNotice.level)).scalars().all()
        assert sorted(notices) == [1, 1]


def test_an_outage_longer_than_the_retry_window_fails_the_delivery(
    db_url: str, tmp_path: Path
) -> None:
    sink, port = Sink(), free_port()
    w = make_world(db_url, (sink, port), tmp_path)
    w.deliverer = deliverer(w.bus, DeliveryPolicy(retry_unavailable_s=0))
    inv = w.draft()
    out = w.run("send_invoice", {"invoice_id": str(inv)})
    assert [e["type"] for e in out.events] == ["invoice.finalized", "invoice.delivery_failed"]
    data = DeliveryFailedData.model_validate(out.events[-1]["data"])
    assert data.reason == "service_unavailable" and "cannot connect" in data.detail
    assert data.invoice is not None and data.invoice.status == "finalized"


def test_runner_threads_share_the_jobs_and_send_each_once(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    w = make_world(db_url, smtp, tmp_path)
    invoices = [w.draft() for _ in range(6)]
    for inv in invoices:
        assert w.run("finalize_invoice", {"invoice_id": str(inv)}).status == "applied"
        out = w.run("send_invoice", {"invoice_id": str(inv)}, deliver=False)
        assert out.status == "applied", out.errors
    sample = {"purpose": "invoice", "outcome": "done"}
    before = REGISTRY.get_sample_value("invoicing_delivery_steps_total", sample) or 0.0
    runner = DeliveryRunner(w.deliverer, threads=3, poll_interval_s=0.05)
    runner.start()
    try:
        deadline = time.monotonic() + 120
        while len(w.sink.messages) < len(invoices) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # a job taken twice would show up by now
    finally:
        runner.stop.set()
        runner.join(30)
    assert len(w.sink.messages) == len(invoices)
    with UnitOfWork.for_engine(w.engine) as uow:
        jobs = uow.session.execute(select(DeliveryJob.status, DeliveryJob.attempts)).all()
        assert sorted(jobs) == [("done", 1)] * len(invoices)
    after = REGISTRY.get_sample_value("invoicing_delivery_steps_total", sample)
    assert after == before + len(invoices)  # the worker's metric counts each step once


def test_a_dead_runners_job_is_taken_over_after_its_lease_without_a_second_email(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    w = make_world(db_url, smtp, tmp_path)
    inv = w.draft()
    assert w.run("finalize_invoice", {"invoice_id": str(inv)}).status == "applied"
    out = w.run("send_invoice", {"invoice_id": str(inv)}, deliver=False)
    assert out.status == "applied"
    real = w.deps.mailer
    w.deps.mailer = CrashAfterAccept(real)
    with pytest.raises(KeyboardInterrupt):  # the runner dies after the server took the mail
        w.deliverer.run_one()
    w.deps.mailer = real
    assert len(w.sink.messages) == 1
    assert w.deliverer.run_one() is None  # its claim holds until the lease runs out
    lease = w.deliverer.policy.lease_s
    w.deps.clock = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(seconds=lease + 1)
    uncertain = {"purpose": "invoice", "outcome": "uncertain"}
    before = REGISTRY.get_sample_value("invoicing_deliveries_total", uncertain) or 0.0
    step = w.deliverer.run_one()
    assert step is not None and step.status == "done"
    (sent,) = step.events
    assert sent["type"] == "invoice.sent" and sent["data"]["delivery_status"] == "uncertain"
    # counted as the metric's help says (it never was before)
    assert REGISTRY.get_sample_value("invoicing_deliveries_total", uncertain) == before + 1
    assert len(w.sink.messages) == 1, "no second email"
    assert w.deliverer.run_one() is None


def test_retention_purges_finished_jobs_only(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    w = make_world(db_url, smtp, tmp_path)
    done = w.draft()
    assert [e["type"] for e in w.run("send_invoice", {"invoice_id": str(done)}).events] == [
        "invoice.finalized",
        "invoice.sent",
    ]
    waiting = w.draft()
    assert w.run("send_invoice", {"invoice_id": str(waiting)}, deliver=False).status == "applied"
    now = dt.datetime.now(dt.UTC)
    young = retention.run(w.engine, retention.RetentionSettings(), PipelineSettings(), now=now)
    assert young.deleted["delivery_jobs"] == 0  # finished today: inside the 90 days
    later = now + dt.timedelta(days=91)
    settings = retention.RetentionSettings(batch_size=1)
    dry = retention.run(w.engine, settings, PipelineSettings(), now=later, dry_run=True)
    assert dry.deleted["delivery_jobs"] == 1
    report = retention.run(w.engine, settings, PipelineSettings(), now=later)
    assert report.deleted["delivery_jobs"] == 1
    with UnitOfWork.for_engine(w.engine) as uow:
        left = uow.session.execute(select(DeliveryJob.invoice_id, DeliveryJob.status)).all()
        assert left == [(waiting, "pending")]  # pending jobs are never purged


def test_the_runners_probe_reads_the_partial_index(db_url: str, tmp_path: Path) -> None:
    """An idle runner's probe for due jobs is one lookup in ``ix_delivery_jobs_due`` (pending
    rows only), however many finished jobs the table holds."""
    engine = make_world(db_url, (Sink(), free_port()), tmp_path).engine
    sql = str(
        due_job(dt.datetime(2026, 11, 28, tzinfo=dt.UTC)).compile(
            engine, compile_kwargs={"literal_binds": True}
        )
    )
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            assert "FOR UPDATE SKIP LOCKED" in sql
            conn.exec_driver_sql("SET enable_seqscan = off")  # the test table is tiny
            plan = "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {sql}"))
        else:
            plan = "\n".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    assert "ix_delivery_jobs_due" in plan, plan
