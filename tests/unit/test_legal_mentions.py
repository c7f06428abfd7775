"""Legal mentions per seller country, document kind and language, read back from the PDF text
(docs/legal-mentions.md is the table these tests check).

The law is the SELLER's (a German seller cites the UStG, a Belgian one the Code TVA / W.Btw) in
the document's language (the customer's); the organization's ``tax_notes`` override wins.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
from typing import Any

import pypdf
import pytest
from invoicing.documents.einvoice import build_einvoice, validate
from invoicing.documents.pdf import render_pdf
from invoicing.handlers.sending import mail_context
from invoicing.mail.texts import MailTemplates
from invoicing.schemas.events import InvoiceState
from invoicing.texts import text as text_of_catalog

from tests.support import scenarios
from tests.support.external import require_rules
from tests.support.scenarios import Core

LANGS = ("de", "en", "fr", "nl")
SELLERS = {"DE": scenarios.DE_SELLER, "BE": scenarios.BE_SELLER}
BUYERS = {"DE": scenarios.DE_BUYER, "BE": scenarios.BE_BUYER}

#: what proves which law a reverse-charge note cites
CITES = {"DE": "§ 13b UStG", "BE": "51, § 2"}
OTHER = {"DE": "51, § 2", "BE": "§ 13b"}
#: the reverse-charge words in the document's language (+ the German words § 14a (5) requires)
RC_WORDS = {
    ("DE", "de"): ["Steuerschuldnerschaft des Leistungsempfängers"],
    ("DE", "en"): ["Reverse charge", "Steuerschuldnerschaft des Leistungsempfängers"],
    ("DE", "fr"): ["Autoliquidation", "Steuerschuldnerschaft des Leistungsempfängers"],
    ("DE", "nl"): ["Btw verlegd", "Steuerschuldnerschaft des Leistungsempfängers"],
    ("BE", "de"): ["Steuerschuldnerschaft des Leistungsempfängers", "Autoliquidation"],
    ("BE", "en"): ["Reverse charge", "autoliquidation"],
    ("BE", "fr"): ["Autoliquidation"],
    ("BE", "nl"): ["Verlegging van heffing"],
}
#: the Belgian credit-note mention (art. 77 Code TVA), in French for de/en/fr
REPAYMENT = {
    "de": "TVA à reverser à l'État",
    "en": "TVA à reverser à l'État",
    "fr": "TVA à reverser à l'État",
    "nl": "Btw terug te storten aan de Staat",
}
#: the correction's title; German "Gutschrift" is self-billing (§ 14 Abs. 2 UStG)
CREDIT_TITLE = {"de": "Rechnungskorrektur", "en": "Credit note", "fr": "Note de crédit"}
CREDIT_TITLE["nl"] = "Creditnota"
QUOTE_NOTE = {
    "de": "keine Rechnung",
    "en": "not an invoice",
    "fr": "pas une facture",
    "nl": "geen factuur",
}


def _text(pdf: bytes) -> str:
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    return " ".join(text.replace("\u00a0", " ").split())


class World:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.orgs: dict[str, uuid.UUID] = {}
        self.cache: dict[tuple[str, str, str], InvoiceState] = {}

    def org(self, country: str) -> uuid.UUID:
        if country not in self.orgs:
            self.orgs[country] = self.core.organization(**SELLERS[country])
        return self.orgs[country]

    def invoice(self, country: str, lang: str) -> InvoiceState:
        key = (country, lang, "invoice")
        if key not in self.cache:
            org = self.org(country)
            customer = self.core.customer(org, **_buyer(country, lang))
            self.cache[key] = self.core.invoice(org, customer, _lines(), locale=lang)
        return self.cache[key]

    def credit_note(self, country: str, lang: str) -> InvoiceState:
        key = (country, lang, "credit_note")
        if key not in self.cache:
            invoice = self.invoice(country, lang)
            self.cache[key] = self.core.credit_note(
                invoice.organization_id, invoice, reason="Storno"
            )
        return self.cache[key]


def _buyer(country: str, lang: str) -> dict[str, Any]:
    """The country's scenario buyer, with its own email (emails are unique per seller)."""
    email = f"{uuid.uuid4().hex[:10]}@buyer.example"
    return {**BUYERS[country], "locale": lang, "email": email}


def _lines() -> list[dict[str, Any]]:
    return [
        {"description": "Beratung", "quantity": "2", "unit": "hours", "unit_price": "100.00"},
        {
            "description": "Montage",
            "quantity": "1",
            "unit": "flat",
            "unit_price": "500.00",
            "tax_category": "reverse_charge",
            "tax_rate": "0",
        },
    ]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(Core(tmp_path_factory.mktemp("legalcore")))


def _common(state: InvoiceState, text: str) -> None:
    """What every invoice-like document carries (§ 14 Abs. 4 UStG, KB nr. 1 art. 5)."""
    assert state.seller is not None and state.buyer is not None
    assert state.seller.name in text and state.buyer.name in text
    assert state.seller.vat_id and state.seller.vat_id in text
    assert state.buyer.vat_id and state.buyer.vat_id in text  # B2B, reverse charge
    for line in state.lines:
        assert line.description in text


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("country", ["DE", "BE"])
def test_invoice_cites_the_sellers_law_in_the_documents_language(
    world: World, country: str, lang: str
) -> None:
    state = world.invoice(country, lang)
    assert state.number is not None
    text = _text(render_pdf(state))
    _common(state, text)
    assert state.number in text
    assert CITES[country] in text and OTHER[country] not in text, text
    for word in RC_WORDS[(country, lang)]:
        assert word in text, (country, lang, word)
    assert REPAYMENT[lang] not in text


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("country", ["DE", "BE"])
def test_credit_note_mentions(world: World, country: str, lang: str) -> None:
    invoice = world.invoice(country, lang)
    state = world.credit_note(country, lang)
    assert invoice.number is not None and state.number is not None
    text = _text(render_pdf(state))
    _common(state, text)
    assert CREDIT_TITLE[lang] in text
    if lang == "de":
        assert "Gutschrift" not in text  # self-billing's word, not a correction's
    assert invoice.number in text  # the corrected invoice, with its date
    assert CITES[country] in text and OTHER[country] not in text
    if country == "BE":
        assert REPAYMENT[lang] in text
    else:
        assert REPAYMENT[lang] not in text
    # the e-invoice note says the same
    fmt = "peppol" if country == "BE" else "xrechnung_cii"
    einvoice = build_einvoice(state, fmt)
    xml = einvoice.xml.decode("utf-8").replace("&apos;", "'")
    if country == "BE":
        assert REPAYMENT[lang] in xml
    require_rules()
    report = validate(einvoice.xml, einvoice.profile)
    assert report.valid, [f"{f.rule}: {f.text}" for f in report.errors]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("country", ["DE", "BE"])
def test_quote_is_not_an_invoice(world: World, country: str, lang: str) -> None:
    state = world.invoice(country, lang).model_copy(update={"kind": "quote"})
    text = _text(render_pdf(state))
    assert QUOTE_NOTE[lang] in text
    assert CITES[country] in text  # the tax treatment it will have


@pytest.mark.parametrize(("country", "cites"), [("DE", "§ 19 UStG"), ("BE", "56bis")])
@pytest.mark.parametrize("lang", LANGS)
def test_small_business_note_follows_the_seller(
    world: World, country: str, cites: str, lang: str
) -> None:
    org = world.core.organization(**{**SELLERS[country], "small_business": True})
    customer = world.core.customer(org, **_buyer(country, lang))
    state = world.core.invoice(
        org,
        customer,
        [
            {
                "description": "Logo",
                "quantity": "1",
                "unit_price": "450.00",
                "tax_category": "exempt",
                "tax_rate": "0",
            }
        ],
    )
    text = _text(render_pdf(state))
    assert text.count(cites) == 1, text  # printed once


def test_own_tax_notes_override_the_catalog(world: World) -> None:
    own = "Leistungsempfänger schuldet die Steuer (unser Wortlaut, § 13b UStG)."
    org = world.core.organization(**{**SELLERS["DE"], "tax_notes": {"reverse_charge": {"de": own}}})
    for lang, expected in (("de", own), ("en", "Reverse charge – Steuerschuldnerschaft")):
        customer = world.core.customer(org, **_buyer("DE", lang))
        state = world.core.invoice(org, customer, _lines(), locale=lang)
        assert state.legal_notes[0].startswith(expected)
        assert expected in _text(render_pdf(state))


#: a business customer in another Member State (France), for services under reverse charge
FR_BUYER: dict[str, Any] = {
    "company": "Dupont Conseil SARL",
    "vat_id": "FR40303265045",
    "address": {
        "street_address": "1 rue de Rivoli",
        "zip_code": "75001",
        "city": "Paris",
        "country_code": "FR",
    },
}
#: the article for B2B services to another Member State (docs/legal-mentions.md: DE § 13b
#: Abs. 1 UStG, BE art. 21, § 2 Code TVA), and the domestic article it must not cite
CROSS_BORDER = {
    ("DE", "de"): "§ 13b Abs. 1 UStG",
    ("DE", "en"): "§ 13b Abs. 1 UStG",
    ("DE", "fr"): "§ 13b Abs. 1 UStG",
    ("DE", "nl"): "§ 13b Abs. 1 UStG",
    ("BE", "de"): "Art. 21, § 2",
    ("BE", "en"): "art. 21, § 2",
    ("BE", "fr"): "art. 21, § 2",
    ("BE", "nl"): "art. 21, § 2",
}
DOMESTIC_RC = {"DE": "(§ 13b UStG)", "BE": "51, § 2"}


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("country", ["DE", "BE"])
def test_reverse_charge_to_another_member_state_cites_the_cross_border_article(
    world: World, country: str, lang: str
) -> None:
    """A service to a business in another Member State under reverse charge cites the
    cross-border provision (DE § 13b Abs. 1 UStG, BE art. 21, § 2 Code TVA) on the invoice, on
    its credit note and on a standalone credit note, in the PDF and as BT-120. Before the fix
    the note was chosen before the buyer snapshot existed, so every one of them carried the
    domestic wording (BE: art. 51, § 2, the wrong article)."""
    org = world.core.organization(**SELLERS[country])  # its own series: dates in order
    email = f"{uuid.uuid4().hex[:10]}@buyer.example"
    customer = world.core.customer(org, **FR_BUYER, locale=lang, email=email)
    lines = [
        {
            "description": "Consulting",
            "quantity": "3",
            "unit": "hours",
            "unit_price": "150.00",
            "tax_category": "reverse_charge",
            "tax_rate": "0",
        }
    ]
    invoice = world.core.invoice(org, customer, lines)
    credit = world.core.credit_note(org, invoice, reason="Storno")
    standalone = world.core.state(
        world.core.run(
            org,
            "issue_standalone_credit_note",
            {
                "credit_note_id": str(uuid.uuid4()),
                "customer_id": str(customer),
                "reason": "Bonus",
                "issue_date": "2026-11-25",
                "delivery_date": "2026-11-25",
                "lines": lines,
            },
        ),
        "credit_note.issued",
    )
    expected = CROSS_BORDER[(country, lang)]
    for state in (invoice, credit, standalone):
        text = _text(render_pdf(state))
        assert expected in text, text
        assert DOMESTIC_RC[country] not in text, text
        (group,) = state.tax_breakdown
        assert group.exemption_reason is not None and expected in group.exemption_reason


@pytest.mark.parametrize("country", ["DE", "BE"])
def test_a_drafts_notes_are_those_its_finalize_prints(world: World, country: str) -> None:
    """A draft has no buyer snapshot yet (it is taken at finalize): its notes, in
    invoice.created and invoice.updated, follow the customer's country, so a reverse charge
    to a French business cites the cross-border article in the draft as on the invoice. Before,
    the draft carried the domestic wording until finalize."""
    org = world.core.organization(**SELLERS[country])
    email = f"{uuid.uuid4().hex[:10]}@buyer.example"
    customer = world.core.customer(org, **FR_BUYER, locale="en", email=email)
    line = {
        "description": "Consulting",
        "quantity": "3",
        "unit_price": "150.00",
        "tax_category": "reverse_charge",
        "tax_rate": "0",
    }
    iid = str(uuid.uuid4())
    created = world.core.run(
        org, "create_invoice", {"id": iid, "customer_id": str(customer), "lines": [line]}
    )
    updated = world.core.run(org, "add_line", {"invoice_id": iid, "line": line})
    finalized = world.core.run(org, "finalize_invoice", {"invoice_id": iid})
    expected = CROSS_BORDER[(country, "en")]
    notes = []
    for outcome, kind in (
        (created, "invoice.created"),
        (updated, "invoice.updated"),
        (finalized, "invoice.finalized"),
    ):
        state = world.core.state(outcome, kind)
        (group,) = state.tax_breakdown
        assert group.exemption_reason is not None and expected in group.exemption_reason, kind
        notes.append(state.legal_notes)
    assert notes[0] == notes[1] == notes[2]


#: the reason of the credit note change_recipient issues, in the document's language
RECIPIENT_CHANGE = {
    "de": "Änderung des Rechnungsempfängers",
    "en": "Change of recipient",
    "fr": "Changement de destinataire",
    "nl": "Wijziging van de ontvanger",
}


@pytest.mark.parametrize("lang", LANGS)
def test_change_of_recipient_credit_note_states_its_reason_in_the_documents_language(
    world: World, lang: str
) -> None:
    """The correction change_recipient issues prints its reason in the customer's language
    (PDF "Grund:" and BT-22); before, every one said "change of recipient" in English."""
    org = world.core.organization(**SELLERS["DE"])  # its own series: dates in order
    old = world.core.customer(org, **_buyer("DE", lang))
    new = world.core.customer(org, **{**_buyer("DE", lang), "company": "Neue Holding AG"})
    invoice = world.core.invoice(org, old, _lines())
    outcome = world.core.run(
        org,
        "change_recipient",
        {
            "invoice_id": str(invoice.id),
            "customer_id": str(new),
            "new_invoice_id": str(uuid.uuid4()),
        },
    )
    credit = world.core.state(outcome, "credit_note.issued")
    assert credit.credit_reason == RECIPIENT_CHANGE[lang]
    text = _text(render_pdf(credit))
    assert RECIPIENT_CHANGE[lang] in text, text
    if lang != "en":
        assert "change of recipient" not in text.lower(), text
    assert RECIPIENT_CHANGE[lang] in build_einvoice(credit, "xrechnung_cii").xml.decode()


@pytest.mark.parametrize("lang", LANGS)
def test_standalone_credit_note_email_names_it_as_its_pdf_does(world: World, lang: str) -> None:
    """The email of a standalone credit note names the document as its PDF is titled: in
    German a "Korrekturbeleg" (it corrects no invoice, so it is no "Rechnungskorrektur", and
    never a "Gutschrift"); before, subject and body called it "Rechnungskorrektur"."""
    org = world.core.organization(**SELLERS["DE"])  # its own series: dates in order
    customer = world.core.customer(org, **_buyer("DE", lang))
    standalone = world.core.state(
        world.core.run(
            org,
            "issue_standalone_credit_note",
            {
                "credit_note_id": str(uuid.uuid4()),
                "customer_id": str(customer),
                "reason": "Jahresbonus",
                "issue_date": "2026-11-25",
                "lines": _lines(),
            },
        ),
        "credit_note.issued",
    )
    title = text_of_catalog("pdf.standalone_credit_note", lang)
    assert title in _text(render_pdf(standalone))
    mail = MailTemplates().compose("invoice", lang, mail_context(standalone, lang))
    assert f"{title} {standalone.number}" in mail.subject
    assert standalone.number is not None and standalone.number in mail.text
    if lang == "de":
        assert "Korrekturbeleg" in mail.subject and "unseren Korrekturbeleg" in mail.text
        assert "Rechnungskorrektur" not in mail.subject + mail.text
        assert "Gutschrift" not in mail.subject + mail.text
    # a credit note of an invoice stays a "Rechnungskorrektur"
    invoice = world.core.invoice(org, customer, _lines(), issue_date=dt.date(2026, 11, 25))
    credit = world.core.credit_note(org, invoice, issue_date=dt.date(2026, 11, 25))
    credit_mail = MailTemplates().compose("invoice", lang, mail_context(credit, lang))
    assert text_of_catalog("document.title.credit_note", lang) in credit_mail.subject


#: the § 286 Abs. 3 BGB note on a German invoice to a consumer, in the document's language
DEFAULT_NOTE = {
    "de": "Hinweis nach § 286 Abs. 3 BGB",
    "en": "Notice under § 286 (3) BGB",
    "fr": "Avis conformément au § 286, al. 3, du BGB",
    "nl": "Mededeling overeenkomstig § 286, lid 3, BGB",
}


@pytest.mark.parametrize("lang", LANGS)
def test_a_german_invoice_to_a_consumer_says_when_default_begins(world: World, lang: str) -> None:
    """§ 286 Abs. 3 Satz 1 BGB: a consumer is in default 30 days after due date and receipt
    only if the invoice pointed this out. A German seller's invoice to a consumer says so, in
    the PDF and the e-invoice's note, and records it (default_note). An invoice to a business,
    a credit note and a Belgian seller's invoice to a consumer carry no such note."""
    org = world.org("DE")
    consumer = world.core.customer(org, **_buyer("DE", lang), customer_type="consumer")
    noted = world.core.invoice(org, consumer, _lines()[:1], locale=lang)
    assert noted.default_note is True
    assert DEFAULT_NOTE[lang] in _text(render_pdf(noted))
    assert DEFAULT_NOTE[lang] in build_einvoice(noted, "xrechnung_cii").xml.decode()
    credit = world.core.credit_note(org, noted, reason="Storno")
    assert credit.default_note is False and DEFAULT_NOTE[lang] not in _text(render_pdf(credit))
    business = world.invoice("DE", lang)  # the scenario buyer has a VAT id: a business
    assert business.default_note is False and DEFAULT_NOTE[lang] not in _text(render_pdf(business))
    be_org = world.org("BE")
    be_consumer = world.core.customer(be_org, **_buyer("BE", lang), customer_type="consumer")
    be_invoice = world.core.invoice(be_org, be_consumer, _lines()[:1], locale=lang)
    assert be_invoice.default_note is False
    assert DEFAULT_NOTE[lang] not in _text(render_pdf(be_invoice))
