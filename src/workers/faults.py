"""Fault injection for the reliability tests, switched on only by ``INVOICING_FAULTS``.

A JSON object; every key is optional and names command ids (strings)::

    {"kill": [...]}                    the worker SIGKILLs itself when it starts the command
    {"raise": [...]}                   the handler step raises RuntimeError (a "handler bug")
    {"pause_after_commit": [...], "pause_s": 30}
                                       sleep after the commit, before the ack (kill -9 window)

Production never sets it; with it unset every check below is a dictionary lookup on an empty
set.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass, field


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

    def before(self, command_id: str | None) -> None:
        if command_id is None:
            return
        if command_id in self.kill:
            os.kill(os.getpid(), signal.SIGKILL)
        if command_id in self.raise_:
            raise RuntimeError(f"injected handler fault for {command_id}")

    def after_commit(self, command_id: str | None) -> None:
        if command_id is not None and command_id in self.pause_after_commit:
            time.sleep(self.pause_s)
