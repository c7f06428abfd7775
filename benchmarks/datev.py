"""DATEV export benchmark: 1,000,000 bookings through the streaming writer vs the raw limit.

    python benchmarks/datev.py [--bookings 1000000] [--keep]

Creates the PostgreSQL database ``invoicing_bench_datev`` on 127.0.0.1:5432 (user postgres),
fills it with finalized invoices (3/4 with one 19 % group, 1/4 with 19 % + 7 %, 1,000
customers), then measures, each in a fresh child process:

* **writer**: ``invoicing.exports.datev_db.export_datev`` (server-side cursor through
  SQLAlchemy, booking rules, debtor accounts, cp1252 EXTF files split at 99,999 rows, the
  Debitoren file) -> rows/s and peak RSS of the process;
* **raw**: the same SQL through a plain psycopg named cursor into ``csv.writer`` with the same
  125 columns and the same amount/date formatting (no rules, no sanitizing) -> rows/s.

Reports the ratio writer/raw. The database is dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DB = "invoicing_bench_datev"
URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{DB}"
RAW_URL = f"postgresql://postgres@127.0.0.1:5432/{DB}"
ORG = uuid.UUID("00000000-0000-4000-8000-00000000da7e")
SETTINGS = {"consultant_number": 29098, "client_number": 55003}


#: ``domain.numbering.number_key`` of the numbers made below (``RE-2025-`` and seven digits),
#: spelled out in SQL for them: the export orders a day's bookings by ``invoices.number_key``
#: (migration 0029_number_key) and groups a document's rows by that order; checked against
#: the function on a sample after the load (``check_keys``)
NUMBER_KEY = (
    "'RE-042025-' || lpad(length(g::text)::text, 2, '0') || g::text"
    " || CASE WHEN length(g::text) < 7 THEN chr(1) || '0' || chr(48 + 7 - length(g::text))"
    " ELSE '' END"
)


def check_keys(conn: Any) -> None:
    from invoicing.domain.numbering import number_key

    rows = conn.execute(
        "SELECT number, number_key FROM invoices WHERE number IN "
        "(SELECT number FROM invoices ORDER BY number LIMIT 12) "
        "OR abs(hashtext(number)) %% %(every)s = 0",
        {"every": 997},
    ).fetchall()
    wrong = [(n, k) for n, k in rows if k != number_key(n)]
    if not rows or wrong:
        raise RuntimeError(f"NUMBER_KEY is not number_key: {wrong[:5]} (of {len(rows)} checked)")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------------- data


def setup(bookings: int) -> int:
    import psycopg
    from invoicing import db

    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB}"')
    db.migrate(URL)
    mixed = bookings // 8  # 1/8 of invoices x 2 rows = 1/4 of the bookings ...
    single = bookings - 2 * mixed
    invoices = single + mixed
    group19 = (
        "jsonb_build_object('category','standard','code','S','rate','19',"
        "'lines_net',(100+g%%900)::text||'.00','allowance','0.00',"
        "'taxable_amount',(100+g%%900)::text||'.00',"
        "'tax_amount',round((100+g%%900)*0.19,2)::text)"
    )
    group7 = (
        "jsonb_build_object('category','standard','code','S','rate','7',"
        "'lines_net','50.00','allowance','0.00','taxable_amount','50.00',"
        "'tax_amount','3.50')"
    )
    with psycopg.connect(RAW_URL, autocommit=True) as conn:
        conn.execute("ALTER TABLE invoices DISABLE TRIGGER USER")
        conn.execute(
            "INSERT INTO organizations (id, name, profile, created_at, updated_at) "
            "VALUES (%s, 'Bench GmbH', '{}', now(), now())",
            (ORG,),
        )
        conn.execute(
            "INSERT INTO datev_settings (organization_id, settings, version, updated_at) "
            "VALUES (%s, %s, 1, now())",
            (ORG, json.dumps(SETTINGS)),
        )
        conn.execute(
            f"""
            INSERT INTO invoices (organization_id, id, kind, status, number, number_key, issue_date,
              delivery_date, currency, calculate_from_net, locale, customer_id, buyer, tags,
              custom_fields, tax_breakdown, legal_notes, line_net_total, allowance_total,
              net_total, tax_total, gross_total, paid_amount, credited_amount, credit_note_ids,
              overdue, finalized_at, created_at, updated_at, event_sequence)
            SELECT %(org)s, gen_random_uuid(), 'invoice', 'sent',
              'RE-2025-' || lpad(g::text, 7, '0'), {NUMBER_KEY},
              DATE '2025-01-01' + ((g - 1) * 365 / %(n)s),
              DATE '2025-01-01' + ((g - 1) * 365 / %(n)s),
              'EUR', true, 'de',
              ('00000000-0000-4000-8000-' || lpad((g %% 1000)::text, 12, '0'))::uuid,
              jsonb_build_object('name', 'Kunde ' || (g %% 1000) || ' Müller GmbH',
                                 'address', jsonb_build_object('country_code', 'DE',
                                     'city', 'Köln', 'zip_code', '50672',
                                     'street_address', 'Ring ' || (g %% 1000))),
              '[]', '{{}}',
              CASE WHEN g %% 7 = 0 AND g <= %(mixed7)s THEN jsonb_build_array({group19}, {group7})
                   ELSE jsonb_build_array({group19}) END,
              '[]', 0, 0, 0, 0, 0, 0, 0, '[]', false, now(), now(), now(), 1
            FROM generate_series(1, %(n)s) AS g
        """,
            {"org": ORG, "n": invoices, "mixed7": mixed * 7},
        )
        conn.execute("ALTER TABLE invoices ENABLE TRIGGER USER")
        conn.execute("VACUUM ANALYZE invoices")
        check_keys(conn)
        (rows,) = conn.execute(
            "SELECT sum(jsonb_array_length(tax_breakdown)) FROM invoices"
        ).fetchone()  # type: ignore[misc]
    return int(rows)


# ----------------------------------------------------------------------------- phases


def run_writer(out: Path) -> dict[str, float]:
    import datetime as dt

    from invoicing import db
    from invoicing.exports.datev_db import export_datev
    from invoicing.exports.settings import DatevSettings

    engine = db.make_engine(URL, statement_timeout_ms=0)
    settings = DatevSettings.model_validate(SETTINGS)
    start = time.perf_counter()
    with engine.connect() as conn, conn.begin():
        result = export_datev(
            conn,
            ORG,
            settings,
            dt.date(2025, 1, 1),
            dt.date(2025, 12, 31),
            out,
            dt.datetime.now(dt.UTC),
        )
        conn.rollback()  # leave debtor accounts untouched between runs
    elapsed = time.perf_counter() - start
    size = sum(p.stat().st_size for p in out.iterdir())
    return {
        "rows": result.bookings,
        "seconds": elapsed,
        "peak_mb": peak_mb(),
        "files": len(result.files),
        "bytes": size,
    }


RAW_SQL = """
SELECT i.kind, i.number, i.issue_date, i.delivery_date, i.customer_id,
       i.buyer->>'name', b.value->>'category', b.value->>'rate',
       b.value->>'taxable_amount', b.value->>'tax_amount'
FROM invoices i
CROSS JOIN LATERAL jsonb_array_elements(i.tax_breakdown) WITH ORDINALITY AS b(value, n)
WHERE i.organization_id = %s AND i.kind IN ('invoice', 'credit_note')
  AND i.finalized_at IS NOT NULL AND i.number IS NOT NULL AND i.deleted_at IS NULL
  AND i.issue_date >= '2025-01-01' AND i.issue_date <= '2025-12-31'
ORDER BY i.issue_date, i.number_key, b.n
"""


def run_raw(out: Path) -> dict[str, float]:
    import csv
    from decimal import ROUND_HALF_UP, Decimal

    import psycopg

    cent = Decimal("0.01")
    accounts = {"19": "8400", "7": "8300"}
    debtors: dict[object, str] = {}
    start = time.perf_counter()
    rows = 0
    with (
        psycopg.connect(RAW_URL) as conn,
        conn.cursor(name="raw") as cur,
        (out / "raw.csv").open("w", encoding="cp1252", newline="") as fh,
    ):
        cur.itersize = 2000
        writer = csv.writer(
            fh,
            delimiter=";",
            lineterminator="\r\n",
            quoting=csv.QUOTE_NONE,
            quotechar="\x01",
            escapechar="\\",
        )
        cur.execute(RAW_SQL, (ORG,))
        tail = [""] * 109
        for kind, number, issue, delivery, customer, name, _cat, rate, net, tax in cur:
            gross = (Decimal(net) + Decimal(tax)).quantize(cent, ROUND_HALF_UP)
            konto = debtors.get(customer)
            if konto is None:
                konto = debtors[customer] = str(10000 + len(debtors))
            writer.writerow(
                [
                    str(gross).replace(".", ","),
                    '"H"' if kind == "credit_note" else '"S"',
                    '"EUR"',
                    "",
                    "",
                    "",
                    konto,
                    accounts[rate],
                    '""',
                    f"{issue.day:02d}{issue.month:02d}",
                    f'"{number}"',
                    '""',
                    "",
                    f'"{number} {name}"',
                    *tail[:99],
                    "0",
                    f"{delivery.day:02d}{delivery.month:02d}{delivery.year}",
                    f"{delivery.day:02d}{delivery.month:02d}{delivery.year}",
                    *tail[:9],
                ]
            )
            rows += 1
    return {"rows": rows, "seconds": time.perf_counter() - start, "peak_mb": peak_mb()}


def child(phase: str) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", phase], capture_output=True, text=True, check=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bookings", type=int, default=1_000_000)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--child", choices=["writer", "raw"])
    args = ap.parse_args()
    if args.child:
        import logging

        logging.disable(logging.CRITICAL)
        with TemporaryDirectory() as tmp:
            fn = run_writer if args.child == "writer" else run_raw
            print(json.dumps(fn(Path(tmp))))
        return
    t0 = time.perf_counter()
    total = setup(args.bookings)
    print(f"setup: {total:,} bookings in {time.perf_counter() - t0:.1f} s")
    try:
        raw = child("raw")
        writer = child("writer")
        raw2 = child("raw")  # the raw limit again, after the writer (cache effects)
        best_raw = max(raw["rows"] / raw["seconds"], raw2["rows"] / raw2["seconds"])
        w_rate = writer["rows"] / writer["seconds"]
        assert writer["rows"] == raw["rows"] == total, (writer, raw, total)
        print(
            f"raw limit (psycopg named cursor -> csv.writer): {best_raw:,.0f} rows/s "
            f"({raw['seconds']:.1f} s / {raw2['seconds']:.1f} s), peak {raw['peak_mb']:.0f} MB"
        )
        print(
            f"streaming writer (export_datev):               {w_rate:,.0f} rows/s "
            f"({writer['seconds']:.1f} s), peak {writer['peak_mb']:.0f} MB, "
            f"{int(writer['files'])} files, {writer['bytes'] / 1e6:.0f} MB"
        )
        print(
            f"ratio writer/raw: {w_rate / best_raw:.2f} (target >= 0.60); "
            f"peak memory target < 150 MB: {'ok' if writer['peak_mb'] < 150 else 'MISSED'}"
        )
    finally:
        if not args.keep:
            import psycopg

            with psycopg.connect(ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')


if __name__ == "__main__":
    main()
