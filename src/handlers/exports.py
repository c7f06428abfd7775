"""configure_datev, export_datev, export_csv.

The file (``datev-<command_id>.zip``, ``invoices-<command_id>.csv``) is built in a scratch
directory under ``deps.export_dir`` (``<data_dir>/exports/<organization>/.<kind>-<id>.parts``,
emptied first and removed afterwards) and then stored in the document store in the command's
transaction, with the export record, the per-item export marks and ``invoices.exported_at``:
the document exists exactly when the export committed, and every worker and listener reads it
with ``get_document`` (``export.completed`` carries its reference). A redelivered command
(worker killed before the commit) builds the same file again and marks nothing twice.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from invoicing.documents.store import DocumentInfo, export_document_id
from invoicing.domain import subsidiaries
from invoicing.exports.csv_export import write_invoice_csv
from invoicing.exports.datev_db import (
    DatevResult,
    assign_debtor_accounts,
    export_datev,
    mark_exported,
)
from invoicing.exports.files import organization_folder, scratch, zip_files
from invoicing.exports.settings import DatevConfiguration, DatevSettings
from invoicing.handlers.registry import Deps, Event, handles
from invoicing.handlers.repository import calendar_of
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.models import Subsidiary
from invoicing.models.exports import DatevSettingsRecord, ExportRun
from invoicing.schemas.exports import ConfigureDatev, ExportCsv, ExportDatev
from sqlalchemy import Connection, select

DATEV_FORMAT = "EXTF 700/21 v13 (zip)"
ZIP = "application/zip"


def _record(
    uow: UnitOfWork, organization_id: Any, client: str, *, lock: bool = False
) -> DatevSettingsRecord | None:
    stmt = select(DatevSettingsRecord).where(
        DatevSettingsRecord.organization_id == organization_id, DatevSettingsRecord.client == client
    )
    return uow.session.scalars(stmt.with_for_update() if lock else stmt).first()


def load_client(
    uow: UnitOfWork, organization_id: Any, subsidiary_id: str | None
) -> tuple[DatevSettings, subsidiaries.DatevScope]:
    """The settings and scope of one DATEV client's export (``subsidiary_id`` None: the
    organization's), or why there is none (``subsidiaries.datev_scope``). Its settings row is
    locked for the export: one export per client at a time. The organization's export reads
    which subsidiaries have clients of their own under its lock, which ``configure_datev`` of a
    subsidiary takes too (``_configured``), so that set does not change under it."""
    session = uow.session
    exists = subsidiary_id is None or (
        session.get(Subsidiary, (organization_id, subsidiary_id)) is not None
    )
    client = subsidiary_id or subsidiaries.ORGANIZATION_CLIENT
    record = _record(uow, organization_id, client, lock=True) if exists else None
    own = session.scalars(
        select(DatevSettingsRecord.client).where(
            DatevSettingsRecord.organization_id == organization_id,
            DatevSettingsRecord.client != subsidiaries.ORGANIZATION_CLIENT,
        )
    ).all()
    scope = subsidiaries.datev_scope(
        subsidiary_id, exists=exists, configured=record is not None, own_clients=own
    )
    assert record is not None  # datev_scope refused otherwise
    return DatevSettings.model_validate(record.settings), scope


def _configured(
    uow: UnitOfWork, organization_id: Any, p: DatevConfiguration
) -> tuple[str, DatevSettings]:
    """(client, settings) of a configure_datev: the organization's, or a subsidiary's own (it
    must exist; its country is the default seller_country). A subsidiary's waits for a running
    export of the organization (its row locked): that export reads who has a client of its own."""
    fields = p.model_dump(mode="json", exclude={"debtor_accounts", "subsidiary_id"})
    if p.subsidiary_id is None:
        return subsidiaries.ORGANIZATION_CLIENT, DatevSettings.model_validate(fields)
    sub = uow.session.get(Subsidiary, (organization_id, p.subsidiary_id))
    if sub is None:
        raise subsidiaries.unknown(p.subsidiary_id)
    _record(uow, organization_id, subsidiaries.ORGANIZATION_CLIENT, lock=True)
    defaults = subsidiaries.datev_defaults(sub.profile or {})
    fields.update({k: v for k, v in defaults.items() if k not in p.model_fields_set})
    return p.subsidiary_id, DatevSettings.model_validate(fields)


@handles(ConfigureDatev)
def configure_datev(cmd: ConfigureDatev, uow: UnitOfWork, deps: Deps) -> list[Event]:
    now, org_id, p = deps.now(), cmd.organization_id, cmd.payload
    client, settings = _configured(uow, org_id, p)
    stored = settings.model_dump(mode="json")
    record = uow.session.get(DatevSettingsRecord, (org_id, client), with_for_update=True)
    if record is None:
        record = DatevSettingsRecord(
            organization_id=org_id, client=client, settings=stored, version=1, updated_at=now
        )
        uow.session.add(record)
    else:
        record.settings = stored
        record.version += 1
        record.updated_at = now
    uow.session.flush()
    conn = uow.session.connection()
    assign_debtor_accounts(conn, org_id, client, settings, dict(p.debtor_accounts), now)
    data = {
        "organization_id": str(org_id),
        "subsidiary_id": p.subsidiary_id,
        "datev": stored,
        "version": record.version,
    }
    return [Event("datev.configured", str(org_id), data)]


def _store(
    uow: UnitOfWork, deps: Deps, cmd: ExportDatev | ExportCsv, file: Path, kind: str, media: str
) -> DocumentInfo:
    """The finished file into the document store (the command's transaction): every worker
    and every listener reads it with get_document, wherever it was built."""
    return deps.document_store.put(
        uow.session,
        org_id=cmd.organization_id,
        document_id=export_document_id(cmd.command_id),
        kind=kind,
        filename=file.name,
        media_type=media,
        source=file,
        frozen=True,
        export_id=cmd.command_id,
        now=deps.now(),
    )


def _completed(
    uow: UnitOfWork,
    cmd: ExportDatev | ExportCsv,
    now: dt.datetime,
    run: dict[str, Any],
    event: dict[str, Any],
    doc: DocumentInfo,
) -> list[Event]:
    """Record the finished export (``run``: kind, counts, files, dates) with its stored file
    ``doc``, and the ``export.completed`` event (``event``: what it adds to the run's facts)."""
    checksum = f"sha256:{doc.sha256}"
    uow.session.add(
        ExportRun(
            organization_id=cmd.organization_id,
            id=cmd.command_id,
            status="completed",
            requested_by=cmd.payload.requested_by,
            options=cmd.payload.model_dump(mode="json"),
            checksum=checksum,
            location=f"document:{doc.id}",
            created_at=now,
            **run,
        )
    )
    data = {
        "export_id": str(cmd.command_id),
        "kind": run["kind"],
        **event,
        "document": doc.ref(),
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


def _bookings(
    conn: Connection,
    cmd: ExportDatev,
    settings: DatevSettings,
    scope: subsidiaries.DatevScope,
    work: Path,
    now: dt.datetime,
) -> DatevResult:
    """The export's files in ``work`` (exports/datev_db.py): its range, options and client."""
    p = cmd.payload
    return export_datev(
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
        scope=scope,
    )


@handles(ExportDatev)
def export_datev_handler(cmd: ExportDatev, uow: UnitOfWork, deps: Deps) -> list[Event]:
    p, now, org_id, conn = cmd.payload, deps.now(), cmd.organization_id, uow.session.connection()
    settings, scope = load_client(uow, org_id, p.subsidiary_id)  # locks the client's settings
    folder = organization_folder(deps.export_dir, org_id)
    with scratch(folder / f".datev-{cmd.command_id}.parts") as work:
        result = _bookings(conn, cmd, settings, scope, work, now)
        zip_files(result.files, work / f"datev-{cmd.command_id}.zip", now)
        doc = _store(uow, deps, cmd, work / f"datev-{cmd.command_id}.zip", "datev-zip", ZIP)
    span = {"date_from": p.date_from, "date_to": p.date_to}
    marked = mark_exported(
        conn,
        org_id,
        settings,
        scope,
        **span,
        export_id=cmd.command_id,
        now=now,
        include_payments=p.include_payments,
    )
    result.fx.keep(cmd.command_id, now)  # what it booked stays booked (exports/datev_fx.py)
    counts = {**result.counts, **_marked_counts(marked)}
    run = {"kind": "datev", "counts": counts, "files": result.batches}
    event: dict[str, Any] = {k: d.isoformat() for k, d in span.items()}
    event |= {"format": DATEV_FORMAT, "subsidiary_id": p.subsidiary_id, "files": result.batches}
    return _completed(uow, cmd, now, {**run, **span}, event, doc)


@handles(ExportCsv)
def export_csv_handler(cmd: ExportCsv, uow: UnitOfWork, deps: Deps) -> list[Event]:
    p, now = cmd.payload, deps.now()
    folder = organization_folder(deps.export_dir, cmd.organization_id)
    with scratch(folder / f".csv-{cmd.command_id}.parts") as work:
        file = work / f"invoices-{cmd.command_id}.csv"
        rows = write_invoice_csv(
            uow.session.connection(),
            cmd.organization_id,
            p.filters,
            file,
            delimiter=p.delimiter,
            bom=p.bom,
            cal=calendar_of(uow, cmd.organization_id, deps),  # fuzzy dates, aging, timestamps
        )
        doc = _store(uow, deps, cmd, file, "csv", "text/csv")
    run = {
        "kind": "csv",
        "counts": {"invoices": rows},
        "files": [{"name": file.name, "rows": rows}],
        "date_from": p.filters.issue_date_from,
        "date_to": p.filters.issue_date_to,
    }
    return _completed(uow, cmd, now, run, {}, doc)
