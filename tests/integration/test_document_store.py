"""The document store: one suite run against every content backend (database, directory), on
SQLite and PostgreSQL; plus the migration of rows written before the database backend."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from invoicing import db
from invoicing.documents.store import (
    DocumentIntegrityError,
    DocumentStore,
    export_document_id,
    invoice_document_id,
)
from invoicing.models.base import UTCDateTime
from invoicing.models.documents import PART_BYTES, DocumentContent
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Engine,
    MetaData,
    String,
    Table,
    Uuid,
    create_engine,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from tests.support.databases import temporary_pg_database

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
#: ``documents`` as migration 0003 created it (before 0020_docstore)
LEGACY = Table(
    "documents",
    MetaData(),
    Column("organization_id", Uuid),
    Column("invoice_id", Uuid),
    Column("kind", String(40)),
    Column("filename", String(200)),
    Column("media_type", String(100)),
    Column("path", String(500)),
    Column("sha256", String(64)),
    Column("size", BigInteger),
    Column("frozen", Boolean),
    Column("created_at", UTCDateTime(timezone=True)),
)


@pytest.fixture(params=["database", "directory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> DocumentStore:
    return DocumentStore(request.param, tmp_path / "documents")


def _put(
    store: DocumentStore,
    session: Session,
    org: uuid.UUID,
    content: bytes,
    *,
    kind: str = "pdf",
    invoice: uuid.UUID | None = None,
    frozen: bool = True,
) -> uuid.UUID:
    invoice = invoice or uuid.uuid4()
    info = store.put(
        session,
        org_id=org,
        document_id=invoice_document_id(invoice, kind),
        kind=kind,
        filename=f"{kind}.bin",
        media_type="application/octet-stream",
        source=content,
        frozen=frozen,
        invoice_id=invoice,
        now=NOW,
    )
    return info.id


def test_round_trip_metadata_and_verified_content(store: DocumentStore, engine: Engine) -> None:
    org, content = uuid.uuid4(), b"%PDF-1.7\n" + os.urandom(5000)
    with Session(engine) as session, session.begin():
        doc_id = _put(store, session, org, content)
    with Session(engine) as session:
        info = store.info(session, org, doc_id)
        assert info is not None
        assert (info.size, info.sha256) == (len(content), hashlib.sha256(content).hexdigest())
        assert info.storage == store.writer.name and info.created_at == NOW
        assert store.content(session, info) == content
        assert info.ref() == {
            "document_id": str(doc_id),
            "kind": "pdf",
            "filename": "pdf.bin",
            "media_type": "application/octet-stream",
            "size": len(content),
            "sha256": info.sha256,
            "query": "get_document",
        }


def test_chunks_across_parts(store: DocumentStore, engine: Engine) -> None:
    org = uuid.uuid4()
    content = os.urandom(2 * PART_BYTES + 12345)  # three parts in the database
    with Session(engine) as session, session.begin():
        doc_id = _put(store, session, org, content)
    with Session(engine) as session:
        info = store.info(session, org, doc_id)
        assert info is not None
        for offset, limit in (
            (0, 10),
            (PART_BYTES - 5, 10),  # straddles two parts
            (PART_BYTES, PART_BYTES),  # exactly the second part
            (2 * PART_BYTES + 12000, PART_BYTES),  # runs past the end
            (len(content), 100),  # at the end: nothing
        ):
            got = store.read(session, info, offset, limit)
            assert got == content[offset : offset + limit], (offset, limit)
        assert store.content(session, info) == content


def test_identical_bytes_are_stored_once(store: DocumentStore, engine: Engine) -> None:
    org, content = uuid.uuid4(), os.urandom(PART_BYTES + 1)
    with Session(engine) as session, session.begin():
        first = _put(store, session, org, content)
        second = _put(store, session, org, content, kind="facturx-pdf")
    assert first != second
    with Session(engine) as session:
        parts = session.scalar(
            select(func.count())
            .select_from(DocumentContent)
            .where(DocumentContent.organization_id == org)
        )
        infos = [store.info(session, org, d) for d in (first, second)]
    assert all(i is not None for i in infos)
    if store.writer.name == "database":
        assert parts == 2  # one copy, in two parts
    else:
        assert parts == 0
        assert store.root is not None
        files = [p for p in (store.root / str(org)).rglob("*") if p.is_file()]
        assert len(files) == 1 and files[0].name == infos[0].sha256  # type: ignore[union-attr]


def test_frozen_documents_are_never_replaced(store: DocumentStore, engine: Engine) -> None:
    org, invoice = uuid.uuid4(), uuid.uuid4()

    def obtain(content: bytes, frozen: bool) -> bytes:
        with Session(engine) as session, session.begin():
            doc = store.obtain(
                session,
                org_id=org,
                invoice_id=invoice,
                kind="pdf",
                filename="RE-1.pdf",
                media_type="application/pdf",
                frozen=frozen,
                produce=lambda: content,
                now=NOW,
            )
            assert doc.id == invoice_document_id(invoice, "pdf")
            return doc.content

    assert obtain(b"draft version", frozen=False) == b"draft version"
    assert obtain(b"final version", frozen=True) == b"final version"  # not frozen: replaced
    assert obtain(b"re-rendered later", frozen=True) == b"final version"  # frozen: kept
    with Session(engine) as session, pytest.raises(ValueError, match="frozen"):
        _put(store, session, org, b"x", invoice=invoice)


def test_tampered_or_missing_bytes_are_refused(store: DocumentStore, engine: Engine) -> None:
    org, content = uuid.uuid4(), os.urandom(3000)
    with Session(engine) as session, session.begin():
        doc_id = _put(store, session, org, content)
    with Session(engine) as session, session.begin():
        info = store.info(session, org, doc_id)
        assert info is not None
        if info.storage == "database":
            session.execute(
                update(DocumentContent)
                .where(DocumentContent.organization_id == org)
                .values(data=b"tampered" + content[8:])
            )
        else:
            assert store.root is not None and info.path is not None
            (store.root / info.path).write_bytes(b"tampered" + content[8:])
    with Session(engine) as session, pytest.raises(DocumentIntegrityError, match="SHA-256"):
        store.content(session, info)
    with Session(engine) as session, session.begin():
        if info.storage == "database":
            session.execute(
                DocumentContent.__table__.delete().where(DocumentContent.organization_id == org)
            )
        else:
            (store.root / (info.path or "")).unlink()  # type: ignore[operator]
    with Session(engine) as session, pytest.raises(DocumentIntegrityError, match="missing"):
        store.content(session, info)


def test_organizations_do_not_share_documents(store: DocumentStore, engine: Engine) -> None:
    mine, theirs, content = uuid.uuid4(), uuid.uuid4(), os.urandom(100)
    with Session(engine) as session, session.begin():
        doc_id = _put(store, session, mine, content)
    with Session(engine) as session:
        assert store.info(session, theirs, doc_id) is None
        assert store.list(session, theirs) == []
        info = store.info(session, mine, doc_id)
        assert info is not None
        # the content key names the organization too: another tenant's row finds no bytes
        forged = type(info)(**{**info.__dict__, "organization_id": theirs})
        if info.storage == "database":
            with pytest.raises(DocumentIntegrityError):
                store.content(session, forged)


def test_export_files_are_stored_from_a_path(
    store: DocumentStore, engine: Engine, tmp_path: Path
) -> None:
    org, export = uuid.uuid4(), uuid.uuid4()
    file = tmp_path / "invoices.csv"
    file.write_bytes(b"id,number\n" * 70000)  # 700,000 bytes: two parts
    with Session(engine) as session, session.begin():
        info = store.put(
            session,
            org_id=org,
            document_id=export_document_id(export),
            kind="csv",
            filename=file.name,
            media_type="text/csv",
            source=file,
            frozen=True,
            export_id=export,
        )
    with Session(engine) as session:
        (listed,) = store.list(session, org, export_id=export)
        assert listed.id == info.id and listed.invoice_id is None
        assert store.content(session, listed) == file.read_bytes()


def test_empty_content(store: DocumentStore, engine: Engine) -> None:
    org = uuid.uuid4()
    with Session(engine) as session, session.begin():
        doc_id = _put(store, session, org, b"")
    with Session(engine) as session:
        info = store.info(session, org, doc_id)
        assert info is not None and info.size == 0
        assert store.content(session, info) == b""


# ----------------------------------------------------------------------------- migration


@pytest.fixture(params=["sqlite", "postgresql"])
def legacy_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/legacy.sqlite3"
    else:
        with temporary_pg_database("invoicing_t_docs") as url:
            yield url


def test_rows_of_the_directory_era_stay_readable_and_move_into_the_database(
    legacy_url: str, tmp_path: Path
) -> None:
    """A database before 0020_docstore holds a document row with a file path; after the migration
    the row is a ``directory`` row with the id every invoice document gets, readable while the
    directory is there, and ``import_files`` moves its bytes into the database."""
    config = db.alembic_config(legacy_url)
    before = ScriptDirectory.from_config(config).get_revision("0020_docstore").down_revision
    assert isinstance(before, str)
    command.upgrade(config, before)
    org, invoice, content = uuid.uuid4(), uuid.uuid4(), b"%PDF-1.7 legacy " + os.urandom(999)
    root = tmp_path / "documents"
    relative = f"{org}/{invoice}/pdf-{hashlib.sha256(content).hexdigest()[:16]}.pdf"
    (root / relative).parent.mkdir(parents=True)
    (root / relative).write_bytes(content)
    engine = create_engine(legacy_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(LEGACY).values(
                    organization_id=org,
                    invoice_id=invoice,
                    kind="pdf",
                    filename="RE-1.pdf",
                    media_type="application/pdf",
                    path=relative,
                    sha256=hashlib.sha256(content).hexdigest(),
                    size=len(content),
                    frozen=True,
                    created_at=NOW,
                )
            )
        db.migrate(legacy_url)
        store = DocumentStore("database", root)
        with Session(engine) as session:
            doc = store.get(session, org, invoice, "pdf")
            assert doc is not None and doc.content == content
            assert doc.id == invoice_document_id(invoice, "pdf")
            info = store.info(session, org, doc.id)
            assert info is not None and (info.storage, info.path) == ("directory", relative)
        # without the directory: refused, not guessed
        with (
            Session(engine) as session,
            pytest.raises(DocumentIntegrityError, match="INVOICING_DOCUMENTS_DIR"),
        ):
            DocumentStore().content(session, info)
        moved = subprocess.run(
            [sys.executable, "-m", "invoicing.cli", "documents-import", "--batch", "1"],
            env={
                "DATABASE_URL": legacy_url,
                "INVOICING_DATA_DIR": str(tmp_path),
                "INVOICING_DOCUMENTS_DIR": str(root),
                "INVOICING_LOG_FORMAT": "json",
                "PATH": "/usr/bin:/bin",
            },
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert moved.returncode == 0, moved.stderr
        assert "moved 1 documents into the database" in moved.stderr
        (root / relative).unlink()
        with Session(engine) as session:
            moved = DocumentStore().get(session, org, invoice, "pdf")
            assert moved is not None and moved.content == content
        command.downgrade(config, before)  # the way back keeps what has a file
        command.upgrade(config, "head")
    finally:
        engine.dispose()
