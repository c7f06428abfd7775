"""Group commit: the commands that threads of one process submit while a transaction is
running share the next transaction, a savepoint per command.

A worker process runs several dramatiq threads. Each thread hands its (validated, authorized)
command to ``GroupCommit.run`` and blocks. Up to ``leaders`` threads at a time *lead* a
transaction each (so that their round trips to the database overlap): a leader takes its own
command and the commands waiting (up to ``max_batch``, in arrival order), runs each in a
savepoint of one transaction (``Pipeline.run_in``), commits once -- one fsync for the batch --
and hands each thread its own outcome; then it passes its lead to the next waiting thread. A
thread returns, and dramatiq acks its message, only after the commit that holds its outcome.
Nothing waits for a batch to fill: a command that arrives while fewer than ``leaders``
transactions run starts one at once, so a quiet worker has the latency of one command per
transaction, and batches grow with the load.

A batch is first run without savepoints (``optimistic``): the commands' statements, one
transaction, one commit. As long as no command has to be undone -- the usual case -- that is
two statements per command fewer (``SAVEPOINT``/``RELEASE``) and no nested transactions in the
session or the database. The moment one has to be undone (a rejection, a duplicate, any
error), the transaction is rolled back before anything of it is recorded, and the batch runs
again as below, a savepoint per command. Nothing is visible of the first attempt: it never
committed, its side effects are held back to the commit, and its outcomes are dropped.

Each command stays atomic and independent:

* a rejection (business rule, validation inside the handler, idempotency conflict) rolls
  back to the command's savepoint and records the rejection (inbox row and
  ``command.rejected``) in a savepoint of its own, in the same transaction;
* ``RetryLater``, a transient database error of the command's own statements (a deadlock, a
  lock timeout) and a handler bug roll back to its savepoint and reach only its thread, whose
  policies retry or delay it alone; the batch goes on;
* a failure that loses the transaction (the connection, a savepoint that cannot be rolled
  back, the commit) reaches every thread of the batch: nothing of the batch committed, each
  message is retried by its thread's policies (the inbox makes any doubt a duplicate);
* a command's events are held back (``UnitOfWork.outbox_rows``) and the events of all the
  batch's commands are inserted into the outbox in one statement right before the commit, in
  the order of the commands; a command rolled back to its savepoint takes its events with it.
  (Rejections write their ``command.rejected`` at once: an undecodable body's event id is
  how its redelivery is known, by the outbox's unique key, so that row must clash in the
  command's own savepoint.)
* numbers at the end: a batch's finalizes take their numbers after every command ran
  (``LateEvent``, ``UnitOfWork.at_end``), sorted by series row and issue date, right before
  the events' INSERT and the commit: the series row is locked from there to the commit only.
  A number refused there (date order, a manual number in the way) cannot be undone alone:
  without savepoints the batch runs again with them (numbers at the end again); with them,
  its commands run once more one transaction each, every finalize taking its number last in
  its handler (a rolled-back transaction returns it: gapless). A lock wait or deadlock given
  up on there goes straight to that last run, where it fails its own command alone, like any
  transient error of a command's statements (``GroupCommit._attempts``).

Each command starts with an empty identity map (``expunge_all``): it reads the rows afresh
as its own transaction would, never an earlier command's copies.

Lanes: commands that may take a number (``takes_number``, from the handlers' registry) batch
only with each other, one transaction at a time per partition of the organizations (``leaders``
partitions), sorted by organization and type (every batch locks series rows in one order);
only those that leave their number to the end (``number_at_end``: finalize) share a
transaction, any other one (a credit note, a mark-as-sent of a draft) runs alone, its number
last in its handler;
ordinary commands use the plain lane with up to ``leaders`` transactions, where those that lock
a customer before its invoices (``alone``: ``registry.runs_alone``) run in a transaction of their
own: behind another command of the batch an invoice would be locked first, and two such
transactions deadlock. A command that names an invoice starts only after the commands of the
same invoice that this process received before it have finished (``order_key``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from invoicing import logs
from invoicing.domain.errors import DomainError
from invoicing.pipeline import inbox
from sqlalchemy.exc import DBAPIError, IntegrityError

if TYPE_CHECKING:
    from invoicing.handlers.unit_of_work import UnitOfWork
    from invoicing.pipeline.core import Admitted, Outcome, Pipeline
    from invoicing.schemas.commands import Command


log = structlog.get_logger("invoicing.pipeline")


def _lock_order(item: _Item) -> tuple[str, str]:
    return str(item.command.organization_id), item.command.type


#: SQLSTATEs of waiting on another transaction: deadlock, lock timeout, serialization failure
_CONTENTION = frozenset({"40P01", "55P03", "40001"})


def _is_contention(exc: DBAPIError) -> bool:
    """The database gave up waiting for another transaction (PostgreSQL; the driver's error
    carries the SQLSTATE)."""
    return getattr(exc.orig, "sqlstate", None) in _CONTENTION


def _claims(batch: list[_Item]) -> list[tuple[Any, Any, str, str]]:
    return [
        (i.command.organization_id, i.command.command_id, i.command.type, i.digest) for i in batch
    ]


def _forget_outcomes(batch: list[_Item]) -> None:
    """A rolled-back attempt's outcomes: dropped before the batch runs again."""
    for item in batch:
        item.outcome, item.error = None, None


def order_key(command: Command) -> tuple[Any, Any] | None:
    """The invoice a command acts on (``payload.invoice_id``, or the new id of a
    ``create_invoice``), with its organization; None when it names none."""
    payload = getattr(command, "payload", None)
    name = _invoice_field(type(payload), command.type)
    invoice = None if name is None else getattr(payload, name)
    return None if invoice is None else (command.organization_id, invoice)


#: ``_invoice_field`` by payload type and command type
_INVOICE_FIELDS: dict[tuple[type, str], str | None] = {}


#: the command that writes nothing but a new invoice of its own: it names that invoice by its
#: ``id``, its reads may go ahead of the batch, and the invoices of several go out together
CREATE = "create_invoice"


def _invoice_field(payload: type, command_type: str) -> str | None:
    """The field of a payload type that names the invoice, known once per type: a getattr of
    a field a model lacks goes through pydantic's ``__getattr__`` and an AttributeError (2.4
    against 0.2 µs a ``create_invoice``)."""
    key = (payload, command_type)
    if key in _INVOICE_FIELDS:
        return _INVOICE_FIELDS[key]
    fields = getattr(payload, "model_fields", {})
    name = "invoice_id" if "invoice_id" in fields else None
    if name is None and command_type == CREATE and "id" in fields:
        name = "id"
    _INVOICE_FIELDS[key] = name
    return name


class BatchBroken(Exception):
    """A savepoint could not be rolled back: the whole transaction (batch) is lost."""


class NeedsSavepoints(BatchBroken):
    """A command of a batch run without savepoints (``optimistic``) has to be undone: the
    transaction is rolled back and the batch runs again, a savepoint per command."""


class NumbersInPlace(BatchBroken):
    """A number taken at the end of a batch was refused, or its lock given up on: no
    savepoint is left to undo its command alone, so the commands run again one transaction
    each, with their numbers taken in place."""


def _write_inserts(uow: UnitOfWork) -> None:
    """The new invoices a batch without savepoints held back (``UnitOfWork.insert_later``).
    A row refused there -- an id or a number taken twice in the batch, a lock given up on --
    runs the batch again with savepoints, where each create writes its own and the one
    refused fails alone; a lost connection is the whole batch's failure."""
    try:
        uow.write_inserts()
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise
        raise NeedsSavepoints(f"the batch's new invoices: {exc}") from exc


class Scope:
    """One command's part of a transaction: a savepoint (``nested``), the transaction, or --
    ``optimistic`` -- a part of a batch's transaction that cannot be undone alone (its undo
    raises :class:`NeedsSavepoints`)."""

    def __init__(self, uow: UnitOfWork, nested: bool, optimistic: bool = False) -> None:
        self.uow = uow
        self.savepoint = uow.session.begin_nested() if nested else None
        self.optimistic = optimistic and not nested
        #: the outbox rows held back for the commit before this command's, and the steps
        #: left to the end of the transaction (``UnitOfWork.at_end``) before its
        self.outbox_mark = len(uow.outbox_rows)
        self.steps_mark = uow.pending_steps
        self.open = True

    def done(self) -> None:
        """Flush the command's ORM changes (a constraint fails here, inside the scope) and
        release its savepoint."""
        self.uow.flush()
        if self.savepoint is not None:
            self.savepoint.commit()
        self.open = False

    def undo(self) -> None:
        """Roll back to the savepoint (after a failed statement or flush too); without one,
        the transaction (the session begins a new one on its next statement)."""
        if not self.open:
            return
        self.open = False
        if self.optimistic:
            raise NeedsSavepoints("a command of the batch is to be undone")
        if self.savepoint is None:
            self.uow.rollback()
            return
        del self.uow.outbox_rows[self.outbox_mark :]  # its events go with its writes
        self.uow.drop_steps(self.steps_mark)  # and its number, were it left to the end
        try:
            self.savepoint.rollback()
        except Exception as exc:
            raise BatchBroken(str(exc)) from exc


@dataclass
class _Item:
    command: Command
    digest: str
    retry_missing: bool
    context: dict[str, Any]
    wake: threading.Event = field(default_factory=threading.Event)
    #: set once the item's outcome is final (its batch committed or failed)
    done: threading.Event = field(default_factory=threading.Event)
    finished: bool = False
    outcome: Outcome | None = None
    error: BaseException | None = None


@dataclass
class _Lane:
    """Commands that share transactions with each other, and how many may run at once."""

    leaders: int
    waiting: list[_Item] = field(default_factory=list)
    leading: int = 0


class GroupCommit:
    def __init__(
        self,
        pipeline: Pipeline,
        max_batch: int,
        leaders: int = 1,
        takes_number: Callable[[Command], bool] = lambda _command: False,
        optimistic: bool = True,
        number_at_end: Callable[[Command], bool] = lambda _command: False,
        prefetch: Callable[[UnitOfWork, list[Command]], None] = lambda _uow, _commands: None,
        alone: Callable[[Command], bool] = lambda _command: False,
    ) -> None:
        self.pipeline = pipeline
        self.max_batch = max_batch
        #: transactions of ordinary commands running at once in this process
        self.leaders = leaders
        self.takes_number = takes_number
        #: of those, the commands that leave their number to the end of a batch: they batch
        #: with each other; any other command of the numbering lane runs alone
        self.number_at_end = number_at_end
        #: reads ahead for a batch without savepoints what its commands will read
        #: (``registry.prefetch``: the drafts of a batch's finalizes in one statement)
        self.prefetch = prefetch
        #: ordinary commands that run in a transaction of their own (``registry.runs_alone``:
        #: they lock a customer before its invoices, which a shared transaction would reverse)
        self.alone = alone
        self._lock = threading.Lock()
        self._plain = _Lane(leaders)
        #: commands that may take a number, by organization (``leaders`` partitions of the
        #: organization ids): one transaction at a time per partition, so that every such
        #: command of its organizations waiting joins it, and a series row lock (held to the
        #: commit) is taken once per batch instead of once per command; organizations of
        #: other partitions are not held up by it
        self._numbering = [_Lane(1) for _ in range(max(1, leaders))]
        #: commands submitted and not finished yet, by the invoice they act on: a command
        #: starts only after those of the same invoice submitted before it (the two lanes run
        #: side by side, and so do the leaders of a lane)
        self._in_flight: dict[tuple[Any, Any], list[_Item]] = {}
        #: sizes of the batches run (the last 1,000), and the most batches ever running at
        #: once (1: one leader at a time), for tests
        self.sizes: list[int] = []
        self.most_at_once = 0
        self._running = 0
        #: batches first run without savepoints (see the module's docstring); how many
        #: committed so, and how many had to run again with savepoints
        self.optimistic = optimistic
        self.optimistic_commits = 0
        self.fallbacks = 0
        #: batches run again one command per transaction, numbers in place, after a number at
        #: the end was refused or its lock given up on
        self.numbers_in_place = 0

    @property
    def waiting(self) -> int:
        """Commands submitted and not yet taken into a batch."""
        with self._lock:
            return len(self._plain.waiting) + sum(len(n.waiting) for n in self._numbering)

    @property
    def leading(self) -> int:
        """Threads leading a transaction (or about to) in either lane."""
        with self._lock:
            return self._plain.leading + sum(n.leading for n in self._numbering)

    def run(self, command: Command, digest: str, retry_missing: bool) -> Outcome:
        """The command's outcome once the transaction holding it committed; raises what the
        command raised (``RetryLater``, infrastructure errors), or what lost its batch."""
        item = _Item(command, digest, retry_missing, structlog.contextvars.get_contextvars())
        key = order_key(command)
        with self._lock:
            earlier = list(self._in_flight.get(key, ())) if key is not None else []
            if key is not None:
                self._in_flight.setdefault(key, []).append(item)
        try:
            for before in earlier:  # e.g. a create and its finalize, delivered back to back
                before.done.wait()
            return self._run(item)
        finally:
            item.done.set()  # also when it never reached a batch: nobody waits for it forever
            if key is not None:
                with self._lock:
                    same = self._in_flight[key]
                    same.remove(item)
                    if not same:
                        del self._in_flight[key]

    def run_together(self, admitted: list[Admitted]) -> list[Outcome | Exception]:
        """Run ``admitted`` in one batch in the calling thread, as a leader runs the commands
        waiting in its lane (``invoicing.pipeline.bulk``); the outcome or the exception of
        each, in order, once the batch committed. The caller has chosen commands that may
        share a transaction: no two of one invoice after a number left to the end, and none
        that takes its number in place beside others."""
        nobody = threading.Event()  # waits for an item: the caller has its results in hand
        batch = [_Item(a.command, a.digest, False, a.context, nobody, nobody) for a in admitted]
        self._run_batch(batch)
        results: list[Outcome | Exception] = []
        for item in batch:  # (an interruption left _run_batch already: errors are Exceptions)
            if item.error is not None:
                assert isinstance(item.error, Exception)
                results.append(item.error)
            else:
                assert item.outcome is not None
                results.append(item.outcome)
        return results

    def _run(self, item: _Item) -> Outcome:
        lane = self._plain
        if self.takes_number(item.command):
            lanes = self._numbering
            lane = lanes[item.command.organization_id.int % len(lanes)]
        with self._lock:
            lead = lane.leading < lane.leaders
            if lead:
                lane.leading += 1
            else:
                lane.waiting.append(item)
        if not lead:
            item.wake.wait()  # finished in a leader's batch, or handed a lead (then not waiting)
        if not item.finished:  # this thread leads one transaction
            try:
                with self._lock:
                    batch = self._take(lane, item)
                if lane is not self._plain:
                    # by organization, then command type: the batch's events and numbers follow
                    # that order (the series rows themselves are locked at the end, in the
                    # order of UnitOfWork.finish, the same for every transaction)
                    batch.sort(key=_lock_order)
                self._run_batch(batch)
            finally:  # even when interrupted: the lead passes on, nobody waits for a dead one
                with self._lock:
                    if lane.waiting:
                        lane.waiting.pop(0).wake.set()
                    else:
                        lane.leading -= 1
        if item.error is not None:
            raise item.error
        assert item.outcome is not None
        return item.outcome

    def _take(self, lane: _Lane, item: _Item) -> list[_Item]:
        """The leader's batch: ``item`` and the commands waiting in ``lane`` (under the lock).

        In a numbering lane only commands that leave their number to the end of the batch
        share it; one that takes its number in place runs alone, so that the series row it
        locks is held from its allocation to its own commit, never across other commands
        (the others wait for the next leader, in their order)."""
        if lane is self._plain:
            alone, taken = self.alone, lane.waiting[: self.max_batch - 1]
            if alone(item.command) or any(alone(other.command) for other in taken):
                return self._gather(lane, item, lambda command: not alone(command))
            del lane.waiting[: len(taken)]  # the common case: the next ones, as they came
            return [item, *taken]
        return self._gather(lane, item, self.number_at_end)

    def _gather(self, lane: _Lane, item: _Item, shares: Callable[[Command], bool]) -> list[_Item]:
        """``item`` alone unless ``shares`` it; then with the waiting commands ``shares``
        takes, up to ``max_batch``, in their order (the others wait for the next leader)."""
        if not shares(item.command):
            return [item]
        batch, rest = [item], []
        for other in lane.waiting:
            if len(batch) < self.max_batch and shares(other.command):
                batch.append(other)
            else:
                rest.append(other)
        lane.waiting[:] = rest
        return batch

    def _run_batch(self, batch: list[_Item]) -> None:
        pipeline = self.pipeline
        with self._lock:
            self._running += 1
            self.most_at_once = max(self.most_at_once, self._running)
        nested = len(batch) > 1  # a batch of one needs no savepoint: its transaction is one
        try:
            self._attempts(batch, nested=nested)
        except Exception as exc:  # nothing of the batch committed: every command failed
            for item in batch:
                item.outcome, item.error = None, exc
        else:
            for item in batch:
                if item.outcome is not None:
                    with logs.bound(**item.context):
                        pipeline.log_outcome(item.outcome)
        finally:
            with self._lock:
                self._running -= 1
            self.sizes = [*self.sizes[-999:], len(batch)]
            for item in batch:
                if item.outcome is None and item.error is None:  # interrupted (BaseException)
                    item.error = BatchBroken("the batch's transaction was interrupted")
                item.finished = True
                item.done.set()
                item.wake.set()

    def _attempts(self, batch: list[_Item], *, nested: bool) -> None:
        """Run the batch until one attempt commits (or fails as a whole):

        1. without savepoints (``optimistic``), numbers at the end;
        2. a savepoint per command, numbers at the end -- when a command of 1 had to be
           undone (``NeedsSavepoints``);
        3. one transaction per command, each taking its number last in its handler -- when a
           number at the end failed (``NumbersInPlace``: refused, or a lock wait or deadlock
           on a series row, which must reach that command alone). A series row is then held
           from a command's allocation to its own commit, never across another command.

        A batch of one takes its number last in its handler anyway."""
        if not nested:
            self._attempt(batch, nested=False)
            return
        mode = "optimistic" if self.optimistic else "savepoints"
        while True:
            try:
                if mode == "optimistic":
                    self._attempt(batch, nested=False, optimistic=True)
                    self.optimistic_commits += 1
                else:
                    self._attempt(batch, nested=True, numbers_at_end=True)
                return
            except NeedsSavepoints:
                self.fallbacks += 1
                mode = "savepoints"
            except NumbersInPlace:
                self.numbers_in_place += 1
                _forget_outcomes(batch)
                break
            _forget_outcomes(batch)
        for item in batch:  # one by one; a failure of one transaction is its command's alone
            try:
                self._attempt([item], nested=False)
            except Exception as exc:
                item.outcome, item.error = None, exc

    def _unchanged_reads(self, batch: list[_Item]) -> list[Command]:
        """The commands of ``batch`` whose reads no earlier command of it can change, so that
        they may be read ahead (``prefetch``): up to the first command other than a finalize
        or a create (which change only their own invoice), those whose invoice no earlier
        command names (a finalize of an invoice created in the same batch reads it itself)."""
        ahead, named = [], set()
        for item in batch:
            command = item.command
            if not (self.number_at_end(command) or command.type == CREATE):
                break
            key = order_key(command)
            if key not in named:
                ahead.append(command)
                named.add(key)
        return ahead

    def _read_ahead(self, uow: UnitOfWork, batch: list[_Item]) -> None:
        """``prefetch`` for a batch without savepoints. Reading ahead only saves statements:
        when it fails, the batch runs again with savepoints, where each command reads its
        own (and the one that meets a lock given up on fails alone); only a lost
        connection or the like is the whole batch's failure."""
        try:
            self.prefetch(uow, self._unchanged_reads(batch))
        except DBAPIError as exc:
            if not _is_contention(exc):
                raise
            raise NeedsSavepoints(f"reading ahead: {exc}") from exc
        except Exception as exc:  # a bug there must not fail commands that read their own
            log.error("batch.read_ahead_failed", reason=repr(exc)[:500])
            raise NeedsSavepoints(f"reading ahead: {exc!r}") from exc

    def _attempt(
        self,
        batch: list[_Item],
        *,
        nested: bool,
        optimistic: bool = False,
        numbers_at_end: bool = False,
    ) -> None:
        """Run every command of ``batch`` in one transaction and commit it. ``optimistic``
        (no savepoints) implies ``numbers_at_end``: finalizes take their numbers after every
        command ran (``LateEvent``), so the series rows stay locked from there to the commit
        only."""
        pipeline = self.pipeline
        at_end = optimistic or numbers_at_end
        with pipeline.uow_factory() as uow:
            uow.numbers_at_end = at_end
            uow.inserts_later = optimistic and len(batch) > 1
            if len(batch) > 1 and all(self.number_at_end(i.command) for i in batch):
                uow.organization_rows = {}  # finalizes only: they change no organization
            # without savepoints the batch's ids are claimed in one statement; one seen before
            # is a command to be undone (a duplicate or a conflict): savepoints tell which
            if optimistic and not inbox.claim_all(uow, _claims(batch), pipeline.deps.now()):
                raise NeedsSavepoints("a command id of the batch was seen before")
            if optimistic and len(batch) > 1:
                self._read_ahead(uow, batch)
            for item in batch:
                if uow.pending_inserts and item.command.type != CREATE:
                    _write_inserts(uow)  # what this command reads may be a new invoice
                with logs.bound(**item.context):
                    try:
                        item.outcome = pipeline.run_in(
                            uow,
                            item.command,
                            item.digest,
                            item.retry_missing,
                            nested=nested,
                            optimistic=optimistic,
                            claimed=optimistic,
                        )
                    except BatchBroken:
                        raise
                    except Exception as exc:
                        item.error = exc
                uow.session.expunge_all()
            _write_inserts(uow)
            if at_end:
                try:
                    uow.finish()
                except (DomainError, IntegrityError) as exc:  # e.g. a date out of order
                    again = NeedsSavepoints if optimistic else NumbersInPlace
                    raise again(f"a number at the end of the batch: {exc}") from exc
                except DBAPIError as exc:
                    if not _is_contention(exc):
                        raise  # the connection, say: the whole batch is lost
                    # a lock wait or deadlock on a series row: in place, it fails its own
                    # command alone (retried by that command's thread)
                    raise NumbersInPlace(f"a number at the end of the batch: {exc}") from exc
            uow.commit()
