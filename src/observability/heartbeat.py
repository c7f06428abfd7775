"""Liveness by heartbeat: a process proves it still makes progress by touching a file.

Each process beats into ``<heartbeat_dir>/<role>-<pid>.beat`` from a daemon thread every
``heartbeat_interval_s``, but only while no tracked piece of work (``Heartbeat.track()``, one
command) has been running longer than ``heartbeat_stuck_after_s``: a worker stuck in a command
stops beating and ``invoicing health --liveness`` fails, so the orchestrator restarts it. A
broker or database outage stops no beat (the process is waiting, not stuck), so it never
restarts every worker at once; readiness (``invoicing health``) reports those instead.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from invoicing.observability.settings import ObservabilitySettings


class Heartbeat:
    def __init__(self, role: str, settings: ObservabilitySettings | None = None) -> None:
        self.settings = settings or ObservabilitySettings()
        self.role = role
        self.path = self.settings.heartbeat_dir / f"{role}-{os.getpid()}.beat"
        self._lock = threading.Lock()
        self._running: dict[int, float] = {}
        self._next = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def begin(self) -> int:
        """Mark the start of one piece of work; pass the key to :meth:`end`."""
        with self._lock:
            key = self._next
            self._next += 1
            self._running[key] = time.monotonic()
            return key

    def end(self, key: int) -> None:
        with self._lock:
            self._running.pop(key, None)

    @contextmanager
    def track(self) -> Iterator[None]:
        """One piece of work; while it runs past ``stuck_after_s`` no beat is written."""
        key = self.begin()
        try:
            yield
        finally:
            self.end(key)

    def stuck(self) -> bool:
        limit = time.monotonic() - self.settings.heartbeat_stuck_after_s
        with self._lock:
            return any(started < limit for started in self._running.values())

    def beat(self) -> bool:
        """Touch the file unless stuck; True when it beat."""
        if self.stuck():
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()
        os.utime(self.path)
        return True

    def start(self) -> Heartbeat:
        self.beat()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.settings.heartbeat_interval_s):
            # a full or read-only disk must not kill the process
            with contextlib.suppress(OSError):
                self.beat()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.path.unlink(missing_ok=True)


@dataclass(frozen=True)
class Beat:
    path: Path
    role: str
    pid: int
    age_s: float
    alive: bool


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_beats(directory: Path, role: str | None = None) -> list[Beat]:
    beats: list[Beat] = []
    if not directory.is_dir():
        return beats
    now = time.time()
    for path in sorted(directory.glob("*.beat")):
        name, _, pid_text = path.stem.rpartition("-")
        if not pid_text.isdigit() or (role is not None and name != role):
            continue
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:
            continue
        beats.append(Beat(path, name, int(pid_text), age, _pid_alive(int(pid_text))))
    return beats


def liveness(
    settings: ObservabilitySettings | None = None, role: str | None = None
) -> tuple[bool, list[str]]:
    """(alive, one line per process). Alive: at least one live process, every live one fresh."""
    settings = settings or ObservabilitySettings()
    beats = [b for b in read_beats(settings.heartbeat_dir, role) if b.alive]
    if not beats:
        what = f"{role} " if role else ""
        return False, [f"heartbeat: no live {what}process beats in {settings.heartbeat_dir}"]
    lines, ok = [], True
    for b in beats:
        fresh = b.age_s <= settings.heartbeat_max_age_s
        ok = ok and fresh
        state = "ok" if fresh else f"STALE (limit {settings.heartbeat_max_age_s:.0f} s)"
        lines.append(f"heartbeat {b.role} pid {b.pid}: {state}, last beat {b.age_s:.1f} s ago")
    return ok, lines


_current: Heartbeat | None = None


def start_heartbeat(role: str, settings: ObservabilitySettings | None = None) -> Heartbeat:
    """Start this process's heartbeat (once); ``current()`` returns it for ``track()``."""
    global _current
    if _current is None or _current.path.name != f"{role}-{os.getpid()}.beat":
        _current = Heartbeat(role, settings).start()
    return _current


def current() -> Heartbeat | None:
    return _current


@contextmanager
def tracked() -> Iterator[None]:
    """``with tracked():`` around one command; a no-op where no heartbeat runs."""
    beat = _current
    if beat is None:
        yield
        return
    with beat.track():
        yield
