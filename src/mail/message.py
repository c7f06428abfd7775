"""MIME messages with ``email.message.EmailMessage``; nothing a customer typed becomes a header.

* Display names and the subject pass through :func:`header_text`: CR, LF and other control
  characters become spaces, so ``"Acme\\r\\nBcc: x@evil"`` is one harmless line of text, and
  the standard library's folding/encoding (RFC 2047) does the rest.
* Addresses are built with ``email.headerregistry.Address`` from already-validated addresses.
* Bcc recipients are only envelope recipients; there is no Bcc header.
* The Message-ID is deterministic (:func:`message_id_for`): a redelivered command produces the
  same ID, which the delivery record and the ``invoice.sent`` event carry.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

_NAMESPACE = uuid.UUID("6f0b8a52-3c1e-4f7e-9a55-1e8f4e0c2d17")


def header_text(value: str, limit: int = 900) -> str:
    """One line of header text: control characters (CR, LF, NUL...) become spaces."""
    cleaned = "".join(" " if (ord(ch) < 32 or ord(ch) == 127) else ch for ch in value)
    return " ".join(cleaned.split())[:limit]


def message_id_for(
    organization_id: uuid.UUID, command_id: uuid.UUID, purpose: str, domain: str
) -> str:
    """``<uuid5@domain>``: the same command always yields the same Message-ID."""
    token = uuid.uuid5(_NAMESPACE, f"{organization_id}:{command_id}:{purpose}")
    safe_domain = "".join(ch for ch in domain if ch.isalnum() or ch in ".-") or "localhost"
    return f"<{token}@{safe_domain}>"


def _address(addr: str, name: str | None = None) -> Address:
    local, _, domain = addr.rpartition("@")
    return Address(display_name=header_text(name or "", 200), username=local, domain=domain)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    maintype: str
    subtype: str


@dataclass(frozen=True)
class OutgoingMail:
    sender: str
    sender_name: str | None
    to: list[str]
    subject: str
    text: str
    html: str | None
    message_id: str
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    reply_to: str | None = None
    date: dt.datetime | None = None
    attachments: list[Attachment] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def envelope_recipients(self) -> list[str]:
        seen: dict[str, None] = {}
        for addr in [*self.to, *self.cc, *self.bcc]:
            seen.setdefault(addr, None)
        return list(seen)


def build_message(mail: OutgoingMail) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = _address(mail.sender, mail.sender_name)
    msg["To"] = [_address(a) for a in mail.to]
    if mail.cc:
        msg["Cc"] = [_address(a) for a in mail.cc]
    if mail.reply_to:
        msg["Reply-To"] = _address(mail.reply_to)
    msg["Subject"] = header_text(mail.subject)
    msg["Date"] = format_datetime(mail.date or dt.datetime.now(dt.UTC))
    msg["Message-ID"] = mail.message_id
    msg["Auto-Submitted"] = "auto-generated"
    for name, value in mail.headers.items():
        msg[name] = header_text(value)
    msg.set_content(mail.text, subtype="plain", charset="utf-8")
    if mail.html is not None:
        msg.add_alternative(mail.html, subtype="html", charset="utf-8")
    for att in mail.attachments:
        msg.add_attachment(
            att.content,
            maintype=att.maintype,
            subtype=att.subtype,
            filename=header_text(att.filename, 200),
        )
    return msg
