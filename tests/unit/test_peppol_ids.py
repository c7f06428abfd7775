"""Peppol participant ids are checked when they are configured (customer, organization,
subsidiary), as the Peppol BIS rules check an electronic address: the EAS code list, the
Belgian enterprise number (0208, PEPPOL-COMMON-R043) and the Belgian VAT number (9925).

Before, a customer's ``peppol_id`` was stored as sent: ``0208:BE0880676559`` or a wrong check
digit was accepted and each Peppol document of that customer then failed at its delivery
(``invoice.delivery_failed``, PEPPOL-COMMON-R043), and ``9925:0880676559`` (no BE prefix) went
out valid under the rules to a participant that does not exist."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from invoicing.documents.einvoice import build_einvoice, validate
from invoicing.domain.peppol import enterprise_number_valid, validate_peppol_id
from lxml import etree

from tests.support import scenarios
from tests.support.external import require_rules
from tests.support.scenarios import Core

CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"

#: what a Belgian integrator types that no Peppol document can carry
REFUSED = [
    "0208:BE0880676559",  # the VAT number under the enterprise number's scheme
    "0208:0880.676.559",  # dots
    "0208:0880676558",  # check digits wrong
    "0208:880676559",  # nine digits
    "9925:0880676559",  # VAT scheme without the BE prefix
    "9925:BE0880676558",  # VAT number with a wrong check
    "9925:DE811907980",  # not a Belgian VAT number
    "9999:0880676559",  # not an EAS code
    "0208 0880676559",  # no colon (was silently ignored for customers)
    "BE0880676559",  # a VAT id, not a participant id
    "208:0880676559",  # three-digit scheme
]
ACCEPTED = [
    "0208:0880676559",
    "9925:BE0880676559",
    "9925:be0880676559",
    " 0208:0403019261 ",
    "0088:5412345000013",
    "9930:DE811907980",
    "0204:991-1234512345-06",
]


@pytest.mark.parametrize("value", REFUSED)
def test_the_rule_refuses(value: str) -> None:
    with pytest.raises(ValueError):
        validate_peppol_id(value)


@pytest.mark.parametrize("value", ACCEPTED)
def test_the_rule_accepts(value: str) -> None:
    assert validate_peppol_id(value) == value.strip()


def test_enterprise_number_check_is_r043s() -> None:
    # 97 - (first eight mod 97); a remainder of 0 gives the check digits 97
    assert enterprise_number_valid("0403019261")
    assert enterprise_number_valid("0000000097")
    assert not enterprise_number_valid("0000000000")
    assert not enterprise_number_valid("040301926")


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory) -> Core:
    return Core(tmp_path_factory.mktemp("peppolids"))


@pytest.fixture(scope="module")
def org(core: Core) -> uuid.UUID:
    return core.organization(**{**scenarios.BE_SELLER, "einvoice_format": "peppol"})


def _rejection(core: Core, org: uuid.UUID, type_: str, payload: dict[str, Any]) -> dict[str, Any]:
    outcome = core.app.pipeline.handle_document(
        {
            "type": type_,
            "command_id": str(uuid.uuid4()),
            "organization_id": str(org),
            "payload": payload,
        }
    )
    assert outcome.status == "rejected", outcome.events
    (error,) = outcome.errors
    return error


@pytest.mark.parametrize("value", REFUSED)
def test_create_customer_refuses(core: Core, org: uuid.UUID, value: str) -> None:
    error = _rejection(
        core,
        org,
        "create_customer",
        {"id": str(uuid.uuid4()), **scenarios.BE_BUYER, "peppol_id": value},
    )
    assert error["code"] == "invalid_peppol_id"
    assert error["source"]["pointer"] == "/payload/peppol_id"
    assert "0208:0403019261" in error["meta"]["hint"]


def test_update_customer_organization_and_subsidiary_refuse(core: Core, org: uuid.UUID) -> None:
    customer = core.customer(org, **scenarios.BE_BUYER)
    bad = "0208:BE0880676559"
    for type_, payload in (
        ("update_customer", {"id": str(customer), **scenarios.BE_BUYER, "peppol_id": bad}),
        ("configure_organization", {**scenarios.BE_SELLER, "peppol_id": bad}),
        (
            "configure_subsidiary",
            {
                "id": "gent",
                "name": "Atelier Dupont Gent",
                "address": scenarios.BE_SELLER["address"],
                "vat_id": scenarios.BE_SELLER["vat_id"],
                "peppol_id": bad,
            },
        ),
    ):
        error = _rejection(core, org, type_, payload)
        assert (error["code"], error["source"]["pointer"]) == (
            "invalid_peppol_id",
            "/payload/peppol_id",
        ), type_


def _buyer_endpoint(xml: bytes) -> tuple[str | None, str | None]:
    root = etree.fromstring(xml)
    endpoint = root.find(f"{{{CAC}}}AccountingCustomerParty/{{{CAC}}}Party/{{{CBC}}}EndpointID")
    assert endpoint is not None
    return endpoint.get("schemeID"), endpoint.text


LINE = {"description": "Drukwerk", "quantity": "1", "unit": "piece", "unit_price": "100.00"}


@pytest.mark.parametrize("value", ["0208:0880676559", "9925:BE0880676559"])
def test_accepted_ids_give_valid_documents(core: Core, org: uuid.UUID, value: str) -> None:
    require_rules()
    customer = core.customer(
        org, **{**scenarios.BE_BUYER, "email": f"{uuid.uuid4().hex}@x.example", "peppol_id": value}
    )
    state = core.invoice(org, customer, [LINE])
    einvoice = build_einvoice(state, "peppol")
    assert _buyer_endpoint(einvoice.xml) == tuple(value.split(":"))
    report = validate(einvoice.xml, einvoice.profile)
    assert report.valid, [f"{f.rule}: {f.text}" for f in report.errors]


def test_the_refused_0208_forms_are_what_the_rules_reject(core: Core, org: uuid.UUID) -> None:
    """The command refuses exactly what PEPPOL-COMMON-R043 would reject at delivery."""
    require_rules()
    customer = core.customer(org, **{**scenarios.BE_BUYER, "email": "r043@x.example"})
    state = core.invoice(org, customer, [LINE])
    assert state.buyer is not None
    for value in ("0208:BE0880676559", "0208:0880.676.559", "0208:0880676558"):
        buyer = state.buyer.model_copy(update={"peppol_id": value})
        einvoice = build_einvoice(state.model_copy(update={"buyer": buyer}), "peppol")
        report = validate(einvoice.xml, einvoice.profile)
        assert "PEPPOL-COMMON-R043" in {f.rule for f in report.errors}, value
