"""The document store: files in a directory, recorded in the ``documents`` table with SHA-256.

Layout: ``<root>/<organization_id>/<invoice_id>/<kind>-<first 16 hex of SHA-256>.<ext>``
(``root`` defaults to ``<data_dir>/documents``; ``INVOICING_DOCUMENTS_DIR`` overrides it).

Rules:
* The database row is the truth. A file without a row (left by a transaction that rolled back)
  was never served and is replaced; a file with a row is served only if its SHA-256 matches.
* A frozen document (any document of a finalized invoice) is written once and never
  overwritten: asking for it again returns the stored bytes unchanged, whatever the producer
  would make today (template changes, new software version).
* A file's name carries its hash, so a new version never overwrites an old file: a row always
  points at exactly the bytes it recorded, even when a later transaction rolls back.
* Files are written to a temporary name, fsynced and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from invoicing.models.documents import StoredDocument
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.orm import Session

_KIND = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_EXT = re.compile(r"^[a-z0-9]{1,8}$")


class DocumentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INVOICING_DOCUMENTS_", extra="ignore")

    dir: Path | None = Field(default=None, description="default: <data_dir>/documents")
    template_dir: Path | None = Field(
        default=None, description="per-organization template overrides: <template_dir>/<org id>/"
    )

    def root(self, data_dir: Path) -> Path:
        return self.dir if self.dir is not None else data_dir / "documents"


class DocumentIntegrityError(RuntimeError):
    """A stored file is missing or does not match the SHA-256 recorded for it."""


@dataclass(frozen=True)
class Document:
    kind: str
    filename: str
    media_type: str
    content: bytes
    sha256: str
    frozen: bool
    created: bool  # False: served from the store unchanged


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


class DocumentStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _relative(
        self, org_id: uuid.UUID, invoice_id: uuid.UUID, kind: str, ext: str, digest: str
    ) -> str:
        if not _KIND.match(kind) or not _EXT.match(ext):
            raise ValueError(f"invalid document kind or extension: {kind!r}, {ext!r}")
        return f"{org_id}/{invoice_id}/{kind}-{digest[:16]}.{ext}"

    def _read(self, row: StoredDocument) -> bytes:
        path = self.root / row.path
        try:
            content = path.read_bytes()
        except FileNotFoundError as exc:
            raise DocumentIntegrityError(f"stored document {row.path} is missing") from exc
        if sha256_hex(content) != row.sha256:
            raise DocumentIntegrityError(
                f"stored document {row.path} does not match its recorded SHA-256"
            )
        return content

    def _write(self, relative: str, content: bytes) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
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

    def get(
        self, session: Session, org_id: uuid.UUID, invoice_id: uuid.UUID, kind: str
    ) -> Document | None:
        """The stored document, verified against its SHA-256, or None."""
        row = session.get(StoredDocument, (org_id, invoice_id, kind))
        if row is None:
            return None
        return Document(
            row.kind, row.filename, row.media_type, self._read(row), row.sha256, row.frozen, False
        )

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
        """The document of ``kind``: the frozen stored one, else ``produce()`` stored anew.

        Call inside the command's transaction; the row commits with it.
        """
        ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
        row = session.get(StoredDocument, (org_id, invoice_id, kind))
        if row is not None and row.frozen:
            return Document(
                row.kind, row.filename, row.media_type, self._read(row), row.sha256, True, False
            )
        content = produce()
        digest = sha256_hex(content)
        relative = self._relative(org_id, invoice_id, kind, ext, digest)
        if (
            not (self.root / relative).exists()
            or sha256_hex((self.root / relative).read_bytes()) != digest
        ):
            self._write(relative, content)
        if row is None:
            row = StoredDocument(organization_id=org_id, invoice_id=invoice_id, kind=kind)
            session.add(row)
        row.filename, row.media_type, row.path = filename, media_type, relative
        row.sha256, row.size, row.frozen = digest, len(content), frozen
        if now is not None:
            row.created_at = now
        session.flush()
        return Document(kind, filename, media_type, content, digest, frozen, True)
