"""Fault injection for the reliability tests: a dramatiq middleware only the test tree has.

The e2e harness starts workers with ``INVOICING_WORKER_MIDDLEWARE=tests.support.faults:
FaultInjection`` (and the repository on ``PYTHONPATH``); the production code never imports
this module. The faults come from ``INVOICING_FAULTS``, a JSON object whose keys are optional
and name command ids (strings)::

    {"kill": [...]}                    the worker SIGKILLs itself when it starts the command
    {"raise": [...]}                   the command fails like a handler bug (RuntimeError)
    {"pause_after_commit": [...], "pause_s": 30}
                                       sleep after the commit, before the ack (kill -9 window)
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any

from dramatiq import Broker, MessageProxy, Middleware
from dramatiq.middleware import SkipMessage
from invoicing.workers.middleware import delivery_of


@dataclass(frozen=True)
class Faults:
    kill: frozenset[str] = field(default_factory=frozenset)
    raise_: frozenset[str] = field(default_factory=frozenset)
    pause_after_commit: frozenset[str] = field(default_factory=frozenset)
    pause_s: float = 30.0

    @classmethod
    def parse(cls, text: str) -> Faults:
        if not text.strip():
            return cls()
        doc = json.loads(text)
        return cls(
            kill=frozenset(map(str, doc.get("kill", []))),
            raise_=frozenset(map(str, doc.get("raise", []))),
            pause_after_commit=frozenset(map(str, doc.get("pause_after_commit", []))),
            pause_s=float(doc.get("pause_s", 30.0)),
        )


class FaultInjection(Middleware):
    """Appended after the policies, so its ``before`` runs last (inside the crash-loop gate)
    and its ``after`` first (right after the actor's commit, before any ack)."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults.parse(os.environ.get("INVOICING_FAULTS", ""))

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        delivery = delivery_of(message)
        command_id = delivery.ident.get("command_id") if delivery else None
        if delivery is None or command_id is None:
            return
        if command_id in self.faults.kill:
            os.kill(os.getpid(), signal.SIGKILL)
        if command_id in self.faults.raise_:
            # what the actor records when its handler raises; the actor does not run
            delivery.record(error=RuntimeError(f"injected handler fault for {command_id}"))
            raise SkipMessage()

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        delivery = delivery_of(message)
        command_id = delivery.ident.get("command_id") if delivery else None
        if command_id is not None and command_id in self.faults.pause_after_commit:
            time.sleep(self.faults.pause_s)
