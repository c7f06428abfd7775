"""structlog: JSON lines when not on a terminal, readable lines on one; always to stderr.

No log line carries credentials or whole message bodies: ``redact`` (a structlog processor)
and ``RedactingFilter`` (on the standard library's handlers: dramatiq, pika, alembic ...) blank
values under sensitive keys (token, credentials, authorization, password, secret ...), mask
signed tokens, bearer/basic credentials and passwords in URLs wherever they appear in a text
(exception messages and tracebacks included), and withhold body-sized values.

Two paths, one format:

* structlog's own lines (``structlog.get_logger``) are rendered by structlog and written with
  one ``write()`` per line (several worker processes share stderr; lines must not interleave).
* records of the standard library's ``logging`` (dramatiq, pika, alembic, uvicorn, ...) go
  through the root handler, whose ``structlog.stdlib.ProcessorFormatter`` runs the same
  processors (``redact`` included), so they are JSON lines too, with the same bound context
  (command id, type, organization) when they happen inside a command.

Other modules add processors with :func:`add_processor`; they run on both paths, after
``redact`` and before the renderer.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog
from structlog.typing import Processor

#: a value longer than this is no log field but a message body (or part of one)
MAX_VALUE_CHARS = 1000
#: kept of a withheld value, after masking, to tell what it was
KEPT_CHARS = 160
#: a traceback may be long, but none of its lines body-sized
MAX_TRACEBACK_CHARS = 20_000
MAX_TRACEBACK_LINE_CHARS = 600

REDACTED = "[redacted]"

_SENSITIVE_KEY = re.compile(
    r"token|credential|authori[sz]ation|password|passwd|secret|api[_-]?key|cookie|jwt",
    re.IGNORECASE,
)
_MASKS: list[tuple[re.Pattern[str], str]] = [
    # a JWT (header.payload.signature, base64url): "eyJ" is '{"' encoded
    (re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), "[redacted token]"),
    # Authorization header values
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 [redacted]"),
    # "token": "...", password=..., secret: ... in any text (JSON, repr, query strings)
    (
        re.compile(
            r"""(?ix)
            ((?:token|password|passwd|secret|authorization|api[_-]?key|jwt)
             ["']?\s*[:=]\s*["']?)
            [^"'\s,;}&)]+"""
        ),
        r"\1" + REDACTED,
    ),
    # user:password@ in URLs (amqp://, postgresql://, smtp://)
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/\s@]*:)[^@\s/]+@"), r"\1" + REDACTED + "@"),
]


#: every mask above needs one of these in the text (a JWT's "eyJ", "bearer"/"basic", a sensitive
#: key's name, a URL's "://"): a text without any is left as it is in one search instead of
#: four substitutions (most values of a line: ids, names, statuses, numbers as text);
#: tests/unit/test_log_masks.py checks that the gate never changes an outcome
_MAY_HOLD_SECRETS = re.compile(
    r"eyJ|bearer|basic|token|passw|secret|authori[sz]ation|api[_-]?key|jwt|://", re.IGNORECASE
)


class bound:  # a lower-case name: used as ``with logs.bound(...)``, like structlog's
    """Bind ``kw`` to the context-local log context meanwhile, then set each key back to what
    it was (bound or not): ``structlog.contextvars.bound_contextvars`` through structlog's
    token API (``bind_contextvars`` returns the tokens, ``reset_contextvars`` takes them).
    structlog's own helper reads the whole context first (a copy of every context variable)
    and unbinds and binds again at the end; a command passes through four of these blocks,
    4 % of the workers' samples in a drain (docs/pipeline.md, session 21)."""

    __slots__ = ("_kw", "_tokens")

    def __init__(self, **kw: Any) -> None:
        self._kw = kw
        self._tokens: Mapping[str, Any] = {}

    def __enter__(self) -> None:
        self._tokens = structlog.contextvars.bind_contextvars(**self._kw)

    def __exit__(self, *exc: object) -> None:
        structlog.contextvars.reset_contextvars(**self._tokens)


def mask(text: str) -> str:
    """``text`` with signed tokens, bearer credentials and passwords masked."""
    if _MAY_HOLD_SECRETS.search(text) is None:
        return text
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


def clip(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """Masked; a body-sized text is withheld but for its beginning."""
    text = mask(text)
    if len(text) <= limit:
        return text
    return f"{text[:KEPT_CHARS]}... [{len(text) - KEPT_CHARS} characters withheld]"


def clip_traceback(text: str) -> str:
    lines = [clip(line, MAX_TRACEBACK_LINE_CHARS) for line in text.splitlines()]
    out = "\n".join(lines)
    if len(out) > MAX_TRACEBACK_CHARS:
        out = out[-MAX_TRACEBACK_CHARS:]  # the end says what failed
    return out


def _clean(key: str, value: Any, depth: int = 0) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if _SENSITIVE_KEY.search(key):
        return REDACTED
    if isinstance(value, bytes | bytearray | memoryview):
        return f"[{len(value)} bytes withheld]"
    if isinstance(value, str):
        return clip(value)
    if depth >= 4:
        return clip(repr(value))
    if isinstance(value, Mapping):
        return {str(k): _clean(str(k), v, depth + 1) for k, v in list(value.items())[:50]}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(key, v, depth + 1) for v in list(value)[:50]]
    return clip(str(value))


def redact(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor (after ``format_exc_info``): see the module docstring."""
    for key, value in list(event_dict.items()):
        if key in ("exception", "stack") and isinstance(value, str):
            event_dict[key] = clip_traceback(value)
        else:
            event_dict[key] = _clean(key, value)
    return event_dict


class RedactingFilter(logging.Filter):
    """The same for records of the standard library's logging (message, args, traceback)."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what there is
            message = str(record.msg)
        record.msg, record.args = clip(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = clip_traceback(record.exc_text)
        if record.stack_info:
            record.stack_info = clip_traceback(record.stack_info)
        return True


def install_filter(logger: logging.Logger | None = None) -> None:
    """Put a ``RedactingFilter`` on every handler of ``logger`` (default: the root logger)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


#: extra processors, run on every line (both paths) after ``redact``, before the renderer
EXTRA_PROCESSORS: list[Processor] = []

#: libraries whose INFO lines are chatter (pika logs every connection step)
_QUIET = {"pika": logging.WARNING}


class _AlembicBoilerplate(logging.Filter):
    """Drops the two lines alembic logs on every run, migrations or none ("Context impl
    SQLiteImpl.", "Will assume non-transactional DDL."): every CLI call on the embedded
    database checks its schema, and a query printed them to stderr each time. "Running
    upgrade ..." (something was applied) stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Context impl ", "Will assume "))


_ALEMBIC_FILTER = _AlembicBoilerplate()

_state: dict[str, str] = {}


def add_processor(processor: Processor) -> None:
    """Run ``processor`` on every log line (structlog's and stdlib's); re-applies the config."""
    if processor not in EXTRA_PROCESSORS:
        EXTRA_PROCESSORS.append(processor)
    if _state:
        configure(_state["fmt"], _state["level"])


class ServiceHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler ``configure`` installs on the root logger (one write() per record): its
    class tells it apart from the handlers of others when ``configure`` runs again."""


def _is_ours(handler: logging.Handler) -> bool:
    return isinstance(handler, ServiceHandler)


def _is_basic_config(handler: logging.Handler) -> bool:
    """The plain handler ``logging.basicConfig`` installs, writing to stderr or stdout (a plain
    handler on any other stream is someone's capture and stays)."""
    return type(handler) is logging.StreamHandler and handler.stream in (sys.stderr, sys.stdout)


def configure(fmt: str = "auto", level: str = "INFO") -> None:
    json_output = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Processor = (
        structlog.processors.JSONRenderer() if json_output else structlog.dev.ConsoleRenderer()
    )
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    context: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    final: list[Processor] = [
        structlog.processors.format_exc_info,
        redact,
        *EXTRA_PROCESSORS,
        renderer,
    ]
    structlog.configure(
        processors=[*context, *final],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # one write() per line: several worker processes share stderr, lines must not interleave
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = ServiceHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_logger_name,
                structlog.stdlib.ExtraAdder(),
                *context,
            ],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
        )
    )
    root = logging.getLogger()
    # ours from an earlier call and basicConfig's plain handler; never a test runner's capture
    for old in [h for h in root.handlers if _is_ours(h) or _is_basic_config(h)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name, quiet in _QUIET.items():
        logging.getLogger(name).setLevel(max(quiet, numeric))
    # uvicorn and alembic install their own handlers; their records go through the root
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    migration = logging.getLogger("alembic.runtime.migration")
    if _ALEMBIC_FILTER not in migration.filters:
        migration.addFilter(_ALEMBIC_FILTER)
    install_filter()
    _state.update(fmt=fmt, level=level)
