"""docs/seed-mapping.md names what exists: every seed 002 filter and sort has a row, and every
filter field, sort key, command, query, CLI command and ``InvoiceState`` field the page names
is one the contract has (an integrator following the page never meets an unknown name).

The seed's lists are those of seed 002's ``GET /api/v2/invoices`` ("Supported filter params",
"Supported sort params"), copied here so that the test needs nothing outside the repository.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest
from invoicing.queries.cli import query_app
from invoicing.schemas.commands import command_types
from invoicing.schemas.events import EVENT_TYPES, InvoiceState
from invoicing.schemas.filters import CUSTOM_FIELD_SORT_PREFIX, INVOICE_SORT_KEYS, InvoiceFilter
from invoicing.schemas.queries import QUERY_TYPES, PreviewedLine
from pydantic import AliasChoices, BaseModel

PAGE = Path(__file__).resolve().parents[2] / "docs" / "seed-mapping.md"

SEED_002_FILTERS = [
    "amount",
    "amount_credited",
    "amount_credited_with_tax",
    "amount_paid",
    "amount_tax",
    "amount_unpaid",
    "amount_with_tax",
    "amount_written_off",
    "company_id",
    "created_at",
    "creator_id",
    "credited",
    "currency",
    "deal_id",
    "delivery_on",
    "export_status",
    "full_query",
    "fuzzy_dates",
    "fuzzy_people",
    "id",
    "invoice_aging",
    "invoice_state",
    "invoice_status",
    "invoice_type",
    "invoiced_on",
    "invoicing_method",
    "issuer_id",
    "jump_query",
    "last_activity_at",
    "number",
    "overdue_status",
    "paid_on",
    "parent_invoice_id",
    "pay_on",
    "payment_status",
    "project_id",
    "purchase_order_number",
    "query",
    "responsible_id",
    "sent_on",
    "sent_status",
    "status",
    "subscriber_id",
    "subsidiary_id",
    "tags",
]

SEED_002_SORTS = [
    "amount",
    "amount_credited",
    "amount_credited_with_tax",
    "amount_paid",
    "amount_tax",
    "amount_with_tax",
    "amount_written_off",
    "company_name",
    "created_at",
    "credited",
    "custom_fields",
    "deleted_at",
    "delivery_on",
    "discount",
    "invoiced_on",
    "last_activity_at",
    "number",
    "pay_on",
    "purchase_order_number",
    "sent_on",
]

TICKED = re.compile(r"`([^`]+)`")


def section(title: str) -> str:
    text = PAGE.read_text(encoding="utf-8")
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def table(title: str) -> list[list[str]]:
    """The rows (cells) of the first table of a section, without its head."""
    rows = [cells(line) for line in section(title).splitlines() if line.startswith("|")]
    assert len(rows) > 2, title
    return rows[2:]


def cells(line: str) -> list[str]:
    """A table row's cells: split at the pipes outside code spans."""
    parts = re.split(r"\|(?=(?:[^`]*`[^`]*`)*[^`]*$)", line.strip().strip("|"))
    return [part.strip() for part in parts]


def filter_names() -> set[str]:
    names: set[str] = set()
    for name, field in InvoiceFilter.model_fields.items():
        names.add(name)
        if isinstance(field.validation_alias, AliasChoices):
            names.update(c for c in field.validation_alias.choices if isinstance(c, str))
        elif isinstance(field.validation_alias, str):
            names.add(field.validation_alias)
    return names


def test_every_seed_002_filter_has_a_row_naming_real_filter_fields() -> None:
    rows = table("Filters of the invoice list")
    seen: set[str] = set()
    known = filter_names()
    for seed, contract, _notes in rows:
        seed_names = [n for n in TICKED.findall(seed)]
        seen.update(seed_names)
        named = TICKED.findall(contract)
        assert named, (seed, contract)
        if seed_names == ["fuzzy_dates"]:  # an operator of every date field
            InvoiceFilter.model_validate({"issue_date": {"fuzzy": "last_month"}})
            continue
        for name in named:
            assert name in known, f"{seed}: {name} is no filter of InvoiceFilter"
    assert sorted(seen - {"fuzzy_dates"}) == sorted(set(SEED_002_FILTERS) - {"fuzzy_dates"})
    assert "fuzzy_dates" in seen


@pytest.mark.parametrize("seed_name", SEED_002_FILTERS)
def test_a_seed_filter_named_on_the_page_is_accepted(seed_name: str) -> None:
    """The page's contract name for each seed filter validates in a filter with a value of its
    kind (a value the seed's own examples would send)."""
    contract = {
        seed: TICKED.findall(contract)[0]
        for seed_cell, contract, _ in table("Filters of the invoice list")
        for seed in TICKED.findall(seed_cell)
    }[seed_name]
    if seed_name == "fuzzy_dates":
        return  # an operator, checked above
    field = InvoiceFilter.model_fields.get(contract)
    assert field is not None, contract
    samples: list[object] = [
        "2026-11-01",
        {"gte": "1"},
        ["11111111-1111-4111-8111-111111111111"],
        "11111111-1111-4111-8111-111111111111",
        True,
        ["EUR"],
        "EUR",
        "exported",
        "sent",
        ["sent"],
        ["invoice"],
        "paid",
        ["paid"],
        "not_due",
        ["not_due"],
        "uninvoiced_amount",
        "word",
        ["a"],
    ]
    accepted = []
    for sample in samples:
        try:
            InvoiceFilter.model_validate({contract: sample})
        except ValueError:
            continue
        accepted.append(sample)
    assert accepted, f"{seed_name} -> {contract}: no value of its kind is accepted"


def test_every_seed_002_sort_has_a_row_naming_a_real_sort_key() -> None:
    rows = table("Sorts of the invoice list")
    seen: set[str] = set()
    for seed, contract in rows:
        seen.update(TICKED.findall(seed))
        for key in TICKED.findall(contract):
            assert key in INVOICE_SORT_KEYS or key.startswith(CUSTOM_FIELD_SORT_PREFIX), key
    assert sorted(seen) == sorted(SEED_002_SORTS)


def cli_query_names() -> set[str]:
    return {c.name for c in query_app.registered_commands if c.name}


def payload_fields() -> set[str]:
    """The names of every field of every command's and query's payload."""
    names: set[str] = set()
    for kind in (*command_types().values(), *QUERY_TYPES.values()):
        payload = kind.model_fields.get("payload")
        kind_of = payload.annotation if payload is not None else None
        if isinstance(kind_of, type) and issubclass(kind_of, BaseModel):
            names.update(kind_of.model_fields)
    return names


def test_the_endpoints_name_real_commands_queries_events_and_cli_commands() -> None:
    """Every name on the right that reads as a command or query (its first word is a verb of
    one, ``create_``, ``list_`` ...) is one, unless it is a payload's field; every event
    (``invoice.exported``) is one the service publishes; every ``invoicing query X`` is a
    command of the CLI."""
    commands, queries, cli = set(command_types()), set(QUERY_TYPES), cli_query_names()
    verbs = {name.split("_")[0] for name in commands | queries} - {"invoice"}
    fields = payload_fields()
    counted = 0
    for _seed, here in table("Endpoints"):
        for name in TICKED.findall(here):
            if re.fullmatch(r"[a-z]+(_[a-z]+)+", name) and name.split("_")[0] in verbs:
                assert name in commands | queries or name in fields, f"{name} does not exist"
                counted += name in commands | queries
            elif re.fullmatch(r"[a-z_]+\.[a-z_]+", name):
                assert name in EVENT_TYPES, f"event {name} is never published"
            elif name.startswith("invoicing query "):
                assert name.removeprefix("invoicing query ") in cli, f"{name} does not exist"
                counted += 1
    assert counted >= 50, counted


def resolves(model: type[BaseModel], path: str) -> bool:
    """Whether a dotted path (``totals.credited_net``, ``lines[].tax_rate``) names a field of
    the model, through nested models and lists of them."""
    head, _, rest = path.replace("[]", "").partition(".")
    field = model.model_fields.get(head)
    if field is None:
        return False
    if not rest:
        return True
    inner = [
        t
        for t in (field.annotation, *get_args(field.annotation))
        for t in (t, *get_args(t))
        if isinstance(t, type) and issubclass(t, BaseModel)
    ]
    return any(resolves(t, rest) for t in inner)


#: rows of the attributes table whose right cell is no field of InvoiceState, by their seed cell
NOT_STATE = {
    "`email_key`": "the share token of publish_invoice, in its event",
    "relationship `attachment`": "documents, in events and get_document",
}


def test_the_attributes_name_real_invoice_state_fields() -> None:
    """The first name of each row's right cell is a field of ``InvoiceState`` (a dotted path
    into it; "per line" names a field of its lines); a preview line's names are those of
    ``preview_invoice``'s lines."""
    checked = 0
    for seed, here in table("Invoice attributes"):
        if here.startswith("—") or seed in NOT_STATE:
            continue
        if seed.startswith("preview line item"):
            for name in TICKED.findall(here)[1:]:
                assert resolves(PreviewedLine, name), f"{name} is no field of a preview line"
            continue
        first = TICKED.findall(here)[0]
        per_line = "per line" in here.split("`")[0] and not first.startswith("lines")
        path = f"lines.{first}" if per_line else first
        assert resolves(InvoiceState, path), f"{seed}: {path} is no field of InvoiceState"
        checked += 1
    assert checked >= 50, checked
