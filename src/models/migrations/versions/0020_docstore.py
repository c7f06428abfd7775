"""docstore: document bytes in the database, documents of exports, integration exports

Revision ID: 0020_docstore
Revises: 0020_budgets
Create Date: 2026-11-28

Owned by documents (src/documents/store.py) and the accounting integrations
(src/handlers/integrations.py).

* ``document_contents``: the bytes, keyed by organization, SHA-256 and part.
* ``documents`` is rebuilt with its own id (primary key organization + id) so that a document
  is referred to from anywhere by id; ``invoice_id`` becomes optional and ``export_id`` names
  the export run of an export file. Existing rows keep their bytes where they are:
  ``storage = 'directory'`` with their old ``path``, and the id every invoice document gets
  (uuid5 of the invoice id and ``document:<kind>``). ``invoicing documents-import`` moves their
  bytes into the database.
* ``invoices.integration_exports``: the accounting integrations an invoice was exported to.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import invoicing.models.base
import sqlalchemy as sa
from alembic import op

revision: str = "0020_docstore"
down_revision: str | Sequence[str] | None = "0020_budgets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = invoicing.models.base.UTCDateTime(timezone=True)
JSON = invoicing.models.base.JSONType
OLD = ("organization_id", "invoice_id", "kind", "filename", "media_type", "path", "sha256")
OLD_REST = ("size", "frozen", "created_at")


def _documents_table(name: str) -> None:
    op.create_table(
        name,
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=True),
        sa.Column("export_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("storage", sa.String(length=10), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("frozen", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "id", name="pk_documents"),
        sa.UniqueConstraint(
            "organization_id", "invoice_id", "kind", name="uq_documents_organization_id"
        ),
    )
    op.create_index("ix_documents_export", name, ["organization_id", "export_id"])


def _rename_legacy() -> None:
    op.rename_table("documents", "documents_legacy")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE documents_legacy RENAME CONSTRAINT pk_documents TO pk_legacy")


def upgrade() -> None:
    op.create_table(
        "document_contents",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "sha256", "part", name="pk_document_contents"),
    )
    _rename_legacy()
    _documents_table("documents")
    conn = op.get_bind()
    legacy = sa.table("documents_legacy", *(sa.column(c) for c in (*OLD, *OLD_REST)))
    target = sa.table(
        "documents",
        *(sa.column(c) for c in (*OLD, *OLD_REST, "storage", "export_id")),
        sa.column("id", sa.Uuid()),
    )
    rows = conn.execute(sa.select(legacy)).mappings().all()
    copied = [
        {
            **dict(r),
            "id": uuid.uuid5(uuid.UUID(str(r["invoice_id"])), f"document:{r['kind']}"),
            "storage": "directory",
            "export_id": None,
        }
        for r in rows
    ]
    if copied:
        conn.execute(sa.insert(target), copied)
    op.drop_table("documents_legacy")
    op.add_column(
        "invoices", sa.Column("integration_exports", JSON, nullable=False, server_default="{}")
    )


def downgrade() -> None:
    op.execute("ALTER TABLE invoices DROP COLUMN integration_exports")
    op.drop_index("ix_documents_export", table_name="documents")
    op.rename_table("documents", "documents_new")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE documents_new RENAME CONSTRAINT pk_documents TO pk_new")
        op.execute(
            "ALTER TABLE documents_new RENAME CONSTRAINT uq_documents_organization_id TO uq_new"
        )
    op.create_table(
        "documents",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("frozen", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "invoice_id", "kind", name="pk_documents"),
    )
    # only rows whose bytes are files can go back (database bytes have no file)
    op.execute(
        "INSERT INTO documents (organization_id, invoice_id, kind, filename, media_type, path, "
        "sha256, size, frozen, created_at) SELECT organization_id, invoice_id, kind, filename, "
        "media_type, path, sha256, size, frozen, created_at FROM documents_new "
        "WHERE storage = 'directory' AND invoice_id IS NOT NULL"
    )
    op.drop_table("documents_new")
    op.drop_table("document_contents")
