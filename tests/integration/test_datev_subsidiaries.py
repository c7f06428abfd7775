"""Subsidiaries as DATEV clients, end to end through the bus on SQLite and PostgreSQL.

A subsidiary without DATEV settings of its own (a German branch of the same books) is booked in
the organization's client as before; one with its own (``configure_datev`` with
``subsidiary_id``: a Belgian subsidiary with books of its own) is exported apart, under its own
numbers, fiscal year, mapping, Debitor accounts and marks, and never in the organization's
export. Every batch passes ``datev_check.py --strict`` (``Export`` runs it).
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import invoicing.handlers.exports  # noqa: F401  (registers the export handlers)
import pytest
from invoicing.models.exports import DatevDebtorAccount, ExportMark
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import LocalOperator
from sqlalchemy import Engine, select

from tests.integration.test_exports_datev import BE_ADDRESS, DATEV, NOW, Export, export
from tests.integration.test_subsidiaries import BE_SUB, DE_SUB
from tests.support.client import Client, line
from tests.support.fakes import fake_deps

pytestmark = pytest.mark.integration

BE = BE_SUB["id"]
BRANCH = DE_SUB["id"]
JANUARY = {"date_from": "2025-01-01", "date_to": "2025-01-31"}
#: the Belgian subsidiary's own client: its tax advisor's numbers, a fiscal year from April, and
#: the Belgian 21 % on an account of its own that the client treats as automatic
BE_DATEV: dict[str, Any] = {
    "subsidiary_id": BE,
    "consultant_number": 41234,
    "client_number": 70001,
    "fiscal_year_start_month": 4,
    "revenue_accounts": [
        {"category": "standard", "rate": "21", "account": "8401"},
        {"category": "reverse_charge", "region": "eu", "account": "8336"},
    ],
    "automatic_accounts": ["8401", "8336"],
}


@pytest.fixture
def dc(engine: Engine, tmp_path: Path) -> Client:
    deps = fake_deps(clock=lambda: NOW, export_dir=tmp_path / "exports")
    c = Client(Pipeline(engine, deps, LocalOperator()))
    c.setup_org()
    return c


def _belgian_customer(c: Client) -> uuid.UUID:
    return c.customer(company="Brouwerij Janssens NV", vat_id="BE0477472701", address=BE_ADDRESS)


def _group(dc: Client) -> dict[str, uuid.UUID]:
    """The organization (DATEV configured), its German branch and its Belgian subsidiary (no
    DATEV settings of their own yet), a German and a Belgian customer, and one January invoice
    of each issuer: RE-2025-001 (organization), B-2025-001 (branch), BE-2025-0001 (Belgium)."""
    dc.ok("configure_datev", DATEV)
    dc.ok("configure_subsidiary", DE_SUB)
    dc.ok("configure_subsidiary", BE_SUB)
    de, be = dc.customer(vat_id="DE136695976"), _belgian_customer(dc)
    day = dt.date(2025, 1, 15)
    dc.finalized(de, [line("Beratung", "1", "100.00")], issue_date=day)
    dc.finalized(de, [line("Beratung", "2", "100.00")], issue_date=day, subsidiary_id=BRANCH)
    inv = dc.finalized(
        be, [line("Advies", "1", "100.00", tax_rate=21)], issue_date=day, subsidiary_id=BE
    )
    return {"de": de, "be": be, "be_invoice": uuid.UUID(inv["id"])}


def _booked(ex: Export) -> list[tuple[str, str, str, str, str]]:
    """(Umsatz, S/H, Konto, Gegenkonto, Belegfeld 1) of every row."""
    return [(r[0], r[1], r[6], r[7], r[10]) for r in ex.rows()]


def _marks(engine: Engine, org: uuid.UUID) -> dict[str, set[tuple[str, uuid.UUID]]]:
    """client -> {(target, item)} of the organization's export marks."""
    out: dict[str, set[tuple[str, uuid.UUID]]] = {}
    with engine.connect() as conn:
        for client, target, item in conn.execute(
            select(ExportMark.client, ExportMark.target, ExportMark.item_id).where(
                ExportMark.organization_id == org
            )
        ):
            out.setdefault(client, set()).add((target, item))
    return out


def test_a_branch_without_settings_of_its_own_is_booked_in_the_organizations_client(
    dc: Client, tmp_path: Path
) -> None:
    dc.ok("configure_datev", DATEV)
    dc.ok("configure_subsidiary", DE_SUB)
    de = dc.customer()
    day = dt.date(2025, 1, 15)
    dc.finalized(de, [line("Beratung", "1", "100.00")], issue_date=day)
    dc.finalized(de, [line("Beratung", "2", "100.00")], issue_date=day, subsidiary_id=BRANCH)
    ex = export(dc, tmp_path, **JANUARY)
    assert ex.header()[10:12] == ["29098", "55003"]
    assert _booked(ex) == [
        ("238,00", "S", "10000", "8400", "B-2025-001"),
        ("119,00", "S", "10000", "8400", "RE-2025-001"),
    ]
    assert ex.data["subsidiary_id"] is None and ex.data["counts"]["marked_invoices"] == 2
    # it has no client of its own to export
    errors = dc.rejected("export_datev", {**JANUARY, "subsidiary_id": BRANCH})
    assert (errors[0]["code"], errors[0]["status"]) == ("datev_not_configured", "409")
    assert errors[0]["source"]["pointer"] == "/payload/subsidiary_id"
    assert "export without subsidiary_id" in errors[0]["meta"]["hint"]


def test_a_belgian_subsidiary_gets_a_client_of_its_own_and_no_longer_blocks_the_organization(
    dc: Client, tmp_path: Path, engine: Engine
) -> None:
    ids = _group(dc)
    # booked in the organization's client, its 21 % finds no account there: the export says
    # which document of which subsidiary blocked it, and how to give it a client of its own
    (error,) = dc.rejected("export_datev", JANUARY)
    assert error["code"] == "datev_account_missing"
    assert "standard at 21 %" in error["detail"]
    assert f"document BE-2025-0001 of subsidiary {BE}" in error["detail"]
    assert f'configure_datev with subsidiary_id "{BE}"' in error["meta"]["hint"]
    assert f'export it with subsidiary_id "{BE}"' in error["meta"]["hint"]

    configured = dc.ok("configure_datev", BE_DATEV).events[0]
    assert configured["data"]["subsidiary_id"] == BE
    assert configured["data"]["datev"]["seller_country"] == "BE"  # the subsidiary's country
    assert configured["data"]["version"] == 1

    org = export(dc, tmp_path, **JANUARY)  # no longer blocked: the subsidiary is not in it
    assert _booked(org) == [
        ("238,00", "S", "10000", "8400", "B-2025-001"),
        ("119,00", "S", "10000", "8400", "RE-2025-001"),
    ]
    assert org.header()[10:13] == ["29098", "55003", "20250101"]

    be = export(dc, tmp_path, **JANUARY, subsidiary_id=BE)
    # its own consultant and client number, its own fiscal year (from April 2024)
    assert be.header()[10:16] == ["41234", "70001", "20240401", "4", "20250101", "20250131"]
    # its own Debitor numbering (10000 in both clients, for different customers), its mapping;
    # a Belgian buyer is domestic seen from Belgium
    assert _booked(be) == [("121,00", "S", "10000", "8401", "BE-2025-0001")]
    assert be.rows()[0][39] == ""  # no EU VAT id: not an intra-EU supply from Belgium
    assert be.data["subsidiary_id"] == BE and be.data["counts"]["marked_invoices"] == 1
    debtors = be.debtors()
    assert [d[0] for d in debtors[2:]] == ["10000"] and '"Brouwerij Janssens NV"' in debtors[2]
    with engine.connect() as conn:
        accounts = conn.execute(
            select(DatevDebtorAccount.client, DatevDebtorAccount.customer_key)
            .where(DatevDebtorAccount.organization_id == dc.org)
            .where(DatevDebtorAccount.account == 10000)
        ).all()
    assert sorted(accounts) == sorted([("", str(ids["de"])), (BE, str(ids["be"]))])


def test_the_subsidiarys_payments_and_rates_stay_in_its_client(dc: Client, tmp_path: Path) -> None:
    ids = _group(dc)
    dc.ok("configure_datev", BE_DATEV)
    dc.ok(
        "record_payment",
        {"invoice_id": str(ids["be_invoice"]), "amount": "121.00", "date": "2025-01-20"},
    )
    # a German customer of the Belgian subsidiary: an EU reverse charge seen from Belgium
    dc.finalized(
        ids["de"],
        [line("Advies", "1", "500.00", tax_category="reverse_charge", tax_rate=0)],
        issue_date=dt.date(2025, 1, 21),
        subsidiary_id=BE,
    )
    org = export(dc, tmp_path, **JANUARY, include_payments=True)
    assert [r[4] for r in _booked(org)] == ["B-2025-001", "RE-2025-001"]
    be = export(dc, tmp_path, **JANUARY, include_payments=True, subsidiary_id=BE)
    assert _booked(be) == [
        ("121,00", "S", "10000", "8401", "BE-2025-0001"),
        ("121,00", "S", "1200", "10000", "BE-2025-0001"),
        ("500,00", "S", "10001", "8336", "BE-2025-0002"),
    ]
    assert be.rows()[2][39] == "DE136695976"  # the German buyer's VAT id (field 40)
    assert be.data["counts"]["payments"] == 1


def test_exporting_one_client_marks_nothing_of_the_other(
    dc: Client, tmp_path: Path, engine: Engine
) -> None:
    _group(dc)
    dc.ok("configure_datev", BE_DATEV)
    unexported = {**JANUARY, "scope": "unexported"}
    org = export(dc, tmp_path, **unexported)
    assert org.data["counts"]["marked_invoices"] == 2
    marks = _marks(engine, dc.org)
    assert set(marks) == {""} and len(marks[""]) == 2
    # the organization's export marked nothing of the subsidiary: its export has all of it
    be = export(dc, tmp_path, **unexported, subsidiary_id=BE)
    assert [r[4] for r in _booked(be)] == ["BE-2025-0001"]
    marks = _marks(engine, dc.org)
    assert len(marks[""]) == 2 and len(marks[BE]) == 1
    assert not {item for _, item in marks[""]} & {item for _, item in marks[BE]}
    # and each client's next unexported run is empty
    for extra in ({}, {"subsidiary_id": BE}):
        again = dc.ok("export_datev", {**unexported, **extra}).events[0]["data"]
        assert again["counts"]["bookings"] == 0 and again["counts"]["marked_invoices"] == 0
    listed = dc.answer("list_invoices", {"filter": {"export_status": "unexported"}})
    assert listed["items"] == []


def test_refusals_name_the_subsidiary_and_what_to_do(dc: Client) -> None:
    dc.ok("configure_datev", DATEV)
    errors = dc.rejected("export_datev", {**JANUARY, "subsidiary_id": "nirgendwo"})
    assert (errors[0]["code"], errors[0]["status"]) == ("subsidiary_not_found", "404")
    assert errors[0]["source"]["pointer"] == "/payload/subsidiary_id"
    assert "configure_subsidiary" in errors[0]["meta"]["hint"]
    errors = dc.rejected("configure_datev", {**BE_DATEV, "subsidiary_id": "nirgendwo"})
    assert errors[0]["code"] == "subsidiary_not_found"
    assert errors[0]["source"]["pointer"] == "/payload/subsidiary_id"
    dc.ok("configure_subsidiary", BE_SUB)
    errors = dc.rejected("export_datev", {**JANUARY, "subsidiary_id": BE})
    assert errors[0]["code"] == "datev_not_configured"
    assert f'configure_datev with subsidiary_id "{BE}"' in errors[0]["meta"]["hint"]
    # its own settings are checked as the organization's are
    errors = dc.rejected("configure_datev", {**BE_DATEV, "automatic_accounts": []})
    assert "BU-Schlüssel" in errors[0]["detail"]


def test_a_subsidiarys_client_pins_its_own_debtors_and_maps_its_own_rates(
    dc: Client, tmp_path: Path
) -> None:
    ids = _group(dc)
    # the same customer may hold the same account in both clients, and the organization's pin
    # is not the subsidiary's
    dc.ok("configure_datev", {**DATEV, "debtor_accounts": {str(ids["be"]): 10500}})
    dc.ok("configure_datev", {**BE_DATEV, "debtor_accounts": {str(ids["be"]): 10500}})
    dc.ok("configure_datev", {**BE_DATEV, "debtor_accounts": {str(ids["de"]): 10042}})
    errors = dc.rejected("configure_datev", {**BE_DATEV, "debtor_accounts": {str(ids["be"]): 1}})
    assert errors[0]["code"] == "datev_debtor_out_of_range"
    be = export(dc, tmp_path, **JANUARY, subsidiary_id=BE)
    assert [r[2] for r in _booked(be)] == ["10500"]
    # a rate its client does not map: the hint points at its own settings
    dc.finalized(
        ids["be"],
        [line("Boek", "1", "100.00", tax_rate=6)],
        issue_date=dt.date(2025, 1, 30),
        subsidiary_id=BE,
    )
    (error,) = dc.rejected("export_datev", {**JANUARY, "subsidiary_id": BE})
    assert error["code"] == "datev_account_missing"
    assert f"document BE-2025-0002 of subsidiary {BE}" in error["detail"]
    assert f'configure_datev and subsidiary_id "{BE}"' in error["meta"]["hint"]


def test_a_write_off_the_client_has_no_account_for_names_its_document(dc: Client) -> None:
    ids = _group(dc)
    dc.ok("configure_datev", BE_DATEV)
    wid = str(uuid.uuid4())
    dc.ok(
        "write_off_invoice",
        {
            "invoice_id": str(ids["be_invoice"]),
            "write_off_id": wid,
            "date": "2025-02-10",
            "reason": "uncollectible",
            "ground": "insolvency",  # Belgian law refunds the VAT then (art. 77 Code TVA)
        },
    )
    february = {"date_from": "2025-02-01", "date_to": "2025-02-28", "subsidiary_id": BE}
    (error,) = dc.rejected("export_datev", february)
    assert error["code"] == "datev_account_missing"
    assert error["detail"].startswith("no DATEV account is known for a uncollectible write-off")
    assert f"document BE-2025-0001 of subsidiary {BE}" in error["detail"]
    assert "book that write-off by hand" in error["meta"]["hint"]
    # the organization's export of the month does not hold it
    assert dc.ok("export_datev", {**february, "subsidiary_id": None}).status == "applied"
