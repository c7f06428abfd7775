"""DATEV clients per issuer: the organization's and a subsidiary's own

Revision ID: 0033_datev_clients
Revises: 0032_dunning_claims
Create Date: 2026-12-10

Owned by the DATEV export (src/exports/datev_db.py, docs/datev.md "DATEV clients"). A subsidiary
with books of its own gets DATEV settings of its own (``configure_datev`` with
``subsidiary_id``) and is exported apart from the organization. Everything the export keeps per
client gets a ``client`` column in its key: '' for the organization's client (every existing
row: what was kept so far was the organization's), the subsidiary's id for its own. So the two
clients never share settings, Debitor accounts (the same account number may be used in both),
export marks or booked foreign-currency values.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0033_datev_clients"
down_revision: str | Sequence[str] | None = "0032_dunning_claims"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: table -> its primary key before (the client goes in after organization_id)
KEYS = {
    "datev_settings": ["organization_id"],
    "datev_debtor_accounts": ["organization_id", "customer_key"],
    "export_marks": ["organization_id", "target", "item_id"],
    "datev_fx_values": ["organization_id", "document_id", "item_id"],
}
UNIQUE = "uq_datev_debtor_accounts_organization_id"


def upgrade() -> None:
    for table, key in KEYS.items():
        with op.batch_alter_table(table, recreate="auto") as batch:
            batch.add_column(
                sa.Column("client", sa.String(length=200), nullable=False, server_default="")
            )
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.create_primary_key(f"pk_{table}", [key[0], "client", *key[1:]])
            if table == "datev_debtor_accounts":
                batch.drop_constraint(UNIQUE, type_="unique")
                batch.create_unique_constraint(UNIQUE, ["organization_id", "client", "account"])


def downgrade() -> None:
    # a subsidiary's own client has no place in the single client of before: its rows go
    for table, key in KEYS.items():
        op.execute(sa.text(f"DELETE FROM {table} WHERE client <> ''"))
        with op.batch_alter_table(table, recreate="auto") as batch:
            if table == "datev_debtor_accounts":
                batch.drop_constraint(UNIQUE, type_="unique")
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.drop_column("client")
            batch.create_primary_key(f"pk_{table}", key)
            if table == "datev_debtor_accounts":
                batch.create_unique_constraint(UNIQUE, ["organization_id", "account"])
