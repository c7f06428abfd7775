"""Readiness: does each dependency answer? One :class:`Check` per dependency, never a traceback.

* database: connects and reads the Alembic revision; an unmigrated or outdated schema is not
  ready, with the fix (``invoicing migrate``). A PostgreSQL database whose ``LC_CTYPE`` lowers
  ASCII only (``C``, ``POSIX``) is not ready either: its ``lower()`` leaves "ÖKO" as it is, so
  a search for "öko" would silently miss it (text search lowers both sides).
* broker: opens a connection and a channel on the configured vhost. It does not look for the
  service's queues: a fresh broker where no worker has declared them yet is ready (the workers
  declare the topology when they start).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        if self.ok:
            return f"{self.name}: ok ({self.detail})"
        return f"{self.name}: FAILED: {self.detail}" + (f"; {self.fix}" if self.fix else "")


def _first_line(exc: BaseException) -> str:
    text_ = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text_[0][:200]}" if text_ else type(exc).__name__


def describe_database(url: str) -> str:
    """``postgresql host:port/name`` or ``sqlite path``: where a database is, without
    credentials (for one-line errors)."""
    from invoicing.config import normalize_database_url

    return _where(normalize_database_url(url))


def _where(url: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"sqlite {parsed.database}"
    return f"postgresql {parsed.host}:{parsed.port or 5432}/{parsed.database}"


def check_database(url: str) -> Check:
    from alembic.script import ScriptDirectory
    from invoicing.config import normalize_database_url
    from invoicing.db import alembic_config

    url = normalize_database_url(url)
    where = _where(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        from pathlib import Path

        if not Path(str(parsed.database)).exists():
            return Check("database", False, f"{where} does not exist", "run invoicing migrate")
    connect_args: dict[str, Any] = (
        {"connect_timeout": 5} if parsed.get_backend_name() == "postgresql" else {}
    )
    engine = create_engine(url, connect_args=connect_args)
    try:
        with engine.connect() as conn:
            has_version = conn.execute(
                text(
                    "SELECT count(*) FROM information_schema.tables "
                    "WHERE table_name = 'alembic_version'"
                )
                if parsed.get_backend_name() == "postgresql"
                else text(
                    "SELECT count(*) FROM sqlite_master "
                    "WHERE type = 'table' AND name = 'alembic_version'"
                )
            ).scalar_one()
            current = (
                conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                if has_version
                else None
            )
            folding = (
                conn.execute(text("SELECT lower('ÄÖÜ') = 'äöü', current_setting('lc_ctype')")).one()
                if parsed.get_backend_name() == "postgresql"
                else (True, "")
            )
    except Exception as exc:
        return Check(
            "database",
            False,
            f"{where}: {_first_line(exc)}",
            "start the database or set DATABASE_URL",
        )
    finally:
        engine.dispose()
    if not folding[0]:
        return Check(
            "database",
            False,
            f"{where} has LC_CTYPE {folding[1]!r}, whose lower() folds ASCII only: a search "
            "for 'öko' would miss 'ÖKO'",
            "create the database with a UTF-8 LC_CTYPE (CREATE DATABASE ... LC_CTYPE 'C.UTF-8' "
            "TEMPLATE template0) and move the data into it (docs/operations.md, Health)",
        )
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    if current is None:
        return Check("database", False, f"{where} has no schema", "run invoicing migrate")
    if current != head:
        return Check(
            "database",
            False,
            f"{where} schema at {current}, this version needs {head}",
            "run invoicing migrate",
        )
    return Check("database", True, f"{where}, schema {current}")


@contextlib.contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """pika logs a failed connection with a traceback; the check reports it in one line."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def check_broker(amqp_url: str, timeout_s: float = 5.0) -> Check:
    import pika  # type: ignore[import-untyped]
    from invoicing.workers.amqp import connect, places

    try:
        where = ", ".join(places(amqp_url))
    except ValueError as exc:
        return Check("broker", False, _first_line(exc), "correct INVOICING_AMQP_URL")
    with _quiet("pika"):
        try:
            connection = connect(amqp_url, probe_timeout_s=timeout_s)
        except pika.exceptions.ProbableAuthenticationError as exc:
            return Check(
                "broker",
                False,
                f"{where}: login refused ({_first_line(exc)})",
                "check the user and password in INVOICING_AMQP_URL (deploy/rabbitmq)",
            )
        except pika.exceptions.ProbableAccessDeniedError as exc:
            return Check(
                "broker",
                False,
                f"{where}: access to the vhost refused ({_first_line(exc)})",
                "grant the user permissions on the vhost (deploy/rabbitmq/definitions.json)",
            )
        except (pika.exceptions.AMQPError, OSError) as exc:
            return Check(
                "broker",
                False,
                f"{where}: {_first_line(exc) or 'unreachable'}",
                "start RabbitMQ or set INVOICING_AMQP_URL",
            )
        try:
            channel = connection.channel()
            channel.close()
        except pika.exceptions.AMQPError as exc:
            return Check("broker", False, f"{where}: channel refused ({_first_line(exc)})")
        finally:
            with contextlib.suppress(Exception):
                connection.close()
    return Check("broker", True, where)
