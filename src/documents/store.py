"""The document store: PDFs, e-invoice XML and export files, recorded in ``documents``.

Every document has a row in ``documents`` (id, name, media type, size, SHA-256) and its bytes
in one of two content backends (``INVOICING_DOCUMENTS_BACKEND``):

* ``database`` (the default): ``document_contents``, keyed by organization and SHA-256 and
  split into parts of ``PART_BYTES``, written in the caller's transaction. Every worker and
  the hosted page on every host read the same bytes; nothing lives on one worker's disk.
* ``directory``: a file ``<root>/<organization>/<sha[:2]>/<sha256>`` (``root`` defaults to
  ``<data_dir>/documents``; ``INVOICING_DOCUMENTS_DIR`` overrides it), written to a temporary
  name, fsynced and renamed. Only for a single host or a shared file system.

The row names the backend that holds its bytes (``storage``), so a store reads the rows of
both (rows written before the database backend existed are ``directory`` rows with their old
path; ``invoicing documents-import`` moves them into the database).

Rules:
* The database row is the truth. Bytes without a row (left by a transaction that rolled back)
  are never served; a document is served whole only if its SHA-256 matches the row.
* Identical bytes of one organization are stored once (the content key is the SHA-256).
* A frozen document (any document of a finalized invoice) is written once and never
  overwritten: asking for it again returns the stored bytes unchanged, whatever the producer
  would make today (template changes, new software version).
* Chunks (``read``) are not verified one by one: the reader checks the SHA-256 of the whole
  (the ``invoicing query document`` CLI does); a whole read (``content``) is verified here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from invoicing.models.documents import PART_BYTES, DocumentContent, StoredDocument
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Connection, Table, and_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

_KIND = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_CONTENTS: Table = DocumentContent.__table__  # type: ignore[assignment]
_ROWS: Table = StoredDocument.__table__  # type: ignore[assignment]

Backend = Literal["database", "directory"]
#: the query that returns a document's metadata and content (named in event references)
QUERY = "get_document"


class DocumentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INVOICING_DOCUMENTS_", extra="ignore")

    backend: Backend = Field(
        default="database",
        description="where new documents' bytes go: database (every host reads them) or "
        "directory (files under dir)",
    )
    dir: Path | None = Field(default=None, description="default: <data_dir>/documents")
    template_dir: Path | None = Field(
        default=None, description="per-organization template overrides: <template_dir>/<org id>/"
    )

    def root(self, data_dir: Path) -> Path:
        return self.dir if self.dir is not None else data_dir / "documents"

    def store(self, data_dir: Path) -> DocumentStore:
        return DocumentStore(self.backend, self.root(data_dir))


class DocumentIntegrityError(RuntimeError):
    """Stored bytes are missing or do not match the SHA-256 recorded for them."""


@dataclass(frozen=True)
class DocumentInfo:
    """A document's row: what it is and where its bytes are."""

    id: uuid.UUID
    organization_id: uuid.UUID
    invoice_id: uuid.UUID | None
    export_id: uuid.UUID | None
    kind: str
    filename: str
    media_type: str
    size: int
    sha256: str
    frozen: bool
    created_at: dt.datetime
    storage: str
    path: str | None

    def ref(self) -> dict[str, Any]:
        """The reference events carry: enough to fetch and verify it from anywhere."""
        return reference(self.id, self.kind, self.filename, self.media_type, self.size, self.sha256)


@dataclass(frozen=True)
class Document:
    kind: str
    filename: str
    media_type: str
    content: bytes
    sha256: str
    frozen: bool
    created: bool  # False: served from the store unchanged
    id: uuid.UUID

    def ref(self) -> dict[str, Any]:
        return reference(
            self.id, self.kind, self.filename, self.media_type, len(self.content), self.sha256
        )


def reference(
    document_id: uuid.UUID, kind: str, filename: str, media_type: str, size: int, sha256: str
) -> dict[str, Any]:
    return {
        "document_id": str(document_id),
        "kind": kind,
        "filename": filename,
        "media_type": media_type,
        "size": size,
        "sha256": sha256,
        "query": QUERY,
    }


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def invoice_document_id(invoice_id: uuid.UUID, kind: str) -> uuid.UUID:
    """The id of an invoice's document of ``kind``: the same for every version of it."""
    return uuid.uuid5(invoice_id, f"document:{kind}")


def export_document_id(export_id: uuid.UUID) -> uuid.UUID:
    """The id of an export run's file."""
    return uuid.uuid5(export_id, "document:export")


Source = bytes | Path


def _parts(source: Source) -> Iterator[bytes]:
    if isinstance(source, bytes):
        for start in range(0, max(len(source), 1), PART_BYTES):
            yield source[start : start + PART_BYTES]
        return
    with source.open("rb") as fh:
        first = True
        for block in iter(lambda: fh.read(PART_BYTES), b""):
            first = False
            yield block
        if first:
            yield b""


# ----------------------------------------------------------------------------- backends


class ContentBackend(Protocol):
    name: str

    def put(self, conn: Connection, org_id: uuid.UUID, digest: str, source: Source) -> str | None:
        """Store the bytes (once per organization and digest); the path, for files."""
        ...

    def read(self, conn: Connection, info: DocumentInfo, offset: int, limit: int) -> bytes: ...


def _insert(dialect: str) -> Any:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(_CONTENTS).on_conflict_do_nothing()


class DatabaseContents:
    """``document_contents``: parts of ``PART_BYTES`` in the caller's transaction."""

    name = "database"

    def put(self, conn: Connection, org_id: uuid.UUID, digest: str, source: Source) -> str | None:
        c = _CONTENTS.c
        have = conn.execute(
            select(c.part).where(c.organization_id == org_id, c.sha256 == digest, c.part == 0)
        ).first()
        if have is None:
            stmt = _insert(conn.dialect.name)
            for number, data in enumerate(_parts(source)):
                conn.execute(
                    stmt,
                    {"organization_id": org_id, "sha256": digest, "part": number, "data": data},
                )
        return None

    def read(self, conn: Connection, info: DocumentInfo, offset: int, limit: int) -> bytes:
        if limit <= 0 or offset >= info.size:
            return b""
        first, last = offset // PART_BYTES, (min(offset + limit, info.size) - 1) // PART_BYTES
        c = _CONTENTS.c
        rows = conn.execute(
            select(c.part, c.data)
            .where(
                c.organization_id == info.organization_id,
                c.sha256 == info.sha256,
                c.part.between(first, last),
            )
            .order_by(c.part)
        ).all()
        if [r.part for r in rows] != list(range(first, last + 1)):
            raise DocumentIntegrityError(
                f"document {info.id}: parts {first}..{last} of its content are missing"
            )
        joined = b"".join(bytes(r.data) for r in rows)
        start = offset - first * PART_BYTES
        return joined[start : start + limit]


class DirectoryContents:
    """Files named by their SHA-256 under ``root`` (one host, or a shared file system)."""

    name = "directory"

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, conn: Connection, org_id: uuid.UUID, digest: str, source: Source) -> str | None:
        relative = f"{org_id}/{digest[:2]}/{digest}"
        path = self.root / relative
        if not (path.exists() and file_sha256(path) == digest):
            self._write(path, source)
        return relative

    def _write(self, path: Path, source: Source) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                for part in _parts(source):
                    fh.write(part)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def read(self, conn: Connection, info: DocumentInfo, offset: int, limit: int) -> bytes:
        path = self.root / (info.path or "")
        try:
            with path.open("rb") as fh:
                fh.seek(offset)
                return fh.read(max(limit, 0))
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise DocumentIntegrityError(f"stored document {info.path} is missing") from exc


# ----------------------------------------------------------------------------- the store


def _info(row: Any) -> DocumentInfo:
    return DocumentInfo(
        row.id,
        row.organization_id,
        row.invoice_id,
        row.export_id,
        row.kind,
        row.filename,
        row.media_type,
        row.size,
        row.sha256,
        row.frozen,
        row.created_at,
        row.storage,
        row.path,
    )


class DocumentStore:
    """Documents in the caller's session: ``backend`` takes new bytes; rows of either backend
    are read (the directory one only when ``root`` is given)."""

    def __init__(self, backend: Backend = "database", root: Path | None = None) -> None:
        self.backends: dict[str, ContentBackend] = {"database": DatabaseContents()}
        if root is not None:
            self.backends["directory"] = DirectoryContents(root)
        if backend not in self.backends:
            raise ValueError(f"the {backend} document backend needs a directory")
        self.writer = self.backends[backend]
        self.root = root

    # ------------------------------------------------------------------ reads

    def info(
        self, session: Session, org_id: uuid.UUID, document_id: uuid.UUID
    ) -> DocumentInfo | None:
        row = session.execute(
            select(_ROWS).where(_ROWS.c.organization_id == org_id, _ROWS.c.id == document_id)
        ).first()
        return None if row is None else _info(row)

    def list(
        self,
        session: Session,
        org_id: uuid.UUID,
        *,
        invoice_id: uuid.UUID | None = None,
        export_id: uuid.UUID | None = None,
    ) -> list[DocumentInfo]:
        stmt = select(_ROWS).where(_ROWS.c.organization_id == org_id)
        if invoice_id is not None:
            stmt = stmt.where(_ROWS.c.invoice_id == invoice_id)
        if export_id is not None:
            stmt = stmt.where(_ROWS.c.export_id == export_id)
        rows = session.execute(stmt.order_by(_ROWS.c.created_at, _ROWS.c.kind)).all()
        return [_info(r) for r in rows]

    def read(self, session: Session, info: DocumentInfo, offset: int = 0, limit: int = -1) -> bytes:
        """``limit`` bytes from ``offset`` (all from there when negative), not verified."""
        backend = self.backends.get(info.storage)
        if backend is None:
            raise DocumentIntegrityError(
                f"document {info.id} is stored in the {info.storage} backend, which this "
                "process has not configured (INVOICING_DOCUMENTS_DIR)"
            )
        count = info.size - offset if limit < 0 else limit
        return backend.read(session.connection(), info, offset, count)

    def content(self, session: Session, info: DocumentInfo) -> bytes:
        """The whole document, verified against its SHA-256."""
        data = self.read(session, info)
        if len(data) != info.size or sha256_hex(data) != info.sha256:
            raise DocumentIntegrityError(
                f"stored document {info.id} ({info.filename}) does not match its recorded SHA-256"
            )
        return data

    def _row(self, session: Session, org_id: uuid.UUID, invoice_id: uuid.UUID, kind: str) -> Any:
        c = _ROWS.c
        return session.execute(
            select(_ROWS).where(
                and_(c.organization_id == org_id, c.invoice_id == invoice_id, c.kind == kind)
            )
        ).first()

    def get(
        self, session: Session, org_id: uuid.UUID, invoice_id: uuid.UUID, kind: str
    ) -> Document | None:
        """The stored document of an invoice, verified against its SHA-256, or None."""
        row = self._row(session, org_id, invoice_id, kind)
        if row is None:
            return None
        info = _info(row)
        content = self.content(session, info)
        return Document(
            info.kind,
            info.filename,
            info.media_type,
            content,
            info.sha256,
            info.frozen,
            False,
            info.id,
        )

    # ------------------------------------------------------------------ writes

    def put(
        self,
        session: Session,
        *,
        org_id: uuid.UUID,
        document_id: uuid.UUID,
        kind: str,
        filename: str,
        media_type: str,
        source: Source,
        frozen: bool,
        invoice_id: uuid.UUID | None = None,
        export_id: uuid.UUID | None = None,
        now: dt.datetime | None = None,
    ) -> DocumentInfo:
        """Record the document (a new row, or a new version of a row that is not frozen) and
        its bytes, in the caller's transaction."""
        if not _KIND.match(kind):
            raise ValueError(f"invalid document kind: {kind!r}")
        digest = sha256_hex(source) if isinstance(source, bytes) else file_sha256(source)
        size = len(source) if isinstance(source, bytes) else source.stat().st_size
        path = self.writer.put(session.connection(), org_id, digest, source)
        row = session.get(StoredDocument, (org_id, document_id))
        if row is None:
            row = StoredDocument(organization_id=org_id, id=document_id)
            session.add(row)
        elif row.frozen:
            raise ValueError(f"document {document_id} is frozen")
        row.invoice_id, row.export_id, row.kind = invoice_id, export_id, kind
        row.filename, row.media_type = filename, media_type
        row.storage, row.path = self.writer.name, path
        row.sha256, row.size, row.frozen = digest, size, frozen
        row.created_at = now or dt.datetime.now(dt.UTC)
        session.flush()
        return _info(row)

    def obtain(
        self,
        session: Session,
        *,
        org_id: uuid.UUID,
        invoice_id: uuid.UUID,
        kind: str,
        filename: str,
        media_type: str,
        frozen: bool,
        produce: Callable[[], bytes],
        now: dt.datetime | None = None,
    ) -> Document:
        """The invoice's document of ``kind``: the frozen stored one, else ``produce()``
        stored anew. Call inside the command's transaction; the row commits with it."""
        row = self._row(session, org_id, invoice_id, kind)
        if row is not None and row.frozen:
            info = _info(row)
            content = self.content(session, info)
            return Document(
                kind, info.filename, info.media_type, content, info.sha256, True, False, info.id
            )
        content = produce()
        info = self.put(
            session,
            org_id=org_id,
            document_id=row.id if row is not None else invoice_document_id(invoice_id, kind),
            kind=kind,
            filename=filename,
            media_type=media_type,
            source=content,
            frozen=frozen,
            invoice_id=invoice_id,
            now=now,
        )
        return Document(kind, filename, media_type, content, info.sha256, frozen, True, info.id)

    def import_files(self, session: Session, limit: int = 100) -> int:
        """Move up to ``limit`` rows whose bytes are files into the database backend (each
        verified first); the files stay (remove them once every row is moved)."""
        c = _ROWS.c
        rows = session.execute(select(_ROWS).where(c.storage == "directory").limit(limit)).all()
        database = self.backends["database"]
        for row in rows:
            info = _info(row)
            content = self.content(session, info)
            database.put(session.connection(), info.organization_id, info.sha256, content)
            stored = session.get(StoredDocument, (info.organization_id, info.id))
            assert stored is not None
            stored.storage, stored.path = "database", None
        session.flush()
        return len(rows)
