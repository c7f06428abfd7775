"""``batch.order_key``: the invoice a command acts on, for every command type, as the
group commit and ``Bulk`` order commands of one invoice by it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from invoicing.pipeline.batch import order_key
from invoicing.schemas.commands import COMMAND_TYPES
from invoicing.schemas.examples import PAYLOADS, example


def _named(command: Any) -> tuple[Any, Any] | None:
    """What the key is, spelled out: ``payload.invoice_id``, or the new invoice's ``id`` of a
    ``create_invoice``; None when the command names no invoice."""
    payload = getattr(command, "payload", None)
    data = payload.model_dump() if payload is not None else {}
    invoice = data.get("invoice_id")
    if invoice is None and command.type == "create_invoice":
        invoice = data.get("id")
    return None if invoice is None else (command.organization_id, invoice)


@pytest.mark.parametrize("ctype", sorted(set(COMMAND_TYPES) & set(PAYLOADS)))
def test_the_key_is_the_invoice_the_command_names(ctype: str) -> None:
    command = COMMAND_TYPES[ctype].model_validate(example(ctype))
    assert order_key(command) == _named(command)
    assert order_key(command) == _named(command)  # and again, from what it learnt of the type


def test_a_create_without_an_id_and_a_finalize_are_keyed_by_their_invoice() -> None:
    create = COMMAND_TYPES["create_invoice"].model_validate(example("create_invoice"))
    assert order_key(create) == (create.organization_id, create.payload.id)
    no_id = create.model_copy(update={"payload": create.payload.model_copy(update={"id": None})})
    assert order_key(no_id) is None
    finalize = COMMAND_TYPES["finalize_invoice"].model_validate(example("finalize_invoice"))
    assert order_key(finalize) == (finalize.organization_id, finalize.payload.invoice_id)


@pytest.mark.parametrize("ctype", sorted(set(COMMAND_TYPES) - set(PAYLOADS)))
def test_a_command_without_an_example_names_no_invoice(ctype: str) -> None:
    """(The documented examples leave these out.) Their payloads have no invoice field."""
    cls = COMMAND_TYPES[ctype]
    payload = cls.model_fields["payload"].annotation
    assert isinstance(payload, type) and "invoice_id" not in payload.model_fields
    command = cls.model_construct(
        type=ctype, organization_id=uuid.uuid4(), payload=payload.model_construct()
    )
    assert order_key(command) is None
