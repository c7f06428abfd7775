"""Sending over SMTP with smtplib: STARTTLS, implicit TLS or plain, optional login.

Failures are classified so the caller can decide: :class:`MailTransientError` (connection
problems, 4xx replies: try again later) and :class:`MailPermanentError` (5xx replies, every
recipient refused: retrying will not help).
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from invoicing.domain.errors import ServiceUnavailable
from invoicing.mail.settings import SmtpSettings


class MailError(Exception):
    """Sending failed; nothing was accepted by the server."""


class MailTransientError(MailError, ServiceUnavailable):
    """Connection trouble or a 4xx reply: the same message may go through later."""


class MailPermanentError(MailError):
    """The server refused for good. ``recipients``: because of the recipients (every one was
    refused); otherwise the session or the message (login, policy, size)."""

    def __init__(self, message: str, *, recipients: bool = False) -> None:
        super().__init__(message)
        self.recipients = recipients


class SmtpSender:
    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def _tls_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.settings.ca_file)
        if not self.settings.verify_tls:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.security == "tls":
            return smtplib.SMTP_SSL(
                s.host,
                s.port,
                local_hostname=s.local_hostname,
                timeout=s.timeout_seconds,
                context=self._tls_context(),
            )
        client = smtplib.SMTP(
            s.host, s.port, local_hostname=s.local_hostname, timeout=s.timeout_seconds
        )
        if s.security == "starttls":
            try:
                client.ehlo()
                client.starttls(context=self._tls_context())  # no STARTTLS offered: raises
                client.ehlo()
            except BaseException:
                client.close()  # do not leave the TCP connection to the garbage collector
                raise
        return client

    def _hint(self, client: smtplib.SMTP) -> str:
        if self.settings.security == "none" and client.has_extn("starttls"):
            return " (the server offers STARTTLS but security is 'none': use starttls)"
        return ""

    def send(
        self, message: EmailMessage, envelope_from: str, recipients: list[str]
    ) -> dict[str, tuple[int, bytes]]:
        """Hand ``message`` to the server; returns the recipients it refused (if only some
        were refused, the message was accepted for the others and counts as sent)."""
        s = self.settings
        try:
            client = self._connect()
        except (OSError, smtplib.SMTPException) as exc:
            raise MailTransientError(f"cannot connect to {s.host}:{s.port}: {exc}") from exc
        try:
            if s.username:
                password = s.password.get_secret_value() if s.password else ""
                try:
                    client.login(s.username, password)
                except smtplib.SMTPResponseException as exc:
                    kind = MailPermanentError if 500 <= exc.smtp_code < 600 else MailTransientError
                    raise kind(f"SMTP login as {s.username!r} failed: {_reply(exc)}") from exc
            refused = client.send_message(message, from_addr=envelope_from, to_addrs=recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            raise MailPermanentError(
                f"all recipients were refused: {exc.recipients}", recipients=True
            ) from exc
        except smtplib.SMTPResponseException as exc:
            kind = MailPermanentError if 500 <= exc.smtp_code < 600 else MailTransientError
            raise kind(f"SMTP {_reply(exc)}{self._hint(client)}") from exc
        except (TimeoutError, OSError, smtplib.SMTPException) as exc:
            raise MailTransientError(f"SMTP failure: {exc}{self._hint(client)}") from exc
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()
        return dict(refused)


def _reply(exc: smtplib.SMTPResponseException) -> str:
    """``535 5.7.8 Authentication credentials invalid`` (the server's reply, decoded)."""
    text = exc.smtp_error
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{exc.smtp_code} {text}"
