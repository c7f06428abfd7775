"""The handler registry, the events handlers return, and the collaborators they may use."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from invoicing.domain import calendar
from invoicing.domain.errors import DomainError, default_hint
from invoicing.handlers.numbering import NumberClaim
from invoicing.handlers.ports import (
    Clock,
    DocumentStorage,
    Journal,
    MailComposer,
    Mailer,
    PaymentNotifier,
    PdfRendering,
)
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.handlers.views import invoice_state
from invoicing.mail.settings import SmtpSettings
from invoicing.models.records import InvoiceDraft
from invoicing.schemas.commands import Command


@dataclass
class Deps:
    """Collaborators injected into handlers, typed by the Protocols of ``handlers.ports``.

    Built only in the composition root (``invoicing.bootstrap.build_deps``); tests build one
    with fakes (tests/support/fakes.py). Handlers never import dramatiq or pika and never build
    infrastructure themselves.
    """

    clock: Clock
    mailer: Mailer
    smtp_settings: SmtpSettings  # sender address, display name, Message-ID domain
    document_store: DocumentStorage
    pdf_renderer: PdfRendering
    mail_templates: MailComposer
    delivery_journal: Journal  # "sending" recorded durably before the SMTP conversation
    payment_notifier: PaymentNotifier
    export_dir: Path  # scratch space where DATEV and CSV files are built (then stored)

    def now(self) -> dt.datetime:
        return self.clock()

    def today(self) -> dt.date:
        """Today in UTC: for what has no organization's calendar (date windows, tokens)."""
        return self.clock().date()

    def day_in(self, zone: str) -> dt.date:
        """Today in ``zone``: an organization's calendar day (``domain.calendar``)."""
        return calendar.local_day(self.clock(), zone)


@dataclass
class Event:
    """A domain event a handler returns; the bus turns it into a CloudEvent in the outbox."""

    type: str
    subject: str | None
    data: dict[str, Any]
    sequence: int | None = None


@dataclass(kw_only=True)
class LateEvent(Event):
    """An event whose content is known only at the end of the transaction: ``complete``
    (the rest of its handler: take the number, write it, snapshot the invoice) runs there and
    returns the event. A handler returns one only when ``uow.numbers_at_end`` (a batch that
    runs its commands' number allocations after all of them: ``invoicing.pipeline.batch``);
    ``lock_order`` sorts those steps so that every transaction locks series rows in one order.
    """

    complete: Callable[[], Event]
    lock_order: tuple[str, ...] = ()
    #: the number ``complete`` takes, which the batch reserves with its others beforehand
    #: (``numbering.reserve``); None when it takes none
    claim: NumberClaim | None = None


def invoice_event(event_type: str, inv: InvoiceDraft, now: dt.datetime, **extra: Any) -> Event:
    """Bump the invoice's event sequence and snapshot its whole state into the event."""
    inv.event_sequence = (inv.event_sequence or 0) + 1
    inv.updated_at = now
    if inv.created_at is None:
        inv.created_at = now
    data: dict[str, Any] = {"invoice": invoice_state(inv).model_dump(mode="json")}
    data.update(extra)
    return Event(event_type, str(inv.id), data, inv.event_sequence)


class PartialFailures:
    """Errors of the items of a multi-item command (batch, dunning run) that failed on their
    own; the command itself still applies. ``event()`` is the ``command.rejected`` listing
    them, with ``partial: true``."""

    def __init__(self, command: Command) -> None:
        self.command = command
        self.errors: list[dict[str, Any]] = []

    def add(self, exc: DomainError, item: object, pointer: str) -> None:
        for e in exc.errors:
            self.errors.append(
                replace(
                    e,
                    detail=f"{item}: {e.detail}",
                    pointer=pointer,
                    hint=e.hint or default_hint(e.status),
                ).as_json("")
            )

    def events(self) -> list[Event]:
        if not self.errors:
            return []
        cmd = self.command
        return [
            Event(
                "command.rejected",
                str(cmd.command_id),
                {
                    "command_type": cmd.type,
                    "command_id": str(cmd.command_id),
                    "partial": True,
                    "errors": self.errors,
                },
            )
        ]


C = TypeVar("C", bound=Command)
Handler = Callable[[Any, UnitOfWork, Deps], list[Event]]
HANDLERS: dict[type[Command], Handler] = {}
#: commands whose handler may take the next number of a series (a finalize, a credit note): the
#: series row stays locked until their transaction commits, so the workers' group commit runs
#: them in a lane of their own (``invoicing.pipeline.batch``). Only a hint for throughput: a
#: command missing here that takes a number is still correct, merely slower under load.
TAKES_NUMBER: set[type[Command]] = set()
#: of those, the commands whose handler leaves its number to the end of a batch (``LateEvent``):
#: they share a transaction with each other; every other command of ``TAKES_NUMBER`` takes its
#: number in place, last in its handler, and so runs in a transaction of its own (the series
#: row is then locked from its allocation to its own commit, never across other commands)
NUMBER_AT_END: set[type[Command]] = set()


#: commands that lock a customer's row (payments across its invoices, its credit, its data):
#: each locks the customer first, then invoices; in a transaction shared with other commands an
#: invoice an earlier one locked would come first, the opposite order, and two such
#: transactions deadlock. So the workers' group commit runs them alone (``runs_alone``; the
#: predicate says which commands of the type do). docs/pipeline.md "Group commit".
CUSTOMER_FIRST: dict[type[Command], Callable[[Any], bool]] = {}


def runs_alone(command: Command) -> bool:
    """True for a command that must have a transaction of its own (``CUSTOMER_FIRST``)."""
    locks = CUSTOMER_FIRST.get(type(command))
    return locks is not None and locks(command)


Prefetch = Callable[[UnitOfWork, list[Any]], None]
#: how a batch reads ahead, in one statement, what its commands of a type will each read
#: (``fn(uow, commands)``): only a batch run without savepoints, where no command is undone
#: and none changes what another one reads (``invoicing.pipeline.batch``)
PREFETCH: dict[type[Command], Prefetch] = {}


def handles(
    command: type[C],
    *,
    takes_number: bool = False,
    number_at_end: bool = False,
    prefetch: Prefetch | None = None,
    locks_customer: bool | Callable[[C], bool] = False,
) -> Callable[[Callable[[C, UnitOfWork, Deps], list[Event]]], Handler]:
    def register(fn: Callable[[C, UnitOfWork, Deps], list[Event]]) -> Handler:
        if command in HANDLERS:
            raise RuntimeError(f"two handlers for {command.__name__}")
        HANDLERS[command] = fn
        if takes_number or number_at_end:
            TAKES_NUMBER.add(command)
        if number_at_end:
            NUMBER_AT_END.add(command)
        if prefetch is not None:
            PREFETCH[command] = prefetch
        if locks_customer:
            CUSTOMER_FIRST[command] = (
                (lambda _command: True) if locks_customer is True else locks_customer
            )
        return fn

    return register


def prefetch(uow: UnitOfWork, commands: list[Command]) -> None:
    """Read ahead for the commands of each type that has a ``PREFETCH`` and more than one
    command here (one would read its own just as fast)."""
    by_type: dict[type[Command], list[Command]] = {}
    for command in commands:
        if type(command) in PREFETCH:
            by_type.setdefault(type(command), []).append(command)
    for kind, group in by_type.items():
        if len(group) > 1:
            PREFETCH[kind](uow, group)


Follower = Callable[[Any, UnitOfWork, Deps, list[Event]], list[Event]]
#: run after every command's handler, in its transaction, with the events it returned
FOLLOWERS: list[Follower] = []


def follows(fn: Follower) -> Follower:
    """Register a follower: events that other events of the same command call for (the
    automatic ``invoice.export_updated``). It must cost nothing when it has nothing to add."""
    FOLLOWERS.append(fn)
    return fn


def follow_ups(command: Command, uow: UnitOfWork, deps: Deps, events: list[Event]) -> list[Event]:
    out: list[Event] = []
    for follower in FOLLOWERS:
        out += follower(command, uow, deps, events)
    return out
