"""UBL 2.1 Invoice / CreditNote for Peppol BIS Billing 3.0 and XRechnung 3.0 (UBL syntax).

A small lxml builder over :class:`~invoicing.documents.einvoice.prepare.Prepared`. Element
order follows the UBL 2.1 XSD sequences (Invoice and CreditNote differ in a few places).
Text is set through lxml, so customer-supplied text is always escaped.
"""

from __future__ import annotations

from decimal import Decimal

from invoicing.documents.einvoice.prepare import (
    NO_BUYER_REFERENCE,
    Identifier,
    Prepared,
    PreparedLine,
    TaxGroup,
    compact_id,
    money,
    plain,
    price,
)
from invoicing.schemas.events import Party
from lxml import etree  # type: ignore[import-untyped]

NS_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
NS_CREDIT_NOTE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
NS_CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
NS_CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"

PEPPOL_CUSTOMIZATION = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
XRECHNUNG_CUSTOMIZATION = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
PEPPOL_PROFILE = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"

#: UNTDID 4461 payment means: 58 SEPA credit transfer, 30 credit transfer, 1 not defined
SEPA_CREDIT_TRANSFER = "58"
NOT_DEFINED = "1"


class _Builder:
    def __init__(self, doc: Prepared) -> None:
        self.doc = doc

    # -- element helpers -------------------------------------------------------------------

    @staticmethod
    def cac(parent: etree._Element, name: str) -> etree._Element:
        return etree.SubElement(parent, f"{{{NS_CAC}}}{name}")

    @staticmethod
    def cbc(parent: etree._Element, name: str, text: str, **attrs: str) -> etree._Element:
        el = etree.SubElement(parent, f"{{{NS_CBC}}}{name}", attrs)
        el.text = text
        return el

    def amount(self, parent: etree._Element, name: str, value: Decimal) -> etree._Element:
        return self.cbc(parent, name, self.doc.amount(value), currencyID=self.doc.currency)

    # -- parties ---------------------------------------------------------------------------

    def address(self, parent: etree._Element, party: Party, tag: str = "PostalAddress") -> None:
        addr = party.address
        assert addr is not None
        el = self.cac(parent, tag)
        if addr.street_address:
            self.cbc(el, "StreetName", addr.street_address)
        if addr.additional_line:
            self.cbc(el, "AdditionalStreetName", addr.additional_line)
        if addr.city:
            self.cbc(el, "CityName", addr.city)
        if addr.zip_code:
            self.cbc(el, "PostalZone", addr.zip_code)
        country = self.cac(el, "Country")
        self.cbc(country, "IdentificationCode", addr.country_code)

    def party(
        self,
        parent: etree._Element,
        party: Party,
        endpoint: Identifier | None,
        legal: Identifier | None,
        *,
        seller: bool,
        identifier: Identifier | None = None,
    ) -> None:
        el = self.cac(parent, "Party")
        if endpoint is not None:
            self.cbc(el, "EndpointID", endpoint.value, schemeID=endpoint.scheme or "")
        if identifier is not None:
            ident = self.cac(el, "PartyIdentification")
            attrs = {"schemeID": identifier.scheme} if identifier.scheme else {}
            self.cbc(ident, "ID", identifier.value, **attrs)
        elif legal is not None and legal.scheme:
            ident = self.cac(el, "PartyIdentification")
            self.cbc(ident, "ID", legal.value, schemeID=legal.scheme)
        if party.company and party.company != party.name:
            name = self.cac(el, "PartyName")
            self.cbc(name, "Name", party.company)
        self.address(el, party)
        if party.vat_id:
            scheme = self.cac(el, "PartyTaxScheme")
            self.cbc(scheme, "CompanyID", compact_id(party.vat_id))
            self.cbc(self.cac(scheme, "TaxScheme"), "ID", "VAT")
        if seller and party.tax_number:
            scheme = self.cac(el, "PartyTaxScheme")
            self.cbc(scheme, "CompanyID", party.tax_number)
            self.cbc(self.cac(scheme, "TaxScheme"), "ID", "FC")
        entity = self.cac(el, "PartyLegalEntity")
        self.cbc(entity, "RegistrationName", party.name)
        if legal is not None:
            attrs = {"schemeID": legal.scheme} if legal.scheme else {}
            self.cbc(entity, "CompanyID", legal.value, **attrs)
        contact_name = (
            party.managing_directors
            if seller and party.managing_directors
            else " ".join(p for p in (party.given_name, party.family_name) if p) or None
        )
        if contact_name or party.phone or party.email:
            contact = self.cac(el, "Contact")
            if contact_name or seller:
                self.cbc(contact, "Name", contact_name or party.name)
            if party.phone:
                self.cbc(contact, "Telephone", party.phone)
            if party.email:
                self.cbc(contact, "ElectronicMail", party.email)

    # -- tax -------------------------------------------------------------------------------

    def tax_category(
        self,
        parent: etree._Element,
        tag: str,
        category: str,
        rate: Decimal,
        group: TaxGroup | None = None,
    ) -> None:
        el = self.cac(parent, tag)
        self.cbc(el, "ID", category)
        # no rate on an O line or allowance (BR-O-05/-06); in a breakdown (``group``) 0 for O,
        # as XRechnung's BR-DE-14 wants BT-119 in every breakdown
        if category != "O" or group is not None:
            self.cbc(el, "Percent", plain(rate))
        if group is not None:
            if group.exemption_code:
                self.cbc(el, "TaxExemptionReasonCode", group.exemption_code)
            if group.exemption_reason:
                self.cbc(el, "TaxExemptionReason", group.exemption_reason)
        self.cbc(self.cac(el, "TaxScheme"), "ID", "VAT")

    # -- document --------------------------------------------------------------------------

    def build(self, customization: str) -> etree._Element:
        doc = self.doc
        credit = doc.is_credit_note
        root_ns = NS_CREDIT_NOTE if credit else NS_INVOICE
        root = etree.Element(
            f"{{{root_ns}}}{'CreditNote' if credit else 'Invoice'}",
            nsmap={None: root_ns, "cac": NS_CAC, "cbc": NS_CBC},
        )
        self.cbc(root, "CustomizationID", customization)
        self.cbc(root, "ProfileID", PEPPOL_PROFILE)
        self.cbc(root, "ID", doc.number)
        self.cbc(root, "IssueDate", doc.issue_date.isoformat())
        if credit:
            self.cbc(root, "CreditNoteTypeCode", doc.type_code)
        else:
            if doc.due_date is not None:
                self.cbc(root, "DueDate", doc.due_date.isoformat())
            self.cbc(root, "InvoiceTypeCode", doc.type_code)
        if doc.note:
            self.cbc(root, "Note", doc.note)
        self.cbc(root, "DocumentCurrencyCode", doc.currency)
        if doc.tax_currency:
            self.cbc(root, "TaxCurrencyCode", doc.tax_currency)  # BT-6
        state = doc.state
        if doc.buyer_reference:
            self.cbc(root, "BuyerReference", doc.buyer_reference)
        elif customization == XRECHNUNG_CUSTOMIZATION or not state.purchase_order_number:
            # BR-DE-15 (XRechnung) and PEPPOL-EN16931-R003 need BT-10 (or BT-13 for Peppol)
            self.cbc(root, "BuyerReference", NO_BUYER_REFERENCE)
        if state.service_period_start and state.service_period_end:
            period = self.cac(root, "InvoicePeriod")
            self.cbc(period, "StartDate", state.service_period_start.isoformat())
            self.cbc(period, "EndDate", state.service_period_end.isoformat())
        if state.purchase_order_number:
            self.cbc(self.cac(root, "OrderReference"), "ID", state.purchase_order_number)
        if credit and state.credited_invoice_number:  # a standalone credit note has no BG-3
            ref = self.cac(self.cac(root, "BillingReference"), "InvoiceDocumentReference")
            self.cbc(ref, "ID", state.credited_invoice_number or "")
            if state.credited_invoice_issue_date is not None:
                self.cbc(ref, "IssueDate", state.credited_invoice_issue_date.isoformat())
        seller_el = self.cac(root, "AccountingSupplierParty")
        self.party(
            seller_el,
            doc.seller,
            doc.seller_endpoint,
            doc.seller_legal,
            seller=True,
            identifier=doc.seller_identifier,
        )
        buyer_el = self.cac(root, "AccountingCustomerParty")
        self.party(buyer_el, doc.buyer, doc.buyer_endpoint, doc.buyer_legal, seller=False)
        if state.delivery_date is not None or doc.deliver_to_country:
            delivery = self.cac(root, "Delivery")
            if state.delivery_date is not None:
                self.cbc(delivery, "ActualDeliveryDate", state.delivery_date.isoformat())
            if doc.deliver_to_country:
                location = self.cac(delivery, "DeliveryLocation")
                self.address(location, doc.buyer, "Address")
        self.payment(root)
        for allowance in doc.allowances:
            el = self.cac(root, "AllowanceCharge")
            self.cbc(el, "ChargeIndicator", "false")
            self.cbc(el, "AllowanceChargeReasonCode", "95")
            self.cbc(el, "AllowanceChargeReason", allowance.reason)
            self.amount(el, "Amount", allowance.amount)
            self.tax_category(el, "TaxCategory", allowance.category, allowance.rate)
        totals = state.totals
        tax_total = self.cac(root, "TaxTotal")
        self.amount(tax_total, "TaxAmount", totals.tax_total)
        for group in doc.groups:
            sub = self.cac(tax_total, "TaxSubtotal")
            self.amount(sub, "TaxableAmount", group.taxable)
            self.amount(sub, "TaxAmount", group.tax)
            self.tax_category(sub, "TaxCategory", group.category, group.rate, group)
        if doc.tax_currency and doc.tax_total_accounting is not None:  # BT-111
            accounting = self.cac(root, "TaxTotal")
            self.cbc(
                accounting,
                "TaxAmount",
                money(doc.tax_total_accounting, doc.tax_currency),
                currencyID=doc.tax_currency,
            )
        monetary = self.cac(root, "LegalMonetaryTotal")
        self.amount(monetary, "LineExtensionAmount", totals.line_net_total)
        self.amount(monetary, "TaxExclusiveAmount", totals.net_total)
        self.amount(monetary, "TaxInclusiveAmount", totals.gross_total)
        if doc.allowances:
            self.amount(monetary, "AllowanceTotalAmount", totals.allowance_total)
        if doc.prepaid:  # BT-113
            self.amount(monetary, "PrepaidAmount", doc.prepaid)
        self.amount(monetary, "PayableAmount", doc.due_payable)
        for line in doc.lines:
            self.line(root, line, credit)
        return root

    def payment(self, root: etree._Element) -> None:
        doc = self.doc
        seller = doc.seller
        means = self.cac(root, "PaymentMeans")
        code = SEPA_CREDIT_TRANSFER if seller.iban else NOT_DEFINED
        self.cbc(means, "PaymentMeansCode", code)
        if doc.is_credit_note and doc.due_date is not None:
            self.cbc(means, "PaymentDueDate", doc.due_date.isoformat())
        if doc.payment_reference:
            self.cbc(means, "PaymentID", doc.payment_reference)
        if seller.iban:
            account = self.cac(means, "PayeeFinancialAccount")
            self.cbc(account, "ID", compact_id(seller.iban))
            self.cbc(account, "Name", seller.name)
            if seller.bic:
                branch = self.cac(account, "FinancialInstitutionBranch")
                self.cbc(branch, "ID", seller.bic)
        if doc.payment_terms:
            self.cbc(self.cac(root, "PaymentTerms"), "Note", doc.payment_terms)

    def line(self, root: etree._Element, line: PreparedLine, credit: bool) -> None:
        el = self.cac(root, "CreditNoteLine" if credit else "InvoiceLine")
        self.cbc(el, "ID", line.position)
        self.cbc(
            el,
            "CreditedQuantity" if credit else "InvoicedQuantity",
            plain(line.quantity),
            unitCode=line.unit_code,
        )
        self.amount(el, "LineExtensionAmount", line.net)
        if line.allowance:
            allowance = self.cac(el, "AllowanceCharge")
            self.cbc(allowance, "ChargeIndicator", "false")
            self.cbc(allowance, "AllowanceChargeReasonCode", "95")
            self.cbc(allowance, "AllowanceChargeReason", "Discount")
            self.amount(allowance, "Amount", line.allowance)
        item = self.cac(el, "Item")
        if line.source.subtitle:
            self.cbc(item, "Description", line.source.subtitle)
        self.cbc(item, "Name", line.source.description)
        self.tax_category(item, "ClassifiedTaxCategory", line.category, line.rate)
        price_el = self.cac(el, "Price")
        self.cbc(
            price_el,
            "PriceAmount",
            price(line.price, self.doc.currency),
            currencyID=self.doc.currency,
        )


def build_ubl(doc: Prepared, customization: str) -> bytes:
    """Serialize as UTF-8 UBL with XML declaration."""
    root = _Builder(doc).build(customization)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
