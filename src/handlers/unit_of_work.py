"""One database transaction per command."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from invoicing.handlers import numbering
from invoicing.handlers.core_writes import write_invoices
from invoicing.handlers.statements import Statement, pipelined
from invoicing.models import OutboxEvent
from sqlalchemy import Connection, Engine, insert
from sqlalchemy.orm import Session, sessionmaker

#: a step of :meth:`UnitOfWork.finish`: its order, the step, the number it takes (if any)
_Step = tuple[tuple[str, ...], Callable[[], None], numbering.NumberClaim | None]

#: Core, built once and run on the DBAPI cursor: outbox rows in one statement (executemany)
_OUTBOX_INSERT = Statement(insert(OutboxEvent))


class UnitOfWork:
    """``with UnitOfWork(factory) as uow: ...; uow.commit()`` — rolls back unless committed."""

    session: Session

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._factory = session_factory
        #: outbox rows (``invoicing.pipeline.outbox.write(defer=True)``) inserted together by
        #: ``commit`` right before it commits: a batch of commands writes its events in one
        #: statement instead of one per command. A savepoint rolled back drops the rows
        #: added since it began (``invoicing.pipeline.batch.Scope``).
        self.outbox_rows: list[dict[str, Any]] = []
        #: set by a batch of several commands: a finalize then leaves its number to
        #: :meth:`finish` (a ``LateEvent``), so that the series rows are locked only from
        #: the batch's allocations to its commit (``invoicing.pipeline.batch``)
        self.numbers_at_end = False
        self._at_end: list[_Step] = []
        #: the numbers :meth:`finish` took for its steps in one statement per counter row
        #: (``numbering.reserve``), handed out by ``numbering.allocate`` in the steps' order
        self.reserved_numbers: dict[numbering.SeriesKey, deque[int]] = {}
        #: writes the steps of :meth:`finish` leave to its end (``write_at_end``)
        self._writes: list[Callable[[], None]] = []
        #: set (to a dict) by a batch whose commands change no organization (finalizes only:
        #: ``invoicing.pipeline.batch``): an organization row read by one of its commands
        #: serves the later ones (``repository.organization_row``), one statement per
        #: organization and transaction instead of one per command
        self.organization_rows: dict[Any, Any] | None = None
        #: what a batch read ahead for its commands (``registry.PREFETCH``), by a key whose
        #: first item says what it is (``"draft"``, ``"create"``), each taken (popped) by the
        #: command that would have read it
        self.read_ahead: dict[tuple[Any, ...], Any] = {}
        #: set by a batch of several commands run without savepoints
        #: (``invoicing.pipeline.batch``): a new invoice's rows are held back
        #: (``insert_later``) and written with the other new invoices of the batch in one
        #: round trip (``write_inserts``)
        self.inserts_later = False
        self._inserts: list[tuple[Statement, dict[str, Any]]] = []
        #: structured communications given by this transaction's finalizes, by organization
        #: (``handlers.payment_reference``): in a batch their UPDATEs wait for its end, so the
        #: look-up of a later finalize cannot see them yet
        self.payment_references: dict[Any, set[str]] = {}

    @classmethod
    def for_engine(cls, engine: Engine) -> UnitOfWork:
        return cls(sessionmaker(bind=engine, expire_on_commit=False, autoflush=True))

    def __enter__(self) -> UnitOfWork:
        self.session = self._factory()
        self.session.begin()
        self.outbox_rows, self._at_end, self._writes = [], [], []
        self.reserved_numbers, self.read_ahead = {}, {}
        self.organization_rows = None
        self._inserts, self.payment_references = [], {}
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self.session.in_transaction():
                self.session.rollback()
        finally:
            self.session.close()

    def flush(self) -> None:
        """Write what the command changed: invoices through Core where that is safe
        (``core_writes``), everything else through the ORM's flush. The rows held back by
        ``insert_later`` go first when the session has changes of its own, which may refer
        to them."""
        if self._inserts and (self.session.new or self.session.dirty or self.session.deleted):
            self.write_inserts()
        write_invoices(self.session)
        self.session.flush()

    def insert_outbox(self, rows: list[dict[str, Any]]) -> None:
        """Outbox rows into the transaction now, in one statement (executemany)."""
        if rows:
            _OUTBOX_INSERT.many(self.session.connection(), rows)

    def insert_later(self, statement: Statement, rows: Iterable[dict[str, Any]]) -> None:
        """Hold new rows back for :meth:`write_inserts` (callers check ``inserts_later``)."""
        self._inserts.extend((statement, row) for row in rows)

    @property
    def pending_inserts(self) -> bool:
        return bool(self._inserts)

    def write_inserts(self) -> None:
        """The rows :meth:`insert_later` held back, in one round trip
        (``statements.pipelined``): the rows of one statement with the same columns in one
        executemany, those groups in the order of their first row. So a row may be written
        before one held back ahead of it: only new rows that need no order among each other
        belong here (a batch's new invoices: all their lines, whose foreign key is checked at
        the commit, then the invoices). An error of one is raised at the end."""
        held, self._inserts = self._inserts, []
        if not held:
            return
        groups: dict[tuple[int, tuple[str, ...]], tuple[Statement, list[dict[str, Any]]]] = {}
        for statement, row in held:
            key = (id(statement), tuple(row))
            group = groups.get(key)
            if group is None:
                groups[key] = (statement, [row])
            else:
                group[1].append(row)
        conn = self.connection()
        with pipelined(conn):
            for statement, rows in groups.values():
                statement.many(conn, rows)

    def at_end(
        self,
        order: tuple[str, ...],
        step: Callable[[], None],
        claim: numbering.NumberClaim | None = None,
    ) -> None:
        """Run ``step`` in :meth:`finish`, after every command of the transaction; steps run
        sorted by ``order`` (stable: else in the order they were added). ``claim``: the
        number the step takes (``numbering.allocate``), reserved with the others' first."""
        self._at_end.append((order, step, claim))

    @property
    def pending_steps(self) -> int:
        """How many steps wait for :meth:`finish` (a mark for :meth:`drop_steps`)."""
        return len(self._at_end)

    def drop_steps(self, mark: int) -> None:
        """Forget the steps added since ``mark`` (their command was rolled back)."""
        del self._at_end[mark:]

    def write_at_end(self, write: Callable[[], None]) -> None:
        """A step of :meth:`finish` leaves a write (Core statements whose results nobody
        reads: an invoice's ``UPDATE``) to the end of ``finish``, where the writes of all its
        steps go in one round trip (``statements.pipelined``); an error of one is raised
        there, like an error of the step."""
        self._writes.append(write)

    def finish(self) -> None:
        """The steps left to the end of the transaction (``at_end``), then the writes they
        left (``write_at_end``); ``commit`` calls it."""
        steps, self._at_end = sorted(self._at_end, key=lambda s: s[0]), []
        claims = [claim for _order, _step, claim in steps if claim is not None]
        if len(claims) > 1:
            numbering.reserve(self, claims)
        for _order, step, _claim in steps:
            step()
        left, self.reserved_numbers = self.reserved_numbers, {}
        if any(left.values()):  # a claim that no step took: committing would skip numbers
            raise RuntimeError(f"numbers reserved and not taken: {left}")
        writes, self._writes = self._writes, []
        if writes:
            with pipelined(self.connection()):
                for write in writes:
                    write()

    def commit(self) -> None:
        self.write_inserts()
        self.finish()
        write_invoices(self.session)
        rows, self.outbox_rows = self.outbox_rows, []
        self.insert_outbox(rows)
        self.session.commit()

    def rollback(self) -> None:
        self._inserts = []
        self.outbox_rows, self._at_end, self._writes = [], [], []
        self.reserved_numbers, self.read_ahead = {}, {}
        if self.organization_rows is not None:
            self.organization_rows = {}
        self.session.rollback()

    def connection(self) -> Connection:
        """The transaction's connection, for SQLAlchemy Core statements (no ORM overhead).
        Asked of the session every time: a savepoint begun on the session is emitted only
        when its connection is asked for next (tests/integration/test_group_commit.py)."""
        return self.session.connection()

    @property
    def dialect(self) -> str:
        bind = self.session.get_bind()
        return bind.dialect.name
