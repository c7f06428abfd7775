"""Subsidiaries as billing entities on SQLite and PostgreSQL: their seller data, bank accounts
and own gapless series on the documents they issue; valid e-invoices with a subsidiary seller;
the subsidiary_id filter, next_number and list_subsidiaries."""

from __future__ import annotations

import multiprocessing as mp
import uuid
from typing import Any

import pytest
from invoicing import db
from invoicing.documents.einvoice import build_einvoice, validate
from invoicing.models import Invoice
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import LocalOperator
from invoicing.schemas.events import InvoiceState
from sqlalchemy import select

from tests.integration.test_numbering_concurrency import _worker
from tests.support.client import DE_ORG, Client, line
from tests.support.external import require_rules
from tests.support.fakes import fake_deps

pytestmark = pytest.mark.integration

BE_SUB: dict[str, Any] = {
    "id": "kanzlei-bruessel",
    "name": "Müller & Partner Advocaten BV",
    "address": {
        "street_address": "Louizalaan 10",
        "zip_code": "1050",
        "city": "Brussel",
        "country_code": "BE",
    },
    "vat_id": "BE 0403.019.261",
    "iban": "BE68539007547034",
    "email": "facturen@mueller-partner.be",
    "default_tax_rate": 21,
    "bank_accounts": [{"id": "be-usd", "iban": "BE71096123456769"}],
    "number_series": {
        "invoice": {"pattern": "BE-{YYYY}-{SEQ:4}"},
        "credit_note": {"pattern": "BE-CN-{YYYY}-{SEQ:4}"},
    },
}
DE_SUB: dict[str, Any] = {
    "id": "kanzlei-berlin",
    "name": "Müller & Partner Berlin GmbH",
    "address": {
        "street_address": "Unter den Linden 5",
        "zip_code": "10117",
        "city": "Berlin",
        "country_code": "DE",
    },
    "vat_id": "DE811907980",
    "tax_number": "27/123/45678",
    "registration": "Amtsgericht Charlottenburg HRB 98765",
    "iban": "DE02120300000000202051",
    "email": "rechnungen@mueller-partner-berlin.example",
    "phone": "+49 30 1234567",
    "number_series": {"invoice": {"pattern": "B-{YYYY}-{SEQ:3}"}},
}


def query(c: Client, qtype: str, payload: dict[str, Any]) -> dict[str, Any]:
    reply = c.bus.query_document({"type": qtype, "organization_id": str(c.org), "payload": payload})
    assert reply["status"] == "ok", reply["errors"]
    return reply["result"]  # type: ignore[no-any-return]


def _be_customer(c: Client) -> uuid.UUID:
    return c.customer(
        company="Brouwerij Janssens NV",
        vat_id="BE0477472701",
        address={
            "street_address": "Grote Markt 1",
            "zip_code": "2000",
            "city": "Antwerpen",
            "country_code": "BE",
        },
        einvoice_format="peppol",
    )


def test_a_subsidiary_issues_in_its_own_name_and_series(client: Client) -> None:
    c = client
    created = c.ok("configure_subsidiary", BE_SUB).events[0]
    assert created["type"] == "subsidiary.configured" and created["data"]["created"] is True
    assert created["data"]["subsidiary"]["vat_id"] == "BE0403019261"
    be = _be_customer(c)
    first = c.finalized(be, [line(tax_rate=21)], subsidiary_id="kanzlei-bruessel")
    own = c.finalized(c.customer(), [line()])
    second = c.finalized(be, [line(tax_rate=21)], subsidiary_id="kanzlei-bruessel")
    assert [first["number"], own["number"], second["number"]] == [
        "BE-2026-0001",
        "RE-2026-001",
        "BE-2026-0002",
    ]
    seller = first["seller"]
    assert (seller["name"], seller["vat_id"], seller["iban"]) == (
        "Müller & Partner Advocaten BV",
        "BE0403019261",
        "BE68539007547034",
    )
    assert seller["address"]["city"] == "Brussel" and seller["email"] == BE_SUB["email"]
    assert seller["tax_number"] is None  # never the parent's identity
    assert own["seller"]["name"] == "Kanzlei Müller & Partner GmbH"
    # its credit note: its seller, its credit-note series
    cn = c.ok("issue_credit_note", {"invoice_id": first["id"]}).events[0]["data"]["invoice"]
    assert cn["number"] == "BE-CN-2026-0001" and cn["seller"]["name"] == seller["name"]
    assert cn["subsidiary_id"] == "kanzlei-bruessel"
    # the Belgian rates apply to its lines
    draft = c.invoice(be, [], subsidiary_id="kanzlei-bruessel")
    errors = c.rejected("add_line", {"invoice_id": str(draft), "line": line(tax_rate=19)})
    assert errors[0]["source"]["pointer"] == "/payload/line/tax_rate"
    # reads
    nxt = query(c, "next_number", {"subsidiary_id": "kanzlei-bruessel"})
    assert nxt["number"] == "BE-2026-0003" and nxt["pattern"] == "BE-{YYYY}-{SEQ:4}"
    assert query(c, "next_number", {})["number"] == "RE-2026-002"
    listed = query(c, "list_invoices", {"filter": {"subsidiary_id": ["kanzlei-bruessel"]}})
    assert {i["number"] for i in listed["items"]} == {
        "BE-2026-0001",
        "BE-2026-0002",
        "BE-CN-2026-0001",
        None,
    }
    subs = query(c, "list_subsidiaries", {})["items"]
    assert [(s["id"], s["name"]) for s in subs] == [("kanzlei-bruessel", BE_SUB["name"])]


def test_bank_accounts_and_unknown_subsidiaries(client: Client) -> None:
    c = client
    c.ok("configure_subsidiary", BE_SUB)
    be = _be_customer(c)
    unknown = c.rejected(
        "create_invoice", {"id": str(uuid.uuid4()), "customer_id": str(be), "subsidiary_id": "x"}
    )
    assert [(e["code"], e["source"]["pointer"]) for e in unknown] == [
        ("subsidiary_not_found", "/payload/subsidiary_id")
    ]
    not_theirs = c.rejected(
        "create_invoice",
        {"id": str(uuid.uuid4()), "customer_id": str(be), "subsidiary_id": "kanzlei-bruessel",
         "bank_account_id": "main"},
    )  # fmt: skip
    assert not_theirs[0]["code"] == "bank_account_not_found"
    inv = c.finalized(
        be, [line(tax_rate=21)], subsidiary_id="kanzlei-bruessel", bank_account_id="be-usd"
    )
    assert inv["seller"]["iban"] == "BE71096123456769"


def test_series_that_could_collide_are_refused(client: Client) -> None:
    c = client
    same = {**DE_SUB, "number_series": {"invoice": {"pattern": "RE-{YYYY}-{SEQ:4}"}}}
    errors = c.rejected("configure_subsidiary", same)
    assert [(e["code"], e["source"]["pointer"]) for e in errors] == [
        ("series_collision", "/payload/number_series/invoice/pattern")
    ]
    c.ok("configure_subsidiary", DE_SUB)
    clash = {**BE_SUB, "number_series": {"quote": {"pattern": "B-{YYYY}-{SEQ:3}"}}}
    assert c.rejected("configure_subsidiary", clash)[0]["code"] == "series_collision"
    # the other way round: the organization may not take a subsidiary's series (it could
    # before, and then every finalize in either series hit the other's numbers)
    errors = c.rejected(
        "configure_organization",
        {**DE_ORG, "number_series": {"credit_note": {"pattern": "B-{YYYY}-{SEQ:3}"}}},
    )
    assert [(e["code"], e["source"]["pointer"]) for e in errors] == [
        ("series_collision", "/payload/number_series/credit_note/pattern")
    ]
    assert "kanzlei-berlin" in errors[0]["detail"]
    c.ok("configure_organization", DE_ORG)  # its own series, as before
    # a manual number inside a subsidiary's series is refused like one inside the own
    manual = c.rejected(
        "create_invoice", {"id": str(uuid.uuid4()), "number": "B-2026-777", "lines": [line()]}
    )
    assert manual[0]["code"] == "number_in_automatic_series"


@pytest.mark.parametrize("fmt", ["xrechnung_cii", "xrechnung_ubl", "zugferd"])
def test_einvoices_of_a_german_subsidiary_are_valid(client: Client, fmt: str) -> None:
    c = client
    c.ok("configure_subsidiary", DE_SUB)
    state = InvoiceState.model_validate(
        c.finalized(
            c.customer(buyer_reference="04011000-12345-03"),
            [line("Beratung", "2", "150.00")],
            subsidiary_id="kanzlei-berlin",
            subject="Mandat 12/26: Vertragsprüfung",
        )
    )
    einvoice = build_einvoice(state, fmt)
    xml = einvoice.xml.decode()
    assert "DE811907980" in xml and "Müller &amp; Partner Berlin GmbH" in xml
    assert "DE02120300000000202051" in xml and "Mandat 12/26: Vertragsprüfung" in xml
    assert "DE136695976" not in xml  # the parent's VAT id is nowhere
    require_rules()
    report = validate(einvoice.xml, einvoice.profile)
    assert report.valid, "\n".join(f"{f.rule}: {f.text}" for f in report.errors)


def test_peppol_einvoice_of_a_belgian_subsidiary_is_valid(client: Client) -> None:
    c = client
    c.ok("configure_subsidiary", BE_SUB)
    state = InvoiceState.model_validate(
        c.finalized(_be_customer(c), [line(tax_rate=21)], subsidiary_id="kanzlei-bruessel")
    )
    einvoice = build_einvoice(state, "peppol")
    xml = einvoice.xml.decode()
    assert "BE0403019261" in xml and "0208:0403019261" not in xml  # scheme and id apart
    assert "0403019261" in xml and "BE-2026-0001" in xml
    require_rules()
    report = validate(einvoice.xml, einvoice.profile)
    assert report.valid, "\n".join(f"{f.rule}: {f.text}" for f in report.errors)


# ----------------------------------------------------------------------------- concurrency

PER_SERIES = 40


@pytest.mark.slow
def test_each_series_stays_gapless_under_concurrency(pg_url: str) -> None:
    """4 processes finalize 40 invoices each of the organization, of a subsidiary with its own
    series and of one that shares the organization's, interleaved, with deliberate rollbacks."""
    engine = db.make_engine(pg_url)
    client = Client(Pipeline(engine, fake_deps(), LocalOperator()))
    client.setup_org()
    client.ok("configure_subsidiary", DE_SUB)
    client.ok("configure_subsidiary", {**DE_SUB, "id": "shares", "number_series": {}})
    cust = client.customer()
    ids: list[str] = []
    for _ in range(PER_SERIES):
        for sub in (None, "kanzlei-berlin", "shares"):
            extra = {"subsidiary_id": sub} if sub else {}
            ids.append(str(client.invoice(cust, [line()], **extra)))
    ctx = mp.get_context("fork")
    results: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [
        ctx.Process(target=_worker, args=(pg_url, str(client.org), ids[k::4], results))
        for k in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=600)
        assert p.exitcode == 0
    assert sum(results.get(timeout=5)[0] for _ in procs) == len(ids)
    with client.bus.uow_factory() as uow:
        rows = uow.session.execute(
            select(Invoice.subsidiary_id, Invoice.sequence_number, Invoice.number).where(
                Invoice.organization_id == client.org
            )
        ).all()
    own = sorted(r.sequence_number for r in rows if r.subsidiary_id == "kanzlei-berlin")
    shared = sorted(r.sequence_number for r in rows if r.subsidiary_id != "kanzlei-berlin")
    assert own == list(range(1, PER_SERIES + 1)), "gap or duplicate in the subsidiary's series"
    assert shared == list(range(1, 2 * PER_SERIES + 1)), "gap or duplicate in the shared series"
    assert all(r.number.startswith("B-") for r in rows if r.subsidiary_id == "kanzlei-berlin")
    assert len({r.number for r in rows}) == len(rows)
    engine.dispose()
