"""CPU per command of the in-process pipeline, with an optional profile.

    python benchmarks/cpu_profile.py --commands 2000 [--pg] [--batch 100] [--profile out.prof]
    python benchmarks/cpu_profile.py --commands 400 --pg --instructions [--grouped]

Runs the same loop as ``invoicing process`` (``bootstrap.local()``, ``Bulk.run`` over groups
of ``--batch`` lines as ``invoicing process --batch`` does, the deliverer's check, the events
printed as JSON) over create/finalize pairs of the pipeline benchmark, after a warm-up of 50
pairs (``--grouped``: every create first, then every finalize, so that finalizes share
batches of their own, as in the workers' numbering lane), and prints the process time (CPU
seconds of this process, robust against other load on the machine) per command. ``--pg`` uses
a fresh PostgreSQL database on 127.0.0.1 (dropped afterwards), else a fresh SQLite file.

``--instructions`` counts instead the machine instructions this process executes per command
(valgrind's callgrind, instrumenting only the measured loop: the run starts uninstrumented and
``callgrind_control`` switches counting on and off around the loop). Unlike CPU time the count
does not depend on the host's speed or on other load: the same code and inputs give the same
count to about 0.2 %, so two builds can be compared on a noisy host in one run each (about a
minute for 400 commands). It counts only this process (PostgreSQL's work is not in it) and the
hash seed is fixed (``PYTHONHASHSEED=0``) for repeatable dict and set layouts.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.e2e.harness import PG_ADMIN, SECRET, Org


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commands", type=int, default=2000)
    parser.add_argument("--pg", action="store_true")
    parser.add_argument("--batch", type=int, default=100, help="as invoicing process --batch")
    parser.add_argument("--profile", default="")
    parser.add_argument(
        "--grouped",
        action="store_true",
        help="every create first, then every finalize (batches of finalizes alone, as the "
        "workers' numbering lane runs them) instead of create/finalize pairs",
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="instructions per command under valgrind's callgrind instead of CPU time",
    )
    parser.add_argument("--counting", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.instructions:
        count_instructions(args.commands)
        return
    org = Org()
    warm = [org.configure(), org.create_customer()]
    for _ in range(50):
        inv = str(uuid.uuid4())
        warm += [org.create_invoice(inv), org.finalize(inv)]
    creates, finalizes = [], []
    for _ in range(args.commands // 2):
        inv = str(uuid.uuid4())
        creates.append(json.dumps(org.create_invoice(inv)))
        finalizes.append(json.dumps(org.finalize(inv)))
    if args.grouped:
        body = [*creates, *finalizes]
    else:
        body = [line for pair in zip(creates, finalizes, strict=True) for line in pair]
    tmp = tempfile.mkdtemp()
    db_name = f"cpu_profile_{uuid.uuid4().hex[:8]}"
    if args.pg:
        with psycopg.connect(PG_ADMIN, autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{db_name}"')
        url = f"postgresql://postgres@127.0.0.1:5432/{db_name}"
    else:
        url = f"sqlite:///{tmp}/cpu.sqlite3"
    os.environ.update(
        DATABASE_URL=url,
        INVOICING_JWT_SECRET=SECRET,
        INVOICING_LOG_LEVEL="WARNING",
        INVOICING_DATA_DIR=tmp,
    )
    try:
        if args.pg:
            from invoicing import db

            db.migrate(url)
        from invoicing import bootstrap
        from invoicing.pipeline import Outcome
        from invoicing.pipeline.bulk import Bulk
        from invoicing.workers import gc_pauses

        application = bootstrap.local()
        gc_pauses.settle()  # as invoicing process does
        bulk = Bulk(application.pipeline, args.batch)
        out = open(os.devnull, "w")  # noqa: SIM115

        def run(lines: list[str]) -> dict[str, int]:
            counts: dict[str, int] = {}
            for start in range(0, len(lines), args.batch):
                for outcome in bulk.run(lines[start : start + args.batch]):
                    assert isinstance(outcome, Outcome), outcome
                    counts[outcome.status] = counts.get(outcome.status, 0) + 1
                    application.deliverer.may_schedule(outcome.command_type)
                    for event in outcome.events:
                        out.write(json.dumps(event, ensure_ascii=False) + "\n")
            return counts

        run([json.dumps(c) for c in warm])
        profiler = cProfile.Profile(time.process_time) if args.profile else None
        if args.counting:  # under callgrind: count the measured loop only
            callgrind("on")
        t0, w0 = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        counts = run(body)
        if profiler:
            profiler.disable()
        if args.counting:
            callgrind("off")
        cpu, wall = time.process_time() - t0, time.perf_counter() - w0
        print(
            f"{'postgresql' if args.pg else 'sqlite'}: {counts} "
            f"CPU {cpu / len(body) * 1000:.3f} ms/command, wall {wall / len(body) * 1000:.3f} ms"
        )
        if profiler:
            profiler.dump_stats(args.profile)
            pstats.Stats(args.profile).sort_stats("cumulative").print_stats(60)
    finally:
        if args.pg:
            with psycopg.connect(PG_ADMIN, autocommit=True) as db:
                db.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


def callgrind(state: str) -> None:
    """Switch callgrind's counting of this process ``on`` or ``off`` (``callgrind_control
    -i``), or with ``state`` ``"dump"`` write the counts so far to a file of their own and
    start again from zero."""
    flags = ["-d"] if state == "dump" else ["-i", state]
    subprocess.run(["callgrind_control", *flags, str(os.getpid())], check=True, capture_output=True)


def under_callgrind(script: str, argv: list[str]) -> tuple[str, Path]:
    """Run ``script`` with ``argv`` under callgrind, counting nothing until it switches
    counting on (:func:`callgrind`); its standard output and the output file's path. The hash
    seed is fixed for repeatable dict and set layouts."""
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("--instructions needs valgrind: apt-get install valgrind")
    out = Path(tempfile.mkdtemp()) / "callgrind.out"
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}",
            sys.executable,
            script,
            *argv,
        ],
        env={**os.environ, "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0 or "Collected : " not in done.stderr:
        raise SystemExit(f"callgrind run failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done.stdout, out


def count_instructions(commands: int) -> None:
    """This script again under callgrind (``--counting``), and its count per command."""
    argv = [a for a in sys.argv[1:] if a != "--instructions"]
    stdout, out = under_callgrind(__file__, [*argv, "--counting"])
    found = re.search(r"^totals: (\d+)", out.read_text(), re.MULTILINE)
    if found is None:
        raise SystemExit(f"no totals in {out}")
    print(stdout.strip())
    total = int(found.group(1))
    print(f"instructions: {total:,} in {commands} commands, {total / commands:,.0f} a command")
    print(f"callgrind profile (callgrind_annotate): {out}")


if __name__ == "__main__":
    main()
