"""Test oracle: the previous CII builder, built with drafthorse, kept only to compare against.

This is ``src/documents/einvoice/cii.py`` as it was before the CII builder was rewritten as a
small lxml builder (commit 0a9e0b0), unchanged apart from this docstring.
tests/unit/test_einvoice_cii_oracle.py builds every scenario with both and asserts that the
new builder writes the same document (byte for byte). Not used by the service; drafthorse is
a dev dependency only.

Built with drafthorse (pretix), which models the CII data model and keeps the XSD element
order. drafthorse is untyped; this module is the only place that touches it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drafthorse.models.accounting import (  # type: ignore[import-untyped]
    ApplicableTradeTax,
    CategoryTradeTax,
    TradeAllowanceCharge,
)
from drafthorse.models.document import Document  # type: ignore[import-untyped]
from drafthorse.models.note import IncludedNote  # type: ignore[import-untyped]
from drafthorse.models.party import TaxRegistration  # type: ignore[import-untyped]
from drafthorse.models.payment import (  # type: ignore[import-untyped]
    PaymentMeans,
    PaymentTerms,
)
from drafthorse.models.tradelines import LineItem  # type: ignore[import-untyped]
from invoicing.documents.einvoice.prepare import (
    NO_BUYER_REFERENCE,
    Identifier,
    Prepared,
    PreparedLine,
    compact_id,
    money,
    plain,
    price,
)
from invoicing.schemas.events import Party

FACTURX_EN16931_GUIDELINE = "urn:cen.eu:en16931:2017"
XRECHNUNG_GUIDELINE = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
PEPPOL_BUSINESS_PROCESS = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"


def _amount(doc: Prepared, value: Decimal) -> Decimal:
    return Decimal(money(value, doc.currency))


def _plain(value: Decimal) -> Decimal:
    return Decimal(plain(value))


def _party(
    target: Any,
    party: Party,
    endpoint: Identifier | None,
    legal: Identifier | None,
    *,
    seller: bool,
    identifier: Identifier | None = None,
) -> None:
    if identifier is not None:
        target.id = identifier.value
    target.name = party.name
    if legal is not None:
        target.legal_organization.id = (legal.scheme or "", legal.value)
    if party.company and party.company != party.name:
        target.legal_organization.trade_name = party.company
    contact_name = (
        party.managing_directors
        if seller and party.managing_directors
        else " ".join(p for p in (party.given_name, party.family_name) if p) or None
    )
    if contact_name or party.phone or party.email:
        if contact_name or seller:
            target.contact.person_name = contact_name or party.name
        if party.phone:
            target.contact.telephone.number = party.phone
        if party.email:
            target.contact.email.address = party.email
    addr = party.address
    assert addr is not None
    if addr.zip_code:
        target.address.postcode = addr.zip_code
    if addr.street_address:
        target.address.line_one = addr.street_address
    if addr.additional_line:
        target.address.line_two = addr.additional_line
    if addr.city:
        target.address.city_name = addr.city
    target.address.country_id = addr.country_code
    if endpoint is not None:
        target.electronic_address.uri_ID = (endpoint.scheme or "", endpoint.value)
    if party.vat_id:
        target.tax_registrations.add(TaxRegistration(id=("VA", compact_id(party.vat_id))))
    if seller and party.tax_number:
        target.tax_registrations.add(TaxRegistration(id=("FC", party.tax_number)))


def _line(doc: Prepared, line: PreparedLine) -> Any:
    item = LineItem()
    item.document.line_id = line.position
    item.product.name = line.source.description
    if line.source.subtitle:
        item.product.description = line.source.subtitle
    item.agreement.net.amount = Decimal(price(line.price, doc.currency))
    item.delivery.billed_quantity = (_plain(line.quantity), line.unit_code)
    item.settlement.trade_tax.type_code = "VAT"
    item.settlement.trade_tax.category_code = line.category
    if line.category != "O":
        item.settlement.trade_tax.rate_applicable_percent = _plain(line.rate)
    if line.allowance:
        allowance = TradeAllowanceCharge()
        allowance.indicator = False
        allowance.actual_amount = _amount(doc, line.allowance)
        allowance.reason_code = "95"
        allowance.reason = "Discount"
        item.settlement.allowance_charge.add(allowance)
    item.settlement.monetary_summation.total_amount = _amount(doc, line.net)
    return item


def build_cii(doc: Prepared, guideline: str) -> bytes:
    """Serialize as UTF-8 CII (the caller validates with the official rules)."""
    state = doc.state
    d = Document()
    d.context.business_parameter.id = PEPPOL_BUSINESS_PROCESS
    d.context.guideline_parameter.id = guideline
    d.header.id = doc.number
    d.header.type_code = doc.type_code
    d.header.issue_date_time = doc.issue_date
    if doc.note:
        note = IncludedNote()
        note.content = doc.note
        d.header.notes.add(note)

    for line in doc.lines:
        d.trade.items.add(_line(doc, line))

    agreement = d.trade.agreement
    if doc.buyer_reference:
        agreement.buyer_reference = doc.buyer_reference
    elif guideline == XRECHNUNG_GUIDELINE:
        agreement.buyer_reference = NO_BUYER_REFERENCE  # BR-DE-15 needs BT-10
    _party(
        agreement.seller,
        doc.seller,
        doc.seller_endpoint,
        doc.seller_legal,
        seller=True,
        identifier=doc.seller_identifier,
    )
    _party(agreement.buyer, doc.buyer, doc.buyer_endpoint, doc.buyer_legal, seller=False)
    if state.purchase_order_number:
        agreement.buyer_order.issuer_assigned_id = state.purchase_order_number

    delivery = d.trade.delivery
    if doc.deliver_to_country and doc.buyer.address is not None:
        delivery.ship_to.name = doc.buyer.name
        addr = doc.buyer.address
        if addr.zip_code:
            delivery.ship_to.address.postcode = addr.zip_code
        if addr.street_address:
            delivery.ship_to.address.line_one = addr.street_address
        if addr.city:
            delivery.ship_to.address.city_name = addr.city
        delivery.ship_to.address.country_id = addr.country_code
    if state.delivery_date is not None:
        delivery.event.occurrence = state.delivery_date

    settlement = d.trade.settlement
    if doc.payment_reference:
        settlement.payment_reference = doc.payment_reference
    settlement.currency_code = doc.currency
    means = PaymentMeans()
    seller = doc.seller
    means.type_code = "58" if seller.iban else "1"
    if seller.iban:
        means.payee_account.iban = compact_id(seller.iban)
        means.payee_account.account_name = seller.name
        if seller.bic:
            means.payee_institution.bic = seller.bic
    settlement.payment_means.add(means)
    for group in doc.groups:
        tax = ApplicableTradeTax()
        tax.calculated_amount = _amount(doc, group.tax)
        tax.type_code = "VAT"
        if group.exemption_reason:
            tax.exemption_reason = group.exemption_reason
        tax.basis_amount = _amount(doc, group.taxable)
        tax.category_code = group.category
        if group.exemption_code:
            tax.exemption_reason_code = group.exemption_code
        tax.rate_applicable_percent = _plain(group.rate)  # 0 for O (BR-DE-14)
        settlement.trade_tax.add(tax)
    if state.service_period_start and state.service_period_end:
        settlement.period.start = state.service_period_start
        settlement.period.end = state.service_period_end
    for allowance in doc.allowances:
        charge = TradeAllowanceCharge()
        charge.indicator = False
        charge.actual_amount = _amount(doc, allowance.amount)
        charge.reason_code = "95"
        charge.reason = allowance.reason
        category = CategoryTradeTax()
        category.type_code = "VAT"
        category.category_code = allowance.category
        if allowance.category != "O":
            category.rate_applicable_percent = _plain(allowance.rate)
        charge.trade_tax.add(category)
        settlement.allowance_charge.add(charge)
    if doc.payment_terms or doc.due_date is not None:
        terms = PaymentTerms()
        if doc.payment_terms:
            terms.description = doc.payment_terms
        if doc.due_date is not None:
            terms.due = doc.due_date
        settlement.terms.add(terms)
    totals = state.totals
    summation = settlement.monetary_summation
    summation.line_total = _amount(doc, totals.line_net_total)
    if doc.allowances:
        summation.allowance_total = _amount(doc, totals.allowance_total)
    summation.tax_basis_total = _amount(doc, totals.net_total)
    summation.tax_total = (_amount(doc, totals.tax_total), doc.currency)
    summation.grand_total = _amount(doc, totals.gross_total)
    if doc.prepaid:
        summation.prepaid_total = _amount(doc, doc.prepaid)
    summation.due_amount = _amount(doc, doc.due_payable)
    if doc.is_credit_note:
        ref = settlement.invoice_referenced_document
        ref.issuer_assigned_id = state.credited_invoice_number
        if state.credited_invoice_issue_date is not None:
            ref.issue_date_time = state.credited_invoice_issue_date
    xml = d.serialize(schema=None)
    assert isinstance(xml, bytes)
    return xml
