"""The hosted invoice page in a real browser: Debian's Chromium, headless, driven by Playwright
against an `invoicing web` process on loopback (scripts/ensure-browser.sh installs Chromium).

Playwright's own browser builds are never downloaded: it launches /usr/bin/chromium.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from invoicing import db
from invoicing.documents.store import DocumentStore
from invoicing.models.dunning import InvoiceShare
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from tests.support.web import (
    Published,
    belgian_invoice,
    deliver,
    german_invoice,
    storing_client,
    today,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class Site:
    base: str
    engine: Engine
    documents: Path
    german: Published
    belgian: Published
    expired: Published
    revoked: Published


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"invoicing web exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"invoicing web did not answer: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: run scripts/ensure-browser.sh")
    root = tmp_path_factory.mktemp("web")
    url = f"sqlite:///{root}/invoicing.sqlite3"
    documents = root / "documents"
    db.migrate(url)
    engine = db.make_engine(url)
    client = storing_client(engine, documents)
    german = german_invoice(client)
    # never sent by email: the share job of publish_invoice stores its documents after the
    # commit (as a worker's runner thread would), and the page serves those bytes
    assert [s.status for s in deliver(client, german)] == ["done"]
    expired = german_invoice(client, expires_on=today().isoformat())
    revoked = german_invoice(client)
    client.ok("unpublish_invoice", {"invoice_id": revoked.invoice_id})
    _, belgian = belgian_invoice(engine, documents)
    # a link whose last day has passed (publish_invoice refuses a past date, so age it here)
    with Session(engine) as session, session.begin():
        session.execute(
            update(InvoiceShare)
            .where(InvoiceShare.invoice_id == uuid.UUID(expired.invoice_id))
            .values(expires_on=today() - dt.timedelta(days=1))
        )

    port, operator_port = _free_port(), _free_port()
    log = root / "web.log"
    exe = shutil.which("invoicing", path=str(Path(sys.executable).parent)) or "invoicing"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "INVOICING_DATA_DIR": str(root),
        "INVOICING_DOCUMENTS_DIR": str(documents),
        "INVOICING_LOG_FORMAT": "json",
        "INVOICING_WEB_RATE_PER_MINUTE": "6000",
        "INVOICING_WEB_RATE_BURST": "500",
        "INVOICING_WEB_HOST": "127.0.0.1",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            # the operator listener's port too: the default 8081 may be another run's
            [exe, "web", "--port", str(port), "--operator-port", str(operator_port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, proc, log)
        yield Site(base, engine, documents, german, belgian, expired, revoked)
    finally:
        proc.terminate()
        proc.wait(10)
        engine.dispose()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(accept_downloads=True, locale="de-DE")
    page = context.new_page()
    page.console_messages: list[str] = []  # type: ignore[misc]
    page.on("console", lambda m: page.console_messages.append(m.text))
    try:
        yield page
    finally:
        context.close()


def _stored(site: Site, pub: Published, kind: str) -> bytes:
    import uuid

    with Session(site.engine) as session:
        doc = DocumentStore().get(session, _org(site, pub), uuid.UUID(pub.invoice_id), kind)
    assert doc is not None
    return doc.content


def _org(site: Site, pub: Published) -> Any:
    import uuid

    return uuid.UUID(pub.state["organization_id"])


def test_the_page_renders_the_invoice(site: Site, page: Any) -> None:
    response = page.goto(f"{site.base}/i/{site.german.token}")
    assert response.status == 200
    body = page.inner_text("body")
    for text in (
        site.german.number,
        "Kanzlei Müller & Partner GmbH",
        "Rechtsberatung Mietrecht",
        "Kommentar BGB",
        "1.951,63\xa0€",
        "Zahlungsstatus",
        "Offen",
        "DE89 3704 0044 0532 0130 00",
    ):
        assert text in body, text
    assert page.title().startswith("Rechnung " + site.german.number)
    # the style sheet applied (CSP allows 'self' styles only) and nothing was blocked
    assert page.eval_on_selector(".button", "e => getComputedStyle(e).display") == "inline-block"
    assert not [m for m in page.console_messages if "Content Security Policy" in m]


def test_downloads_are_the_stored_bytes(site: Site, page: Any) -> None:
    page.goto(f"{site.base}/i/{site.german.token}")
    for selector, kind in (("#download-pdf", "pdf"), ("#download-xml", "xml-xrechnung_cii")):
        with page.expect_download() as info:
            page.click(selector)
        download = info.value
        path = download.path()
        assert Path(path).read_bytes() == _stored(site, site.german, kind), kind
    assert download.suggested_filename.endswith(".xml")


def test_belgian_page_in_dutch_with_qr(site: Site, page: Any) -> None:
    page.goto(f"{site.base}/i/{site.belgian.token}")
    body = page.inner_text("body")
    assert "Factuur" in body and "Gestructureerde mededeling" in body and "Openstaand" in body
    reference = page.inner_text("#payment-reference")
    assert reference.startswith("+++") and reference.endswith("+++")
    # the QR image loaded (an <img> from the same origin, allowed by img-src 'self')
    width = page.eval_on_selector(".qr img", "img => img.complete ? img.naturalWidth : 0")
    assert width > 0


def test_error_pages(site: Site, page: Any) -> None:
    expired = page.goto(f"{site.base}/i/{site.expired.token}")
    assert expired.status == 410
    assert "Link abgelaufen" in page.inner_text("h1")
    assert site.expired.number not in page.content()
    for token in (site.revoked.token, "x" * 43):
        response = page.goto(f"{site.base}/i/{token}")
        assert response.status == 404
        assert page.inner_text("h1") == "Link nicht gefunden"
    response = page.goto(f"{site.base}/")
    assert response.status == 404


def test_usable_at_phone_width(site: Site, chromium: Any, tmp_path: Path) -> None:
    context = chromium.new_context(
        viewport={"width": 360, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="de-DE",
    )
    page = context.new_page()
    try:
        page.goto(f"{site.base}/i/{site.german.token}")
        # no horizontal scrolling: the page fits the phone's width
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        # the download buttons and the amount due are on screen horizontally and big enough
        for selector in ("#download-pdf", "#amount-due", "#iban"):
            box = page.locator(selector).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360, selector
        button = page.locator("#download-pdf").bounding_box()
        assert button is not None and button["height"] >= 32  # a finger can hit it
        # lines become cards: the header row is hidden, each cell labelled
        assert "Rechtsberatung Mietrecht" in page.inner_text(".lines tbody")
        page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
    finally:
        context.close()
