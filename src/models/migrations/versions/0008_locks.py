"""partial indexes on the outbox; indexes for retention

Revision ID: 0008_locks
Revises: 0007_merge
Create Date: 2026-11-28

* ``ix_outbox_unpublished``: ``outbox (id) WHERE published_at IS NULL``, for the relay's query
  (``WHERE published_at IS NULL ORDER BY id LIMIT n``); it holds only the rows still to publish,
  in id order, so a round reads a few index entries whatever the size of the outbox.
* ``ix_outbox_published``: ``outbox (published_at) WHERE published_at IS NOT NULL``, for
  ``invoicing retention``'s cutoff. It replaces the full ``ix_outbox_published_at``, which both
  backends preferred for the relay's ``IS NULL`` (then sorting by id), and which indexed every
  row twice over its life.
* ``ix_processed_commands_processed_at`` and ``ix_delivery_attempts_last_seen_at``: the cutoffs
  of ``invoicing retention`` for the inbox and the crash-loop counters.

On PostgreSQL the indexes are built and dropped CONCURRENTLY (outside the migration's
transaction), so the outbox and the inbox stay writable while a large table is indexed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0008_locks"
down_revision: str | Sequence[str] | None = "0007_merge"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _where(predicate: str) -> dict[str, Any]:
    clause = sa.text(predicate)
    return {"postgresql_where": clause, "sqlite_where": clause}


NEW: list[tuple[str, str, list[str], dict[str, Any]]] = [
    ("ix_outbox_unpublished", "outbox", ["id"], _where("published_at IS NULL")),
    ("ix_outbox_published", "outbox", ["published_at"], _where("published_at IS NOT NULL")),
    ("ix_processed_commands_processed_at", "processed_commands", ["processed_at"], {}),
    ("ix_delivery_attempts_last_seen_at", "delivery_attempts", ["last_seen_at"], {}),
]
OLD = ("ix_outbox_published_at", "outbox", ["published_at"])


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    concurrently: dict[str, Any] = {"postgresql_concurrently": True} if postgres else {}
    with _outside_transaction(postgres):
        for name, table, columns, options in NEW:
            op.create_index(name, table, columns, **options, **concurrently)
        op.drop_index(OLD[0], table_name=OLD[1], **concurrently)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    concurrently: dict[str, Any] = {"postgresql_concurrently": True} if postgres else {}
    with _outside_transaction(postgres):
        op.create_index(OLD[0], OLD[1], OLD[2], **concurrently)
        for name, table, _columns, _options in NEW:
            op.drop_index(name, table_name=table, **concurrently)


def _outside_transaction(postgres: bool) -> Any:
    return op.get_context().autocommit_block() if postgres else contextlib.nullcontext()
