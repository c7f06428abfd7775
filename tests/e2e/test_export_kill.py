"""Kill -9 of the worker in the middle of a DATEV export, then redelivery (issue 5 point 5).

The worker builds the zip in its scratch directory, stores it (in the export's transaction) and
then blocks on a row lock the test holds on one of the invoices it must mark exported, i.e.
after the file exists and before the commit. It is killed there. The redelivered command must
leave exactly one stored document that passes the DATEV checker and no scratch files, one
export record, one export.completed event naming that document, and each invoice marked once.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg

from tests.e2e.harness import (
    Collector,
    Env,
    Publisher,
    lock_waiters,
    relay,
    setup_org,
    terminate_backends,
    wait_for_topology,
    wait_until,
    worker,
)

CHECKER = Path(__file__).resolve().parents[3] / "shared" / "datev" / "datev_check.py"


def test_worker_killed_mid_export_yields_one_file_and_marks_once(env: Env, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    w = worker(
        env, "--threads", "2", INVOICING_LOCK_TIMEOUT_MS="120000", INVOICING_DATA_DIR=str(data_dir)
    )
    r = relay(env)
    wait_for_topology(env)
    pub, col = Publisher(env), Collector(env)
    org = setup_org(env, pub, col)
    invoices = [str(uuid.uuid4()) for _ in range(3)]
    for inv in invoices:
        pub.send(org.create_invoice(inv))
        pub.send(org.finalize(inv))
    pub.send(
        org.cmd(
            "configure_datev",
            {
                "consultant_number": 29098,
                "client_number": 55003,
                "chart": "SKR03",
                "account_length": 4,
            },
        )
    )
    col.drain(
        lambda ev: (
            len([e for e in ev if e["type"] == "invoice.finalized" and e["subject"] in invoices])
            == 3
        )
    )
    export = org.cmd("export_datev", {"date_from": "2026-11-01", "date_to": "2026-11-30"})
    folder = data_dir / "exports" / org.id
    target = folder / f".datev-{export['command_id']}.parts" / f"datev-{export['command_id']}.zip"
    with psycopg.connect(env.dsn) as locker:
        locker.execute("SELECT 1 FROM invoices WHERE id = %s FOR UPDATE", (invoices[1],))
        pub.send(export)
        # the handler stores the zip (uncommitted) before it marks the invoices: once it waits
        # on the lock, the file was built, stored and its scratch copy removed
        wait_until(lambda: lock_waiters(env) >= 1, 60, "the export blocked after storing its zip")
        assert not target.exists()
        w.kill9()
        terminate_backends(env, "invoicing")
        locker.rollback()
    w.stop()
    assert not env.sql("SELECT 1 FROM export_runs WHERE organization_id = %s", (org.id,))
    assert not env.sql("SELECT 1 FROM documents WHERE organization_id = %s", (org.id,))
    w = worker(env, "--threads", "2", INVOICING_DATA_DIR=str(data_dir))
    col.drain(
        lambda ev: any(
            e["type"] == "export.completed" and e["organizationid"] == org.id for e in ev
        ),
        90,
    )
    w.stop()
    r.stop()
    assert list(folder.iterdir()) == [], "no scratch files left behind"
    stored = env.sql(
        "SELECT id, sha256 FROM documents WHERE organization_id = %s AND export_id = %s",
        (org.id, export["command_id"]),
    )
    assert len(stored) == 1, "one stored file"
    parts = env.sql(
        "SELECT data FROM document_contents WHERE organization_id = %s AND sha256 = %s "
        "ORDER BY part",
        (org.id, stored[0][1]),
    )
    content = b"".join(bytes(p[0]) for p in parts)
    assert hashlib.sha256(content).hexdigest() == stored[0][1]
    runs = env.sql("SELECT count(*) FROM export_runs WHERE organization_id = %s", (org.id,))
    assert runs == [(1,)]
    marks = env.sql(
        "SELECT item_id, count(*) FROM export_marks WHERE organization_id = %s "
        "AND target = 'invoice' GROUP BY item_id",
        (org.id,),
    )
    assert sorted(str(m[0]) for m in marks) == sorted(invoices) and {m[1] for m in marks} == {1}
    completed = env.sql(
        "SELECT count(*) FROM outbox WHERE organization_id = %s AND type = 'export.completed'",
        (org.id,),
    )
    assert completed == [(1,)]
    if CHECKER.is_file():
        import zipfile

        with zipfile.ZipFile(io.BytesIO(content)) as zf:
            names = [n for n in zf.namelist() if n.startswith("EXTF_Buchungsstapel")]
            assert names
            for name in names:
                path = tmp_path / name
                path.write_bytes(zf.read(name))
                result = subprocess.run(
                    [sys.executable, str(CHECKER), str(path), "--strict"],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                assert result.returncode == 0, result.stdout
    print(
        f"\nJEPSEN export.worker-kill-mid-export: lost=0 duplicated=0 unexpected=0 "
        f"recovered=1 files=1 marked={len(marks)}"
    )
