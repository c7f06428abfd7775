"""Peppol for sellers without a VAT id: the seller's participant id comes from the
organization's ``peppol_id`` setting or the Belgian enterprise number in its registration,
never the e-mail scheme EM (PEPPOL-EN16931-CL008 rejects it); the documents pass the official
rules."""

from __future__ import annotations

import pytest
from invoicing.documents.einvoice import build_einvoice, validate
from invoicing.domain.errors import DomainError
from invoicing.schemas.events import InvoiceState
from lxml import etree

from tests.support import scenarios
from tests.support.external import require_rules
from tests.support.scenarios import Core

CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
EXEMPT_LINE = {
    "description": "Conseil",
    "quantity": "2",
    "unit": "hours",
    "unit_price": "80.00",
    "tax_category": "exempt",
    "tax_rate": "0",
}


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory) -> Core:
    return Core(tmp_path_factory.mktemp("peppolcore"))


def _invoice(core: Core, **seller: object) -> InvoiceState:
    """A Belgian seller without VAT id (its enterprise number as tax number, § 14 needs one)."""
    base = {**scenarios.BE_SELLER, "vat_id": None, "tax_number": "0776.057.012"}
    org = core.organization(**{**base, **seller})
    customer = core.customer(org, **scenarios.BE_BUYER)
    return core.invoice(org, customer, [EXEMPT_LINE])


def _seller(xml: bytes) -> tuple[tuple[str | None, str | None], str | None]:
    root = etree.fromstring(xml)
    party = root.find(f"{{{CAC}}}AccountingSupplierParty/{{{CAC}}}Party")
    assert party is not None
    endpoint = party.find(f"{{{CBC}}}EndpointID")
    assert endpoint is not None
    legal = party.find(f"{{{CAC}}}PartyLegalEntity/{{{CBC}}}CompanyID")
    return (endpoint.get("schemeID"), endpoint.text), (legal.text if legal is not None else None)


def _valid(xml: bytes, profile: str) -> None:
    require_rules()
    report = validate(xml, profile)
    assert report.valid, [f"{f.rule}: {f.text}" for f in report.errors]


def test_enterprise_number_from_the_registration(core: Core) -> None:
    state = _invoice(core, small_business=True)  # registration "RPM Bruxelles 0776.057.012"
    einvoice = build_einvoice(state, "peppol")
    endpoint, legal = _seller(einvoice.xml)
    assert endpoint == ("0208", "0776057012") and legal == "0776057012"
    _valid(einvoice.xml, einvoice.profile)


def test_configured_participant_id_wins(core: Core) -> None:
    state = _invoice(core, small_business=True, peppol_id="0088:5412345000013")
    einvoice = build_einvoice(state, "peppol")
    assert _seller(einvoice.xml)[0] == ("0088", "5412345000013")
    _valid(einvoice.xml, einvoice.profile)


def test_no_participant_id_is_a_clear_error(core: Core) -> None:
    state = _invoice(core, small_business=True, registration="Handelsregister Gent")
    with pytest.raises(DomainError) as caught:
        build_einvoice(state, "peppol")
    (error,) = caught.value.errors
    assert error.code == "peppol_endpoint_missing"
    assert error.pointer == "/peppol_id" and error.hint


def test_peppol_id_setting_is_validated(core: Core) -> None:
    with pytest.raises(scenarios.CommandRejected, match="/payload/peppol_id"):
        core.organization(**{**scenarios.BE_SELLER, "peppol_id": "0208 0776057012"})


def test_german_small_business_with_only_a_tax_number(core: Core) -> None:
    """A § 19 UStG seller (Steuernummer only) invoicing a Belgian customer over Peppol."""
    seller = {
        **scenarios.DE_SELLER,
        "vat_id": None,
        "registration": None,
        "small_business": True,
        "peppol_id": "0088:4035811991014",
    }
    org = core.organization(**seller)
    customer = core.customer(org, **scenarios.BE_BUYER)
    state = core.invoice(org, customer, [{**EXEMPT_LINE, "description": "Beratung"}])
    einvoice = build_einvoice(state, "peppol")
    assert _seller(einvoice.xml)[0] == ("0088", "4035811991014")
    _valid(einvoice.xml, einvoice.profile)
