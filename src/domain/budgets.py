"""Budgets and the invoicing methods of seed 002's preview, as pure functions over plain values.

A budget (of a case or a project) has an amount in a currency, a period, and optionally
services whose amounts add up to the budget's amount. What was invoiced against a budget is
the sum of the net amounts (BT-131) of the invoice lines attributed to it, on invoices that are
neither void nor in the trash; ``remaining`` is the amount less that.

:func:`plan` turns a selection of budgets into invoice lines, by one of three methods:

``uninvoiced_time_and_expenses`` (actuals)
    the uninvoiced entries of the budgets: time grouped by service or budget (one line per
    group and price, so quantity x price is the line amount exactly), or one line per entry
    without ``invoicing_by``; each expense on its own line.
``uninvoiced_amount``
    what remains of each budget (or of each service): quantity 1 at the remaining amount.
``percentage``
    a percentage of each budget's (or service's) amount, as seed 002 prints it: quantity
    percentage/100 at the full amount, rounded half-up to the currency. It must not exceed
    what remains; a request that would is refused, never cut.

The same plan is what ``preview_invoice`` shows and what ``invoice_billable_entries`` (with a
``budget`` selection) puts on the draft: preview and bill run this one function on the same
facts.

Line texts come from display formats with placeholders (``{service}``, ``{budget}``,
``{expense}``, ...), numbers and dates formatted by Babel for the requested locale.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_decimal
from invoicing.domain.calc import check_amount
from invoicing.domain.errors import Conflict, DomainError, ErrorDetail
from invoicing.domain.money import HUNDRED, ZERO, round_money

ACTUALS = "uninvoiced_time_and_expenses"
UNINVOICED_AMOUNT = "uninvoiced_amount"
PERCENTAGE = "percentage"
METHODS = (ACTUALS, UNINVOICED_AMOUNT, PERCENTAGE)
#: seed 002's invoicing_method filter numbers (1 actuals, 2 uninvoiced amount, 3 percentage)
METHOD_NUMBERS = {ACTUALS: 1, UNINVOICED_AMOUNT: 2, PERCENTAGE: 3}
OPEN, CLOSED = "open", "closed"
MAX_DESCRIPTION = 185

#: every placeholder a display format may use; one that does not apply to a line prints empty
PLACEHOLDERS = frozenset(
    {
        "service",
        "budget",
        "expense",
        "description",
        "date",
        "date_from",
        "date_to",
        "quantity",
        "unit",
        "percentage",
    }
)
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


# ----------------------------------------------------------------------------- facts


@dataclass(frozen=True)
class Service:
    id: str
    name: str
    amount: Decimal
    tax_rate: Decimal | None = None
    tax_category: str | None = None


@dataclass(frozen=True)
class BudgetFacts:
    """A budget as stored, with what is invoiced against it per service (None: no service)."""

    id: str
    name: str
    currency: str
    amount: Decimal
    status: str = OPEN
    tax_rate: Decimal | None = None
    tax_category: str = "standard"
    services: tuple[Service, ...] = ()
    period_start: dt.date | None = None
    period_end: dt.date | None = None
    invoiced: Mapping[str | None, Decimal] = field(default_factory=dict)

    @property
    def invoiced_total(self) -> Decimal:
        return sum(self.invoiced.values(), ZERO)

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.invoiced_total

    def service(self, service_id: str | None) -> Service | None:
        return next((s for s in self.services if s.id == service_id), None)

    def service_remaining(self, service: Service) -> Decimal:
        return service.amount - self.invoiced.get(service.id, ZERO)


@dataclass(frozen=True)
class EntryFacts:
    """An uninvoiced billable entry of a budget."""

    id: str
    kind: str  # time | expense
    budget_id: str
    service_id: str | None
    date: dt.date
    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    currency: str
    tax_rate: Decimal | None
    tax_category: str


@dataclass(frozen=True)
class Selection:
    method: str
    by: str | None = None  # service | budget
    percentage: Decimal | None = None
    display_format: str | None = None
    expense_display_format: str | None = None
    locale: str = "en"
    date_from: dt.date | None = None
    date_to: dt.date | None = None


@dataclass(frozen=True)
class PlannedLine:
    """One invoice line of the plan; ``amount`` is quantity x unit price rounded (BT-131)."""

    kind: str  # time | expense | budget
    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    currency: str
    tax_rate: Decimal | None
    tax_category: str
    budget_id: str
    service_id: str | None
    entry_ids: tuple[str, ...]
    amount: Decimal


@dataclass(frozen=True)
class Attribution:
    """Seed 002's invoice_attribution: how much of the plan goes against one budget."""

    budget_id: str
    currency: str
    amount: Decimal
    date_from: dt.date | None
    date_to: dt.date | None


# ----------------------------------------------------------------------------- formats


def unknown_placeholders(template: str) -> list[str]:
    """The placeholders of ``template`` that are not in :data:`PLACEHOLDERS`."""
    return [m.group(1) for m in _PLACEHOLDER.finditer(template) if m.group(1) not in PLACEHOLDERS]


@functools.cache
def babel_locale(name: str) -> Locale:
    """``en_US``, ``de-DE``, ``fr``: a CLDR locale, or ValueError naming the value."""
    try:
        return Locale.parse(name.replace("-", "_"))
    except (ValueError, UnknownLocaleError) as exc:
        raise ValueError(f"{name!r} is not a known locale (e.g. en_US, de_DE, fr_BE)") from exc


def render(template: str, values: Mapping[str, str]) -> str:
    """Replace each ``{name}``; the result is cut to the 185 characters a line title has."""
    text = _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), template)
    return " ".join(text.split())[:MAX_DESCRIPTION] or "-"


def _number(value: Decimal, locale: Locale) -> str:
    normalized = value.normalize()
    if normalized == normalized.to_integral():
        normalized = normalized.quantize(Decimal(1))
    return str(format_decimal(normalized, locale=locale, decimal_quantization=False))


def _date(value: dt.date | None, locale: Locale) -> str:
    return "" if value is None else str(format_date(value, format="medium", locale=locale))


# ----------------------------------------------------------------------------- rules


def check_selection(sel: Selection, pointer: str = "") -> None:
    """What seed 002 answers with 422s: ``invoicing_by`` for uninvoiced_amount and percentage,
    ``percentage`` for (and only for) percentage, known placeholders, a known locale."""
    errors: list[ErrorDetail] = []
    if sel.method not in METHODS:
        errors.append(ErrorDetail("invalid_attribute", "is not a method", f"{pointer}/method"))
    if sel.method in (UNINVOICED_AMOUNT, PERCENTAGE) and sel.by is None:
        errors.append(
            ErrorDetail(
                "invalid_attribute",
                "can't be blank",
                f"{pointer}/invoicing_by",
                hint=f"give invoicing_by service or budget for {sel.method}",
            )
        )
    if sel.method == PERCENTAGE and sel.percentage is None:
        errors.append(
            ErrorDetail(
                "invalid_attribute",
                "can't be blank",
                f"{pointer}/percentage",
                hint="give the percentage of the budget to invoice, e.g. 50",
            )
        )
    if sel.method != PERCENTAGE and sel.percentage is not None:
        errors.append(
            ErrorDetail(
                "invalid_attribute",
                f"applies only to invoicing_method {PERCENTAGE}",
                f"{pointer}/percentage",
                hint="remove percentage or use invoicing_method percentage",
            )
        )
    for name, template in (
        ("display_format", sel.display_format),
        ("expense_display_format", sel.expense_display_format),
    ):
        unknown = unknown_placeholders(template or "")
        if unknown:
            errors.append(
                ErrorDetail(
                    "unknown_placeholder",
                    f"unknown placeholder {{{unknown[0]}}}",
                    f"{pointer}/{name}",
                    hint="use " + ", ".join(f"{{{p}}}" for p in sorted(PLACEHOLDERS)),
                )
            )
    try:
        babel_locale(sel.locale)
    except ValueError as exc:
        errors.append(ErrorDetail("invalid_locale", str(exc), f"{pointer}/locale"))
    if errors:
        raise DomainError.many(errors)


def check_billable(budget: BudgetFacts, pointer: str) -> None:
    if budget.status == CLOSED:
        raise Conflict(
            "budget_closed",
            f"budget {budget.id} is closed",
            pointer=pointer,
            hint="closed budgets are not invoiced; create a new budget",
        )


def check_services(amount: Decimal, services: Sequence[Service], pointer: str) -> None:
    """Service ids are unique and the services' amounts add up to the budget's amount."""
    ids = [s.id for s in services]
    for i, sid in enumerate(ids):
        if sid in ids[:i]:
            raise DomainError(
                "duplicate_service",
                f"service id {sid!r} is given twice",
                pointer=f"{pointer}/{i}/id",
            )
    total = sum((s.amount for s in services), ZERO)
    if services and total != amount:
        raise DomainError(
            "services_do_not_add_up",
            f"the services add up to {total}, the budget's amount is {amount}",
            pointer=pointer,
            hint="make the services' amounts add up to the budget's amount",
        )


def check_amount_covers_invoiced(budget: BudgetFacts, amount: Decimal, pointer: str) -> None:
    if amount < budget.invoiced_total:
        raise Conflict(
            "budget_below_invoiced",
            f"budget {budget.id} has {budget.invoiced_total} {budget.currency} invoiced; "
            f"the amount cannot go below that",
            pointer=pointer,
            hint="void or credit invoices of the budget first, or keep a higher amount",
        )


def check_services_cover_invoiced(
    budget: BudgetFacts, services: Sequence[Service], pointer: str
) -> None:
    """What is invoiced against a service stays: new services keep every service that has
    lines invoiced against it, each at no less than what they come to (else the service's
    ``remaining`` went negative, or its lines counted for the budget but no service)."""
    given = {s.id: i for i, s in enumerate(services)}
    for service_id, done in budget.invoiced.items():
        if service_id is None or done <= 0:
            continue
        if service_id not in given:
            raise Conflict(
                "budget_below_invoiced",
                f"service {service_id} of budget {budget.id} has {done} {budget.currency} "
                "invoiced; it cannot be removed",
                pointer=pointer,
                hint=f"keep service {service_id} with an amount of at least {done}",
            )
        service = services[given[service_id]]
        if service.amount < done:
            raise Conflict(
                "budget_below_invoiced",
                f"service {service_id} of budget {budget.id} has {done} {budget.currency} "
                "invoiced; its amount cannot go below that",
                pointer=f"{pointer}/{given[service_id]}/amount",
                hint="void or credit invoices of the service first, or keep a higher amount",
            )


def max_percentage(remaining: Decimal, base: Decimal) -> Decimal:
    """The largest percentage (4 decimals) of ``base`` that fits into ``remaining``."""
    if base <= 0 or remaining <= 0:
        return ZERO
    return (remaining * HUNDRED / base).quantize(Decimal("0.0001"), rounding=ROUND_FLOOR)


# ----------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class _Text:
    selection: Selection

    @property
    def locale(self) -> Locale:
        return babel_locale(self.selection.locale)

    def values(
        self,
        budget: BudgetFacts,
        service: str,
        quantity: Decimal,
        unit: str,
        *,
        expense: str = "",
        description: str = "",
        on: dt.date | None = None,
        span: tuple[dt.date | None, dt.date | None] = (None, None),
    ) -> dict[str, str]:
        sel, loc = self.selection, self.locale
        start = span[0] or sel.date_from or budget.period_start
        end = span[1] or sel.date_to or budget.period_end
        return {
            "service": service,
            "budget": budget.name,
            "expense": expense,
            "description": description,
            "date": _date(on, loc),
            "date_from": _date(start, loc),
            "date_to": _date(end, loc),
            "quantity": _number(quantity, loc),
            "unit": unit,
            "percentage": _number(sel.percentage, loc) if sel.percentage is not None else "",
        }

    def format(self, expense: bool = False) -> str:
        sel = self.selection
        if expense:
            return sel.expense_display_format or "{expense}"
        if sel.display_format:
            return sel.display_format
        if sel.method == ACTUALS and sel.by is None:
            return "{description} ({date})"
        return "{service}" if sel.by == "service" else "{budget}"


def plan(
    selection: Selection,
    budgets: Sequence[BudgetFacts],
    entries: Sequence[EntryFacts] = (),
    *,
    pointer: str = "/budget_ids",
) -> list[PlannedLine]:
    """The lines that invoice ``budgets`` by ``selection``; raises a DomainError when a budget
    is closed, a percentage exceeds what remains, or nothing is left to invoice."""
    for i, budget in enumerate(budgets):
        check_billable(budget, f"{pointer}/{i}")
    text = _Text(selection)
    lines: list[PlannedLine] = []
    for i, budget in enumerate(budgets):
        if selection.method == ACTUALS:
            mine = [e for e in entries if e.budget_id == budget.id and _in_range(e, selection)]
            lines += _actuals(text, budget, mine, f"{pointer}/{i}")
        else:
            lines += _fixed(text, budget, pointer)
    if not lines and selection.method == PERCENTAGE:
        # every line came to less than one minor unit (what remains would have refused a
        # line above it with exceeds_budget): no entries are missing, the percentage is small
        raise Conflict(
            "nothing_to_invoice",
            f"{selection.percentage} % of the selected budgets comes to less than one minor "
            "unit of their currency",
            pointer=_percentage_at(pointer),
            hint="give a larger percentage",
        )
    if not lines:
        raise Conflict(
            "nothing_to_invoice",
            "the selected budgets have nothing left to invoice by " + selection.method,
            pointer=pointer,
            hint="record billable entries on the budgets, or choose another method",
        )
    return lines


def attributions(
    lines: Sequence[PlannedLine], entries: Sequence[EntryFacts], selection: Selection
) -> list[Attribution]:
    """Per budget, in the order of the lines: the planned amount and the dates it covers."""
    dates = {e.id: e.date for e in entries}
    out: dict[str, Attribution] = {}
    for line in lines:
        days = [dates[i] for i in line.entry_ids if i in dates]
        prev = out.get(line.budget_id)
        start = min(days, default=None) if days else selection.date_from
        end = max(days, default=None) if days else selection.date_to
        if prev is not None:
            start = _min_date(prev.date_from, start)
            end = _max_date(prev.date_to, end)
        out[line.budget_id] = Attribution(
            line.budget_id,
            line.currency,
            (prev.amount if prev else ZERO) + line.amount,
            start,
            end,
        )
    return list(out.values())


def _min_date(a: dt.date | None, b: dt.date | None) -> dt.date | None:
    return min((d for d in (a, b) if d is not None), default=None)


def _max_date(a: dt.date | None, b: dt.date | None) -> dt.date | None:
    return max((d for d in (a, b) if d is not None), default=None)


def _in_range(entry: EntryFacts, sel: Selection) -> bool:
    return not (
        (sel.date_from and entry.date < sel.date_from) or (sel.date_to and entry.date > sel.date_to)
    )


def _service_name(budget: BudgetFacts, service_id: str | None) -> str:
    service = budget.service(service_id)
    return service.name if service else (service_id or "")


def _line_amount(quantity: Decimal, unit_price: Decimal, currency: str, pointer: str) -> Decimal:
    """quantity x unit price rounded, refused (``amount_too_large`` at the budget's pointer)
    at or beyond ``calc.AMOUNT_LIMIT`` before it is rounded: entries (or a group of them) of
    10^15 hours at 10^15 raised ``InvalidOperation`` in the rounding, a crash of the preview
    and of the billing instead of a rejection."""
    check_amount(quantity * unit_price, "the entries' quantity x unit price", pointer)
    return round_money(quantity * unit_price, currency)


def _actuals(
    text: _Text, budget: BudgetFacts, entries: list[EntryFacts], pointer: str
) -> list[PlannedLine]:
    ordered = sorted(entries, key=lambda e: (e.date, e.id))
    time = [e for e in ordered if e.kind != "expense"]
    lines: list[PlannedLine] = []
    if text.selection.by is None:
        groups = [[e] for e in time]
    else:
        keyed: dict[tuple[object, ...], list[EntryFacts]] = {}
        for e in time:
            group = e.service_id if text.selection.by == "service" else None
            key = (group, e.currency, e.unit, e.unit_price, e.tax_rate, e.tax_category)
            keyed.setdefault(key, []).append(e)
        groups = list(keyed.values())
    for members in groups:
        lines.append(_time_line(text, budget, members, pointer))
    for e in ordered:
        if e.kind == "expense":
            lines.append(_expense_line(text, budget, e, pointer))
    return lines


def _time_line(
    text: _Text, budget: BudgetFacts, group: list[EntryFacts], pointer: str
) -> PlannedLine:
    first = group[0]
    services = {e.service_id for e in group}
    service_id = first.service_id if len(services) == 1 else None
    quantity = sum((e.quantity for e in group), ZERO)
    values = text.values(
        budget,
        _service_name(budget, service_id),
        quantity,
        first.unit,
        description=first.description if len(group) == 1 else "",
        on=first.date if len(group) == 1 else None,
        span=(group[0].date, group[-1].date),
    )
    return PlannedLine(
        kind="time",
        description=render(text.format(), values),
        quantity=quantity,
        unit=first.unit,
        unit_price=first.unit_price,
        currency=first.currency,
        tax_rate=first.tax_rate,
        tax_category=first.tax_category,
        budget_id=budget.id,
        service_id=service_id,
        entry_ids=tuple(e.id for e in group),
        amount=_line_amount(quantity, first.unit_price, first.currency, pointer),
    )


def _expense_line(text: _Text, budget: BudgetFacts, e: EntryFacts, pointer: str) -> PlannedLine:
    values = text.values(
        budget,
        _service_name(budget, e.service_id),
        e.quantity,
        e.unit,
        expense=e.description,
        description=e.description,
        on=e.date,
        span=(e.date, e.date),
    )
    return PlannedLine(
        kind="expense",
        description=render(text.format(expense=True), values),
        quantity=e.quantity,
        unit=e.unit,
        unit_price=e.unit_price,
        currency=e.currency,
        tax_rate=e.tax_rate,
        tax_category=e.tax_category,
        budget_id=budget.id,
        service_id=e.service_id,
        entry_ids=(e.id,),
        amount=_line_amount(e.quantity, e.unit_price, e.currency, pointer),
    )


def _fixed(text: _Text, budget: BudgetFacts, pointer: str) -> list[PlannedLine]:
    """uninvoiced_amount or percentage, per budget or per service."""
    sel = text.selection
    if sel.by == "service":
        if not budget.services:
            raise DomainError(
                "budget_without_services",
                f"budget {budget.id} has no services to invoice by",
                pointer=pointer,
                hint="invoice it with invoicing_by budget, or give the budget services",
            )
        parts: list[tuple[Service | None, Decimal, Decimal]] = [
            (s, s.amount, budget.service_remaining(s)) for s in budget.services
        ]
    else:
        parts = [(None, budget.amount, budget.remaining)]
    at = _percentage_at(pointer)
    lines = [
        line for s, base, rest in parts if (line := _fixed_line(text, budget, s, base, rest, at))
    ]
    total = sum((line.amount for line in lines), ZERO)
    if total > budget.remaining:  # services invoiced by budget before: their rest is not free
        raise Conflict(
            "exceeds_budget",
            f"budget {budget.id}: the services' lines come to {total} {budget.currency}, "
            f"but only {budget.remaining} remains of the budget",
            pointer=pointer,
            hint="this budget was invoiced by budget before: invoice it with invoicing_by budget",
        )
    return lines


def _percentage_at(pointer: str) -> str:
    """The selection's ``percentage`` beside its ``budget_ids`` (``pointer``):
    ``/budget/percentage`` in ``invoice_billable_entries``, ``/percentage`` in the preview."""
    return pointer.removesuffix("/budget_ids").rsplit("/budget_ids/", 1)[0] + "/percentage"


def _fixed_line(
    text: _Text,
    budget: BudgetFacts,
    service: Service | None,
    base: Decimal,
    remaining: Decimal,
    percentage_at: str = "/percentage",
) -> PlannedLine | None:
    sel = text.selection
    cur = budget.currency
    if sel.method == PERCENTAGE:
        assert sel.percentage is not None  # the schema requires it for this method
        quantity, unit_price = sel.percentage / HUNDRED, base
        amount = round_money(quantity * unit_price, cur)
        if amount > remaining:
            what = f"service {service.id} of budget {budget.id}" if service else budget.id
            raise Conflict(
                "exceeds_budget",
                f"{sel.percentage} % of {what} is {amount} {cur}, but only {remaining} {cur} "
                "remains",
                pointer=percentage_at,
                hint=f"at most {max_percentage(remaining, base)} % remains",
            )
    else:
        quantity, unit_price = Decimal(1), max(remaining, ZERO)
        amount = unit_price
    if amount <= 0:
        return None
    values = text.values(budget, service.name if service else "", quantity, "piece")
    rate = service.tax_rate if service and service.tax_rate is not None else budget.tax_rate
    category = (service.tax_category if service else None) or budget.tax_category
    return PlannedLine(
        kind="budget",
        description=render(text.format(), values),
        quantity=quantity,
        unit="piece",
        unit_price=unit_price,
        currency=cur,
        tax_rate=rate,
        tax_category=category,
        budget_id=budget.id,
        service_id=service.id if service else None,
        entry_ids=(),
        amount=amount,
    )
