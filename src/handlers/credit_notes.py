"""issue_standalone_credit_note: a credit note that credits no single invoice."""

from __future__ import annotations

from invoicing.domain.errors import Conflict
from invoicing.handlers.drafting import recalculate
from invoicing.handlers.invoices import add_lines, legal_context, new_draft
from invoicing.handlers.lifecycle import finalize
from invoicing.handlers.registry import Deps, Event, handles
from invoicing.handlers.repository import get_customer, get_organization, profile
from invoicing.handlers.unit_of_work import UnitOfWork
from invoicing.models import Invoice
from invoicing.schemas.commands import IssueStandaloneCreditNote


@handles(IssueStandaloneCreditNote, takes_number=True)
def issue_standalone_credit_note(
    cmd: IssueStandaloneCreditNote, uow: UnitOfWork, deps: Deps
) -> list[Event]:
    p = cmd.payload
    org = get_organization(uow, cmd.organization_id)
    if uow.session.get(Invoice, (org.id, p.credit_note_id)) is not None:
        raise Conflict(
            "invoice_exists",
            f"document {p.credit_note_id} already exists",
            pointer="/credit_note_id",
            hint="choose a new credit_note_id",
        )
    customer = get_customer(uow, org.id, p.customer_id, pointer="/customer_id")
    cn = new_draft(org, p.credit_note_id, "credit_note", deps.now())
    cn.customer_id, cn.locale = customer.id, customer.locale
    if p.currency is not None:
        cn.currency = p.currency
    org_currency = profile(org).get("default_currency", "EUR")
    cn.normalized_currency = org_currency if cn.currency != org_currency else None
    cn.exchange_rate, cn.calculate_from_net = p.exchange_rate, p.calculate_from_net
    cn.delivery_date, cn.issue_date = p.delivery_date, p.issue_date
    cn.payment_terms_days, cn.credit_reason = 0, p.reason  # refunds are due at once
    uow.session.add(cn)
    events = add_lines(uow, deps, org, cn, list(p.lines), cmd.command_id, "/lines")
    for line in cn.lines:
        line.billable_entry_ids = []
    recalculate(cn, legal=legal_context(org))
    uow.session.flush()  # the draft and its lines exist, computed, before they freeze
    issued = finalize(uow, deps, org, cn, p.issue_date)
    issued[0].type = "credit_note.issued"  # the finalize event, named for what happened
    issued[0].data["standalone"] = True
    return [*issued, *events]
