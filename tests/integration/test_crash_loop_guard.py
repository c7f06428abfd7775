"""The crash-loop guard's attribution with a real ``delivery_attempts`` table.

A worker process is simulated by one ``CrashLoopGuard`` (one ``IsolationGate``); a process
killed by a message is a guard that is dropped without settling what it had started (that is
all a SIGKILL leaves behind: the counter rows, committed before the business transaction).
tests/e2e/test_reliability.py::test_g_poison_messages plays the same with real processes.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from dramatiq import Message
from dramatiq.broker import MessageProxy
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import SkipMessage
from invoicing.workers.delivery import Delivery
from invoicing.workers.middleware import AttemptCounter, CrashLoopGuard, TransientRetry
from invoicing.workers.settings import PipelineSettings
from sqlalchemy import Engine, create_engine, text

MAX_CRASH_ATTEMPTS = 2


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = create_engine(db_url)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def broker() -> Iterator[StubBroker]:
    stub = StubBroker()
    try:
        yield stub
    finally:
        stub.close()


def process(engine: Engine) -> CrashLoopGuard:
    """A fresh worker process's guard (its own isolation gate)."""
    settings = PipelineSettings(
        max_crash_attempts=MAX_CRASH_ATTEMPTS,
        transient_backoff_base_s=0.01,
        transient_backoff_max_s=0.05,
    )
    return CrashLoopGuard(
        settings, AttemptCounter(engine), TransientRetry(settings, threading.Event())
    )


def command() -> bytes:
    return json.dumps(
        {
            "type": "create_invoice",
            "command_id": str(uuid.uuid4()),
            "organization_id": str(uuid.uuid4()),
            "payload": {},
        }
    ).encode()


def redelivery(body: bytes) -> MessageProxy:
    transport: dict[str, Any] = {"queue": "invoicing.commands", "headers": {}, "redelivered": True}
    return MessageProxy(
        Message(
            queue_name="invoicing.commands",
            actor_name="handle_commands",
            args=(Delivery.of(body, transport),),
            kwargs={},
            options={},
        )
    )


def start(guard: CrashLoopGuard, broker: StubBroker, body: bytes) -> Delivery:
    """The guard's ``before`` for a redelivery of ``body``; the delivery (``dead`` is set when
    the guard dead-lettered it instead of letting it run)."""
    message = redelivery(body)
    delivery = message.args[0]
    try:
        guard.before_process_message(broker, message)
    except SkipMessage:
        assert delivery.dead is not None
    return delivery


def attempts(engine: Engine, body: bytes) -> int:
    with engine.connect() as conn:
        value = conn.execute(
            text("SELECT attempts FROM delivery_attempts WHERE message_key = :k"),
            {"k": hashlib.sha256(body).hexdigest()},
        ).scalar()
    return int(value or 0)


def test_a_message_waiting_behind_an_isolated_crasher_is_not_taken_for_the_culprit(
    engine: Engine, broker: StubBroker
) -> None:
    """The culprit kills every process it starts in; a bystander is in flight in the same
    process each time. Both are counted while they run side by side (two kills); then the
    culprit runs alone and the bystander waits at the gate for its own turn alone -- and the
    process dies before that turn. On the next start the culprit is dead-lettered ("crash
    loop"), and the bystander, which never ran alone, must run alone, not be dead-lettered."""
    culprit, bystander = command(), command()
    for _kill in range(MAX_CRASH_ATTEMPTS):  # side by side, both counted, the process dies
        guard = process(engine)
        assert start(guard, broker, culprit).dead is None
        assert start(guard, broker, bystander).dead is None
        # SIGKILL: nothing settles; the guard (the process) is gone
    assert attempts(engine, culprit) == attempts(engine, bystander) == MAX_CRASH_ATTEMPTS

    guard = process(engine)
    assert start(guard, broker, culprit).dead is None  # runs alone now
    assert guard.gate.exclusive
    waiting: list[Delivery] = []
    thread = threading.Thread(
        target=lambda: waiting.append(start(guard, broker, bystander)), daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while guard.gate.waiting < 1:  # the bystander waits for its turn alone
        assert time.monotonic() < deadline, "the bystander never reached the gate"
        time.sleep(0.01)
    # the culprit kills the process while the bystander still waits: the bystander never ran
    assert attempts(engine, bystander) == MAX_CRASH_ATTEMPTS

    after = process(engine)
    dead = start(after, broker, culprit)
    assert dead.dead is not None and dead.dead[0] == "crash_loop"
    after.after_skip_message(broker, redelivery(culprit))
    survivor_message = redelivery(bystander)
    survivor = survivor_message.args[0]
    after.before_process_message(broker, survivor_message)  # no SkipMessage: it runs
    assert survivor.dead is None
    assert after.gate.exclusive  # alone in its process: a crash now would be its own
    after.after_process_message(broker, survivor_message)
    assert attempts(engine, bystander) == 0  # done: its counter is forgotten

    guard.gate.release_exclusive()  # let the dead process's waiting thread end
    thread.join(10)


def test_a_message_that_dies_alone_is_dead_lettered_after_the_same_starts(
    engine: Engine, broker: StubBroker
) -> None:
    """The culprit alone: counted starts 1 .. MAX side by side, MAX + 1 alone; the next start
    is dead-lettered without running."""
    culprit = command()
    for n in range(1, MAX_CRASH_ATTEMPTS + 2):
        guard = process(engine)
        assert start(guard, broker, culprit).dead is None
        assert guard.gate.exclusive == (n > MAX_CRASH_ATTEMPTS)
        assert attempts(engine, culprit) == n
    dead = start(process(engine), broker, culprit)
    assert dead.dead is not None and dead.dead[0] == "crash_loop"
    assert "alone" in dead.dead[1]


class DyingCounter(AttemptCounter):
    """The counter of a process that the culprit kills the moment it starts there: after the
    culprit's start is counted, nothing of that process reaches the database any more (a
    SIGKILL). ``forget`` first gives a culprit that the gate let in the time to do so."""

    def __init__(self, engine: Engine, culprit: bytes, grace_s: float = 1.0) -> None:
        super().__init__(engine)
        self.culprit = hashlib.sha256(culprit).hexdigest()
        self.grace_s = grace_s
        self.killed = threading.Event()

    def bump(self, key: str) -> int:
        if self.killed.is_set():
            raise RuntimeError("this process is dead")
        value = super().bump(key)
        if key == self.culprit:
            self.killed.set()
        return value

    def forget(self, key: str) -> None:
        self.killed.wait(self.grace_s)
        if not self.killed.is_set():
            super().forget(key)


def test_a_message_that_ran_alone_and_finished_is_forgotten_before_the_next_one_runs_alone(
    engine: Engine, broker: StubBroker
) -> None:
    """Both messages were counted side by side until each is due to run alone. The bystander
    runs alone and finishes; the culprit waits for its turn and kills the process as soon as
    it starts. The bystander's counter must be gone before the gate lets the culprit in: else
    the bystander looks as if it had died alone and is dead-lettered at its next start."""
    culprit, bystander = command(), command()
    for _kill in range(MAX_CRASH_ATTEMPTS):
        guard = process(engine)
        assert start(guard, broker, culprit).dead is None
        assert start(guard, broker, bystander).dead is None

    counter = DyingCounter(engine, culprit)
    guard = process(engine)
    guard.counter = counter
    message = redelivery(bystander)
    guard.before_process_message(broker, message)  # alone in its process
    assert guard.gate.exclusive
    thread = threading.Thread(target=start, args=(guard, broker, culprit), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while guard.gate.waiting < 1:  # the culprit waits for its turn alone
        assert time.monotonic() < deadline, "the culprit never reached the gate"
        time.sleep(0.01)
    guard.after_process_message(broker, message)  # the bystander is done: its counter goes
    thread.join(10)
    assert counter.killed.is_set()  # the culprit ran (alone) and killed the process

    after = process(engine)
    assert start(after, broker, culprit).dead is not None
    survivor = start(after, broker, bystander)
    assert survivor.dead is None  # a redelivery (its ack was lost): it runs, a duplicate
