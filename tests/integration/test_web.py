"""The hosted invoice page (Starlette app in-process, real SQLite and PostgreSQL).

The browser test (tests/e2e/test_web_browser.py) drives the same page in Chromium.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import os
import statistics
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pypdf
import pytest
from invoicing.documents.store import DocumentStore
from invoicing.models.documents import DocumentContent
from invoicing.models.dunning import InvoiceShare
from invoicing.web import serving
from invoicing.web.app import SECURITY_HEADERS, create_app, operator_app
from invoicing.web.readonly import make_readonly_engine
from invoicing.web.settings import WebSettings
from sqlalchemy import Engine, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from starlette.testclient import TestClient
from structlog.testing import capture_logs

from tests.support.client import Client, line
from tests.support.web import (
    belgian_invoice,
    deliver,
    freeze_documents,
    german_invoice,
    publish,
    storing_client,
    today,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def documents(tmp_path: Path) -> Path:
    return tmp_path / "documents"


@pytest.fixture
def client(engine: Engine, documents: Path) -> Client:
    return storing_client(engine, documents)


def web(
    engine: Engine,
    documents: Path,
    *,
    day: dt.date | None = None,
    **settings: object,
) -> TestClient:
    options: dict[str, object] = {"rate_per_minute": 6000, "rate_burst": 1000, "miss_floor_ms": 0}
    options.update(settings)
    app = create_app(
        web=WebSettings(**options),  # type: ignore[arg-type]
        engine=make_readonly_engine(str(engine.url.render_as_string(hide_password=False))),
        documents_dir=documents,
        today=(lambda _zone: day) if day else (lambda _zone: today()),
    )
    return TestClient(app)


@pytest.fixture
def browser(engine: Engine, documents: Path) -> Iterator[TestClient]:
    with web(engine, documents) as c:
        yield c


def stored(engine: Engine, org: uuid.UUID, invoice_id: str, kind: str) -> bytes:
    with Session(engine) as session:
        doc = DocumentStore().get(session, org, uuid.UUID(invoice_id), kind)
        assert doc is not None
        return doc.content


def test_page_shows_the_invoice_in_the_recipients_language(
    client: Client, browser: TestClient
) -> None:
    pub = german_invoice(client)
    deliver(client, pub)  # the share job stores the documents the page offers
    r = browser.get(f"/i/{pub.token}")
    assert r.status_code == 200, r.text
    html = r.text
    assert '<html lang="de">' in html
    for text_ in (
        "Rechnung",
        pub.number,
        "Kanzlei Müller &amp; Partner GmbH",  # escaped
        "Rechtsberatung Mietrecht",
        "Kommentar BGB",
        "Zahlungsstatus",
        "Offen",
        "DE89 3704 0044 0532 0130 00",
        "PDF herunterladen",
        "E-Rechnung (XML) herunterladen",
    ):
        assert text_ in html, text_
    gross = pub.state["totals"]["gross_total"]  # 6.5 * 240 * 1.19 + 89 * 1.07 = 1951.63
    assert gross == "1951.63"
    assert "1.951,63\xa0€" in html
    assert "<script" not in html.lower()


def test_security_headers_on_every_answer(client: Client, browser: TestClient) -> None:
    pub = german_invoice(client)
    for path in (f"/i/{pub.token}", f"/i/{pub.token}/pdf", "/i/unknown", "/static/page.css", "/"):
        r = browser.get(path)
        for name, value in SECURITY_HEADERS.items():
            if name == "cache-control" and path == "/static/page.css":
                continue
            assert r.headers.get(name) == value, (path, name)
    csp = SECURITY_HEADERS["content-security-policy"]
    assert "script-src" not in csp and "unsafe-inline" not in csp
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert browser.get(f"/i/{pub.token}").headers["referrer-policy"] == "no-referrer"
    assert "noindex" in browser.get(f"/i/{pub.token}").headers["x-robots-tag"]


def test_downloads_are_the_stored_bytes(
    client: Client, browser: TestClient, engine: Engine, documents: Path
) -> None:
    pub = german_invoice(client)
    freeze_documents(engine, documents, pub, "xrechnung_cii")
    pdf = browser.get(f"/i/{pub.token}/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    assert pdf.content == stored(engine, client.org, pub.invoice_id, "pdf")
    assert pdf.headers["content-disposition"].startswith(f'attachment; filename="{pub.number}.pdf"')
    xml = browser.get(f"/i/{pub.token}/xml")
    assert xml.status_code == 200 and xml.headers["content-type"].startswith("application/xml")
    assert xml.content == stored(engine, client.org, pub.invoice_id, "xml-xrechnung_cii")
    assert pub.number.encode() in xml.content
    # publishing again (a new token) serves the very same frozen bytes
    again = publish(client, pub.invoice_id)
    assert browser.get(f"/i/{again.token}/pdf").content == pdf.content


def test_an_unreadable_document_is_a_localized_503_with_retry_after(
    client: Client, browser: TestClient, engine: Engine, documents: Path
) -> None:
    """Stored bytes that no longer match their SHA-256 (or a file system away): the answer was
    a plain English "document temporarily unavailable" with no Retry-After; it is the page's
    own error page now, in the invoice's language, with Retry-After."""
    pub = german_invoice(client)
    freeze_documents(engine, documents, pub, None)
    with engine.begin() as conn:
        conn.execute(
            update(DocumentContent)
            .where(DocumentContent.organization_id == client.org)
            .values(data=b"not the stored bytes")
        )
    with capture_logs() as logs:
        r = browser.get(f"/i/{pub.token}/pdf", headers={"accept-language": "en"})
    assert r.status_code == 503 and r.headers["retry-after"] == "120"
    assert r.headers["content-type"].startswith("text/html")
    assert '<html lang="de">' in r.text and "vorübergehend nicht verfügbar" in r.text
    assert r.headers["cache-control"] == "no-store"
    (entry,) = [e for e in logs if e["event"] == "web.document_unreadable"]
    assert "SHA-256" in entry["error"]


def test_published_only_documents_are_stored_after_the_commit_and_served_stored(
    client: Client, browser: TestClient, engine: Engine
) -> None:
    """Never sent by email: the share job of publish_invoice renders, validates and stores the
    documents after the commit; the page renders nothing itself and serves the stored bytes."""
    pub = german_invoice(client)
    before = browser.get(f"/i/{pub.token}")
    assert "PDF herunterladen" not in before.text  # nothing stored yet: nothing offered
    assert browser.get(f"/i/{pub.token}/pdf").status_code == 404
    (step,) = deliver(client, pub)
    assert step.status == "done" and step.purpose == "share"
    (event,) = step.events
    assert event["type"] == "invoice.documents_stored" and event["data"]["purpose"] == "share"
    refs = {d["kind"]: d for d in event["data"]["documents"]}
    assert set(refs) == {"pdf", "xml-xrechnung_cii"}
    pdf = browser.get(f"/i/{pub.token}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert pdf.content == stored(engine, client.org, pub.invoice_id, "pdf")
    assert hashlib.sha256(pdf.content).hexdigest() == refs["pdf"]["sha256"]
    text_ = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
    assert pub.number in text_ and "Rechtsberatung Mietrecht" in text_
    xml = browser.get(f"/i/{pub.token}/xml")
    assert xml.status_code == 200 and pub.number.encode() in xml.content
    assert xml.content == stored(engine, client.org, pub.invoice_id, "xml-xrechnung_cii")
    assert b"urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung" in xml.content
    # the same bytes through the contract: get_document by the event's reference
    reply = client.bus.query_document(
        {
            "type": "get_document",
            "organization_id": str(client.org),
            "payload": {"document_id": refs["pdf"]["document_id"]},
        }
    )
    assert reply["status"] == "ok", reply
    assert base64.b64decode(reply["result"]["content"]["data"]) == pdf.content
    # publishing again serves the very same frozen bytes (the job finds them stored)
    again = publish(client, pub.invoice_id)
    (step,) = deliver(client, again)
    assert browser.get(f"/i/{again.token}/pdf").content == pdf.content


def test_a_pdf_only_customer_gets_no_xml_link(client: Client, browser: TestClient) -> None:
    cust = client.customer(locale="en")
    inv = client.invoice(cust, [{"description": "Advice", "quantity": 1, "unit_price": 100}])
    pub = publish(client, inv)
    assert [step.status for step in deliver(client, pub)] == ["done"]
    html = browser.get(f"/i/{pub.token}").text
    assert "Download PDF" in html and "Download e-invoice" not in html
    assert browser.get(f"/i/{pub.token}/xml").status_code == 404


def test_belgian_invoice_in_dutch_with_structured_communication_and_qr(
    engine: Engine, documents: Path, browser: TestClient
) -> None:
    _, pub = belgian_invoice(engine, documents)
    html = browser.get(f"/i/{pub.token}").text
    assert '<html lang="nl">' in html
    assert "Factuur" in html and "Betaalstatus" in html and "Openstaand" in html
    assert "Gestructureerde mededeling" in html
    reference = html.split('id="payment-reference">', 1)[1].split("<", 1)[0]
    assert reference.startswith("+++") and reference.endswith("+++") and len(reference) == 20
    assert f'src="/i/{pub.token}/qr.svg"' in html
    qr = browser.get(f"/i/{pub.token}/qr.svg")
    assert qr.status_code == 200 and qr.headers["content-type"].startswith("image/svg+xml")
    assert qr.text.startswith("<svg") and "<script" not in qr.text


def test_payment_status_follows_payments(client: Client, browser: TestClient) -> None:
    pub = german_invoice(client)
    client.ok(
        "record_payment",
        {"invoice_id": pub.invoice_id, "amount": "1000.00", "date": today().isoformat()},
    )
    html = browser.get(f"/i/{pub.token}").text
    assert "Teilweise bezahlt" in html and 'id="amount-due">951,63\xa0€' in html
    client.ok(
        "record_payment",
        {"invoice_id": pub.invoice_id, "amount": "951.63", "date": today().isoformat()},
    )
    html = browser.get(f"/i/{pub.token}").text
    assert "status-paid" in html and "Bezahlt" in html
    assert 'id="payment"' not in html  # nothing left to pay
    assert browser.get(f"/i/{pub.token}/qr.svg").status_code == 404


def test_an_invoice_of_nothing_is_not_open_overdue_or_paid(
    client: Client, engine: Engine, documents: Path
) -> None:
    """A free sample invoiced at 0.00 has nothing to pay: the page said "Open", and "Overdue"
    in red after its due date; nobody paid it either (the domain keeps it sent), so not "Paid"
    but "Nothing to pay"."""
    cust = client.customer(locale="en")
    pub = publish(client, client.invoice(cust, [line("Free sample", "1", "0.00")]))
    assert pub.state["totals"]["gross_total"] == "0.00" and pub.state["status"] == "sent"
    for day in (today(), today() + dt.timedelta(days=60)):
        with web(engine, documents, day=day) as c:
            html = c.get(f"/i/{pub.token}").text
        assert "status-nothing_due" in html and "Nothing to pay" in html, day
        assert "Overdue" not in html and "Open<" not in html and "Paid" not in html, day
        assert 'id="payment"' not in html


def test_an_invoice_written_off_unpaid_is_not_shown_paid_or_overdue(
    client: Client, engine: Engine, documents: Path
) -> None:
    """Written off in full as uncollectible, nothing paid: nothing is open in the books. The
    page told the debtor "Bezahlt" (a receipt for money never received), then "Überfällig" once
    the due date passed, with no amount due anywhere on it; it says "Abgeschrieben" now, with
    the written-off amount among the totals."""
    pub = german_invoice(client)
    client.ok(
        "write_off_invoice",
        {"invoice_id": pub.invoice_id, "date": today().isoformat(), "reason": "uncollectible"},
    )
    assert client.state(pub.invoice_id)["status"] == "sent"
    for day in (today(), today() + dt.timedelta(days=60)):
        with web(engine, documents, day=day) as c:
            html = c.get(f"/i/{pub.token}").text
        assert "status-written_off" in html and "Abgeschrieben" in html, day
        assert "Bezahlt" not in html and "Überfällig" not in html and "Offen<" not in html
        assert 'id="written-off">−1.951,63\xa0€' in html
        assert 'id="payment"' not in html


def test_a_partial_write_off_leaves_the_rest_due_and_says_so(
    client: Client, engine: Engine, documents: Path
) -> None:
    """Part written off: the rest is still owed (open, then overdue); the totals show the
    written-off part, so that gross less it adds up to the amount due."""
    pub = german_invoice(client)
    client.ok(
        "write_off_invoice",
        {
            "invoice_id": pub.invoice_id,
            "date": today().isoformat(),
            "reason": "uncollectible",
            "amount": "951.63",
        },
    )
    with web(engine, documents, day=today() + dt.timedelta(days=60)) as c:
        html = c.get(f"/i/{pub.token}").text
    assert "status-overdue" in html and 'id="amount-due">1.000,00\xa0€' in html
    assert 'id="written-off">−951,63\xa0€' in html


def test_credited_in_part_and_written_off_or_credited_in_full(
    client: Client, browser: TestClient
) -> None:
    """A credit note for part and the rest written off leaves nothing open and nothing paid:
    written off, not "À payer". Credited in full, the domain voids the invoice: cancelled."""
    cust = client.customer(locale="fr")
    pub = publish(client, client.invoice(cust, [line("Conseil", "1", "100.00")]))
    credit = line("Conseil", "1", "60.00")
    client.ok("issue_credit_note", {"invoice_id": pub.invoice_id, "lines": [credit]})
    client.ok(
        "write_off_invoice",
        {"invoice_id": pub.invoice_id, "date": today().isoformat(), "reason": "uncollectible"},
    )
    html = browser.get(f"/i/{pub.token}").text
    assert "status-written_off" in html and "Passée en perte" in html
    assert "status-open" not in html and 'id="payment"' not in html
    assert 'id="written-off">−47,60\xa0€' in html  # 119.00 - 71.40 credited

    other = publish(client, client.invoice(cust, [line("Conseil", "1", "100.00")]))
    client.ok("issue_credit_note", {"invoice_id": other.invoice_id})
    html = browser.get(f"/i/{other.token}").text
    assert "status-void" in html and "Annulée" in html and 'id="payment"' not in html


def test_a_credit_note_alone_is_not_a_payment(client: Client, browser: TestClient) -> None:
    """A partial credit note lowers what is due, but nobody paid: the page said "Partly paid"
    (the domain's status stays sent; partially_paid needs a payment)."""
    pub = german_invoice(client)
    credit = line("Nachlass", "1", "100.00")
    client.ok("issue_credit_note", {"invoice_id": pub.invoice_id, "lines": [credit]})
    html = browser.get(f"/i/{pub.token}").text
    assert "Teilweise bezahlt" not in html and "status-open" in html
    assert 'id="amount-due">1.832,63\xa0€' in html  # 1951.63 - 119.00: still due
    client.ok(
        "record_payment",
        {"invoice_id": pub.invoice_id, "amount": "32.63", "date": today().isoformat()},
    )
    assert "Teilweise bezahlt" in browser.get(f"/i/{pub.token}").text


def test_a_withdrawn_quote_shows_that_it_is_cancelled(client: Client, browser: TestClient) -> None:
    """void_invoice withdraws a quote, but its link still opens (as a void invoice's does): the
    page went on saying "Quote" with no word of the withdrawal, an offer that looked open."""
    cust = client.customer(locale="en")
    quote = client.invoice(cust, [line("Website relaunch", "1", "5000.00")], is_quote=True)
    pub = publish(client, quote)
    assert "status-quote" in browser.get(f"/i/{pub.token}").text
    client.ok("void_invoice", {"invoice_id": pub.invoice_id})
    html = browser.get(f"/i/{pub.token}").text
    assert "status-void" in html and "Cancelled" in html
    assert "status-quote" not in html and 'id="payment"' not in html


def test_expired_410_unknown_and_revoked_404_alike(
    client: Client, engine: Engine, documents: Path
) -> None:
    pub = german_invoice(client, expires_on=today().isoformat())
    with web(engine, documents) as c:
        assert c.get(f"/i/{pub.token}").status_code == 200
    with web(engine, documents, day=today() + dt.timedelta(days=1)) as c:
        expired = c.get(f"/i/{pub.token}", headers={"accept-language": "de-DE,de;q=0.9"})
        assert expired.status_code == 410 and "Link abgelaufen" in expired.text
        assert c.get(f"/i/{pub.token}/pdf").status_code == 410
        assert pub.number not in expired.text

    other = german_invoice(client)
    client.ok("unpublish_invoice", {"invoice_id": other.invoice_id})
    with web(engine, documents) as c:
        revoked = c.get(f"/i/{other.token}")
        unknown = c.get(f"/i/{other.token[:-2]}xy")
        malformed = c.get("/i/%3Cscript%3E")
        for r in (revoked, unknown, malformed):
            assert r.status_code == 404
        assert revoked.text == unknown.text == malformed.text
        assert revoked.headers.keys() == unknown.headers.keys()
        # the stored hash opens nothing
        assert c.get(f"/i/{_sha(other.token)}").status_code == 404


def _sha(token: str) -> str:
    import hashlib

    return hashlib.sha256(token.encode()).hexdigest()


def test_answers_in_the_browser_s_language_say_they_vary_by_it(
    client: Client, engine: Engine, documents: Path
) -> None:
    """The error pages of a link that opens nothing (404, 410), of an unknown path and of the
    rate limit (429) are in the language Accept-Language asks for: they say
    ``Vary: Accept-Language``, so no cache serves one language to everyone. The invoice's own
    page, and a download's 404 or 503 in the invoice's language, do not depend on it and do
    not say so."""
    pub = german_invoice(client, expires_on=today().isoformat())
    english = {"accept-language": "en"}
    with web(engine, documents) as c:
        page = c.get(f"/i/{pub.token}", headers=english)
        assert page.status_code == 200 and "vary" not in page.headers
        missing_xml = c.get(f"/i/{pub.token}/xml", headers=english)  # a PDF-only link
        assert missing_xml.status_code == 404 and '<html lang="de">' in missing_xml.text
        assert "vary" not in missing_xml.headers
        for path in (f"/i/{pub.token[:-2]}xy", "/nowhere", "/i/%3Cscript%3E"):
            r = c.get(path, headers=english)
            assert r.status_code == 404 and '<html lang="en">' in r.text, path
            assert r.headers["vary"] == "Accept-Language", path
    with web(engine, documents, day=today() + dt.timedelta(days=1)) as c:
        expired = c.get(f"/i/{pub.token}", headers=english)
        assert expired.status_code == 410 and expired.headers["vary"] == "Accept-Language"
    with web(engine, documents, rate_per_minute=1, rate_burst=1) as c:
        c.get("/healthz")
        c.get("/i/x")
        limited = c.get("/i/x", headers=english)
        assert limited.status_code == 429 and limited.headers["vary"] == "Accept-Language"


def test_unknown_and_revoked_answer_with_the_same_timing(
    client: Client, engine: Engine, documents: Path
) -> None:
    pub = german_invoice(client)
    client.ok("unpublish_invoice", {"invoice_id": pub.invoice_id})
    floor_ms = 150  # above the work itself even on a loaded machine: both kinds wait it out
    with web(engine, documents, miss_floor_ms=floor_ms) as c:

        def timed(path: str) -> float:
            start = time.perf_counter()
            assert c.get(path).status_code == 404
            return time.perf_counter() - start

        revoked, unknown = [], []
        for _ in range(12):  # interleaved, so that load on the machine hits both alike
            revoked.append(timed(f"/i/{pub.token}"))
            unknown.append(timed(f"/i/{uuid.uuid4().hex}"))
    assert min(revoked) >= floor_ms / 1000 and min(unknown) >= floor_ms / 1000
    # both wait out the same floor: medians within 15 ms of each other
    assert abs(statistics.median(revoked) - statistics.median(unknown)) < 0.015


def test_rate_limit_per_client(client: Client, engine: Engine, documents: Path) -> None:
    pub = german_invoice(client)
    with web(engine, documents, rate_per_minute=1, rate_burst=3) as c:
        codes = [c.get(f"/i/{pub.token}").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = c.get("/i/anything")
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert "Too many requests" in limited.text
        # the liveness probe is not limited (readiness and metrics are on the operator port)
        assert c.get("/healthz").status_code == 200


def test_rate_limit_counts_an_ipv6_client_by_its_64_network(tmp_path: Path) -> None:
    """Each address had its own bucket: a client given a /64 (any IPv6 line) had 2^64 of them
    by changing the interface part of its address for every request."""
    app = create_app(
        web=WebSettings(rate_per_minute=1, rate_burst=2, miss_floor_ms=0),
        engine=make_readonly_engine("postgresql://nobody@127.0.0.1:1/none"),  # never asked
        documents_dir=tmp_path,
    )

    def css(host: str) -> int:
        with TestClient(app, client=(host, 50000)) as c:
            return c.get("/static/page.css").status_code

    assert [css("2001:db8:1:2::1"), css("2001:db8:1:2::2")] == [200, 200]
    assert css("2001:db8:1:2:ffff:ffff:ffff:ffff") == 429  # the same /64
    assert css("2001:db8:1:3::1") == 200  # the next /64 is another client
    assert [css("192.0.2.1"), css("::ffff:192.0.2.1")] == [200, 200]
    assert css("192.0.2.1") == 429  # IPv4-mapped is the same IPv4 client
    assert css("192.0.2.2") == 200


def test_nothing_else_is_reachable(client: Client, browser: TestClient) -> None:
    pub = german_invoice(client)
    for path in (
        "/",
        "/i/",
        "/i",
        "/docs",
        "/openapi.json",
        "/static/",
        "/static/../app.py",
        "/static/invoice.html.j2",
        f"/i/{pub.token}/../../metrics/x",
        f"/i/{pub.token}/pdf/x",
        f"/i/{client.org}",
        f"/i/{pub.invoice_id}",
    ):
        r = browser.get(path)
        assert r.status_code == 404, path
    assert browser.post(f"/i/{pub.token}").status_code == 404
    assert browser.delete(f"/i/{pub.token}").status_code == 404


def test_a_trailing_slash_is_the_404_page_not_a_redirect(
    client: Client, browser: TestClient
) -> None:
    """Starlette redirected ``/i/<token>/`` (and any known path with a slash added) with a 307
    to an absolute URL built from the request's Host header: a forged Host was sent back as the
    Location, and an unknown token got its answer without the miss floor."""
    pub = german_invoice(client)
    for path in (f"/i/{pub.token}/", f"/i/{pub.token}/pdf/", "/i/unknown/", "/static/page.css/"):
        r = browser.get(path, headers={"host": "evil.example"}, follow_redirects=False)
        assert r.status_code == 404, (path, r.headers.get("location"))
        assert "location" not in r.headers and "evil.example" not in r.text


def test_operator_endpoints(client: Client, engine: Engine, documents: Path) -> None:
    pub = german_invoice(client)
    page = web(engine, documents)
    with page, TestClient(operator_app(page.app)) as operator:  # type: ignore[arg-type]
        page.get(f"/i/{pub.token}")
        page.get("/i/nope")
        assert page.get("/healthz").text == operator.get("/healthz").text == "ok\n"
        ready = operator.get("/readyz")
        assert ready.status_code == 200 and ready.text == "database: ok\n"
        scrape = operator.get("/metrics").text
        assert 'invoicing_web_requests_total{route="invoice",status="200"}' in scrape
        assert 'invoicing_web_requests_total{route="invoice",status="404"}' in scrape
        assert "invoicing_web_request_duration_seconds_bucket" in scrape
        # which process this is, as every other process's metrics say (docs/operations.md)
        assert f'invoicing_process_info{{pid="{os.getpid()}",role="web"}} 1.0' in scrape
        # the page's own port answers neither: under compose it is published to the world
        for path in ("/readyz", "/metrics"):
            assert page.get(path).status_code == 404, path
        assert operator.get(f"/i/{pub.token}").status_code == 404  # and no page here


def test_the_page_and_the_operator_listener_are_two_ports_of_one_server(
    client: Client, engine: Engine, documents: Path
) -> None:
    """What ``invoicing web`` runs: one uvicorn server on two sockets, each connection going to
    the application of the port it came in on."""
    pub = german_invoice(client)
    page = web(engine, documents).app
    sockets = [serving.bind("127.0.0.1", 0), serving.bind("127.0.0.1", 0)]
    ports = [s.getsockname()[1] for s in sockets]
    with pytest.raises(ValueError, match="INVOICING_WEB_OPERATOR_PORT"):
        serving.build_server(
            page,  # type: ignore[arg-type]
            operator_app(page),  # type: ignore[arg-type]
            page_socket=sockets[0],
            operator_socket=sockets[0],
            forwarded_allow_ips="127.0.0.1",
        )
    server = serving.build_server(
        page,  # type: ignore[arg-type]
        operator_app(page),  # type: ignore[arg-type]
        page_socket=sockets[0],
        operator_socket=sockets[1],
        forwarded_allow_ips="127.0.0.1",
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": sockets}, daemon=True)
    thread.start()

    def status(port: int, path: str) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
                return int(r.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started
        page_port, operator_port = ports
        assert status(page_port, f"/i/{pub.token}") == 200
        assert status(page_port, "/healthz") == 200
        assert status(page_port, "/metrics") == status(page_port, "/readyz") == 404
        assert status(operator_port, "/readyz") == status(operator_port, "/metrics") == 200
        assert status(operator_port, f"/i/{pub.token}") == 404
    finally:
        server.should_exit = True
        thread.join(10)


def test_readyz_fails_without_a_database(tmp_path: Path) -> None:
    app = create_app(
        web=WebSettings(miss_floor_ms=0),
        engine=make_readonly_engine("postgresql://nobody@127.0.0.1:1/none"),
        documents_dir=tmp_path,
    )
    with capture_logs() as logs, TestClient(operator_app(app)) as c:
        r = c.get("/readyz")
    # the answer says no more than that; the log says why
    assert r.status_code == 503 and r.text == "database: unavailable\n"
    assert "127.0.0.1" not in r.text
    (entry,) = [e for e in logs if e["event"] == "web.not_ready"]
    assert entry["error"].startswith("OperationalError")


def test_a_failure_is_a_plain_500_with_the_security_headers(tmp_path: Path) -> None:
    """The database gone mid-request: Starlette's last-resort 500 was sent outside the Guard
    middleware, without no-store, nosniff or the CSP that every other answer carries."""
    app = create_app(
        web=WebSettings(miss_floor_ms=0),
        engine=make_readonly_engine("postgresql://nobody@127.0.0.1:1/none"),
        documents_dir=tmp_path,
    )
    with TestClient(app, raise_server_exceptions=False) as c:
        for path in ("/i/" + "a" * 43, "/i/" + "a" * 43 + "/pdf", "/i/" + "a" * 43 + "/qr.svg"):
            r = c.get(path)
            assert r.status_code == 500, path
            assert r.text == "Internal Server Error"  # no traceback, no internals
            for name, value in SECURITY_HEADERS.items():
                assert r.headers.get(name) == value, (path, name)
    scrape = TestClient(operator_app(app)).get("/metrics").text
    assert 'invoicing_web_requests_total{route="invoice",status="500"}' in scrape


def test_the_read_only_path_cannot_write(client: Client, engine: Engine) -> None:
    pub = german_invoice(client)
    ro = make_readonly_engine(str(engine.url.render_as_string(hide_password=False)))
    with Session(ro) as session:
        assert session.execute(
            select(InvoiceShare.invoice_id).where(
                InvoiceShare.invoice_id == uuid.UUID(pub.invoice_id)
            )
        ).scalar_one() == uuid.UUID(pub.invoice_id)
    with (
        pytest.raises(DBAPIError, match=r"read-only|readonly|attempt to write"),
        ro.begin() as conn,
    ):
        conn.execute(text("DELETE FROM invoice_shares"))
    ro.dispose()


def test_a_currency_en16931_cannot_carry_gets_the_pdf_alone(
    client: Client, browser: TestClient
) -> None:
    """The share job stores the PDF of a KWD invoice and no e-invoice (three decimals break
    BR-DEC-*), says why in its event, and the page offers no XML."""
    cust = client.customer(locale="de", einvoice_format="xrechnung_cii")
    lines = [{"description": "Posten", "quantity": "1", "unit_price": "12.345"}]
    inv = client.invoice(cust, lines, currency="KWD", exchange_rate="3")
    pub = publish(client, inv)
    (step,) = deliver(client, pub)
    assert step.status == "done", step.error
    (event,) = step.events
    assert [d["kind"] for d in event["data"]["documents"]] == ["pdf"]
    assert event["data"]["einvoice_error"]["code"] == "einvoice_currency_decimals"
    html = browser.get(f"/i/{pub.token}").text
    assert "PDF herunterladen" in html and "E-Rechnung (XML) herunterladen" not in html
    assert browser.get(f"/i/{pub.token}/xml").status_code == 404
    assert browser.get(f"/i/{pub.token}/pdf").content.startswith(b"%PDF-")


def test_a_link_closes_at_the_organization_s_midnight(
    client: Client, engine: Engine, documents: Path
) -> None:
    """A link that opens through a day closes when that day ends where the organization works:
    at 23:30 UTC it is already the next day in Berlin (the page said open until 01:00 there
    before session 33, on UTC's day)."""
    from invoicing.domain import calendar

    day = today()
    pub = german_invoice(client, expires_on=day.isoformat())
    late = dt.datetime.combine(day, dt.time(23, 30), tzinfo=dt.UTC)
    app = create_app(
        web=WebSettings(miss_floor_ms=0),
        engine=make_readonly_engine(str(engine.url.render_as_string(hide_password=False))),
        documents_dir=documents,
        today=lambda zone: calendar.local_day(late, zone),  # the organization's zone asked
    )
    with TestClient(app) as c:
        assert c.get(f"/i/{pub.token}").status_code == 410  # Berlin: the next day
    early = dt.datetime.combine(day, dt.time(21, 30), tzinfo=dt.UTC)  # Berlin: still that day
    app = create_app(
        web=WebSettings(miss_floor_ms=0),
        engine=make_readonly_engine(str(engine.url.render_as_string(hide_password=False))),
        documents_dir=documents,
        today=lambda zone: calendar.local_day(early, zone),
    )
    with TestClient(app) as c:
        assert c.get(f"/i/{pub.token}").status_code == 200
