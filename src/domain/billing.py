"""Billable-entry rules: an entry is stored once per source id, and billed by one invoice line.

An entry is ``uninvoiced`` until a line of an invoice claims it (``billed``); voiding the
invoice or deleting the line releases it again. A source may resend an entry: the same content
is a no-op, changed content rewrites an unbilled entry, and a billed entry never changes.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from invoicing.domain.errors import Conflict

UNINVOICED, BILLED = "uninvoiced", "billed"


def content_hash(payload: Mapping[str, Any]) -> str:
    """The SHA-256 of the entry as sent (JSON, keys sorted): equal content, equal hash."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def check_rewritable(entry_id: str, status: str, invoice_id: uuid.UUID | None) -> None:
    """A resent entry with changed content may replace the stored one unless it is billed."""
    if status == BILLED:
        raise Conflict(
            "entry_billed",
            f"entry {entry_id} is billed on invoice {invoice_id}",
            pointer="/id",
            hint="billed entries cannot change; credit the invoice",
        )


def check_claimable(
    entry_id: str,
    status: str,
    billed_on: uuid.UUID | None,
    entry_currency: str,
    *,
    invoice_id: uuid.UUID,
    invoice_currency: str,
    pointer: str,
) -> None:
    """A line may bill an entry that is not billed elsewhere and is in the invoice's currency."""
    if status == BILLED and billed_on != invoice_id:
        raise Conflict(
            "entry_billed",
            f"billable entry {entry_id} is already billed on invoice {billed_on}",
            pointer=pointer,
            hint=f"an entry is billed once: void invoice {billed_on}, or remove the entry "
            "from its line while it is a draft, to bill it here",
        )
    if entry_currency != invoice_currency:
        raise Conflict(
            "currency_mismatch",
            f"billable entry {entry_id} is in {entry_currency}, the invoice in {invoice_currency}",
            pointer=pointer,
        )


def check_billed_once(
    entry_ids: Sequence[str], other_lines: Iterable[Sequence[str]], pointer: str
) -> None:
    """An entry is billed by one line of an invoice: a line may not name an entry that another
    line of the same invoice bills (it would be charged twice, and deleting either line would
    release it while the other still bills it). ``pointer`` is the line's."""
    taken = {entry_id for ids in other_lines for entry_id in ids}
    for i, entry_id in enumerate(entry_ids):
        if entry_id in taken:
            raise Conflict(
                "entry_billed",
                f"billable entry {entry_id} is already billed by another line of this invoice",
                pointer=f"{pointer}/billable_entry_ids/{i}",
                hint="bill each entry on one line; to move it, remove it from the other line",
            )


def check_uninvoiced(entry_id: str, status: str, billed_on: uuid.UUID | None, pointer: str) -> None:
    """An entry turned into a new invoice's line must be uninvoiced."""
    if status != UNINVOICED:
        raise Conflict(
            "entry_billed",
            f"billable entry {entry_id} is already billed on invoice {billed_on}",
            pointer=pointer,
            hint=f"an entry is billed once: void invoice {billed_on}, or remove the entry "
            "from its line while it is a draft, to bill it here",
        )


def as_sent(
    pointer: str, prefix: str, line_entries: Sequence[Sequence[str]], sent: Sequence[str]
) -> str:
    """The pointer of an error of a line made of a billable entry, at that entry as the
    publisher named it. Lines made of entries follow the entries' dates, not the order of
    ``sent`` (the ``entry_ids`` / ``time_entry_ids`` of the command, at ``prefix``), so a
    line's error ``prefix/i/...`` (the i-th line, ``line_entries[i]`` its entries) becomes
    ``prefix/k``, ``sent[k]`` being the line's entry: the item as sent (the rest of the path
    named a field of a line the command does not have). Other pointers stay as they are."""
    head = f"{prefix}/"
    if not pointer.startswith(head):
        return pointer
    index = pointer[len(head) :].split("/", 1)[0]
    if not index.isdigit() or int(index) >= len(line_entries):
        return pointer
    entries = [e for e in line_entries[int(index)] if e in sent]
    return f"{prefix}/{sent.index(entries[0])}" if entries else pointer
