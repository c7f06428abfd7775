"""Pure parts of the hosted page and the metrics: rate limit, language choice, reason labels."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from invoicing.observability.metrics import dead_letter_reason
from invoicing.schemas.events import InvoiceState
from invoicing.web.app import create_app, operator_app, payment_status
from invoicing.web.i18n import WORDS, negotiate
from invoicing.web.ratelimit import RateLimiter
from invoicing.web.readonly import make_readonly_engine
from invoicing.web.serving import listeners
from invoicing.web.settings import WebSettings
from starlette.applications import Starlette
from starlette.testclient import TestClient
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_per_client() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=3, clock=clock)
    assert [limiter.allow("a")[0] for _ in range(4)] == [True, True, True, False]
    allowed, wait = limiter.allow("a")
    assert not allowed and 0.9 < wait <= 1.0  # one token per second
    assert limiter.allow("b")[0]  # another client has its own bucket
    clock.now = 1.0
    assert limiter.allow("a")[0] and not limiter.allow("a")[0]
    clock.now = 100.0
    assert [limiter.allow("a")[0] for _ in range(4)] == [True, True, True, False]  # capped at 3


def test_the_table_of_clients_is_bounded() -> None:
    limiter = RateLimiter(per_minute=1, burst=1, max_clients=100, clock=Clock())
    for i in range(1000):
        limiter.allow(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter._buckets) == 100


def test_language_negotiation() -> None:
    assert negotiate(None) == "en"
    assert negotiate("de-DE,de;q=0.9,en;q=0.8") == "de"
    assert negotiate("fr-BE, nl-BE;q=0.9") == "fr"
    assert negotiate("ja, nl;q=0.5, de;q=0.7") == "de"
    assert negotiate("es, it") == "en"
    assert negotiate("de;q=0, nl;q=bogus, fr;q=0.1") == "fr"
    assert negotiate("," * 10_000) == "en"


def test_language_negotiation_reads_hostile_headers_by_the_rfc() -> None:
    """The q parameter's name is case-insensitive (``DE;Q=0`` refuses German); a q-value that
    is not 0..1 with three decimals counts as refused, not as infinitely preferred; the primary
    subtag names the language, not the first two letters of another."""
    assert negotiate("DE;Q=0, fr;q=0.5") == "fr"
    assert negotiate("de; Q = 0, nl") == "nl"
    assert negotiate("fr;level=1;q=0, de;q=0.2") == "de"
    assert negotiate("de;q=inf, fr;q=0.5") == "fr"
    assert negotiate("de;q=1e400, nl;q=0.1") == "nl"
    assert negotiate("de;q=nan, fr;q=0.001") == "fr"
    assert negotiate("de;q=1.5, fr;q=0.9") == "fr"
    assert negotiate("frr, de;q=0.5") == "de"  # North Frisian is not French
    assert negotiate("deu, english, nl;q=0.1") == "nl"
    assert negotiate("de-AT;q=0.8, fr-CH;q=0.9") == "fr"
    assert negotiate("es_ES, de_AT;q=0.5") == "de"  # underscores, as some clients send them
    assert negotiate("de;q=1.000, fr;q=0.999") == "de"


def test_every_language_has_every_word() -> None:
    keys = set(WORDS["en"])
    for lang, words in WORDS.items():
        assert set(words) == keys, lang


def test_dead_letter_reasons_are_a_bounded_set() -> None:
    assert dead_letter_reason("undecodable: not JSON at /") == "undecodable"
    assert dead_letter_reason("handler failed 5 times: KeyError") == "handler_failed"
    assert dead_letter_reason("redelivered and restarted 3 times, ...") == "poison"
    assert (
        dead_letter_reason("an outside service stayed unavailable for 86400 s: smtp")
        == "service_unavailable"
    )
    assert (
        dead_letter_reason("broker dead-lettered it from q: delivery_limit (count 20)")
        == "broker_delivery_limit"
    )
    assert dead_letter_reason("anything else, with an id 123") == "other"


def _state(
    *,
    gross: str = "1000.00",
    paid: str = "0",
    credited: str = "0",
    written_off: str = "0",
    status: str = "sent",
    kind: str = "invoice",
    due: dt.date | None = dt.date(2026, 1, 31),
) -> InvoiceState:
    g, p, c, w = (Decimal(v) for v in (gross, paid, credited, written_off))
    money = {"line_net_total": g, "allowance_total": 0, "net_total": g, "tax_total": 0}
    return InvoiceState.model_validate(
        {
            "id": str(uuid.uuid4()),
            "organization_id": str(uuid.uuid4()),
            "kind": kind,
            "status": status,
            "due_date": due,
            "currency": "EUR",
            "calculate_from_net": True,
            "locale": "de",
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "sequence": 1,
            "totals": {
                **money,
                "gross_total": g,
                "paid_amount": p,
                "credited_amount": c,
                "written_off_amount": w,
                "open_amount": max(Decimal(0), g - p - c - w),
                "credit_balance": 0,
            },
        }
    )


@pytest.mark.parametrize(
    ("figures", "before_due", "after_due"),
    [
        ({}, "status_open", "status_overdue"),
        # written off in full, nobody paid: it said "Overdue" with nothing due
        ({"written_off": "1000.00"}, "status_written_off", "status_written_off"),
        # a credit note for part, the rest written off: nothing open, nothing paid
        (
            {"credited": "400.00", "written_off": "600.00"},
            "status_written_off",
            "status_written_off",
        ),
        # credited in full the domain voids it
        ({"credited": "1000.00", "status": "void"}, "status_void", "status_void"),
        # written off in part: the rest is still owed
        ({"written_off": "300.00"}, "status_open", "status_overdue"),
        (
            {"paid": "200.00", "written_off": "300.00", "status": "partially_paid"},
            "status_partially_paid",
            "status_overdue",
        ),
        # paid in part, the rest accepted as a short payment: the domain calls it paid
        (
            {"paid": "990.00", "written_off": "10.00", "status": "paid"},
            "status_paid",
            "status_paid",
        ),
        ({"gross": "0.00"}, "status_nothing_due", "status_nothing_due"),
        ({"written_off": "1000.00", "status": "void"}, "status_void", "status_void"),
    ],
)
def test_the_page_status_says_why_nothing_is_due(
    figures: dict[str, str], before_due: str, after_due: str
) -> None:
    state = _state(**figures)  # type: ignore[arg-type]
    assert state.due_date is not None
    assert payment_status(state, state.due_date) == before_due
    assert payment_status(state, state.due_date + dt.timedelta(days=60)) == after_due
    # the overdue flag (check_overdue) counts only while something is open
    flagged = state.model_copy(update={"overdue": True})
    still_owed = state.totals.open_amount > 0 and state.status != "void"
    assert payment_status(flagged, state.due_date) == (
        "status_overdue" if still_owed else before_due
    )


def test_every_status_the_page_shows_has_words_in_every_language() -> None:
    for key in ("status_written_off", "status_nothing_due", "written_off", "unavailable_title"):
        texts = {WORDS[lang][key] for lang in ("de", "en", "fr", "nl")}
        assert len(texts) == 4, key  # translated, not English four times


def _page(tmp_path: Path, **settings: Any) -> Starlette:
    """The page's app; the engine is never asked (the style sheet needs no database)."""
    return create_app(
        web=WebSettings(**settings),
        engine=make_readonly_engine("postgresql://nobody@127.0.0.1:1/none"),
        documents_dir=tmp_path,
    )


def test_hsts_only_over_https_and_configurable(tmp_path: Path) -> None:
    """No Strict-Transport-Security at all: a browser that once opened the link over HTTPS
    could be sent to plain HTTP by anyone on its path. It goes on HTTPS answers only (RFC 6797
    8.1: a browser ignores it over HTTP, and it would say nothing true there)."""
    app = _page(tmp_path)
    secure = TestClient(app, base_url="https://invoices.example").get("/static/page.css")
    assert secure.headers["strict-transport-security"] == "max-age=31536000"
    plain = TestClient(app, base_url="http://invoices.example").get("/nothing")
    assert "strict-transport-security" not in plain.headers
    shorter = _page(tmp_path, hsts_max_age=300)
    r = TestClient(shorter, base_url="https://invoices.example").get("/nothing")
    assert r.status_code == 404 and r.headers["strict-transport-security"] == "max-age=300"
    off = _page(tmp_path, hsts=False)
    r = TestClient(off, base_url="https://invoices.example").get("/static/page.css")
    assert "strict-transport-security" not in r.headers


def test_hsts_behind_a_proxy_takes_its_scheme_from_a_trusted_proxy_only(tmp_path: Path) -> None:
    """Behind a TLS-terminating proxy the request is plain HTTP: uvicorn takes the scheme from
    X-Forwarded-Proto of a peer in forwarded_allow_ips, and from nobody else."""
    app = ProxyHeadersMiddleware(_page(tmp_path), trusted_hosts="10.0.0.1")
    https = {"x-forwarded-proto": "https"}

    def hsts(peer: str) -> str | None:
        with TestClient(app, client=(peer, 40000)) as c:  # type: ignore[arg-type]
            return c.get("/static/page.css", headers=https).headers.get("strict-transport-security")

    assert hsts("10.0.0.1") == "max-age=31536000"  # the ingress terminated TLS
    assert hsts("198.51.100.7") is None  # a client's own header is not believed


def test_the_page_serves_neither_readiness_nor_metrics(tmp_path: Path) -> None:
    """/readyz and /metrics were served on the page's port, which compose publishes to the
    world; they are the operator application's (its own port) now. Liveness stays on both."""
    app = _page(tmp_path)
    with TestClient(app) as page, TestClient(operator_app(app)) as operator:
        for path in ("/readyz", "/metrics"):
            assert page.get(path).status_code == 404, path
        assert page.get("/healthz").status_code == operator.get("/healthz").status_code == 200
        assert "invoicing_web_requests_total" in operator.get("/metrics").text
        assert operator.get("/i/unknown").status_code == 404


def test_the_operator_listener_stays_on_loopback_unless_told() -> None:
    """The operator listener took the page's host: ``invoicing web --host 0.0.0.0`` on a bare
    machine opened /readyz and /metrics to the network on 8081."""
    page, operator = listeners(WebSettings(), host="0.0.0.0", port=8080)
    assert page == ("0.0.0.0", 8080) and operator == ("127.0.0.1", 8081)
    _, operator = listeners(WebSettings(operator_host="0.0.0.0", operator_port=9000))
    assert operator == ("0.0.0.0", 9000)
    _, operator = listeners(WebSettings(), operator_host="::", operator_port=9001)
    assert operator == ("::", 9001)
    with pytest.raises(ValueError, match="INVOICING_WEB_OPERATOR_PORT"):
        listeners(WebSettings(), port=8081)
