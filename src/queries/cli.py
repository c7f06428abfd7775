"""``invoicing query ...``: the query documents for people, as Rich tables or ``--json``.

Each command builds the same query document a service would send and answers it with
the pipeline against the configured database (DATABASE_URL, else the embedded SQLite
file). Whoever runs the CLI on the database holds every grant (``LocalOperator``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

query_app = typer.Typer(no_args_is_help=True, help="Read invoices, payments, customers ...")

Org = Annotated[
    str,
    typer.Option("--org", envvar="INVOICING_ORGANIZATION_ID", help="organization id (the tenant)"),
]
AsJson = Annotated[bool, typer.Option("--json", help="print the reply as JSON")]
Page = Annotated[int, typer.Option(help="page number, from 1")]
PageSize = Annotated[int, typer.Option(help="items per page (at most 200)")]
Sort = Annotated[
    list[str] | None, typer.Option("--sort", help="sort key, -key for descending; repeatable")
]


def _run(doc: dict[str, Any] | str) -> dict[str, Any]:
    """Answer a query document (or its JSON text) through the pipeline, as the operator."""
    from invoicing import bootstrap

    application = bootstrap.local()
    try:
        if isinstance(doc, str):
            return application.pipeline.query_raw(doc)
        return application.pipeline.query_document(doc)
    finally:
        application.engine.dispose()


def _answer(qtype: str, org: str, payload: dict[str, Any], as_json: bool) -> dict[str, Any]:
    reply = _run({"type": qtype, "organization_id": org, "payload": payload})
    if reply["status"] != "ok":
        _fail(reply)
    if as_json:
        sys.stdout.write(json.dumps(reply["result"], ensure_ascii=False, indent=2) + "\n")
    result: dict[str, Any] = reply["result"]
    return result


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v not in (None, [], False)}


#: columns that hold amounts
MONEY_COLUMNS = {"gross", "open", "amount", "net", "tax", "paid", "credited", "total"}


def _table(title: str, columns: list[str], rows: list[list[Any]], page: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    cells = [["" if cell is None else str(cell) for cell in row] for row in rows]
    for i, col in enumerate(columns):
        if col in MONEY_COLUMNS:
            # amounts are never cut nor wrapped: the column is as wide as its widest amount
            width = max([len(col), *(len(r[i]) for r in cells)])
            table.add_column(col, justify="right", no_wrap=True, min_width=width)
        else:  # text wraps (folds) at narrow terminals, it is never cut with an ellipsis
            table.add_column(col, justify="left", overflow="fold")
    for row in cells:
        table.add_row(*row)
    console = Console()
    console.print(table)
    if page:
        console.print(_page_line(page), style="dim")


def _page_line(page: dict[str, Any]) -> str:
    """``page 1 of 3, 120 in all``; where counting stopped (``total_exact`` false: more match
    than ``total``, at least one page more) ``page 1 of 2 or more, more than 50 in all``."""
    if page.get("total_exact", True):
        return f"page {page['page']} of {max(page['pages'], 1)}, {page['total']} in all"
    return f"page {page['page']} of {page['pages'] + 1} or more, more than {page['total']} in all"


def _invoice_rows(items: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            inv["number"] or "(draft)",
            inv["kind"],
            inv["status"] + (" overdue" if inv["overdue"] else ""),
            inv["issue_date"],
            inv["due_date"],
            (inv["buyer"] or {}).get("name") or inv["customer_id"],
            inv["currency"],
            inv["totals"]["gross_total"],
            inv["totals"]["open_amount"],
            inv["id"],
        ]
        for inv in items
    ]


INVOICE_COLUMNS = ["number", "kind", "status", "issued", "due", "customer", "cur", "gross"]
INVOICE_COLUMNS += ["open", "id"]


@query_app.command("invoices")
def invoices(
    org: Org,
    status: Annotated[
        list[str] | None,
        typer.Option(help="draft finalized sent partially_paid paid void overdue open"),
    ] = None,
    kind: Annotated[list[str] | None, typer.Option(help="invoice credit_note quote")] = None,
    customer: Annotated[list[str] | None, typer.Option(help="customer id")] = None,
    from_date: Annotated[str | None, typer.Option("--from", help="issue date from")] = None,
    to_date: Annotated[str | None, typer.Option("--to", help="issue date to")] = None,
    due_from: Annotated[str | None, typer.Option()] = None,
    due_to: Annotated[str | None, typer.Option()] = None,
    number: Annotated[str | None, typer.Option()] = None,
    search: Annotated[str | None, typer.Option(help="in number and customer name")] = None,
    currency: Annotated[list[str] | None, typer.Option()] = None,
    tag: Annotated[list[str] | None, typer.Option(help="has every given tag")] = None,
    case: Annotated[str | None, typer.Option(help="case id")] = None,
    project: Annotated[str | None, typer.Option(help="project reference")] = None,
    payment_status: Annotated[str | None, typer.Option(help="paid unpaid partially_paid")] = None,
    export_status: Annotated[str | None, typer.Option(help="exported unexported")] = None,
    sent_status: Annotated[str | None, typer.Option(help="sent unsent")] = None,
    min_gross: Annotated[str | None, typer.Option(help="gross total at least")] = None,
    max_gross: Annotated[str | None, typer.Option(help="gross total at most")] = None,
    deleted: Annotated[str, typer.Option(help="exclude include only")] = "exclude",
    where: Annotated[
        list[str] | None,
        typer.Option(
            "--where",
            help='any filter field with an operator, repeatable: "gross_total>=100", '
            '"issue_date=last_month", "creator_id in p1,p2", "purchase_order_number~4711", '
            '"credited=true", "status=sent,overdue" (= != > >= < <= ~ in, not in)',
        ),
    ] = None,
    filter_json: Annotated[
        str | None,
        typer.Option("--filter", help="the filter as a JSON object (as in list_invoices)"),
    ] = None,
    as_of: Annotated[str | None, typer.Option(help="the day fuzzy ranges count from")] = None,
    sort: Sort = None,
    page: Page = 1,
    page_size: PageSize = 50,
    as_json: AsJson = False,
) -> None:
    """List invoices, credit notes and quotes with filters, sort and pages.

    Every field of the list_invoices filter works through --where or --filter
    (docs/seed-mapping.md lists them with the seeds' names)."""
    flt = _clean(
        {
            "status": status,
            "kind": kind,
            "customer_id": customer,
            "issue_date_from": from_date,
            "issue_date_to": to_date,
            "due_date_from": due_from,
            "due_date_to": due_to,
            "number": number,
            "search": search,
            "currency": currency,
            "tags": tag,
            "case_id": case,
            "project_reference": project,
            "payment_status": payment_status,
            "export_status": export_status,
            "sent_status": sent_status,
            "gross_total_min": min_gross,
            "gross_total_max": max_gross,
            "as_of": as_of,
        }
    )
    flt["deleted"] = deleted
    if filter_json:
        try:
            given = json.loads(filter_json)
        except json.JSONDecodeError as exc:
            raise typer.BadParameter(f"not JSON: {exc}", param_hint="--filter") from exc
        if not isinstance(given, dict):
            raise typer.BadParameter("must be a JSON object", param_hint="--filter")
        flt.update(given)
    for spec in where or []:
        _merge_condition(flt, *parse_where(spec))
    payload = _clean({"filter": flt, "sort": sort, "page": page, "page_size": page_size})
    result = _answer("list_invoices", org, payload, as_json)
    if not as_json:
        _table("invoices", INVOICE_COLUMNS, _invoice_rows(result["items"]), result["page"])


@query_app.command("invoice")
def invoice(
    org: Org,
    invoice_id: Annotated[str | None, typer.Argument(help="invoice id")] = None,
    number: Annotated[str | None, typer.Option(help="find by number instead")] = None,
    include_deleted: Annotated[bool, typer.Option(help="also from the trash")] = False,
    as_json: AsJson = False,
) -> None:
    """One invoice with its lines, totals and payments."""
    payload = _clean(
        {"invoice_id": invoice_id, "number": number, "include_deleted": include_deleted}
    )
    result = _answer("get_invoice", org, payload, as_json)
    if as_json:
        return
    inv = result["invoice"]
    _table("invoice", INVOICE_COLUMNS, _invoice_rows([inv]))
    _table(
        "lines",
        ["#", "description", "quantity", "unit", "unit price", "tax %", "net"],
        [
            [
                line["position"],
                line["description"],
                line["quantity"],
                line["unit"],
                line["unit_price"],
                line["tax_rate"],
                line["net_amount"],
            ]
            for line in inv["lines"]
        ],
    )
    t = inv["totals"]
    _table(
        "totals",
        ["net", "tax", "gross", "paid", "credited", "open"],
        [
            [
                t["net_total"],
                t["tax_total"],
                t["gross_total"],
                t["paid_amount"],
                t["credited_amount"],
                t["open_amount"],
            ]
        ],
    )


@query_app.command("open-items")
def open_items(
    org: Org,
    as_of: Annotated[str | None, typer.Option(help="count days overdue to (default today)")] = None,
    customer: Annotated[list[str] | None, typer.Option(help="customer id")] = None,
    case: Annotated[str | None, typer.Option(help="case id")] = None,
    currency: Annotated[list[str] | None, typer.Option()] = None,
    overdue_only: Annotated[bool, typer.Option(help="due before as-of")] = False,
    sort: Sort = None,
    page: Page = 1,
    page_size: PageSize = 50,
    as_json: AsJson = False,
) -> None:
    """Receivables: finalized, sent or partially paid invoices with an open amount."""
    payload = _clean(
        {
            "as_of": as_of,
            "customer_id": customer,
            "case_id": case,
            "currency": currency,
            "overdue_only": overdue_only,
            "sort": sort,
            "page": page,
            "page_size": page_size,
        }
    )
    result = _answer("open_items", org, payload, as_json)
    if as_json:
        return
    rows = [
        [
            item["invoice"]["number"],
            item["invoice"]["due_date"],
            item["days_overdue"],
            item["aging"],
            (item["invoice"]["buyer"] or {}).get("name"),
            item["invoice"]["currency"],
            item["open_amount"],
        ]
        for item in result["items"]
    ]
    _table(
        f"open items as of {result['as_of']}",
        ["number", "due", "days", "aging", "customer", "cur", "open"],
        rows,
        result["page"],
    )
    _table(
        "open per currency",
        ["cur", "count", "open"],
        [[t["currency"], t["count"], t["amount"]] for t in result["totals"]],
    )
    if result["unapplied_credit"]:
        _table(
            "unapplied credit (payments across invoices)",
            ["customer", "cur", "amount"],
            [[c["customer_id"], c["currency"], c["amount"]] for c in result["unapplied_credit"]],
        )


@query_app.command("next-number")
def next_number(
    org: Org,
    series: Annotated[str, typer.Option(help="invoice credit_note quote")] = "invoice",
    date: Annotated[str | None, typer.Option(help="issue date (default today)")] = None,
    subsidiary: Annotated[str | None, typer.Option(help="a subsidiary's series")] = None,
    as_json: AsJson = False,
) -> None:
    """The number the next finalize of the series would get."""
    payload = _clean({"series": series, "date": date, "subsidiary_id": subsidiary})
    result = _answer("next_number", org, payload, as_json)
    if not as_json:
        typer.echo(result["number"])


@query_app.command("payments")
def payments(
    org: Org,
    invoice_id: Annotated[str | None, typer.Option("--invoice", help="invoice id")] = None,
    date_from: Annotated[str | None, typer.Option("--from")] = None,
    date_to: Annotated[str | None, typer.Option("--to")] = None,
    method: Annotated[list[str] | None, typer.Option()] = None,
    sort: Sort = None,
    page: Page = 1,
    page_size: PageSize = 50,
    as_json: AsJson = False,
) -> None:
    """Payments of one invoice or of the organization."""
    payload = _clean(
        {
            "invoice_id": invoice_id,
            "date_from": date_from,
            "date_to": date_to,
            "method": method,
            "sort": sort,
            "page": page,
            "page_size": page_size,
        }
    )
    result = _answer("list_payments", org, payload, as_json)
    if as_json:
        return
    rows = [
        [p["date"], p["invoice_number"], p["method"], p["reference"], p["currency"], p["amount"]]
        for p in result["items"]
    ]
    _table(
        "payments",
        ["date", "invoice", "method", "reference", "cur", "amount"],
        rows,
        result["page"],
    )


@query_app.command("trash")
def trash(
    org: Org,
    sort: Sort = None,
    page: Page = 1,
    page_size: PageSize = 50,
    as_json: AsJson = False,
) -> None:
    """Drafts in the trash (restore_invoice brings one back, purge_invoice removes it)."""
    payload = _clean({"sort": sort, "page": page, "page_size": page_size})
    result = _answer("list_trash", org, payload, as_json)
    if not as_json:
        _table("trash", INVOICE_COLUMNS, _invoice_rows(result["items"]), result["page"])


@query_app.command("dunning")
def dunning(
    org: Org,
    invoice_id: Annotated[str | None, typer.Option("--invoice", help="invoice id")] = None,
    customer: Annotated[list[str] | None, typer.Option(help="customer id")] = None,
    level: Annotated[list[int] | None, typer.Option(help="dunning level")] = None,
    sort: Sort = None,
    page: Page = 1,
    page_size: PageSize = 50,
    as_json: AsJson = False,
) -> None:
    """The dunning history: notices sent per invoice or customer."""
    payload = _clean(
        {
            "invoice_id": invoice_id,
            "customer_id": customer,
            "level": level,
            "sort": sort,
            "page": page,
            "page_size": page_size,
        }
    )
    result = _answer("list_dunning_notices", org, payload, as_json)
    if not as_json:
        _table(
            "dunning notices",
            ["sent", "invoice", "level", "days", "cur", "open", "fee", "interest", "delivery"],
            [
                [
                    n["sent_at"],
                    n["invoice_number"],
                    n["level"],
                    n["days_overdue"],
                    n["currency"],
                    n["open_amount"],
                    n["fee"],
                    n["interest"],
                    n["delivery_status"],
                ]
                for n in result["items"]
            ],
            result["page"],
        )


@query_app.command("dunning-blocks")
def dunning_blocks(
    org: Org,
    invoice_id: Annotated[
        str | None, typer.Option("--invoice", help="invoice id: its own and its customer's")
    ] = None,
    customer: Annotated[
        list[str] | None, typer.Option(help="customer id: its own and its invoices'")
    ] = None,
    active_on: Annotated[
        str | None, typer.Option(help="only blocks that hold on this day (YYYY-MM-DD)")
    ] = None,
    page: Page = 1,
    page_size: PageSize = 50,
    as_json: AsJson = False,
) -> None:
    """The dunning blocks (Mahnsperren) of invoices and customers."""
    payload = _clean(
        {
            "invoice_id": invoice_id,
            "customer_id": customer,
            "active_on": active_on,
            "page": page,
            "page_size": page_size,
        }
    )
    result = _answer("list_dunning_blocks", org, payload, as_json)
    if not as_json:
        _table(
            "dunning blocks",
            ["set", "subject", "id", "until", "reason"],
            [
                [
                    b["set_at"],
                    b["subject"],
                    b["invoice_id"] or b["customer_id"],
                    b["until"] or "until lifted",
                    b["reason"] or "",
                ]
                for b in result["items"]
            ],
            result["page"],
        )


@query_app.command("preview")
def preview(
    org: Org,
    customer: Annotated[str | None, typer.Option(help="customer id")] = None,
    case: Annotated[str | None, typer.Option(help="case id")] = None,
    project: Annotated[str | None, typer.Option(help="project reference")] = None,
    entry: Annotated[list[str] | None, typer.Option(help="billable entry id")] = None,
    date_from: Annotated[str | None, typer.Option("--from")] = None,
    date_to: Annotated[str | None, typer.Option("--to")] = None,
    as_json: AsJson = False,
) -> None:
    """The lines and totals uninvoiced billable entries would make."""
    payload = _clean(
        {
            "customer_id": customer,
            "case_id": case,
            "project_reference": project,
            "entry_ids": entry,
            "date_from": date_from,
            "date_to": date_to,
        }
    )
    result = _answer("preview_billable_entries", org, payload, as_json)
    if as_json:
        return
    for group in result["previews"]:
        rows = [
            [
                pl["entry_id"],
                pl["line"]["description"],
                pl["line"]["quantity"],
                pl["line"]["unit_price"],
                pl["line"]["tax_rate"],
                pl["line"]["net_amount"],
            ]
            for pl in group["lines"]
        ]
        t = group["totals"]
        rows.append(["", "net / tax / gross", "", "", "", ""])
        rows.append(["", t["net_total"], "", "", t["tax_total"], t["gross_total"]])
        _table(
            f"preview in {group['currency']}",
            ["entry", "description", "quantity", "unit price", "tax %", "net"],
            rows,
        )


@query_app.command("invoice-preview")
def invoice_preview(
    org: Org,
    budget: Annotated[list[str], typer.Option(help="budget id; repeatable")],
    method: Annotated[
        str, typer.Option(help="uninvoiced_time_and_expenses, uninvoiced_amount or percentage")
    ],
    by: Annotated[str | None, typer.Option(help="service or budget")] = None,
    percentage: Annotated[str | None, typer.Option(help="percent of the budget")] = None,
    display_format: Annotated[str | None, typer.Option(help="e.g. {service}")] = None,
    expense_format: Annotated[str | None, typer.Option(help="e.g. {expense}")] = None,
    locale: Annotated[str | None, typer.Option(help="e.g. en_US")] = None,
    invoice: Annotated[str | None, typer.Option(help="the draft the lines are for")] = None,
    date_from: Annotated[str | None, typer.Option("--from")] = None,
    date_to: Annotated[str | None, typer.Option("--to")] = None,
    as_json: AsJson = False,
) -> None:
    """Seed 002's preview: the lines billing budgets by a method would make (what
    invoice_billable_entries with the same selection bills)."""
    payload = _clean(
        {
            "budget_ids": budget,
            "invoicing_method": method,
            "invoicing_by": by,
            "percentage": percentage,
            "display_format": display_format,
            "expense_display_format": expense_format,
            "locale": locale,
            "invoice_id": invoice,
            "date_from": date_from,
            "date_to": date_to,
        }
    )
    result = _answer("preview_invoice", org, payload, as_json)
    if as_json:
        return
    for group in result["previews"]:
        rows = [
            [
                pl["budget_id"],
                pl["service_id"] or "",
                pl["line"]["description"],
                pl["line"]["quantity"],
                pl["line"]["unit_price"],
                pl["line"]["net_amount"],
            ]
            for pl in group["lines"]
        ]
        t = group["totals"]
        rows.append(["", "", "net / tax / gross", t["net_total"], t["tax_total"], t["gross_total"]])
        _table(
            f"preview in {group['currency']}",
            ["budget", "service", "description", "quantity", "unit price", "net"],
            rows,
        )


@query_app.command("budgets")
def budgets(
    org: Org,
    customer: Annotated[str | None, typer.Option(help="customer id")] = None,
    case: Annotated[str | None, typer.Option(help="case id")] = None,
    project: Annotated[str | None, typer.Option(help="project reference")] = None,
    status: Annotated[str | None, typer.Option(help="open or closed")] = None,
    page: Page = 1,
    page_size: PageSize = 50,
    as_json: AsJson = False,
) -> None:
    """Budgets with what is invoiced against them and what remains."""
    payload = _clean(
        {
            "customer_id": customer,
            "case_id": case,
            "project_reference": project,
            "status": status,
            "page": page,
            "page_size": page_size,
        }
    )
    result = _answer("list_budgets", org, payload, as_json)
    if as_json:
        return
    _table(
        "budgets",
        ["id", "name", "status", "cur", "amount", "invoiced", "remaining", "entries"],
        [
            [
                b["id"],
                b["name"],
                b["status"],
                b["currency"],
                b["amount"],
                b["invoiced"],
                b["remaining"],
                b["uninvoiced_entries"],
            ]
            for b in result["items"]
        ],
        result["page"],
    )


@query_app.command("subsidiaries")
def subsidiaries(org: Org, as_json: AsJson = False) -> None:
    """The organization's subsidiaries (billing entities)."""
    result = _answer("list_subsidiaries", org, {}, as_json)
    if not as_json:
        _table(
            "subsidiaries",
            ["id", "name", "vat id", "series"],
            [
                [
                    s["id"],
                    s["name"],
                    s["profile"].get("vat_id") or "",
                    ", ".join(
                        f"{k}: {v['pattern']}"
                        for k, v in (s["profile"].get("number_series") or {}).items()
                    ),
                ]
                for s in result["items"]
            ],
        )


@query_app.command("customers")
def customers(
    org: Org,
    email: Annotated[str | None, typer.Option(help="exact, case-insensitive")] = None,
    search: Annotated[str | None, typer.Option(help="name, company, email or phone")] = None,
    field: Annotated[
        list[str] | None,
        typer.Option(help='custom field filter "id<op>value", op one of = <> < > <= >= in'),
    ] = None,
    sort: Sort = None,
    page: Page = 1,
    page_size: PageSize = 50,
    as_json: AsJson = False,
) -> None:
    """Customers by email, fuzzy search or custom fields."""
    custom: list[dict[str, Any]] = []
    for spec in field or []:
        custom.append(_field_filter(spec))
    flt = _clean({"email": email, "search": search, "custom_fields": custom})
    payload = _clean({"filter": flt, "sort": sort, "page": page, "page_size": page_size})
    result = _answer("list_customers", org, payload, as_json)
    if not as_json:
        _table(
            "customers",
            ["name", "email", "phone", "locale", "id"],
            [
                [c["name"], c["email"], c["phone"] or c["mobile"], c["locale"], c["id"]]
                for c in result["items"]
            ],
            result["page"],
        )


_WHERE_OPS = (
    (" not in ", "not_in"),
    (" in ", "in"),
    ("!=", "not_eq"),
    (">=", "gte"),
    ("<=", "lte"),
    ("=", "eq"),
    (">", "gt"),
    ("<", "lt"),
    ("~", "contains"),
)
#: filter fields that take a plain list (``status=sent,overdue``) or a boolean; every such
#: field of ``InvoiceFilter`` (tests/unit/test_query_filters.py checks that none is missing)
_LIST_FIELDS = {
    "status",
    "kind",
    "invoice_type",
    "payment_status",
    "aging",
    "tags",
    "tags_any",
    "dunning_level",
    "invoicing_method",
}
_BOOL_FIELDS = {"finalized", "overdue", "credited", "dunning_blocked"}
_PLAIN_FIELDS = {"full_query", "search", "export_status", "sent_status", "deleted", "as_of"}


def parse_where(spec: str) -> tuple[str, str, Any]:
    """``"gross_total>=100"`` -> ``("gross_total", "gte", "100")``; lists split at commas."""
    for symbol, name in _WHERE_OPS:
        field, found, value = spec.partition(symbol)
        if found and field.strip():
            field, value = field.strip(), value.strip()
            parsed: Any = value
            if name in ("in", "not_in") or (name == "eq" and field in _LIST_FIELDS):
                parsed = [v.strip() for v in value.split(",") if v.strip()]
            elif field in _BOOL_FIELDS:
                if value not in ("true", "false"):
                    raise typer.BadParameter(f"{field} is true or false", param_hint="--where")
                parsed = value == "true"
            return field, name, parsed
    raise typer.BadParameter(
        f"{spec!r} is not FIELD OP VALUE (= != > >= < <= ~ in, not in)", param_hint="--where"
    )


def _merge_condition(flt: dict[str, Any], field: str, op: str, value: Any) -> None:
    if field in _LIST_FIELDS | _BOOL_FIELDS | _PLAIN_FIELDS:
        if op != "eq":
            raise typer.BadParameter(f"{field} takes only =", param_hint="--where")
        flt[field] = value
        return
    if op == "eq" and isinstance(value, str):
        # a bare value: eq, or a named range for dates (the filter's shorthand)
        flt[field] = value if field not in flt else {**_ops(flt[field]), "eq": value}
        return
    flt[field] = {**_ops(flt.get(field)), op: value}


def _ops(current: Any) -> dict[str, Any]:
    if current is None:
        return {}
    if isinstance(current, dict):
        return dict(current)
    if isinstance(current, list):
        return {"in": current}
    return {"eq": current}


def _field_filter(spec: str) -> dict[str, Any]:
    for op in ("<>", "<=", ">=", " in ", "=", "<", ">"):
        if op in spec:
            name, value = spec.split(op, 1)
            parsed: Any = value.strip()
            if parsed.lstrip("-").isdigit():
                parsed = int(parsed)
            elif parsed in ("true", "false"):
                parsed = parsed == "true"
            return {"field_id": name.strip(), "operator": op.strip(), "value": parsed}
    raise typer.BadParameter(f"{spec!r} is not id<op>value", param_hint="--field")


@query_app.command("customer")
def customer(
    org: Org,
    customer_id: Annotated[str, typer.Argument(help="customer id")],
    as_json: AsJson = False,
) -> None:
    """One customer."""
    result = _answer("get_customer", org, {"customer_id": customer_id}, as_json)
    if not as_json:
        c = result["customer"]
        _table(
            "customer",
            ["field", "value"],
            [
                [k, json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else v]
                for k, v in c.items()
            ],
        )


@query_app.command("raw")
def raw(
    file: Annotated[str, typer.Argument(help="a query document (JSON), - for stdin")] = "-",
) -> None:
    """Answer a query document exactly as the request/reply consumer would; print the reply."""
    text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    reply = _run(text)
    sys.stdout.write(json.dumps(reply, ensure_ascii=False, indent=2) + "\n")
    if reply["status"] != "ok":
        raise typer.Exit(1)


def _fail(reply: dict[str, Any]) -> NoReturn:
    for error in reply["errors"]:
        hint = (error.get("meta") or {}).get("hint")
        typer.echo(
            f"{error['status']} {error['code']} at {error['source']['pointer']}: "
            f"{error['detail']}" + (f" ({hint})" if hint else ""),
            err=True,
        )
    raise typer.Exit(1)


def fetch_document(ask: Any, org: str, key: dict[str, Any], out: Any) -> dict[str, Any]:
    """Fetch a document chunk by chunk with ``ask`` (a query document -> its reply) into
    ``out``; check the SHA-256 of the whole. Returns the document's metadata."""
    import base64
    import hashlib

    digest, offset, document = hashlib.sha256(), 0, None
    while True:
        payload = {**key, "offset": offset}
        reply = ask({"type": "get_document", "organization_id": org, "payload": payload})
        if reply["status"] != "ok":
            _fail(reply)
        document, chunk = reply["result"]["document"], reply["result"]["content"]
        data = base64.b64decode(chunk["data"])
        digest.update(data)
        out.write(data)
        if chunk["eof"]:
            break
        offset = chunk["next_offset"]
    assert document is not None
    if digest.hexdigest() != document["sha256"]:
        typer.echo(f"document {document['id']}: SHA-256 mismatch, discard the output", err=True)
        raise typer.Exit(1)
    return dict(document)


@query_app.command("document")
def document(
    org: Org,
    document_id: Annotated[
        str | None, typer.Argument(help="document id (as events name it)")
    ] = None,
    invoice: Annotated[str | None, typer.Option(help="invoice id (with --kind)")] = None,
    kind: Annotated[str | None, typer.Option(help="pdf, facturx-pdf, xml-<format>")] = None,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="write the content here; - for stdout")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """A document's metadata; with --output its content (fetched in chunks, SHA-256 checked)."""
    from invoicing import bootstrap

    key = {"document_id": document_id} if document_id else {"invoice_id": invoice, "kind": kind}
    if output is None:
        result = _answer("get_document", org, {**key, "include_content": False}, as_json)
        if not as_json:
            rows = [[k, v] for k, v in result["document"].items()]
            _table("document", ["field", "value"], rows)
        return
    application = bootstrap.local()
    try:
        ask = application.pipeline.query_document
        if output == "-":
            fetch_document(ask, org, key, sys.stdout.buffer)
            sys.stdout.buffer.flush()
            return
        target = Path(output)
        partial = target.with_name(f".{target.name}.part")
        try:
            with partial.open("wb") as fh:
                meta = fetch_document(ask, org, key, fh)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        typer.echo(f"wrote {target} ({meta['size']} bytes, sha256 {meta['sha256']})", err=True)
    finally:
        application.engine.dispose()


@query_app.command("documents")
def documents(
    org: Org,
    invoice: Annotated[str | None, typer.Option(help="the documents of this invoice")] = None,
    export: Annotated[str | None, typer.Option(help="the file of this export run")] = None,
    as_json: AsJson = False,
) -> None:
    """The documents of an invoice or of an export run (metadata)."""
    payload = _clean({"invoice_id": invoice, "export_id": export})
    result = _answer("list_documents", org, payload, as_json)
    if not as_json:
        rows = [
            [d["kind"], d["filename"], d["size"], d["sha256"][:16], d["created_at"], d["id"]]
            for d in result["items"]
        ]
        _table("documents", ["kind", "filename", "bytes", "sha256", "created", "id"], rows)
