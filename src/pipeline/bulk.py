"""Many commands of one thread, several to a transaction: ``invoicing process`` over a file.

The workers' group commit (``invoicing.pipeline.batch``) batches what concurrent threads
submit; a file read by one thread has its commands in hand already. ``Bulk.run`` admits each
body (decode, authenticate, validate: ``Pipeline.admit``) and runs the admitted commands in
batches of up to ``max_batch`` through the same ``GroupCommit`` batch runner: one
transaction, first without savepoints, a savepoint per command when one has to be undone,
one command per transaction when a number left to the end was refused. Each command stays
atomic and independent, and the outcomes are the ones a run of one transaction per command,
in the order of the file, would have, with one difference: the finalizes of one batch take
their numbers in the order of their issue dates (``UnitOfWork.finish``; the order of the
file among equal dates), so a file whose finalizes go back in date order has them numbered
in date order instead of refused.

Where a batch ends:

* a rejection found before running (undecodable, unauthorized, invalid) is recorded in a
  transaction of its own after the batch before it committed: the outbox keeps the order of
  the file;
* a command that takes its number in place (a credit note, ``TAKES_NUMBER`` without
  ``NUMBER_AT_END``) runs alone, as in the workers' numbering lane;
* once a batch holds a finalize, whose number and new state are written only at the batch's
  end, the only commands that join it are other finalizes of other invoices and creates of
  new invoices: any other command might read that invoice (a payment, an export, a later
  command of the same invoice) and must see it finalized, so it starts the next batch.

A batch lost as a whole (the connection, the commit) runs again one command per transaction,
so that a failure is reported for the line whose command it is: nothing of the lost batch
committed, and the inbox makes a command that did commit a duplicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from invoicing.handlers.registry import NUMBER_AT_END, TAKES_NUMBER, runs_alone
from invoicing.handlers.registry import prefetch as registry_prefetch
from invoicing.pipeline.batch import GroupCommit, order_key
from invoicing.pipeline.core import Admitted, Refused
from invoicing.schemas.commands import CreateInvoice

if TYPE_CHECKING:
    from invoicing.pipeline.core import Outcome, Pipeline


def _alone(admitted: Admitted) -> bool:
    """Takes its number in place: its series row is locked from its allocation to its own
    commit, never across other commands; or locks a customer before its invoices
    (``registry.runs_alone``), which behind another command would come second, the order
    that deadlocks with a worker's transaction of the same customer."""
    command = type(admitted.command)
    in_place = command in TAKES_NUMBER and command not in NUMBER_AT_END
    return in_place or runs_alone(admitted.command)


class Bulk:
    def __init__(self, pipeline: Pipeline, max_batch: int) -> None:
        self.pipeline = pipeline
        self.max_batch = max(1, max_batch)
        self.group = GroupCommit(
            pipeline,
            self.max_batch,
            takes_number=lambda c: type(c) in TAKES_NUMBER,
            number_at_end=lambda c: type(c) in NUMBER_AT_END,
            prefetch=registry_prefetch,
        )
        self._batch: list[tuple[int, Admitted]] = []
        #: the invoices the batch finalizes (``order_key``): written at its end only
        self._finalized: set[Any] = set()

    def run(self, bodies: Sequence[bytes | str]) -> list[Outcome | Exception]:
        """The outcome of each body, in order (or the exception that failed it: an
        infrastructure error of that command; nothing of it was applied)."""
        results: list[Outcome | Exception | None] = [None] * len(bodies)
        self._batch, self._finalized = [], set()  # nothing left from an interrupted run
        for i, body in enumerate(bodies):
            try:
                admitted = self.pipeline.admit(body)
            except Exception as exc:  # a bug in checking one body must not stop the others
                results[i] = exc
                continue
            if isinstance(admitted, Refused):  # recorded after what came before it
                self._flush(results)
                results[i] = self._one(admitted)
                continue
            if not self._joins(admitted):
                self._flush(results)
            self._batch.append((i, admitted))
            if type(admitted.command) in NUMBER_AT_END:
                self._finalized.add(order_key(admitted.command))
            if _alone(admitted):
                self._flush(results)
        self._flush(results)
        done = [r for r in results if r is not None]
        assert len(done) == len(bodies)
        return done

    def _joins(self, admitted: Admitted) -> bool:
        if not self._batch:
            return True
        if len(self._batch) >= self.max_batch or _alone(admitted):
            return False
        if not self._finalized:
            return True
        command = admitted.command
        return (type(command) in NUMBER_AT_END or isinstance(command, CreateInvoice)) and order_key(
            command
        ) not in self._finalized

    def _flush(self, results: list[Outcome | Exception | None]) -> None:
        if not self._batch:
            return
        indexes = [i for i, _ in self._batch]
        admitted = [a for _, a in self._batch]
        self._batch, self._finalized = [], set()
        outcomes = self.group.run_together(admitted)
        first = outcomes[0]
        if len(outcomes) > 1 and isinstance(first, Exception) and all(o is first for o in outcomes):
            outcomes = [self._one(a) for a in admitted]  # lost as a whole: one by one
        for i, outcome in zip(indexes, outcomes, strict=True):
            results[i] = outcome

    def _one(self, admitted: Admitted | Refused) -> Outcome | Exception:
        try:
            return self.pipeline.settle(admitted)
        except Exception as exc:
            return exc
