"""The SMTP security settings (``security``, ``username``/``password``, ``verify_tls``,
``ca_file``) against REAL aiosmtpd servers on loopback, no mocks: STARTTLS, implicit TLS,
AUTH LOGIN/PLAIN, certificate verification, and the ways each one must fail safely (nothing
arrives, credentials are not sent). Certificates come from a throwaway test CA (trustme)."""

from __future__ import annotations

import gc
import io
import ssl
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pypdf
import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from invoicing.mail import MailPermanentError, MailTransientError, SmtpSender, SmtpSettings

from tests.integration.test_send_invoice import Sink, free_port, make_world, pdf_attachments

pytestmark = pytest.mark.integration

USER, PASSWORD = "billing", "s3cret-Passw0rd"


@dataclass
class Seen:
    """What the server knew about the connection that delivered a message."""

    tls_version: str | None  # from the transport's SSL object: None = plaintext
    starttls: bool  # aiosmtpd sets session.ssl only when STARTTLS upgraded the connection
    login: str | None  # the authenticated user, if any


@dataclass
class SecureSink(Sink):
    seen: list[Seen] = field(default_factory=list)
    auth_attempts: list[tuple[str, str]] = field(default_factory=list)  # (mechanism, login)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        ssl_object = server.transport.get_extra_info("ssl_object")
        self.seen.append(
            Seen(
                tls_version=ssl_object.version() if ssl_object is not None else None,
                starttls=session.ssl is not None,
                login=session.auth_data.login.decode() if session.authenticated else None,
            )
        )
        return await super().handle_DATA(server, session, envelope)

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        self.auth_attempts.append((mechanism, auth_data.login.decode()))
        ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
        if not ok:  # handled=False: aiosmtpd answers "535 5.7.8 Authentication credentials invalid"
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=auth_data)


@dataclass
class Pki:
    ca_file: str  # the test CA's certificate (PEM), for ``ca_file``
    server: ssl.SSLContext  # server context with a cert for 127.0.0.1/localhost from that CA
    wrong_name: ssl.SSLContext  # same CA, but the certificate is for mail.invalid


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    ca = trustme.CA()
    ca_file = tmp_path_factory.mktemp("pki") / "test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    def server_context(*names: str) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(*names).configure_cert(ctx)
        return ctx

    return Pki(
        str(ca_file), server_context("127.0.0.1", "localhost"), server_context("mail.invalid")
    )


@contextmanager
def serve(**smtp_kwargs: Any) -> Iterator[tuple[SecureSink, int]]:
    """A real aiosmtpd server on 127.0.0.1 (``ssl_context`` = implicit TLS, ``tls_context`` =
    STARTTLS offered, ``authenticator`` = AUTH LOGIN/PLAIN, ...)."""
    sink = SecureSink()
    if smtp_kwargs.pop("auth", False):
        smtp_kwargs.update(authenticator=sink.authenticate, auth_require_tls=True)
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port, **smtp_kwargs)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


def settings(port: int, **overrides: Any) -> SmtpSettings:
    base: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "sender": "billing@invoicing.test",
        "timeout_seconds": 5,
    }
    return SmtpSettings(**{**base, **overrides})


def message(subject: str = "Rechnung RE-2026-0001") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "billing@invoicing.test"
    msg["To"] = "jane@acme.example"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{uuid.uuid4()}@invoicing.test>"
    msg.set_content("Guten Tag,\nanbei die Rechnung.\n")
    return msg


def send(s: SmtpSettings, subject: str = "Rechnung RE-2026-0001") -> dict[str, tuple[int, bytes]]:
    return SmtpSender(s).send(message(subject), s.sender, ["jane@acme.example"])


# --- encryption -----------------------------------------------------------------------------


def test_starttls_verified_against_the_configured_ca_is_encrypted(pki: Pki) -> None:
    with serve(tls_context=pki.server, require_starttls=True) as (sink, port):
        refused = send(settings(port, security="starttls", ca_file=pki.ca_file, verify_tls=True))
    assert refused == {}
    assert [m.message["Subject"] for m in sink.messages] == ["Rechnung RE-2026-0001"]
    assert sink.messages[0].rcpt_tos == ["jane@acme.example"]
    seen = sink.seen[0]
    assert seen.starttls and seen.tls_version in {"TLSv1.2", "TLSv1.3"}


def test_implicit_tls_is_encrypted_from_the_first_byte(pki: Pki) -> None:
    with serve(ssl_context=pki.server) as (sink, port):
        send(settings(port, security="tls", ca_file=pki.ca_file))
    assert len(sink.messages) == 1
    seen = sink.seen[0]
    assert seen.tls_version in {"TLSv1.2", "TLSv1.3"}
    assert not seen.starttls  # TLS from the start, no upgrade


def test_security_none_is_plaintext() -> None:
    with serve() as (sink, port):
        send(settings(port, security="none"))
    assert sink.seen == [Seen(tls_version=None, starttls=False, login=None)]


# --- authentication -------------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
def test_auth_over_starttls_with_correct_credentials_delivers(pki: Pki, mechanism: str) -> None:
    other = {"LOGIN": "PLAIN", "PLAIN": "LOGIN"}[mechanism]
    with serve(
        tls_context=pki.server,
        require_starttls=True,
        auth=True,
        auth_required=True,  # MAIL FROM before a successful AUTH would get a 530
        auth_exclude_mechanism=[other],
    ) as (sink, port):
        send(settings(port, ca_file=pki.ca_file, username=USER, password=PASSWORD))
    assert sink.auth_attempts == [(mechanism, USER)]
    assert len(sink.messages) == 1
    assert sink.seen[0].login == USER and sink.seen[0].starttls


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
def test_auth_with_wrong_password_is_a_permanent_error_and_sends_nothing(
    pki: Pki, mechanism: str
) -> None:
    other = {"LOGIN": "PLAIN", "PLAIN": "LOGIN"}[mechanism]
    with (
        serve(
            tls_context=pki.server,
            require_starttls=True,
            auth=True,
            auth_required=True,
            auth_exclude_mechanism=[other],
        ) as (sink, port),
        pytest.raises(MailPermanentError) as raised,
    ):
        send(settings(port, ca_file=pki.ca_file, username=USER, password="not-the-password"))
    text = str(raised.value)
    assert text.startswith(f"SMTP login as {USER!r} failed: 535 ")
    assert "not-the-password" not in text
    assert sink.auth_attempts == [(mechanism, USER)]
    assert sink.messages == []


def test_credentials_are_not_sent_over_plaintext_to_a_server_requiring_tls_for_auth(
    pki: Pki,
) -> None:
    """security="none" with a username: the server (auth_require_tls) offers no AUTH before
    STARTTLS, so the client cannot log in; the error says which setting is wrong."""
    with (
        serve(tls_context=pki.server, auth=True) as (sink, port),
        pytest.raises(MailTransientError, match="AUTH extension not supported") as raised,
    ):
        send(settings(port, security="none", username=USER, password=PASSWORD))
    assert "security is 'none'" in str(raised.value)
    assert sink.auth_attempts == [] and sink.messages == []


# --- certificate verification ---------------------------------------------------------------


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_untrusted_certificate_is_refused_before_credentials_or_mail(
    pki: Pki, security: str
) -> None:
    """No ca_file: the system CAs do not know the test CA, so the handshake fails; the client
    neither logs in nor sends anything. Transient (the worker retries: a certificate or CA
    configuration can be fixed without changing the command)."""
    kwargs: dict[str, Any] = (
        {"tls_context": pki.server} if security == "starttls" else {"ssl_context": pki.server}
    )
    with (
        serve(auth=True, **kwargs) as (sink, port),
        pytest.raises(MailTransientError, match="CERTIFICATE_VERIFY_FAILED") as raised,
    ):
        send(settings(port, security=security, username=USER, password=PASSWORD))
    assert f"127.0.0.1:{port}" in str(raised.value)
    assert sink.auth_attempts == [] and sink.messages == []


def test_certificate_for_another_host_name_is_refused(pki: Pki) -> None:
    with (
        serve(tls_context=pki.wrong_name) as (sink, port),
        pytest.raises(MailTransientError, match=r"CERTIFICATE_VERIFY_FAILED.*(mismatch|match)"),
    ):
        send(settings(port, security="starttls", ca_file=pki.ca_file))
    assert sink.messages == []


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_verify_tls_false_accepts_an_untrusted_certificate(pki: Pki, security: str) -> None:
    """For test setups only (self-signed local servers): encrypted, but not authenticated."""
    kwargs = {"tls_context" if security == "starttls" else "ssl_context": pki.wrong_name}
    with serve(**kwargs) as (sink, port):
        send(settings(port, security=security, verify_tls=False))
    assert len(sink.messages) == 1
    assert sink.seen[0].tls_version is not None


# --- no silent downgrade --------------------------------------------------------------------


def test_server_requiring_starttls_refuses_a_plaintext_client(pki: Pki) -> None:
    with (
        serve(tls_context=pki.server, require_starttls=True) as (sink, port),
        pytest.raises(MailPermanentError) as raised,
    ):
        send(settings(port, security="none"))
    text = str(raised.value)
    assert "530" in text and "Must issue a STARTTLS command first" in text
    assert "security is 'none'" in text  # says which setting to change
    assert sink.messages == []


def test_starttls_client_refuses_a_server_without_starttls() -> None:
    """security="starttls" never falls back to plaintext (and never sends the password)."""
    with (
        serve(auth=True) as (sink, port),
        pytest.raises(MailTransientError, match="STARTTLS extension not supported"),
    ):
        send(settings(port, security="starttls", username=USER, password=PASSWORD))
    assert sink.auth_attempts == [] and sink.messages == []


@pytest.mark.parametrize("server", ["plain", "untrusted-starttls", "untrusted-tls"])
def test_failed_connection_setup_closes_the_socket(pki: Pki, server: str) -> None:
    """A connection whose set-up fails after the TCP connect (no STARTTLS offered, untrusted
    certificate) is closed, not left to the garbage collector (ResourceWarning)."""
    kwargs: dict[str, Any] = {
        "plain": {},
        "untrusted-starttls": {"tls_context": pki.server},
        "untrusted-tls": {"ssl_context": pki.server},
    }[server]
    security = "tls" if server == "untrusted-tls" else "starttls"
    gc.collect()  # garbage of earlier tests in this process is not this test's business
    with serve(**kwargs) as (_sink, port), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for _ in range(3):
            with pytest.raises(MailTransientError):
                send(settings(port, security=security))
        gc.collect()
    ours = [
        str(w.message)
        for w in caught
        if issubclass(w.category, ResourceWarning) and f"{port})" in str(w.message)
    ]
    assert ours == []


# --- the whole send_invoice path ------------------------------------------------------------


def test_send_invoice_over_starttls_with_auth(db_url: str, pki: Pki, tmp_path: Path) -> None:
    server = serve(tls_context=pki.server, require_starttls=True, auth=True, auth_required=True)
    with server as (sink, port):
        w = make_world(db_url, (sink, port), tmp_path)
        w.deps.mailer = SmtpSender(
            settings(
                port, security="starttls", ca_file=pki.ca_file, username=USER, password=PASSWORD
            )
        )
        inv = w.draft()
        out = w.run("send_invoice", {"invoice_id": str(inv), "to": ["jane@acme.example"]})
    assert out.status == "applied", out.errors
    sent = out.events[-1]["data"]
    assert sent["delivery_status"] == "sent"
    assert len(sink.messages) == 1
    assert sink.seen[0].starttls and sink.seen[0].login == USER
    msg = sink.messages[0].message
    assert msg["Message-ID"] == sent["message_id"]
    pdfs = pdf_attachments(msg)
    assert len(pdfs) == 1
    text = pypdf.PdfReader(io.BytesIO(pdfs[0])).pages[0].extract_text()
    assert sent["invoice"]["number"] in text


def test_a_refused_login_fails_the_delivery_pointing_at_the_settings(
    db_url: str, pki: Pki, tmp_path: Path
) -> None:
    server = serve(tls_context=pki.server, require_starttls=True, auth=True, auth_required=True)
    with server as (sink, port):
        w = make_world(db_url, (sink, port), tmp_path)
        w.deps.mailer = SmtpSender(
            settings(port, security="starttls", ca_file=pki.ca_file, username=USER, password="x")
        )
        inv = w.draft()
        out = w.run("send_invoice", {"invoice_id": str(inv), "to": ["jane@acme.example"]})
    assert out.status == "applied"  # the command; its delivery fails after the commit
    failed = out.events[-1]
    assert failed["type"] == "invoice.delivery_failed" and failed["data"]["reason"] == (
        "delivery_failed"
    )
    (error,) = failed["data"]["errors"]
    assert error["code"] == "delivery_failed" and "535" in error["detail"]
    # not the recipients' fault: the error points at the command, the hint at the settings
    assert error["source"]["pointer"] == "/payload"
    assert "INVOICING_SMTP_" in error["meta"]["hint"]
    assert sink.messages == []


@dataclass
class RefusingSink(Sink):
    """Knows no mailbox: every RCPT TO is answered 550."""

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        return "550 5.1.1 mailbox unavailable"


def test_refused_recipients_fail_the_delivery_pointing_at_to(db_url: str, tmp_path: Path) -> None:
    sink, port = RefusingSink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        w = make_world(db_url, (sink, port), tmp_path)
        inv = w.draft()
        out = w.run("send_invoice", {"invoice_id": str(inv), "to": ["nobody@acme.example"]})
    finally:
        controller.stop()
    assert out.status == "applied"  # the command; its delivery fails after the commit
    failed = out.events[-1]
    assert failed["type"] == "invoice.delivery_failed"
    assert failed["data"]["purpose"] == "invoice" and failed["subject"] == str(inv)
    (error,) = failed["data"]["errors"]
    assert error["code"] == "delivery_failed" and "550" in error["detail"]
    assert error["source"]["pointer"] == "/payload/to"
    assert error["meta"]["hint"] == "check the recipients' addresses"
    assert sink.messages == []
