"""what a dunning notice claimed beside its fee

Revision ID: 0032_dunning_claims
Revises: 0031_dunning_level
Create Date: 2026-12-03

Owned by the dunning delivery step (src/handlers/dunning.py). ``dunning_notices.flat_compensation``
is the EUR 40 flat compensation a notice claimed (§ 288 Abs. 5 BGB; Belgium: art. 6 of the law
of 2 August 2002) and ``credited`` the dunning fees credited against it; a later notice carries
the costs of the earlier ones (docs/dunning.md). Notices sent before claimed neither: 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import invoicing.models.base
import sqlalchemy as sa
from alembic import op

revision: str = "0032_dunning_claims"
down_revision: str | Sequence[str] | None = "0031_dunning_level"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEC = invoicing.models.base.ExactDecimal()


def upgrade() -> None:
    for name in ("flat_compensation", "credited"):
        op.add_column("dunning_notices", sa.Column(name, DEC, server_default="0", nullable=False))


def downgrade() -> None:
    op.drop_column("dunning_notices", "credited")
    op.drop_column("dunning_notices", "flat_compensation")
