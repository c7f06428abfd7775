"""The hosted invoice page as a Starlette application.

Routes (GET and HEAD only; anything else is the 404 page):

* ``/i/{token}``          the invoice in its own language, payment details and status
* ``/i/{token}/pdf``      the stored PDF (the hybrid ZUGFeRD PDF where there is one)
* ``/i/{token}/xml``      the stored e-invoice XML (XRechnung / Peppol), where there is one

The downloads are the stored bytes (document store, verified against their SHA-256): those of
the send_invoice delivery, or those the delivery runner renders and stores after
publish_invoice (purpose ``share``); until they are stored the page offers no download.
* ``/i/{token}/qr.svg``   the EPC QR code of the open amount
* ``/static/page.css``    the page's only style sheet
* ``/healthz``              liveness (the container's health check)

``/readyz`` and ``/metrics`` (and ``/healthz`` again) are another application,
:func:`operator_app`, which ``invoicing web`` serves on a port of its own
(``INVOICING_WEB_OPERATOR_PORT``, web/serving.py): the page's port never answers them, so
publishing or routing it exposes neither readiness nor metrics.

Every answer carries the security headers (:data:`SECURITY_HEADERS`), and
``Strict-Transport-Security`` when the request came over HTTPS (``INVOICING_WEB_HSTS``); the
page runs no script at all. Unknown, revoked, expired and malformed tokens answer no sooner than
``miss_floor_ms`` after the request came in, so timing does not tell them apart (expired is
410, the others 404). Each client address (an IPv6 one by its /64) has a token bucket (429
with ``Retry-After``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog
from invoicing.config import Settings, get_settings
from invoicing.documents.pdf.view import Formatter, build_view
from invoicing.documents.store import DocumentIntegrityError, DocumentSettings, DocumentStore
from invoicing.domain import calendar
from invoicing.observability.exposure import PROCESS
from invoicing.observability.metrics import WEB_REQUEST_DURATION, WEB_REQUESTS
from invoicing.schemas.events import InvoiceState
from invoicing.texts import language
from invoicing.web.i18n import WORDS, negotiate
from invoicing.web.ratelimit import RateLimiter, client_key
from invoicing.web.readonly import make_readonly_engine
from invoicing.web.settings import WebSettings
from invoicing.web.shares import Resolved, StoredFile, resolve
from jinja2 import Environment, FileSystemLoader
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("invoicing.web")

HERE = Path(__file__).parent
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS: dict[str, str] = {
    "content-security-policy": CSP,
    "referrer-policy": "no-referrer",
    "x-robots-tag": "noindex, nofollow, noarchive",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "cache-control": "no-store",
}
#: a download whose stored bytes cannot be read (a shared file system away, a mismatch of its
#: SHA-256) answers 503 with this ``Retry-After``, in seconds
UNAVAILABLE_RETRY_AFTER_S = 120
#: the container's liveness probe is neither rate limited nor counted as a page request
_OPERATOR_PATHS = ("/healthz",)


def _today(zone: str) -> dt.date:
    """Today in ``zone``: the organization's calendar day (``domain.calendar``)."""
    return calendar.local_day(dt.datetime.now(dt.UTC), zone)


@dataclass
class WebContext:
    engine: Engine
    store: DocumentStore
    web: WebSettings
    today: Callable[[str], dt.date]
    templates: Environment


def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


# ----------------------------------------------------------------------------- page model


def payment_status(state: InvoiceState, today: dt.date) -> str:
    """The key of the status the page shows (``status_*`` in ``i18n.WORDS``). Paid is the
    domain's status (``domain.states.settled_status``: a payment that covers what is owed), never
    an invoice with nothing open that nobody paid. Nothing open and nothing paid says why:
    written off (in full, or the rest after a credit note), credited in full, or nothing to pay
    (0.00); never open or overdue, which told the debtor to pay an amount the page no longer
    showed."""
    if state.status == "void":  # a withdrawn quote too: its link still opens
        return "status_void"
    if state.kind != "invoice":
        return f"status_{state.kind}"
    totals = state.totals
    if state.status == "paid":
        return "status_paid"
    if totals.open_amount <= 0 and totals.paid_amount <= 0:
        if totals.written_off_amount > 0:
            return "status_written_off"
        return "status_nothing_due"
    if state.overdue or (state.due_date is not None and state.due_date < today):
        return "status_overdue"
    if totals.paid_amount > 0:  # a credit note lowers what is due; it is no payment
        return "status_partially_paid"
    return "status_open"


def page_context(resolved: Resolved, token: str) -> dict[str, Any]:  # pragma: no branch
    state, today = resolved.state, resolved.today
    assert state is not None and today is not None
    view = build_view(state)
    status = payment_status(state, today)
    payable = (
        state.kind == "invoice" and state.status != "void" and state.totals.open_amount > Decimal(0)
    )
    base = f"/i/{token}"
    written_off = state.totals.written_off_amount if state.kind == "invoice" else Decimal(0)
    return {
        "v": view,
        "t": view["t"],
        "lang": view["lang"],
        "w": WORDS[view["lang"]],
        "status_key": status,
        "status": WORDS[view["lang"]][status],
        "payable": payable,
        # the view (shared with the PDF) has no line for it: gross less paid and credited
        # would not add up to what the page says is due
        "written_off": Formatter(view["lang"], state.currency).money(written_off)
        if written_off > 0
        else "",
        "qr_url": f"{base}/qr.svg" if payable and view["payment"].get("qr_svg") else "",
        "pdf_url": f"{base}/pdf" if resolved.pdf else "",
        "xml_url": f"{base}/xml" if resolved.xml else "",
        "pdf": resolved.pdf,
        "xml": resolved.xml,
    }


# ----------------------------------------------------------------------------- handlers


def _ctx(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.ctx
    return ctx


def _lookup(ctx: WebContext, token: str) -> Resolved:
    with Session(ctx.engine) as session:
        return resolve(session, token, ctx.today)


def _lookup_page(ctx: WebContext, token: str) -> tuple[Resolved, dict[str, Any] | None]:
    with Session(ctx.engine) as session:
        resolved = resolve(session, token, ctx.today)
        if resolved.status != "open":
            return resolved, None
        return resolved, page_context(resolved, token)


def _error_page(request: Request, status: int, lang: str | None = None) -> HTMLResponse:
    """The error page in ``lang`` (the invoice's), else in the language Accept-Language asks
    for: that answer says ``Vary: Accept-Language``, so that no cache hands one language to
    every browser (the answers in the invoice's language do not depend on the header)."""
    ctx = _ctx(request)
    negotiated = lang is None
    lang = lang or negotiate(request.headers.get("accept-language"))
    key = {404: "not_found", 410: "expired", 429: "too_many", 503: "unavailable"}.get(
        status, "not_found"
    )
    html = ctx.templates.get_template("error.html.j2").render(
        lang=lang,
        title=WORDS[lang][f"{key}_title"],
        text=WORDS[lang][f"{key}_text"],
    )
    headers = {"vary": "Accept-Language"} if negotiated else None
    return HTMLResponse(html, status_code=status, headers=headers)


async def _miss(request: Request, resolved: Resolved, started: float) -> Response:
    """The 404/410 answer, no sooner than the floor after the request came in."""
    floor = _ctx(request).web.miss_floor_ms / 1000.0
    remaining = floor - (time.perf_counter() - started)
    if remaining > 0:
        await asyncio.sleep(remaining)
    return _error_page(request, 410 if resolved.status == "expired" else 404)


async def invoice_page(request: Request) -> Response:
    started = time.perf_counter()
    ctx = _ctx(request)
    token = request.path_params["token"]
    resolved, context = await run_in_threadpool(_lookup_page, ctx, token)
    if context is None:
        return await _miss(request, resolved, started)
    html = ctx.templates.get_template("invoice.html.j2").render(**context)
    return HTMLResponse(html)


def _read(ctx: WebContext, resolved: Resolved, file: StoredFile) -> bytes:
    """The stored bytes, verified against their SHA-256 (the page renders nothing itself)."""
    assert resolved.organization_id is not None and resolved.invoice_id is not None
    with Session(ctx.engine) as session:
        doc = ctx.store.get(session, resolved.organization_id, resolved.invoice_id, file.kind)
    if doc is None:
        raise DocumentIntegrityError(f"document {file.kind} disappeared")
    return doc.content


def _disposition(filename: str) -> str:
    ascii_name = "".join(
        c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in filename
    )
    quoted = urllib.parse.quote(filename, safe="")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quoted}"


async def _download(request: Request, which: str) -> Response:
    started = time.perf_counter()
    ctx = _ctx(request)
    resolved = await run_in_threadpool(_lookup, ctx, request.path_params["token"])
    if resolved.status != "open":
        return await _miss(request, resolved, started)
    file = resolved.pdf if which == "pdf" else resolved.xml
    # the invoice's language, as its page and the 404 of a download it does not have
    lang = language(resolved.state.locale if resolved.state else None)
    if file is None:
        return _error_page(request, 404, lang)
    try:
        content = await run_in_threadpool(_read, ctx, resolved, file)
    except (DocumentIntegrityError, OSError) as exc:  # OSError: the directory backend's disk
        log.error("web.document_unreadable", kind=file.kind, error=f"{type(exc).__name__}: {exc}")
        unavailable = _error_page(request, 503, lang)
        unavailable.headers["retry-after"] = str(UNAVAILABLE_RETRY_AFTER_S)
        return unavailable
    return Response(
        content,
        media_type=file.media_type,
        headers={"content-disposition": _disposition(file.filename)},
    )


async def pdf_download(request: Request) -> Response:
    return await _download(request, "pdf")


async def xml_download(request: Request) -> Response:
    return await _download(request, "xml")


async def qr_code(request: Request) -> Response:
    started = time.perf_counter()
    ctx = _ctx(request)
    token = request.path_params["token"]
    resolved, context = await run_in_threadpool(_lookup_page, ctx, token)
    if context is None:
        return await _miss(request, resolved, started)
    svg = context["v"]["payment"].get("qr_svg") if context["payable"] else ""
    if not svg:
        return _error_page(request, 404, context["v"]["lang"])
    return Response(svg, media_type="image/svg+xml")


_CSS = (HERE / "static" / "page.css").read_bytes()


async def stylesheet(request: Request) -> Response:
    response = Response(_CSS, media_type="text/css")
    response.headers["cache-control"] = "public, max-age=3600"
    return response


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok\n")


def _database_ready(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not ready"; say which
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


async def readyz(request: Request) -> Response:
    error = await run_in_threadpool(_database_ready, _ctx(request).engine)
    if error is None:
        return PlainTextResponse("database: ok\n")
    # the reason goes to the log, not to the answer: a driver's message names the database's
    # host and port, and the operator port may be reachable by more than the orchestrator
    log.warning("web.not_ready", error=error)
    return PlainTextResponse("database: unavailable\n", status_code=503)


async def metrics(request: Request) -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


async def not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    # 405 (another method on a known path) looks like any unknown path
    return _error_page(request, 404 if status in (404, 405) else status)


# ----------------------------------------------------------------------------- middleware


class Guard:
    """Security headers on every answer, the rate limit, and the request metrics."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, hsts: str | None = None) -> None:
        self.app = app
        self.limiter = limiter
        #: the Strict-Transport-Security value, sent only on requests that came over HTTPS
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path: str = scope.get("path", "")
        operator = path in _OPERATOR_PATHS
        status_holder = {"status": 500}
        response_started = False
        # "https" from uvicorn's TLS, or from X-Forwarded-Proto of a trusted proxy
        # (forwarded_allow_ips); RFC 6797 8.1: never on an answer over plain HTTP
        extra = SECURITY_HEADERS
        if self.hsts and scope.get("scheme") == "https":
            extra = {**SECURITY_HEADERS, "strict-transport-security": self.hsts}

        async def send_with_headers(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                status_holder["status"] = message["status"]
                headers = list(message.get("headers", []))
                names = {k.decode("latin-1").lower() for k, _ in headers}
                for name, value in extra.items():
                    if name not in names:
                        headers.append((name.encode("latin-1"), value.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        if not operator:
            client = scope.get("client")
            allowed, wait = self.limiter.allow(client_key(client[0]) if client else "unknown")
            if not allowed:
                request = Request(scope, receive)
                response = _error_page(request, 429)
                response.headers["retry-after"] = str(max(1, int(wait + 0.999)))
                await response(scope, receive, send_with_headers)
                self._observe("rate_limited", 429, started)
                return
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Starlette's own 500 would go out past this middleware, without the headers;
            # the exception goes on to the server, which logs it
            if not response_started:
                failed = PlainTextResponse("Internal Server Error", status_code=500)
                await failed(scope, receive, send_with_headers)
            raise
        finally:
            if not operator:
                route = scope.get("route")
                name = getattr(route, "name", None) or "unmatched"
                self._observe(name, status_holder["status"], started)

    @staticmethod
    def _observe(route: str, status: int, started: float) -> None:
        WEB_REQUESTS.labels(route=route, status=str(status)).inc()
        WEB_REQUEST_DURATION.labels(route=route).observe(time.perf_counter() - started)


# ----------------------------------------------------------------------------- factory


def create_app(
    settings: Settings | None = None,
    web: WebSettings | None = None,
    *,
    engine: Engine | None = None,
    documents_dir: Path | None = None,
    today: Callable[[str], dt.date] = _today,
) -> Starlette:
    settings = settings or get_settings()
    web = web or WebSettings()
    if engine is None:
        engine = make_readonly_engine(web.database_url or settings.effective_database_url())
    documents = DocumentSettings()
    store = DocumentStore(documents.backend, documents_dir or documents.root(settings.data_dir))
    ctx = WebContext(engine, store, web, today, _environment())
    get = ["GET"]
    routes = [
        Route("/i/{token}", invoice_page, methods=get, name="invoice"),
        Route("/i/{token}/pdf", pdf_download, methods=get, name="pdf"),
        Route("/i/{token}/xml", xml_download, methods=get, name="xml"),
        Route("/i/{token}/qr.svg", qr_code, methods=get, name="qr"),
        Route("/static/page.css", stylesheet, methods=get, name="css"),
        Route("/healthz", healthz, methods=get, name="healthz"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={404: not_found, 405: not_found},
    )
    # no 307 from /i/<token>/ to /i/<token>: Starlette builds that Location from the Host
    # header (a forged Host came back as the redirect target); every other path is the 404 page
    app.router.redirect_slashes = False
    app.state.ctx = ctx
    limiter = RateLimiter(web.rate_per_minute, web.rate_burst)
    hsts = f"max-age={web.hsts_max_age}" if web.hsts else None
    app.add_middleware(Guard, limiter=limiter, hsts=hsts)
    return app


def operator_app(page: Starlette) -> Starlette:
    """Liveness, readiness and metrics of the page ``page`` (its database engine), for a port
    that is not published: the orchestrator and Prometheus only. Not rate limited, not counted
    in the page's request metrics. Its ``/metrics`` names the process as the other processes'
    do (``invoicing_process_info``, role ``web``: the dashboard counts processes by role)."""
    PROCESS.info({"role": "web", "pid": str(os.getpid())})
    get = ["GET"]
    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=get, name="healthz"),
            Route("/readyz", readyz, methods=get, name="readyz"),
            Route("/metrics", metrics, methods=get, name="metrics"),
        ]
    )
    app.router.redirect_slashes = False
    app.state.ctx = page.state.ctx
    return app
