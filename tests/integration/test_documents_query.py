"""get_document and list_documents through the pipeline (and the CLI), on SQLite and
PostgreSQL, with the database and the directory backend."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from invoicing import db
from invoicing.documents.store import DocumentStore, invoice_document_id
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import LocalOperator
from invoicing.schemas.documents import MAX_CHUNK_BYTES
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.support.client import Client, line
from tests.support.documents import export_file, fetch
from tests.support.fakes import fake_deps

pytestmark = pytest.mark.integration


@pytest.fixture(params=["database", "directory"])
def dc(request: pytest.FixtureRequest, engine: Engine, tmp_path: Path) -> Client:
    store = DocumentStore(request.param, tmp_path / "documents")
    deps = fake_deps(document_store=store, export_dir=tmp_path / "exports")
    client = Client(Pipeline(engine, deps, LocalOperator()))
    client.setup_org()
    return client


def ask(c: Client, qtype: str, payload: dict[str, Any], org: Any = None) -> dict[str, Any]:
    doc = {"type": qtype, "organization_id": str(org or c.org), "payload": payload}
    return c.bus.query_document(doc)


def _store(c: Client, content: bytes, invoice: uuid.UUID, kind: str = "pdf") -> None:
    store = c.bus.deps.document_store
    with Session(c.bus.engine) as session, session.begin():
        store.put(
            session,
            org_id=c.org,
            document_id=invoice_document_id(invoice, kind),
            kind=kind,
            filename=f"RE-1.{kind}",
            media_type="application/pdf",
            source=content,
            frozen=True,
            invoice_id=invoice,
        )


def test_a_large_document_comes_in_chunks_under_the_message_limit(dc: Client) -> None:
    invoice, content = uuid.uuid4(), os.urandom(2 * MAX_CHUNK_BYTES + 777)
    _store(dc, content, invoice)
    first = ask(dc, "get_document", {"invoice_id": str(invoice), "kind": "pdf"})
    assert first["status"] == "ok", first
    meta, chunk = first["result"]["document"], first["result"]["content"]
    assert meta["id"] == str(invoice_document_id(invoice, "pdf"))
    assert meta["size"] == len(content) and meta["sha256"] == hashlib.sha256(content).hexdigest()
    assert meta["invoice_id"] == str(invoice) and meta["frozen"] is True
    assert (chunk["offset"], chunk["length"], chunk["eof"]) == (0, MAX_CHUNK_BYTES, False)
    assert chunk["next_offset"] == MAX_CHUNK_BYTES
    # a whole reply stays under the pipeline's 1 MiB limit
    assert len(json.dumps(first).encode()) < 1024 * 1024
    ref = {**{k: meta[k] for k in ("kind", "filename", "media_type", "size", "sha256")}}
    ref |= {"document_id": meta["id"], "query": "get_document"}
    assert fetch(dc.bus, dc.org, ref) == content
    last = ask(dc, "get_document", {"document_id": meta["id"], "offset": 2 * MAX_CHUNK_BYTES})
    chunk = last["result"]["content"]
    assert chunk["eof"] and chunk["next_offset"] is None and chunk["length"] == 777
    assert base64.b64decode(chunk["data"]) == content[-777:]
    bare = ask(dc, "get_document", {"document_id": meta["id"], "include_content": False})
    assert bare["result"]["content"] is None and bare["result"]["document"] == meta


def test_refusals_say_what_and_where(dc: Client) -> None:
    invoice = uuid.uuid4()
    _store(dc, b"0123456789", invoice)
    doc_id = str(invoice_document_id(invoice, "pdf"))
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"document_id": str(uuid.uuid4())}, "document_not_found", "/payload/document_id"),
        ({"invoice_id": str(invoice), "kind": "xml-ubl"}, "document_not_found", "/payload/kind"),
        ({"document_id": doc_id, "offset": 11}, "offset_out_of_range", "/payload/offset"),
        ({"document_id": doc_id, "limit": MAX_CHUNK_BYTES + 1}, "", "/payload/limit"),
        ({"document_id": doc_id, "invoice_id": str(invoice), "kind": "pdf"}, "", "/payload"),
        ({"invoice_id": str(invoice)}, "", "/payload"),
    ]
    for payload, code, pointer in cases:
        reply = ask(dc, "get_document", payload)
        assert reply["status"] == "error", payload
        (error,) = reply["errors"]
        assert error["source"]["pointer"] == pointer, (payload, error)
        assert not code or error["code"] == code
        assert error["meta"]["hint"]
    # the end itself is a valid offset: an empty last chunk
    end = ask(dc, "get_document", {"document_id": doc_id, "offset": 10})["result"]["content"]
    assert (end["length"], end["eof"]) == (0, True)


def test_another_organization_sees_nothing(dc: Client) -> None:
    invoice = uuid.uuid4()
    _store(dc, b"secret", invoice)
    other = Client(dc.bus)
    other.setup_org()
    doc_id = str(invoice_document_id(invoice, "pdf"))
    reply = ask(other, "get_document", {"document_id": doc_id})
    assert reply["status"] == "error" and reply["errors"][0]["code"] == "document_not_found"
    listed = ask(other, "list_documents", {"invoice_id": str(invoice)})
    assert listed["result"]["items"] == []


def test_exports_are_read_through_the_query(dc: Client) -> None:
    cust = dc.customer()
    for day in (2, 3):
        dc.finalized(cust, [line()], issue_date=dt.date(2025, 1, day))
    out = dc.ok("export_csv", {"delimiter": ";"})
    (event,) = out.events
    data = event["data"]
    ref = data["document"]
    assert "location" not in data and data["checksum"] == f"sha256:{ref['sha256']}"
    assert ref["kind"] == "csv" and ref["media_type"] == "text/csv"
    content = export_file(dc.bus, dc.org, event)
    assert content.count(b"\n") == 3 and b"gross_total" in content
    (listed,) = ask(dc, "list_documents", {"export_id": data["export_id"]})["result"]["items"]
    assert listed["id"] == ref["document_id"] and listed["export_id"] == data["export_id"]


def test_cli_writes_the_document_and_checks_its_hash(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cli.sqlite3"
    db.migrate(url)
    engine = db.make_engine(url)
    client = Client(Pipeline(engine, fake_deps(), LocalOperator()))
    client.setup_org()
    invoice, content = uuid.uuid4(), os.urandom(MAX_CHUNK_BYTES + 10)
    _store(client, content, invoice)
    engine.dispose()
    env = {
        "DATABASE_URL": url,
        "INVOICING_DATA_DIR": str(tmp_path),
        "PATH": "/usr/bin:/bin",
        "INVOICING_LOG_FORMAT": "json",
    }
    exe = [sys.executable, "-m", "invoicing.cli", "query"]
    doc_id = str(invoice_document_id(invoice, "pdf"))
    target = tmp_path / "out.pdf"
    run = subprocess.run(
        [*exe, "document", doc_id, "--org", str(client.org), "--output", str(target)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert target.read_bytes() == content and f"{len(content)} bytes" in run.stderr
    listed = subprocess.run(
        [*exe, "documents", "--org", str(client.org), "--invoice", str(invoice), "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["items"][0]["id"] == doc_id
    missing = subprocess.run(
        [*exe, "document", str(uuid.uuid4()), "--org", str(client.org), "-o", str(target)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert missing.returncode == 1 and "document_not_found" in missing.stderr
    assert target.read_bytes() == content  # the failed fetch left the earlier file alone
