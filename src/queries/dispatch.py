"""Dispatch a validated query to its read function, in one read-only transaction.

Decoding, authentication, validation and error translation happen before, in the pipeline
(``invoicing.pipeline.Pipeline.query_raw`` / ``query_document``), the same steps as commands.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from invoicing.documents.store import DocumentStore
from invoicing.handlers.ports import DocumentStorage
from invoicing.observability.metrics import QUERY_DURATION
from invoicing.queries import billing, budgets, customers, documents, dunning, invoices
from invoicing.schemas.queries import Query, Result
from sqlalchemy import Engine
from sqlalchemy.orm import Session

Runner = Callable[[Any, Session], Result]
#: reads that also need the document store (its bytes may be files, not rows)
DocumentRunner = Callable[[Any, Session, DocumentStorage], Result]

RUNNERS: dict[str, Runner] = {
    "get_invoice": invoices.get_invoice,
    "list_invoices": invoices.list_invoices,
    "open_items": invoices.open_items,
    "next_number": invoices.next_number,
    "list_payments": invoices.list_payments,
    "list_trash": invoices.list_trash,
    "preview_billable_entries": billing.preview_billable_entries,
    "preview_invoice": budgets.preview_invoice,
    "get_budget": budgets.get_budget,
    "list_budgets": budgets.list_budgets,
    "list_subsidiaries": budgets.list_subsidiaries,
    "list_dunning_notices": dunning.list_dunning_notices,
    "list_dunning_blocks": dunning.list_dunning_blocks,
    "get_customer": customers.get_customer,
    "list_customers": customers.list_customers,
}
DOCUMENT_RUNNERS: dict[str, DocumentRunner] = {
    "get_document": documents.get_document,
    "list_documents": documents.list_documents,
}


def run_query(query: Query, session: Session, store: DocumentStorage | None = None) -> Result:
    """Run a validated query in the caller's session (confined to query.organization_id);
    document reads use ``store`` (default: the database backend alone)."""
    started, status = time.perf_counter(), "error"
    try:
        if query.type in DOCUMENT_RUNNERS:
            result = DOCUMENT_RUNNERS[query.type](query, session, store or DocumentStore())
        else:
            result = RUNNERS[query.type](query, session)
        status = "ok"
        return result
    finally:
        QUERY_DURATION.labels(type=query.type, status=status).observe(time.perf_counter() - started)


def read_only(engine: Engine) -> Engine:
    """The same pool, but every transaction is READ ONLY and REPEATABLE READ on PostgreSQL
    (count and page agree): psycopg begins it so (``BEGIN ISOLATION LEVEL REPEATABLE READ
    READ ONLY``, one statement), and a connection gets its defaults back when it returns to
    the pool, for the commands that share it."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(postgresql_readonly=True, isolation_level="REPEATABLE READ")
    return engine


def execute(query: Query, engine: Engine, store: DocumentStorage | None = None) -> Result:
    """One read-only transaction (REPEATABLE READ on PostgreSQL: count and page agree)."""
    with Session(engine) as session:  # an error inside: closing the session rolls back
        result = run_query(query, session, store)
        # COMMIT of a READ ONLY transaction writes nothing, as ROLLBACK would; unlike a
        # ROLLBACK it keeps the connection's prepared statements (psycopg forgets them all
        # at every ROLLBACK: docs/pipeline.md, "Prepared statements")
        session.commit()
        return result
