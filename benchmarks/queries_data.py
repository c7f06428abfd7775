"""Test data for benchmarks/queries.py: N invoices of C customers of one organization, made in
PostgreSQL with generate_series (a few minutes for a million on two cores).

The rows are written directly, the way the service stores them (one line per invoice, numbers,
snapshots, totals that add up), with the triggers off for the load (``session_replication_role =
replica``: the freeze guards and foreign-key checks would only cost time on rows made complete).
Secondary indexes are dropped before the load and rebuilt after it, from their own definitions.
``invoices.search_text`` (full_query's search document, kept by triggers) is filled in one
UPDATE after the lines (found through their indexes, rebuilt first), and the table is then
rewritten (``VACUUM FULL``) before its indexes are built: the fill leaves a dead version of
every row behind, which a table written by the service (the trigger fills the document on
insert) never has. ``invoices.number_key`` (the order of ``number``, migration 0029_number_key)
is written with the number, by ``NUMBER_KEY``: ``domain.numbering.number_key`` spelled out in
SQL for these numbers only (``RE-`` and seven digits), checked against the function on a sample
after the load.
"""

from __future__ import annotations

import time

import psycopg
from invoicing.domain.numbering import number_key
from invoicing.models.core import SEARCH_DOCUMENT

ORG = "0b0b0b0b-0000-4000-8000-000000000001"

COMPANY_WORDS = [
    "Nordwind", "Sonnenberg", "Rheinblick", "Alpenglanz", "Hafenstadt", "Lindenhof",
    "Eichwald", "Bergquell", "Seeblick", "Morgenrot", "Falkenstein", "Weidenau",
    "Kastanie", "Brückner", "Feldmann", "Sternberg", "Tannenhain", "Mühlbach",
    "Rosengarten", "Steinfeld",
]  # fmt: skip
COMPANY_KINDS = [
    "Bau", "Logistik", "Handel", "Consulting", "Software", "Immobilien", "Medien",
    "Energie", "Pflege", "Druck",
]  # fmt: skip
SERVICES = [
    "Beratung Arbeitsrecht", "Beratung Mietrecht", "Vertragsprüfung", "Schriftsatz",
    "Gutachten Baurecht", "Prozessvertretung", "Telefonkonferenz", "Due Diligence",
    "Markenanmeldung", "Datenschutzaudit", "Gesellschaftsvertrag", "Mahnverfahren",
    "Steuerberatung", "Lohnabrechnung", "Jahresabschluss", "Reisekosten",
    "Kopien und Porto", "Fachliteratur", "Übersetzung", "Notarkosten",
]  # fmt: skip


#: ``number_key('RE-' || lpad(i::text, 7, '0'))`` of the generated numbers: the count of the
#: digits without leading zeros (two digits) and those digits; then chr(1) and the count of the
#: leading zeros (as chr(48 + n)) when there are some
NUMBER_KEY = (
    "'RE-' || lpad(length(i::text)::text, 2, '0') || i::text"
    " || CASE WHEN length(i::text) < 7 THEN chr(1) || chr(48 + 7 - length(i::text)) ELSE '' END"
)


def _check_keys(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """``NUMBER_KEY`` is ``number_key`` for a sample of the numbers (and the first ones)."""
    rows = conn.execute(
        "SELECT number, number_key FROM invoices WHERE number IS NOT NULL "
        "AND (sequence_number < 12 OR sequence_number %% %(every)s = 0)",
        {"every": 997},
    ).fetchall()
    wrong = [(n, k) for n, k in rows if k != number_key(str(n))]
    if not rows or wrong:
        raise RuntimeError(f"NUMBER_KEY is not number_key: {wrong[:5]} (of {len(rows)} checked)")


def _array(words: list[str]) -> str:
    return "ARRAY[" + ", ".join("'" + w.replace("'", "''") + "'" for w in words) + "]"


def generate(dsn: str, invoices: int, customers: int) -> float:
    """Fill an empty, migrated database; returns the seconds it took."""
    started = time.perf_counter()
    companies, kinds, services = _array(COMPANY_WORDS), _array(COMPANY_KINDS), _array(SERVICES)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET maintenance_work_mem = '256MB'")
        indexes = conn.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE tablename IN "
            "('invoices', 'invoice_lines') AND indexname NOT LIKE 'pk_%' "
            "AND indexname NOT LIKE 'uq_%'"
        ).fetchall()
        for _table, name, _definition in indexes:
            conn.execute(f'DROP INDEX "{name}"')  # type: ignore[arg-type]
        conn.execute(
            "INSERT INTO organizations (id, name, profile, created_at, updated_at) "
            "VALUES (%s, 'Bench GmbH', %s, now(), now()) ON CONFLICT DO NOTHING",
            (ORG, '{"default_currency": "EUR", "default_locale": "de", "vat_id": "DE136695976"}'),
        )
        conn.execute(
            f"""
            INSERT INTO customers (organization_id, id, email, email_normalized, locale, data,
                                   created_at, updated_at)
            SELECT %(org)s, md5('cust' || c)::uuid, 'billing' || c || '@kunde' || c || '.de',
                   'billing' || c || '@kunde' || c || '.de', 'de',
                   jsonb_build_object(
                       'company', ({companies})[c %% 20 + 1] || ' ' || ({kinds})[c / 20 %% 10 + 1]
                                  || ' ' || c || ' GmbH',
                       'custom_fields', jsonb_build_object(
                           'tier', (c %% 3)::text, 'regions', jsonb_build_array('r' || c %% 7))),
                   now(), now()
            FROM generate_series(0, %(customers)s - 1) AS c
            """,  # type: ignore[arg-type]
            {"org": ORG, "customers": customers},
        )
        conn.execute(
            f"""
            INSERT INTO invoices (
                organization_id, id, kind, status, number, number_key, series, sequence_number,
                issue_date,
                due_date, payment_terms_days, currency, calculate_from_net, locale, customer_id,
                buyer, purchase_order_number, tags, custom_fields, tax_breakdown, legal_notes,
                line_net_total, allowance_total, net_total, tax_total, gross_total, paid_amount,
                credited_amount, credited_invoice_id, credit_note_ids, overdue, finalized_at,
                sent_at, paid_at, created_at, updated_at, event_sequence, creator_id,
                responsible_id, deal_id, subscriber_ids)
            SELECT %(org)s, md5('inv' || i)::uuid, kind, status,
                   CASE WHEN status <> 'draft' THEN 'RE-' || lpad(i::text, 7, '0') END,
                   CASE WHEN status <> 'draft' THEN {NUMBER_KEY} END,
                   CASE WHEN status <> 'draft' THEN 'invoice' END,
                   CASE WHEN status <> 'draft' THEN i END,
                   CASE WHEN status <> 'draft' THEN created::date END,
                   CASE WHEN status <> 'draft' THEN created::date + 14 END,
                   14, 'EUR', true, 'de', md5('cust' || c)::uuid,
                   CASE WHEN status <> 'draft' THEN jsonb_build_object(
                       'name', ({companies})[c %% 20 + 1] || ' ' || ({kinds})[c / 20 %% 10 + 1]
                               || ' ' || c || ' GmbH',
                       'email', 'billing' || c || '@kunde' || c || '.de') END,
                   CASE WHEN i %% 3 = 0 THEN 'PO-' || (i * 13 %% 1000003) END,
                   CASE i %% 10 WHEN 0 THEN '["retainer"]'::jsonb
                                WHEN 1 THEN '["q1", "priority"]'::jsonb ELSE '[]'::jsonb END,
                   jsonb_build_object('priority', i %% 10), '[]', '[]',
                   net, 0, net, tax, net + tax,
                   CASE status WHEN 'paid' THEN net + tax
                               WHEN 'partially_paid' THEN round((net + tax) / 2, 2) ELSE 0 END,
                   CASE status WHEN 'void' THEN net + tax ELSE 0 END,
                   CASE WHEN kind = 'credit_note' THEN md5('inv' || (i - 1))::uuid END, '[]',
                   status IN ('finalized', 'sent', 'partially_paid') AND i %% 4 = 0,
                   CASE WHEN status <> 'draft' THEN created END,
                   CASE WHEN status IN ('sent', 'partially_paid', 'paid')
                        THEN created + interval '1 day' END,
                   CASE WHEN status = 'paid' THEN created + interval '10 days' END,
                   created, created + interval '10 days', 1,
                   'p-' || i %% 50, 'p-' || i %% 37, 'deal-' || i %% 5000, '[]'
            FROM (
                SELECT i, i %% %(customers)s AS c,
                       timestamptz '2019-01-01 08:00+00'
                           + (i * 220 * 1000000 / %(invoices)s) * interval '1 second'
                           AS created,
                       round(((i::bigint * 7919) %% 500000) / 100.0 + 10, 2) AS net,
                       round((((i::bigint * 7919) %% 500000) / 100.0 + 10) * 0.19, 2) AS tax,
                       CASE WHEN i %% 100 = 0 THEN 'quote' WHEN i %% 25 = 1 THEN 'credit_note'
                            ELSE 'invoice' END AS kind,
                       CASE WHEN (i * 7919) %% 100 < 5 THEN 'draft'
                            WHEN i %% 100 = 0 OR i %% 25 = 1 OR (i * 7919) %% 100 < 15
                                THEN 'finalized'
                            WHEN (i * 7919) %% 100 < 35 THEN 'sent'
                            WHEN (i * 7919) %% 100 < 45 THEN 'partially_paid'
                            WHEN (i * 7919) %% 100 < 95 THEN 'paid'
                            ELSE 'void' END AS status
                FROM generate_series(1::bigint, %(invoices)s::bigint) AS i
            ) AS g
            """,  # type: ignore[arg-type]
            {"org": ORG, "customers": customers, "invoices": invoices},
        )
        conn.execute(
            f"""
            INSERT INTO invoice_lines (
                organization_id, id, invoice_id, position, description, subtitle, quantity, unit,
                unit_price, tax_category, tax_rate, base_amount, discount_amount, amount,
                net_amount, billable_entry_ids)
            SELECT organization_id, md5('line' || id::text)::uuid, id, 1,
                   ({services})[abs(hashtext(id::text)) %% 20 + 1],
                   CASE WHEN abs(hashtext(id::text)) %% 5 = 0
                        THEN 'Akte ' || abs(hashtext(id::text)) %% 99991 END,
                   1, 'hours', net_total, 'standard', 19, net_total, 0, net_total, net_total, '[]'
            FROM invoices WHERE organization_id = %(org)s
            """,  # type: ignore[arg-type]
            {"org": ORG},
        )
        # the lines' indexes first: the document's subquery finds an invoice's lines by them
        for table, _name, definition in indexes:
            if table == "invoice_lines":
                conn.execute(definition)  # type: ignore[arg-type]
        conn.execute("ANALYZE invoice_lines")
        # the search document (migration 0021_search) its triggers would have written
        conn.execute(
            f"UPDATE invoices inv SET search_text = {SEARCH_DOCUMENT} "  # type: ignore[arg-type]
            "WHERE inv.organization_id = %(org)s",
            {"org": ORG},
        )
        # without the dead versions the UPDATE left (half the table): see the docstring
        conn.execute("VACUUM FULL invoices")
        for table, _name, definition in indexes:
            if table == "invoices":
                conn.execute(definition)  # type: ignore[arg-type]
        conn.execute("VACUUM (ANALYZE) invoices")
        conn.execute("VACUUM (ANALYZE) invoice_lines")
        conn.execute("VACUUM (ANALYZE) customers")
        _check_keys(conn)
    return time.perf_counter() - started
