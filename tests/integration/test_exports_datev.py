"""DATEV export end to end through the real bus, on SQLite and PostgreSQL.

Every produced Buchungsstapel is run through ../shared/datev/datev_check.py --strict.
"""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import invoicing.handlers.exports  # noqa: F401  (registers the export handlers)
import pytest
from invoicing.exports.datev import BOOKING_COLUMNS, DEBTOR_COLUMNS
from invoicing.models import Invoice
from invoicing.models.exports import DatevDebtorAccount, ExportMark, ExportRun
from invoicing.pipeline import Pipeline
from invoicing.pipeline.authenticate import LocalOperator
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.orm import Session

from tests.support.client import DE_ORG, Client, line
from tests.support.documents import export_file
from tests.support.external import require_external
from tests.support.fakes import fake_deps

CHECKER = Path(__file__).resolve().parents[2].parent / "shared" / "datev" / "datev_check.py"
NOW = dt.datetime(2025, 2, 10, 9, 30, tzinfo=dt.UTC)
DATEV = {"consultant_number": 29098, "client_number": 55003}
BE_ADDRESS = {
    "street_address": "Rue de la Loi 16",
    "zip_code": "1000",
    "city": "Bruxelles",
    "country_code": "BE",
}


def check(path: Path) -> None:
    """Run the independent DATEV checker in strict mode (warnings fail too)."""
    require_external(
        CHECKER.exists(), f"DATEV checker not found at {CHECKER}; format check skipped"
    )
    proc = subprocess.run(
        [sys.executable, str(CHECKER), str(path), "--strict"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture
def clock() -> dict[str, dt.datetime]:
    return {"now": NOW}


@pytest.fixture
def dc(engine: Engine, tmp_path: Path, clock: dict[str, dt.datetime]) -> Client:
    """A client whose bus writes exports into tmp_path, with a settable clock."""
    deps = fake_deps(clock=lambda: clock["now"], export_dir=tmp_path / "exports")
    c = Client(Pipeline(engine, deps, LocalOperator()))
    c.setup_org()
    return c


class Export:
    """An unpacked export.completed result."""

    def __init__(self, event: dict[str, Any], workdir: Path, client: Client) -> None:
        self.data = event["data"]
        self.content = export_file(client.bus, client.org, event)  # through get_document
        self.dir = workdir / uuid.uuid4().hex
        self.dir.mkdir()
        with zipfile.ZipFile(io.BytesIO(self.content)) as zf:
            self.names = zf.namelist()
            zf.extractall(self.dir)
        self.batches = sorted(
            p for p in self.dir.iterdir() if p.name.startswith("EXTF_Buchungsstapel")
        )
        for batch in self.batches:
            check(batch)

    def rows(self, batch: int | None = None) -> list[list[str]]:
        """Booking rows as field lists (quotes removed), all batches or one."""
        out: list[list[str]] = []
        for path in self.batches if batch is None else [self.batches[batch]]:
            lines = path.read_bytes().decode("cp1252").split("\r\n")
            for raw in lines[2:]:
                if raw:
                    out.append(
                        [
                            f[1:-1].replace('""', '"') if f.startswith('"') else f
                            for f in _split(raw)
                        ]
                    )
        return out

    def header(self, batch: int = 0) -> list[str]:
        return _split(self.batches[batch].read_bytes().decode("cp1252").split("\r\n")[0])

    def debtors(self) -> list[list[str]]:
        raw = (self.dir / "EXTF_Debitoren_Kreditoren.csv").read_bytes().decode("cp1252")
        lines = raw.split("\r\n")
        assert lines[-1] == ""
        return [_split(x) for x in lines[:-1]]


def _split(line_: str) -> list[str]:
    """Split one DATEV line at ; outside quotes."""
    fields, buf, quoted = [], [], False
    for ch in line_:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            fields.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    fields.append("".join(buf))
    return fields


def export(c: Client, tmp_path: Path, date_from: str, date_to: str, **opts: Any) -> Export:
    out = c.ok("export_datev", {"date_from": date_from, "date_to": date_to, **opts})
    (event,) = out.events
    assert event["type"] == "export.completed"
    return Export(event, tmp_path, c)


def belgian(c: Client) -> uuid.UUID:
    return c.customer(
        company="Brasserie Lumière SRL", vat_id="BE 0477.472.701", address=BE_ADDRESS, locale="fr"
    )


# ----------------------------------------------------------------------------- configuration


def test_export_without_settings_is_rejected(dc: Client) -> None:
    errors = dc.rejected("export_datev", {"date_from": "2025-01-01", "date_to": "2025-01-31"})
    assert errors[0]["code"] == "datev_not_configured"
    assert "configure_datev" in errors[0]["meta"]["hint"]


def test_invalid_settings_are_rejected(dc: Client) -> None:
    errors = dc.rejected("configure_datev", {**DATEV, "debtor_range_start": 1000})
    assert "debtor range" in errors[0]["detail"]
    errors = dc.rejected(
        "configure_datev",
        {**DATEV, "revenue_accounts": [{"category": "standard", "rate": "19", "account": "8200"}]},
    )
    assert "BU-Schlüssel" in errors[0]["detail"]
    errors = dc.rejected("configure_datev", {**DATEV, "consultant_number": 999})
    assert errors[0]["source"]["pointer"] == "/payload/consultant_number"


# ----------------------------------------------------------------------------- scenarios


def test_domestic_19_and_mixed_19_7(dc: Client, tmp_path: Path) -> None:
    dc.ok("configure_datev", DATEV)
    cust = dc.customer()
    dc.finalized(cust, [line("Beratung", "10", "100.00")], issue_date=dt.date(2025, 1, 15))
    dc.finalized(
        cust,
        [line("Beratung", "2", "100.00"), line("Fachbuch", "1", "100.00", tax_rate=7)],
        issue_date=dt.date(2025, 1, 20),
    )
    ex = export(dc, tmp_path, "2025-01-01", "2025-01-31")
    assert ex.header()[:6] == ['"EXTF"', "700", "21", '"Buchungsstapel"', "13", ex.header()[5]]
    assert ex.header()[10:16] == ["29098", "55003", "20250101", "4", "20250101", "20250131"]
    assert ex.header()[20] == "0"  # Festschreibung
    rows = ex.rows()
    assert all(len(r) == 125 for r in rows)
    got = [(r[0], r[1], r[6], r[7], r[8], r[9], r[10], r[113], r[114], r[115]) for r in rows]
    assert got == [
        ("1190,00", "S", "10000", "8400", "", "1501", "RE-2025-001", "0", "15012025", "15012025"),
        ("238,00", "S", "10000", "8400", "", "2001", "RE-2025-002", "0", "20012025", "20012025"),
        ("107,00", "S", "10000", "8300", "", "2001", "RE-2025-002", "0", "20012025", "20012025"),
    ]
    assert rows[0][13].startswith("RE-2025-001 Acme GmbH")
    assert ex.data["counts"]["bookings"] == 3 and ex.data["counts"]["invoices"] == 2
    assert ex.data["checksum"] == "sha256:" + ex.data["document"]["sha256"]
    assert ex.data["document"]["kind"] == "datev-zip" and "location" not in ex.data


def test_intra_eu_goods_and_services_to_belgium(dc: Client, tmp_path: Path) -> None:
    dc.ok("configure_datev", DATEV)
    be = belgian(dc)
    dc.finalized(
        be,
        [
            line("Ware", "1", "800.00", tax_category="intra_eu", tax_rate=0),
            line("Beratung", "1", "500.00", tax_category="reverse_charge", tax_rate=0),
        ],
        issue_date=dt.date(2025, 1, 22),
    )
    rows = export(dc, tmp_path, "2025-01-01", "2025-01-31").rows()
    got = [(r[0], r[1], r[7], r[8], r[39]) for r in rows]
    assert got == [
        ("800,00", "S", "8125", "", "BE0477472701"),
        ("500,00", "S", "8336", "", "BE0477472701"),
    ]


def test_reverse_charge_domestic_and_skr04(dc: Client, tmp_path: Path) -> None:
    dc.ok("configure_datev", {**DATEV, "chart": "SKR04"})
    cust = dc.customer(vat_id="DE136695976")
    dc.finalized(
        cust,
        [
            line("Bauleistung", "1", "1000.00", tax_category="reverse_charge", tax_rate=0),
            line("Beratung", "1", "100.00"),
        ],
        issue_date=dt.date(2025, 1, 5),
    )
    ex = export(dc, tmp_path, "2025-01-01", "2025-01-31", include_payments=True)
    assert ex.header()[26] == '"04"'
    got = [(r[0], r[7], r[39]) for r in ex.rows()]
    # § 13b domestic: 4337, no EU VAT id; 19 % on 4400
    assert got == [("1000,00", "4337", ""), ("119,00", "4400", "")]


def test_credit_note_partial_payments_and_void(
    dc: Client, tmp_path: Path, clock: dict[str, dt.datetime]
) -> None:
    dc.ok("configure_datev", DATEV)
    cust = dc.customer()
    inv = dc.finalized(cust, [line("Beratung", "10", "100.00")], issue_date=dt.date(2025, 1, 15))
    iid = inv["id"]
    dc.ok(
        "record_payment",
        {"invoice_id": iid, "amount": "400.00", "date": "2025-01-20", "reference": "TXN-1"},
    )
    dc.ok("record_payment", {"invoice_id": iid, "amount": "400.00", "date": "2025-01-20"})
    dc.ok(
        "issue_credit_note",
        {"invoice_id": iid, "issue_date": "2025-01-28", "lines": [line("Nachlass", "1", "100.00")]},
    )
    ex = export(dc, tmp_path, "2025-01-01", "2025-01-31", include_payments=True)
    got = [(r[0], r[1], r[6], r[7], r[9], r[10]) for r in ex.rows()]
    assert got == [
        ("1190,00", "S", "10000", "8400", "1501", "RE-2025-001"),
        ("400,00", "S", "1200", "10000", "2001", "RE-2025-001"),
        ("400,00", "S", "1200", "10000", "2001", "RE-2025-001"),
        ("119,00", "H", "10000", "8400", "2801", "RE-2025-001"),
    ]
    credit = ex.rows()[3]
    assert credit[20] == "Gutschriftsnummer" and credit[21] != "RE-2025-001"
    assert credit[13].startswith("Gutschrift ")
    assert ex.data["counts"]["payments"] == 2 and ex.data["counts"]["credit_notes"] == 1
    # voided after export: the void's credit note is the reversal in the next export
    clock["now"] = dt.datetime(2025, 2, 3, 8, 0, tzinfo=dt.UTC)
    dc.ok("void_invoice", {"invoice_id": iid})
    feb = export(dc, tmp_path, "2025-02-01", "2025-02-28", include_payments=True)
    got = [(r[0], r[1], r[7], r[9], r[10]) for r in feb.rows()]
    assert got == [("271,00", "H", "8400", "0302", "RE-2025-001")]  # open: 1190 - 800 - 119
    # the first export, run again, yields the same bookings
    again = export(dc, tmp_path, "2025-01-01", "2025-01-31", include_payments=True)
    assert again.rows() == ex.rows()


def test_reversal_of_an_exported_invoice_voided_without_credit_note(
    dc: Client, tmp_path: Path, engine: Engine
) -> None:
    dc.ok("configure_datev", DATEV)
    cust = dc.customer()
    inv = dc.finalized(
        cust,
        [line("Beratung", "1", "100.00"), line("Buch", "1", "10.00", tax_rate=7)],
        issue_date=dt.date(2025, 1, 15),
    )
    export(dc, tmp_path, "2025-01-01", "2025-01-31")
    with engine.begin() as conn:  # e.g. a legacy import: void without a credit note
        conn.execute(
            update(Invoice)
            .where(Invoice.organization_id == dc.org, Invoice.id == uuid.UUID(inv["id"]))
            .values(status="void", voided_at=dt.datetime(2025, 2, 5, 12, tzinfo=dt.UTC))
        )
    feb = export(dc, tmp_path, "2025-02-01", "2025-02-28")
    got = [(r[0], r[1], r[7], r[9], r[10], r[13][:6]) for r in feb.rows()]
    assert got == [
        ("119,00", "H", "8400", "0502", "RE-2025-001", "Storno"),
        ("10,70", "H", "8300", "0502", "RE-2025-001", "Storno"),
    ]
    assert feb.data["counts"]["reversals"] == 1


def test_texts_with_umlauts_euro_and_bad_invoice_numbers(dc: Client, tmp_path: Path) -> None:
    dc.ok("configure_datev", DATEV)
    cust = dc.customer(company='Bäckerei Schön „Groß“ – 5 € "Brot"\tłódź')
    dc.ok(
        "create_invoice",
        {
            "id": str(uuid.uuid4()),
            "customer_id": str(cust),
            "number": "RE 2025.001_ä:x;y",
            "lines": [line("Brötchen", "1", "10.00", tax_rate=7)],
        },
    )
    iid = dc.sent[-1]["payload"]["id"]
    dc.ok("finalize_invoice", {"invoice_id": iid, "issue_date": "2025-01-09"})
    dc.ok(
        "record_payment",
        {
            "invoice_id": iid,
            "amount": "10.70",
            "date": "2025-01-10",
            "reference": '=HYPERLINK("x")',
        },
    )
    ex = export(dc, tmp_path, "2025-01-01", "2025-01-31", include_payments=True)
    rows = ex.rows()
    assert [r[10] for r in rows] == ["RE-2025-001-aexy"] * 2  # invoice and payment agree
    text_ = rows[0][13]
    assert text_ == 'RE 2025.001_ä:x;y Bäckerei Schön „Groß“ – 5 € "Brot" lódz'
    assert len(text_) <= 60
    raw = ex.batches[0].read_bytes()
    assert "Bäckerei".encode("cp1252") in raw and "€".encode("cp1252") in raw
    assert b"\t" not in raw
    assert ex.data["counts"]["belegfeld_changed"] == 1


def test_fiscal_year_split_and_debtor_master_file(dc: Client, tmp_path: Path) -> None:
    dc.ok("configure_datev", {**DATEV, "fiscal_year_start_month": 7})
    a, b = dc.customer(), belgian(dc)
    dc.finalized(a, [line()], issue_date=dt.date(2025, 6, 30))
    dc.finalized(
        b, [line(tax_category="reverse_charge", tax_rate=0)], issue_date=dt.date(2025, 7, 1)
    )
    dc.finalized(a, [line()], issue_date=dt.date(2026, 1, 2))
    ex = export(dc, tmp_path, "2025-06-01", "2026-01-31")
    assert [p.name for p in ex.batches] == [
        "EXTF_Buchungsstapel_20250601_20250630_001.csv",
        "EXTF_Buchungsstapel_20250701_20251231_001.csv",
        "EXTF_Buchungsstapel_20260101_20260131_001.csv",
    ]
    assert [ex.header(i)[12] for i in range(3)] == ["20240701", "20250701", "20250701"]
    deb = ex.debtors()
    assert deb[0][:6] == ['"EXTF"', "700", "16", '"Debitoren/Kreditoren"', "5", deb[0][5]]
    assert len(deb[0]) == 31 and len(deb[1]) == 254 == len(DEBTOR_COLUMNS)
    body = deb[2:]
    assert [(r[0], r[1], r[6], r[8], r[9]) for r in body] == [
        ("10000", '"Acme GmbH"', '"2"', "", ""),
        ("10001", '"Brasserie Lumière SRL"', '"2"', '"BE"', '"0477472701"'),
    ]
    assert all(len(r) == 254 for r in body)
    assert "EXTF_Debitoren_Kreditoren.csv" in ex.names


def test_debtor_accounts_are_stable_and_pinnable(
    dc: Client, tmp_path: Path, engine: Engine
) -> None:
    a, b = dc.customer(), dc.customer()
    dc.ok("configure_datev", {**DATEV, "debtor_accounts": {str(b): 10042}})
    dc.finalized(a, [line()], issue_date=dt.date(2025, 1, 2))
    dc.finalized(b, [line()], issue_date=dt.date(2025, 1, 3))
    first = [r[6] for r in export(dc, tmp_path, "2025-01-01", "2025-01-31").rows()]
    assert first == ["10000", "10042"]
    c = dc.customer()
    dc.finalized(c, [line()], issue_date=dt.date(2025, 2, 1))
    dc.finalized(a, [line()], issue_date=dt.date(2025, 2, 2))
    second = [r[6] for r in export(dc, tmp_path, "2025-02-01", "2025-02-28").rows()]
    assert second == ["10001", "10000"]
    errors = dc.rejected("configure_datev", {**DATEV, "debtor_accounts": {str(a): 10500}})
    assert errors[0]["code"] == "datev_debtor_changed"
    with engine.connect() as conn:
        n = conn.execute(
            select(func.count())
            .select_from(DatevDebtorAccount)
            .where(DatevDebtorAccount.organization_id == dc.org)
        ).scalar_one()
    assert n == 3


def test_marks_scope_unexported_and_export_record(
    dc: Client, tmp_path: Path, engine: Engine
) -> None:
    dc.ok("configure_datev", DATEV)
    cust = dc.customer()
    inv = dc.finalized(cust, [line()], issue_date=dt.date(2025, 1, 2))
    first = export(dc, tmp_path, "2025-01-01", "2025-01-31", requested_by="steuer@kanzlei.de")
    assert first.data["counts"]["marked_invoices"] == 1
    exported_at = dc.state(inv["id"])  # events are not re-emitted; read the row instead
    with engine.connect() as conn:
        stamp = conn.execute(
            select(Invoice.exported_at).where(Invoice.organization_id == dc.org)
        ).scalar_one()
    assert stamp is not None and exported_at["number"] == "RE-2025-001"
    dc.finalized(cust, [line("Neu")], issue_date=dt.date(2025, 1, 20))
    new_only = export(dc, tmp_path, "2025-01-01", "2025-01-31", scope="unexported")
    assert [r[10] for r in new_only.rows()] == ["RE-2025-002"]
    assert new_only.data["counts"]["marked_invoices"] == 1
    nothing = dc.ok(
        "export_datev", {"date_from": "2025-01-01", "date_to": "2025-01-31", "scope": "unexported"}
    ).events[0]["data"]
    assert nothing["counts"]["bookings"] == 0 and nothing["counts"]["marked_invoices"] == 0
    with engine.connect() as conn:
        marks = conn.execute(
            select(ExportMark.item_id, func.count())
            .where(ExportMark.organization_id == dc.org)
            .group_by(ExportMark.item_id)
        ).all()
        assert sorted(n for _, n in marks) == [1, 1]
        again = conn.execute(
            select(Invoice.exported_at).where(
                Invoice.organization_id == dc.org, Invoice.number == "RE-2025-001"
            )
        ).scalar_one()
        assert again == stamp  # marked once, never re-stamped
    with Session(engine) as session:
        runs = session.scalars(
            select(ExportRun)
            .where(ExportRun.organization_id == dc.org)
            .order_by(ExportRun.created_at)
        ).all()
        assert len(runs) == 3
        (run,) = [r for r in runs if r.checksum == first.data["checksum"]]
        assert run.requested_by == "steuer@kanzlei.de" and run.kind == "datev"
        assert run.counts["bookings"] == 1 and run.date_to == dt.date(2025, 1, 31)
        assert run.location == f"document:{first.data['document']['document_id']}"


def test_foreign_currency_is_booked_in_euro(dc: Client, tmp_path: Path) -> None:
    dc.ok("configure_datev", DATEV)
    cust = dc.customer()
    dc.finalized(
        cust,
        [line("Consulting", "1", "1000.00")],
        issue_date=dt.date(2025, 1, 7),
        currency="USD",
        exchange_rate="0.9234",
    )
    ex = export(dc, tmp_path, "2025-01-01", "2025-01-31")
    assert [(r[0], r[2]) for r in ex.rows()] == [("1098,85", "EUR")]  # 1190 x 0.9234
    assert ex.data["counts"]["skipped_foreign_currency"] == 0


def _docs(c: Client, payload: dict[str, Any]) -> dict[str, Any]:
    return {"type": "list_documents", "organization_id": str(c.org), "payload": payload}


def test_redelivery_after_a_crash_yields_one_file_and_marks_once(
    dc: Client, tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    dc.ok("configure_datev", DATEV)
    cust = dc.customer()
    for day in (2, 3, 4):
        dc.finalized(cust, [line()], issue_date=dt.date(2025, 1, day))
    command_id = uuid.uuid4()
    payload = {"date_from": "2025-01-01", "date_to": "2025-01-31"}

    import invoicing.handlers.exports as handlers

    real: Callable[..., Any] = handlers.mark_exported

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("worker killed after the file was renamed")

    monkeypatch.setattr(handlers, "mark_exported", crash)
    with pytest.raises(RuntimeError):
        dc.send("export_datev", payload, command_id=command_id)
    folder = tmp_path / "exports" / str(dc.org)
    assert list(folder.iterdir()) == []  # the scratch files are gone, nothing was stored
    listed = {"export_id": str(command_id)}
    assert dc.bus.query_document(_docs(dc, listed))["result"]["items"] == []
    monkeypatch.setattr(handlers, "mark_exported", real)
    out = dc.ok("export_datev", payload, command_id=command_id)
    assert list(folder.iterdir()) == []
    (stored,) = dc.bus.query_document(_docs(dc, listed))["result"]["items"]
    assert stored["filename"] == f"datev-{command_id}.zip"
    ex = Export(out.events[0], tmp_path, dc)
    assert len(ex.rows()) == 3 and ex.data["counts"]["marked_invoices"] == 3
    assert dc.send("export_datev", payload, command_id=command_id).status == "duplicate"
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT COUNT(*) FROM export_marks WHERE export_id = :e").bindparams(),
                {"e": command_id if engine.dialect.name == "postgresql" else command_id.hex},
            ).scalar_one()
            == 3
        )


def test_split_at_max_bookings(dc: Client, tmp_path: Path, engine: Engine) -> None:
    from invoicing.exports.datev_db import export_datev
    from invoicing.exports.settings import DatevSettings

    cust = dc.customer()
    for day in range(1, 8):
        dc.finalized(cust, [line(), line("Buch", tax_rate=7)], issue_date=dt.date(2025, 3, day))
    settings = DatevSettings.model_validate(DATEV)
    out = tmp_path / "parts"
    out.mkdir()
    with engine.begin() as conn:
        result = export_datev(
            conn,
            dc.org,
            settings,
            dt.date(2025, 3, 1),
            dt.date(2025, 3, 31),
            out,
            NOW,
            max_bookings=5,
        )
    batches = [p for p in result.files if p.name.startswith("EXTF_Buchungsstapel")]
    assert [p.name[-7:] for p in batches] == ["001.csv", "002.csv", "003.csv", "004.csv"]
    sizes = [len(p.read_bytes().split(b"\r\n")) - 3 for p in batches]
    assert sizes == [4, 4, 4, 2]  # an invoice's two rows stay in one file
    for p in batches:
        check(p)
        assert len(p.read_bytes().split(b"\r\n")[1].split(b";")) == len(BOOKING_COLUMNS)


@pytest.mark.parametrize(("chart", "account"), [("SKR03", "8195"), ("SKR04", "4185")])
def test_small_business_revenue_on_its_own_account(
    dc: Client, tmp_path: Path, chart: str, account: str
) -> None:
    """§ 19 UStG revenue is booked on 8195 (SKR03) / 4185 (SKR04), not on the § 4 exempt
    account; an exempt supply of a regular business stays on 8100 / 4100."""
    dc.ok("configure_datev", {**DATEV, "chart": chart})
    cust = dc.customer()
    exempt = [line("Heilbehandlung", "1", "80.00", tax_category="exempt", tax_rate=0)]
    dc.finalized(cust, exempt, issue_date=dt.date(2025, 1, 5))
    dc.ok("configure_organization", {**DE_ORG, "small_business": True})
    small = [line("Logo", "1", "450.00", tax_category="exempt", tax_rate=0)]
    dc.finalized(cust, small, issue_date=dt.date(2025, 1, 6))
    ex = export(dc, tmp_path, "2025-01-01", "2025-01-31")
    regular = "8100" if chart == "SKR03" else "4100"
    assert [(r[0], r[7], r[8]) for r in ex.rows()] == [
        ("80,00", regular, ""),
        ("450,00", account, ""),
    ]
