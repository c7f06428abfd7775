"""Every core command is documented with an example that its own model accepts."""

from __future__ import annotations

import invoicing.schemas  # noqa: F401
import pytest
from invoicing.schemas.commands import COMMAND_TYPES
from invoicing.schemas.examples import PAYLOADS, example


@pytest.mark.parametrize("ctype", sorted(PAYLOADS))
def test_example_validates(ctype: str) -> None:
    model = COMMAND_TYPES[ctype]
    doc = example(ctype)
    assert model.model_validate(doc).type == ctype
    assert model.model_json_schema()["examples"] == [doc]


def test_every_command_has_an_example() -> None:
    missing = [
        t
        for t, m in COMMAND_TYPES.items()
        if not (m.model_config.get("json_schema_extra") or {}).get("examples")
    ]  # type: ignore[union-attr]
    assert not missing, f"document these commands with an example: {missing}"
