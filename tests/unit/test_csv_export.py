"""Formula-injection neutralization of CSV cells."""

from __future__ import annotations

import pytest
from invoicing.exports.csv_export import COLUMNS, neutralize


@pytest.mark.parametrize(
    "value", ["=1+1", "+49 221", "-5", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x")']
)
def test_dangerous_cells_are_prefixed(value: str) -> None:
    assert neutralize(value) == "'" + value


@pytest.mark.parametrize("value", ["RE-2025-001", "Müller GmbH", "", " =x", "1+1"])
def test_harmless_cells_are_unchanged(value: str) -> None:
    assert neutralize(value) == value


def test_columns_are_unique() -> None:
    assert len(set(COLUMNS)) == len(COLUMNS)


def test_the_contract_names_every_column_in_order() -> None:
    """``export_csv``'s description in the contract lists the columns as the file has them."""
    from invoicing.schemas.exports import ExportCsv

    doc = " ".join((ExportCsv.__doc__ or "").split())
    listed = doc.split("columns: ", 1)[1].split(". ", 1)[0]
    assert [c.strip() for c in listed.split(",")] == list(COLUMNS)
