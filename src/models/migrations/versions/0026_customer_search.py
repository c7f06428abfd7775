"""customer search: a trigram index over a customer's searchable texts

Revision ID: 0026_customer_search
Revises: 0025_search_statistics
Create Date: 2026-11-30

Owned by the read side (src/queries/filters.py, ``customer_search_text``). A word of
``full_query`` also finds the invoices of the customers whose company, person name or email
hold it; the service looks those customers up first, one subquery per word. Before, each
subquery read every customer of the organization and tested three expressions per row (1.3-1.5
ms per word for 1,000 customers on the benchmark's host; a hundred times that for 100,000).
Now the texts are one lower-case string joined by spaces (a word holds no whitespace, so it
cannot match across two of them) and a trigram GIN index on that expression answers a
selective word from the index (about 0.2 ms): the planner still reads the table where a word
matches a large share of it.

The expression is spelled exactly as SQLAlchemy renders ``customer_search_text`` (keys
inline, no parameters), so that PostgreSQL matches the queries' expression to the index;
tests/integration/test_customer_search.py checks the plan. SQLite has no trigram index:
nothing to do there.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0026_customer_search"
down_revision: str | Sequence[str] | None = "0025_search_statistics"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: ``customer_search_text("postgresql")`` (src/queries/filters.py), as the models' index spells it
EXPRESSION = (
    "lower(coalesce(data ->> 'company', '') || ' ' || coalesce(data ->> 'given_name', '') "
    "|| ' ' || coalesce(data ->> 'family_name', '') || ' ' || coalesce(email, ''))"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE INDEX ix_customers_search ON customers USING gin (({EXPRESSION}) gin_trgm_ops)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_customers_search")
