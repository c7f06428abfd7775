"""send_invoice with text in any script: the PDF renders (emoji, CJK, Arabic...), the email
goes out, and `invoicing process` goes on with the lines after it.

Before: a line "Beleg 🧾" was accepted and finalized, then Typst refused the PDF/A ("the text
"🧾" could not be displayed with font "Libertinus Serif"") and `invoicing process` exited 1,
leaving every later line unprocessed.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pypdf
import pytest
from aiosmtpd.controller import Controller

from tests.integration.test_send_invoice import Sink, free_port, make_world, pdf_attachments
from tests.integration.test_send_invoice import smtp as smtp  # the fixture
from tests.support import scenarios

pytestmark = pytest.mark.integration

LINES = [
    {"description": "Beleg 🧾 und Team 👨\u200d👩\u200d👧", "quantity": "1", "unit_price": "10.00"},
    {"description": "咨询服务 コンサルティング 컨설팅", "quantity": "2", "unit_price": "20.00"},
    {"description": "خدمات استشارية / שירותי ייעוץ", "quantity": "1", "unit_price": "5.00"},
    {"description": "Συμβουλές / Консультации \U00013000", "quantity": "1", "unit_price": "1.00"},
]


def _text(pdf: bytes) -> str:
    return "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_send_invoice_with_emoji_and_cjk(
    db_url: str, smtp: tuple[Sink, int], tmp_path: Path
) -> None:
    w = make_world(db_url, smtp, tmp_path)
    inv = w.draft(LINES)
    out = w.run("send_invoice", {"invoice_id": str(inv), "to": ["jane@acme.example"]})
    assert out.status == "applied", out.errors
    assert [e["type"] for e in out.events] == ["invoice.finalized", "invoice.sent"]
    assert len(w.sink.messages) == 1
    (pdf,) = pdf_attachments(w.sink.messages[0].message)
    text = _text(pdf)
    assert "咨询服务" in text and "Συμβουλές" in text and "\ufffd" in text


def _command(type_: str, org: str, payload: dict[str, Any]) -> str:
    return json.dumps(
        {
            "type": type_,
            "command_id": str(uuid.uuid4()),
            "organization_id": org,
            "payload": payload,
        }
    )


def test_process_cli_sends_an_emoji_invoice_and_goes_on(tmp_path: Path) -> None:
    org = str(uuid.uuid4())
    customer, first, second = (str(uuid.uuid4()) for _ in range(3))
    buyer = {**scenarios.DE_BUYER, "einvoice_format": "zugferd"}
    text = "\n".join(
        [
            _command("configure_organization", org, scenarios.DE_SELLER),
            _command("create_customer", org, {"id": customer, **buyer}),
            _command("create_invoice", org, {"id": first, "customer_id": customer, "lines": LINES}),
            _command("send_invoice", org, {"invoice_id": first}),
            _command(
                "create_invoice",
                org,
                {"id": second, "customer_id": customer, "lines": LINES[:1]},
            ),
            _command("finalize_invoice", org, {"invoice_id": second}),
        ]
    )
    port = free_port()
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "invoicing.cli", "process", "-"],
            input=text,
            capture_output=True,
            text=True,
            env={
                "INVOICING_DATA_DIR": str(tmp_path),
                "PATH": "/usr/bin:/bin",
                "INVOICING_SMTP_HOST": "127.0.0.1",
                "INVOICING_SMTP_PORT": str(port),
                "INVOICING_SMTP_SECURITY": "none",
                "INVOICING_SMTP_SENDER": "rechnung@kanzlei-mueller.example",
                "INVOICING_EINVOICE_RULES_DIR": str(_rules_dir()),
            },
            check=False,
            timeout=300,
        )
    finally:
        controller.stop()
    assert done.returncode == 0, done.stderr
    assert "applied=6" in done.stderr and "failed=0" in done.stderr, done.stderr
    types = [json.loads(line)["type"] for line in done.stdout.splitlines()]
    assert "invoice.sent" in types and types[-1] == "invoice.finalized"
    assert len(sink.messages) == 1


def _rules_dir() -> Path:
    from invoicing.documents.einvoice.validation import rules_dir

    return rules_dir()
