"""The inbox (``processed_commands``): one row per (organization, command id), written in the
command's transaction; it makes a redelivery a no-op and a reused id with another type or
another payload a conflict."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from typing import Any

from invoicing.handlers.statements import Statement
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.models import ProcessedCommand
from sqlalchemy import Insert, bindparam, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

_TABLE = ProcessedCommand.__table__
_KEY = (
    _TABLE.c.organization_id == bindparam("organization_id"),
    _TABLE.c.command_id == bindparam("command_id"),
)


#: the dialects' INSERT with ON CONFLICT
_INSERT: dict[str, Any] = {"postgresql": pg_insert, "sqlite": sqlite_insert}


def _claim_statement(insert: Any) -> Statement:
    """Built once per dialect (SQLAlchemy Core, run on the DBAPI cursor: ``Statement``)."""
    stmt: Insert = insert(_TABLE).on_conflict_do_nothing().returning(_TABLE.c.command_id)
    return Statement(stmt)


_CLAIM = {dialect: _claim_statement(insert) for dialect, insert in _INSERT.items()}
_SEEN = Statement(select(_TABLE.c.payload_hash, _TABLE.c.command_type).where(*_KEY))

#: what the inbox holds of a command id seen before: its payload's hash and its command type
Seen = tuple[str, str]


_COLUMNS = (
    "organization_id",
    "command_id",
    "command_type",
    "payload_hash",
    "outcome",
    "processed_at",
)
_CLAIMS: dict[tuple[str, int], Statement] = {}


def _claims_statement(dialect: str, n: int) -> Statement:
    """``n`` claims as rows of values in one INSERT .. ON CONFLICT DO NOTHING RETURNING (SQLite,
    which has no arrays; built once per dialect and ``n``; parameters ``<column>_<i>``)."""
    stmt = _CLAIMS.get((dialect, n))
    if stmt is None:
        rows = [
            {c: bindparam(f"{c}_{i}", type_=_TABLE.c[c].type) for c in _COLUMNS} for i in range(n)
        ]
        core = _INSERT[dialect](ProcessedCommand).values(rows).on_conflict_do_nothing()
        stmt = _CLAIMS[(dialect, n)] = Statement(core.returning(_TABLE.c.command_id))
    return stmt


#: the parameters of :func:`_claims_from_arrays`: an array per column of a claim's tuple
_ARRAYS = ("organization_ids", "command_ids", "command_types", "payload_hashes")
_ARRAY_COLUMNS = _COLUMNS[: len(_ARRAYS)]


def _claims_from_arrays() -> Statement:
    """PostgreSQL: the claims as four arrays, ``unnest``-ed into the INSERT in key order. Its
    text and its five parameters are the same for every batch: psycopg parses a statement's
    placeholders once only up to 50 parameters, and prepares only a text it has seen before.
    As rows of values (six parameters a claim) the client spent 25 µs of CPU per claimed id
    in batches of 32, as arrays 17 µs (docs/pipeline.md, session 12)."""
    arrays = (
        func.unnest(
            *(
                bindparam(name, type_=ARRAY(_TABLE.c[c].type))
                for c, name in zip(_ARRAY_COLUMNS, _ARRAYS, strict=True)
            )
        )
        .table_valued(*_ARRAY_COLUMNS)
        .render_derived()
    )
    rows = select(
        *(arrays.c[c] for c in _ARRAY_COLUMNS),
        literal("applied", _TABLE.c.outcome.type),
        bindparam("processed_at", type_=_TABLE.c.processed_at.type),
    ).order_by(arrays.c.organization_id, arrays.c.command_id)
    core = pg_insert(ProcessedCommand).from_select(list(_COLUMNS), rows)
    returning = core.on_conflict_do_nothing().returning(_TABLE.c.command_id)
    return Statement(returning, binary=_ARRAYS)


_CLAIMS_FROM_ARRAYS = _claims_from_arrays()


def claim_all(
    uow: UnitOfWork,
    commands: list[tuple[uuid.UUID, uuid.UUID, str, str]],
    now: dt.datetime,
) -> bool:
    """Claim the command ids ``(organization_id, command_id, type, digest)`` of a batch with
    one statement; True when every one of them was claimed, False when any was seen before
    (or is twice in ``commands``): the caller then undoes the whole transaction and claims
    them one by one (:func:`claim`), which tells what each one is. The rows go in key order,
    so that two batches claiming the same ids (a redelivery) wait for each other in one
    order, never in a deadlock."""
    ordered = sorted(commands)
    if uow.dialect == "postgresql":
        columns = zip(*ordered, strict=True)  # one tuple per array, in _ARRAYS' order
        params: dict[str, Any] = dict(zip(_ARRAYS, map(list, columns), strict=True))
        params["processed_at"] = now
        rows = _CLAIMS_FROM_ARRAYS.rows(uow.connection(), params)
        return len(rows) == len(commands)
    params = {}
    for i, (org_id, command_id, command_type, digest) in enumerate(ordered):
        values = (org_id, command_id, command_type, digest, "applied", now)  # as _COLUMNS
        params.update({f"{c}_{i}": v for c, v in zip(_COLUMNS, values, strict=True)})
    rows = _claims_statement(uow.dialect, len(commands)).rows(uow.connection(), params)
    return len(rows) == len(commands)


def canonical_hash(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def claim(
    uow: UnitOfWork,
    *,
    org_id: uuid.UUID,
    command_id: uuid.UUID,
    command_type: str,
    digest: str,
    now: dt.datetime,
) -> Seen | None:
    """Claim the command id with one statement; ``None`` when claimed, else the payload hash
    and the command type it was first seen with. A concurrent twin waits on the key until the
    first commits (then it sees a conflict) or rolls back (then it claims the id)."""
    conn = uow.connection()
    claimed = _CLAIM[uow.dialect].first(
        conn,
        {
            "organization_id": org_id,
            "command_id": command_id,
            "command_type": command_type,
            "payload_hash": digest,
            "outcome": "applied",
            "processed_at": now,
        },
    )
    if claimed is not None:
        return None
    key = {"organization_id": org_id, "command_id": command_id}
    seen_row = _SEEN.first(conn, key)
    if seen_row is None:  # deleted between the two statements (retention): an error, as before
        raise RuntimeError(f"command {command_id}: its inbox row went while it was read")
    return str(seen_row[0]), str(seen_row[1])


def seen(uow: UnitOfWork, org_id: uuid.UUID, command_id: uuid.UUID) -> Seen | None:
    """The payload hash and command type a command id was recorded with, if it was."""
    row = uow.session.get(ProcessedCommand, (org_id, command_id))
    return None if row is None else (row.payload_hash, row.command_type)


def record_rejection(
    uow: UnitOfWork,
    *,
    org_id: uuid.UUID,
    command_id: uuid.UUID,
    command_type: Any,
    digest: str,
    now: dt.datetime,
) -> bool:
    """Record a rejected command; ``False`` when the id was recorded already."""
    if uow.session.get(ProcessedCommand, (org_id, command_id)) is not None:
        return False
    uow.session.add(
        ProcessedCommand(
            organization_id=org_id,
            command_id=command_id,
            command_type=str(command_type)[:60],
            payload_hash=digest,
            outcome="rejected",
            processed_at=now,
        )
    )
    return True
