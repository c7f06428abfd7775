"""The worker's building blocks without I/O: the shared backoff, ``peek`` on any body, the
delivery's printable form, the metrics hook, and that only dramatiq's public API is used."""

from __future__ import annotations

import ast
import json
import random
import re
import threading
from pathlib import Path

import dramatiq
import pytest
from dramatiq import MessageProxy
from invoicing.pipeline import Outcome
from invoicing.workers import metrics
from invoicing.workers.backoff import Backoff, backoff_s
from invoicing.workers.delivery import Delivery, Poison, error_text, peek
from invoicing.workers.middleware import Metrics
from prometheus_client import REGISTRY

WORKERS = Path(__file__).resolve().parents[2] / "src" / "workers"
SECRET_TOKEN = "eyJhbGciOiJIUzI1NiJ9.SECRET-TOKEN-MARKER.sig"

DEEP = b"[" * 10_000 + b"]" * 10_000
DEEP_OBJECT = b'{"a":' * 10_000 + b"1" + b"}" * 10_000


# --------------------------------------------------------------------------- backoff


def test_backoff_grows_exponentially_with_jitter_and_stays_under_the_cap() -> None:
    random.seed(7)
    for attempt in range(1, 40):
        ceiling = min(10.0, 0.2 * 2 ** (attempt - 1))
        waits = [backoff_s(attempt, 0.2, 10.0) for _ in range(200)]
        assert all(ceiling * 0.5 <= w <= ceiling for w in waits), attempt
    assert backoff_s(10_000, 0.2, 10.0) <= 10.0  # no overflow however long an outage lasts
    assert backoff_s(0, 0.2, 10.0) <= 0.2  # attempt numbers below 1 count as the first


def test_backoff_counts_attempts_resets_and_stops_early() -> None:
    b = Backoff(1.0, 8.0)
    assert [round(min(8.0, 2 ** (n - 1)), 1) >= b.next_s() for n in range(1, 6)] == [True] * 5
    assert b.attempt == 5
    b.reset()
    assert b.attempt == 0 and b.next_s() <= 1.0
    stop = threading.Event()
    stop.set()
    assert Backoff(60.0, 60.0).wait(stop) is True  # returns at once when stopping


def test_every_retry_loop_in_the_workers_uses_the_shared_backoff() -> None:
    """No hand-rolled doubling or fixed sleeps left in src/workers (the issue counted six)."""
    offenders = []
    for path in sorted(WORKERS.glob("*.py")):
        if path.name == "backoff.py":
            continue
        source = path.read_text()
        for needle in ("backoff * 2", "2**attempt", "2 ** attempt", "time.sleep(", "random."):
            if needle in source:
                offenders.append(f"{path.name}: {needle}")
    assert not offenders, offenders


# --------------------------------------------------------------------------- peek


@pytest.mark.parametrize(
    "body",
    [
        DEEP,
        DEEP_OBJECT,
        b"\x00\xff\xfe binary \x80",
        "Grüße".encode("latin-1"),
        b"this is not json {",
        b"",
        b"[1, 2, 3]",
        b'{"command_id": "\\ud800", "type": 7}',
        b'{"type": "' + b"x" * 5_000_000 + b'"}',
    ],
    ids=[
        "deep-array",
        "deep-object",
        "binary",
        "latin-1",
        "not-json",
        "empty",
        "array",
        "surrogate",
        "huge",
    ],
)
def test_peek_never_raises(body: bytes) -> None:
    ident = peek(body)
    assert isinstance(ident, dict)
    assert all(len(v) <= 200 for v in ident.values())


def test_peek_reads_the_identity_of_a_command() -> None:
    doc = {
        "type": "finalize_invoice",
        "command_id": "c1",
        "organization_id": "o1",
        "payload": {"invoice_id": "i1"},
        "credentials": {"token": SECRET_TOKEN},
    }
    assert peek(json.dumps(doc).encode()) == {
        "type": "finalize_invoice",
        "command_id": "c1",
        "organization_id": "o1",
        "invoice_id": "i1",
    }


def test_a_delivery_prints_as_its_id_never_its_body() -> None:
    body = json.dumps({"type": "create_invoice", "credentials": {"token": SECRET_TOKEN}}).encode()
    d = Delivery.of(body, {"queue": "invoicing.commands", "message_id": "m-1"})
    message: dramatiq.Message[None] = dramatiq.Message(
        queue_name="invoicing.commands",
        actor_name="handle_commands",
        args=(d,),
        kwargs={},
        options={},
    )
    # dramatiq's own log lines print messages (and Actor.__call__ its args) with %s / %r
    for text in (str(d), repr(d), str(message), repr(message), repr(message.args)):
        assert SECRET_TOKEN not in text and "create_invoice" not in text
        assert "m-1" in text or "Delivery" in text


def test_the_actor_step_records_instead_of_raising() -> None:
    d = Delivery.of(b"{}", {"queue": "q"})

    def boom(_: Delivery) -> None:
        raise RuntimeError("bug")

    d.run(boom)
    assert isinstance(d.error, RuntimeError) and d.result is None
    d.run(lambda _: "answered")
    assert d.error is None and d.result == "answered"


def test_error_text_keeps_only_the_first_line() -> None:
    exc = ValueError('boom\n[SQL: INSERT ...]\n[parameters: {"token": "' + SECRET_TOKEN + '"}]')
    assert error_text(exc) == "ValueError: boom"


# --------------------------------------------------------------------------- metrics


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _finish(d: Delivery) -> None:
    message: dramatiq.Message[None] = dramatiq.Message(
        queue_name="invoicing.commands", actor_name="a", args=(d,), kwargs={}, options={}
    )
    proxy = MessageProxy(message)
    hook = Metrics()
    hook.before_process_message(None, proxy)  # type: ignore[arg-type]
    hook.after_process_message(None, proxy)  # type: ignore[arg-type]


def test_metrics_hook_counts_outcomes_durations_and_dead_letters() -> None:
    applied = ("finalize_invoice", "applied")
    before = _sample("invoicing_commands_total", {"type": applied[0], "outcome": applied[1]})
    hist = _sample("invoicing_command_duration_seconds_count", {"type": "finalize_invoice"})
    d = Delivery.of(b'{"type": "finalize_invoice"}', {"queue": "invoicing.commands"})
    d.record(result=Outcome("applied"))
    _finish(d)
    assert (
        _sample("invoicing_commands_total", {"type": "finalize_invoice", "outcome": "applied"})
        == before + 1
    )
    assert (
        _sample("invoicing_command_duration_seconds_count", {"type": "finalize_invoice"})
        == hist + 1
    )

    dead = _sample("invoicing_dead_letters_total", {"reason": "undecodable"})
    unknown = _sample("invoicing_commands_total", {"type": "unknown", "outcome": "dead"})
    d = Delivery.of(b'{"type": "' + b"made-up" * 10 + b'"}', {"queue": "invoicing.commands"})
    d.dead, d.outcome = ("undecodable", "undecodable: not JSON"), "dead"
    _finish(d)
    assert _sample("invoicing_dead_letters_total", {"reason": "undecodable"}) == dead + 1
    # a type nobody knows is one label value, however many a sender makes up
    assert _sample("invoicing_commands_total", {"type": "unknown", "outcome": "dead"}) == (
        unknown + 1
    )

    requeued = _sample("invoicing_commands_total", {"type": "unknown", "outcome": "requeued"})
    d = Delivery.of(DEEP, {"queue": "invoicing.commands"})
    d.requeue = "shutting down"
    _finish(d)
    assert (
        _sample("invoicing_commands_total", {"type": "unknown", "outcome": "requeued"})
        == requeued + 1
    )


def test_metric_names_and_labels() -> None:
    assert metrics.type_label("send_invoice") == "send_invoice"
    assert metrics.type_label("list_invoices") == "list_invoices"  # a query type
    assert metrics.type_label("x" * 1000) == "unknown" and metrics.type_label(None) == "unknown"
    names = {m.name for m in REGISTRY.collect()}
    assert {
        "invoicing_commands",
        "invoicing_command_duration_seconds",
        "invoicing_transient_retries",
        "invoicing_dead_letters",
    } <= names
    assert Poison("no_reply_to", "why").kind == "no_reply_to"


# --------------------------------------------------------------------------- dramatiq API


def test_fault_injection_lives_only_in_the_test_tree() -> None:
    src = WORKERS.parent
    assert not (WORKERS / "faults.py").exists()
    for path in src.rglob("*.py"):
        text = path.read_text()
        assert "INVOICING_FAULTS" not in text and not re.search(r"\bfaults\b", text), path


def test_a_delivery_reads_its_identity_on_first_use() -> None:
    d = Delivery.of(b'{"type": "void_invoice", "command_id": "c"}', {"queue": "q"})
    assert d._ident is None  # the consumer thread only wraps the bytes
    assert d.ident == {"type": "void_invoice", "command_id": "c"}


def test_only_public_dramatiq_api_is_used() -> None:
    """No ``_private`` dramatiq name is imported or reached into anywhere in src/."""
    src = WORKERS.parent
    found = []
    for path in sorted(src.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dramatiq"):
                found += [
                    f"{path.name}: {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_")
                ]
                if any(part.startswith("_") for part in (node.module or "").split(".")):
                    found.append(f"{path.name}: {node.module}")
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "dramatiq"
                and node.attr.startswith("_")
            ):
                found.append(f"{path.name}: dramatiq.{node.attr}")
    assert not found, found
