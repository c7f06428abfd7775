"""The ONE backoff of ``src/workers``: capped exponential with jitter.

Every loop that waits before trying again -- the transient retry of a command, a confirmed
publish, the query reply, the relay's and the dead-letter archive's reconnects and stores, the
supervisor restarting a worker process -- asks this module how long to wait. One policy, one
pair of settings (``INVOICING_TRANSIENT_BACKOFF_BASE_S`` / ``_MAX_S``), one test.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

#: attempts past this add nothing (the cap is reached long before): keeps 2**n finite
_MAX_EXPONENT = 30


def backoff_s(attempt: int, base_s: float, max_s: float) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based).

    ``min(max_s, base_s * 2**(attempt-1))`` scaled by a jitter in [0.5, 1.0], so that many
    workers hitting the same outage do not retry in lockstep and no wait exceeds ``max_s``.
    """
    exponent = min(max(attempt, 1) - 1, _MAX_EXPONENT)
    ceiling: float = min(max_s, base_s * 2.0**exponent)
    jitter: float = random.uniform(0.5, 1.0)  # noqa: S311  (jitter, not cryptography)
    return ceiling * jitter


@dataclass
class Backoff:
    """An attempt counter over :func:`backoff_s` for one retry loop."""

    base_s: float
    max_s: float
    attempt: int = 0

    def next_s(self) -> float:
        """Count one more failed attempt; the seconds to wait before the next one."""
        self.attempt += 1
        return backoff_s(self.attempt, self.base_s, self.max_s)

    def reset(self) -> None:
        """The operation succeeded: the next failure starts from the base delay again."""
        self.attempt = 0

    def wait(self, stop: threading.Event) -> bool:
        """Wait the next delay; True when ``stop`` was set meanwhile (give up)."""
        return stop.wait(self.next_s())
