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
import hashlib
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any

from invoicing.domain.errors import DomainError
from invoicing.exports.csv_export import write_invoice_csv
from invoicing.exports.datev_db import assign_debtor_accounts, export_datev, mark_exported
from invoicing.exports.settings import DatevSettings
from invoicing.handlers.registry import Deps, Event, handles
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.models.exports import DatevSettingsRecord, ExportRun
from invoicing.schemas.exports import ConfigureDatev, ExportCsv, ExportDatev
from sqlalchemy import select


def export_dir(deps: Deps) -> Path:
    return deps.export_dir


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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def _publish(tmp: Path, final: Path) -> None:
    """fsync and rename atomically: readers see the old file or the complete new one."""
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    try:
        dir_fd = os.open(final.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _zip(files: list[Path], target: Path) -> None:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            zf.write(path, arcname=path.name)


@handles(ExportDatev)
def export_datev_handler(cmd: ExportDatev, uow: UnitOfWork, deps: Deps) -> list[Event]:
    p = cmd.payload
    now = deps.now()
    # one export per organization at a time: the settings row is the lock
    settings = load_settings(uow, cmd.organization_id, lock=True)
    folder = export_dir(deps) / str(cmd.organization_id)
    folder.mkdir(parents=True, exist_ok=True)
    work = folder / f".datev-{cmd.command_id}.parts"
    shutil.rmtree(work, ignore_errors=True)  # leftovers of a killed attempt
    work.mkdir()
    final = folder / f"datev-{cmd.command_id}.zip"
    tmp = folder / f".datev-{cmd.command_id}.zip.tmp"
    conn = uow.session.connection()
    try:
        result = export_datev(
            conn,
            cmd.organization_id,
            settings,
            p.date_from,
            p.date_to,
            work,
            now,
            include_payments=p.include_payments,
            unexported=p.scope == "unexported",
            monthly=p.split_monthly,
        )
        _zip(result.files, tmp)
        _publish(tmp, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        tmp.unlink(missing_ok=True)
    checksum = _sha256(final)
    marked = mark_exported(
        conn,
        cmd.organization_id,
        settings,
        p.date_from,
        p.date_to,
        cmd.command_id,
        now,
        p.include_payments,
    )
    counts: dict[str, int] = {
        **result.counts,
        "marked_invoices": marked["invoice"],
        "marked_payments": marked.get("payment", 0),
        "marked_reversals": marked["reversal"],
    }
    run = ExportRun(
        organization_id=cmd.organization_id,
        id=cmd.command_id,
        kind="datev",
        status="completed",
        date_from=p.date_from,
        date_to=p.date_to,
        requested_by=p.requested_by,
        options=p.model_dump(mode="json"),
        location=str(final),
        checksum=checksum,
        counts=counts,
        files=result.batches,
        created_at=now,
    )
    uow.session.add(run)
    data = {
        "export_id": str(cmd.command_id),
        "kind": "datev",
        "format": "EXTF 700/21 v13 (zip)",
        "date_from": p.date_from.isoformat(),
        "date_to": p.date_to.isoformat(),
        "location": str(final),
        "checksum": checksum,
        "counts": counts,
        "files": result.batches,
        "requested_by": p.requested_by,
    }
    return [Event("export.completed", f"export:{cmd.command_id}", data)]


@handles(ExportCsv)
def export_csv_handler(cmd: ExportCsv, uow: UnitOfWork, deps: Deps) -> list[Event]:
    p = cmd.payload
    now = deps.now()
    folder = export_dir(deps) / str(cmd.organization_id)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"invoices-{cmd.command_id}.csv"
    tmp = folder / f".invoices-{cmd.command_id}.csv.tmp"
    try:
        rows = write_invoice_csv(
            uow.session.connection(),
            cmd.organization_id,
            p.filters,
            tmp,
            delimiter=p.delimiter,
            bom=p.bom,
            today=_date(now),
        )
        _publish(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    checksum = _sha256(final)
    counts = {"invoices": rows}
    uow.session.add(
        ExportRun(
            organization_id=cmd.organization_id,
            id=cmd.command_id,
            kind="csv",
            status="completed",
            date_from=p.filters.issue_date_from,
            date_to=p.filters.issue_date_to,
            requested_by=p.requested_by,
            options=p.model_dump(mode="json"),
            location=str(final),
            checksum=checksum,
            counts=counts,
            files=[{"name": final.name, "rows": rows}],
            created_at=now,
        )
    )
    data = {
        "export_id": str(cmd.command_id),
        "kind": "csv",
        "location": str(final),
        "checksum": checksum,
        "counts": counts,
        "requested_by": p.requested_by,
    }
    return [Event("export.completed", f"export:{cmd.command_id}", data)]


def _date(now: dt.datetime) -> dt.date:
    return now.date()
