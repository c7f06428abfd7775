"""configure_datev, export_datev, export_csv.

Exports are written under ``deps.export_dir`` (``<data_dir>/exports``, set in bootstrap) as
``<organization>/datev-<command_id>.zip`` and ``<organization>/invoices-<command_id>.csv``.
The file is gathered under a temporary name and renamed atomically once complete; the export
record, the per-item export marks and ``invoices.exported_at`` are written in the command's
transaction. A redelivered command (worker killed after the rename, before the commit)
rewrites the same file name and marks nothing twice.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from invoicing.domain.errors import DomainError
from invoicing.exports.csv_export import write_invoice_csv
from invoicing.exports.datev_db import assign_debtor_accounts, export_datev, mark_exported
from invoicing.exports.files import organization_folder, scratch, sha256, staged, zip_files
from invoicing.exports.settings import DatevSettings
from invoicing.handlers.registry import Deps, Event, handles
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.models.exports import DatevSettingsRecord, ExportRun
from invoicing.schemas.exports import ConfigureDatev, ExportCsv, ExportDatev
from sqlalchemy import select

DATEV_FORMAT = "EXTF 700/21 v13 (zip)"


def load_settings(uow: UnitOfWork, organization_id: Any, *, lock: bool = False) -> DatevSettings:
    stmt = select(DatevSettingsRecord).where(DatevSettingsRecord.organization_id == organization_id)
    if lock:
        stmt = stmt.with_for_update()
    record = uow.session.scalars(stmt).first()
    if record is None:
        raise DomainError(
            "datev_not_configured",
            "this organization has no DATEV settings (Beraternummer, Mandantennummer, SKR)",
            pointer="",
            hint="send configure_datev first (scope organizations:admin)",
            status="409",
            title="Not Configured",
        )
    return DatevSettings.model_validate(record.settings)


@handles(ConfigureDatev)
def configure_datev(cmd: ConfigureDatev, uow: UnitOfWork, deps: Deps) -> list[Event]:
    now = deps.now()
    settings = DatevSettings.model_validate(
        cmd.payload.model_dump(mode="json", exclude={"debtor_accounts"})
    )
    stored = settings.model_dump(mode="json")
    record = uow.session.get(DatevSettingsRecord, cmd.organization_id, with_for_update=True)
    if record is None:
        record = DatevSettingsRecord(
            organization_id=cmd.organization_id, settings=stored, version=1, updated_at=now
        )
        uow.session.add(record)
    else:
        record.settings = stored
        record.version += 1
        record.updated_at = now
    uow.session.flush()
    assign_debtor_accounts(
        uow.session.connection(),
        cmd.organization_id,
        settings,
        dict(cmd.payload.debtor_accounts),
        now,
    )
    data = {"organization_id": str(cmd.organization_id), "datev": stored, "version": record.version}
    return [Event("datev.configured", str(cmd.organization_id), data)]


def _completed(
    uow: UnitOfWork,
    cmd: ExportDatev | ExportCsv,
    now: dt.datetime,
    run: dict[str, Any],
    event: dict[str, Any],
) -> list[Event]:
    """Record the finished export (``run``: kind, location, counts, files, dates) with its
    checksum, and the ``export.completed`` event (``event``: what it adds to the run's facts)."""
    checksum = sha256(Path(run["location"]))
    uow.session.add(
        ExportRun(
            organization_id=cmd.organization_id,
            id=cmd.command_id,
            status="completed",
            requested_by=cmd.payload.requested_by,
            options=cmd.payload.model_dump(mode="json"),
            checksum=checksum,
            created_at=now,
            **run,
        )
    )
    data = {
        "export_id": str(cmd.command_id),
        "kind": run["kind"],
        **event,
        "location": run["location"],
        "checksum": checksum,
        "counts": run["counts"],
        "requested_by": cmd.payload.requested_by,
    }
    return [Event("export.completed", f"export:{cmd.command_id}", data)]


def _marked_counts(marked: dict[str, int]) -> dict[str, int]:
    """The export marks set (``mark_exported``), as the run's counts name them."""
    return {
        "marked_invoices": marked["invoice"],
        "marked_payments": marked.get("payment", 0),
        "marked_reversals": marked["reversal"],
    }


@handles(ExportDatev)
def export_datev_handler(cmd: ExportDatev, uow: UnitOfWork, deps: Deps) -> list[Event]:
    p, now, org_id, conn = cmd.payload, deps.now(), cmd.organization_id, uow.session.connection()
    # one export per organization at a time: the settings row is the lock
    settings = load_settings(uow, org_id, lock=True)
    folder = organization_folder(deps.export_dir, org_id)
    final = folder / f"datev-{cmd.command_id}.zip"
    with scratch(folder / f".datev-{cmd.command_id}.parts") as work, staged(final) as tmp:
        result = export_datev(
            conn,
            org_id,
            settings,
            p.date_from,
            p.date_to,
            work,
            now,
            include_payments=p.include_payments,
            unexported=p.scope == "unexported",
            monthly=p.split_monthly,
        )
        zip_files(result.files, tmp)
    marked = mark_exported(
        conn, org_id, settings, p.date_from, p.date_to, cmd.command_id, now, p.include_payments
    )
    counts = {**result.counts, **_marked_counts(marked)}
    span = {"date_from": p.date_from, "date_to": p.date_to}
    run = {"kind": "datev", "location": str(final), "counts": counts, "files": result.batches}
    event = {"format": DATEV_FORMAT, **{k: d.isoformat() for k, d in span.items()}}
    return _completed(uow, cmd, now, {**run, **span}, {**event, "files": result.batches})


@handles(ExportCsv)
def export_csv_handler(cmd: ExportCsv, uow: UnitOfWork, deps: Deps) -> list[Event]:
    p, now = cmd.payload, deps.now()
    final = organization_folder(deps.export_dir, cmd.organization_id) / (
        f"invoices-{cmd.command_id}.csv"
    )
    with staged(final) as tmp:
        rows = write_invoice_csv(
            uow.session.connection(),
            cmd.organization_id,
            p.filters,
            tmp,
            delimiter=p.delimiter,
            bom=p.bom,
            today=now.date(),
        )
    run = {
        "kind": "csv",
        "location": str(final),
        "counts": {"invoices": rows},
        "files": [{"name": final.name, "rows": rows}],
        "date_from": p.filters.issue_date_from,
        "date_to": p.filters.issue_date_to,
    }
    return _completed(uow, cmd, now, run, {})
