"""one linear history from here on: merge the documents, exports, pipeline and dunning heads

Revision ID: 0007_merge
Revises: 0003_documents, 0004_exports, 0005_dead_letters, 0006_dunning_sharing
Create Date: 2026-11-28

Every later migration follows this one in a single line (``alembic upgrade head``).
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0007_merge"
down_revision: str | Sequence[str] | None = (
    "0003_documents",
    "0004_exports",
    "0005_dead_letters",
    "0006_dunning_sharing",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
