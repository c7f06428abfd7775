"""The official rules reject what they must: mutated documents fail with the expected rule id,
and a failing document raises a DomainError that lists the rule ids (the send is blocked)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from invoicing.documents.einvoice import (
    build_einvoice,
    build_validated_einvoice,
    ensure_valid,
    get_validator,
    validate,
)
from invoicing.documents.einvoice.validation import (
    RULES_DIR_ENV,
    Profile,
    RulesNotFound,
    Validator,
    require_rules_dir,
)
from invoicing.domain.errors import DomainError
from invoicing.schemas.events import InvoiceState
from lxml import etree

from tests.support import scenarios
from tests.unit.test_einvoice_documents import NS, require_rules


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory) -> scenarios.Core:
    return scenarios.Core(tmp_path_factory.mktemp("einvoice-rules"))


@pytest.fixture(scope="module")
def de_invoice(core: scenarios.Core) -> InvoiceState:
    return scenarios.german_domestic(core)


@pytest.fixture(scope="module")
def be_invoice(core: scenarios.Core) -> InvoiceState:
    return scenarios.belgian_domestic(core)


def _mutate(xml: bytes, change: Callable[[etree._Element], None]) -> bytes:
    root = etree.fromstring(xml)
    change(root)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _one(root: etree._Element, path: str) -> etree._Element:
    found = root.xpath(path, namespaces=NS)
    assert found, path
    return found[0]


def _set(path: str, value: str) -> Callable[[etree._Element], None]:
    def change(root: etree._Element) -> None:
        _one(root, path).text = value

    return change


def _remove(*paths: str) -> Callable[[etree._Element], None]:
    def change(root: etree._Element) -> None:
        for path in paths:
            for el in root.xpath(path, namespaces=NS):
                el.getparent().remove(el)

    return change


def _add_cent(path: str) -> Callable[[etree._Element], None]:
    def change(root: etree._Element) -> None:
        el = _one(root, path)
        el.text = str(Decimal(el.text) + Decimal("0.01"))

    return change


# (scenario fixture, format, mutation, expected rule id)
MUTATIONS = [
    ("de_invoice", "xrechnung_ubl", _add_cent("/*/cac:TaxTotal/cbc:TaxAmount"), "BR-CO-14"),
    (
        "de_invoice",
        "xrechnung_ubl",
        _add_cent("/*/cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount"),
        "BR-CO-15",
    ),
    (
        "de_invoice",
        "xrechnung_cii",
        _add_cent("//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:LineTotalAmount"),
        "BR-CO-10",
    ),
    (
        "de_invoice",
        "zugferd",
        _add_cent("//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:GrandTotalAmount"),
        "BR-CO-15",
    ),
    ("de_invoice", "xrechnung_cii", _remove("//ram:BuyerReference"), "BR-DE-15"),
    (
        "de_invoice",
        "xrechnung_ubl",
        _remove("/*/cac:AccountingSupplierParty/cac:Party/cac:Contact/cbc:Telephone"),
        "BR-DE-6",
    ),
    ("de_invoice", "xrechnung_ubl", _remove("/*/cac:PaymentMeans"), "BR-DE-1"),
    (
        "de_invoice",
        "xrechnung_ubl",
        _set("/*/cac:TaxTotal/cbc:TaxAmount", "138.701"),
        "UBL-DT-01",  # amounts have at most 2 decimals
    ),
    (
        "be_invoice",
        "peppol",
        _set("/*/cac:AccountingSupplierParty/cac:Party/cbc:EndpointID", "0776057013"),
        "PEPPOL-COMMON-R043",
    ),
    (
        "be_invoice",
        "peppol",
        _remove("/*/cbc:BuyerReference", "/*/cac:OrderReference"),
        "PEPPOL-EN16931-R003",
    ),
    (
        "be_invoice",
        "peppol",
        _remove("/*/cac:AccountingSupplierParty/cac:Party/cbc:EndpointID"),
        "PEPPOL-EN16931-R020",
    ),
    (
        "be_invoice",
        "peppol",
        _set("/*/cbc:CustomizationID", "urn:cen.eu:en16931:2017"),
        "PEPPOL-EN16931-R004",
    ),
    (
        "be_invoice",
        "peppol",
        _add_cent("/*/cac:InvoiceLine[1]/cac:Price/cbc:PriceAmount"),
        "PEPPOL-EN16931-R120",
    ),
]


@pytest.mark.parametrize(
    ("fixture", "fmt", "mutation", "rule"),
    MUTATIONS,
    ids=[f"{fmt}-{rule}" for _, fmt, _, rule in MUTATIONS],
)
def test_mutated_document_is_rejected_with_rule_id(
    request: pytest.FixtureRequest,
    fixture: str,
    fmt: str,
    mutation: Callable[[etree._Element], None],
    rule: str,
) -> None:
    state: InvoiceState = request.getfixturevalue(fixture)
    einvoice = build_einvoice(state, fmt)
    bad = _mutate(einvoice.xml, mutation)
    assert bad != einvoice.xml
    require_rules()
    assert validate(einvoice.xml, einvoice.profile).valid  # the original passes
    report = validate(bad, einvoice.profile)
    assert not report.valid
    assert rule in report.rule_ids, report.rule_ids
    with pytest.raises(DomainError) as caught:
        ensure_valid(bad, einvoice.profile)
    assert {e.code for e in caught.value.errors} == {"einvoice_invalid"}
    assert any(e.detail.startswith(f"{rule}:") for e in caught.value.errors)
    assert rule in str(caught.value)


def test_xsd_violation_is_reported(de_invoice: InvoiceState) -> None:
    einvoice = build_einvoice(de_invoice, "xrechnung_ubl")

    def change(root: etree._Element) -> None:
        etree.SubElement(root, f"{{{NS['cbc']}}}NotAnElement").text = "x"

    require_rules()
    report = validate(_mutate(einvoice.xml, change), Profile.XRECHNUNG_UBL)
    assert "XSD" in report.rule_ids


def test_not_xml_is_reported() -> None:
    require_rules()
    report = validate(b"<Invoice><unclosed></Invoice>", Profile.PEPPOL_UBL)
    assert report.rule_ids == ["XML"]


def test_incomplete_organization_blocks_the_send(core: scenarios.Core) -> None:
    """An XRechnung from an organization without phone and e-mail fails BR-DE-6/BR-DE-7:
    build_validated_einvoice raises the DomainError the send handler turns into a rejection."""
    org = core.organization(**{**scenarios.DE_SELLER, "phone": None, "email": None})
    customer = core.customer(org, **scenarios.DE_BUYER)
    state = core.invoice(
        org, customer, [{"description": "Beratung", "quantity": "1", "unit_price": "100"}]
    )
    require_rules()
    with pytest.raises(DomainError) as caught:
        build_validated_einvoice(state, "xrechnung_cii")
    details = " ".join(e.detail for e in caught.value.errors)
    assert "BR-DE-2" in details or "BR-DE-6" in details
    assert "BR-DE-7" in details or "BR-DE-2" in details
    # the same document as Factur-X EN 16931 (no German CIUS) passes
    _, report = build_validated_einvoice(state, "zugferd")
    assert report.valid


def test_missing_rules_directory_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(RULES_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(RulesNotFound) as caught:
        require_rules_dir()
    message = str(caught.value)
    assert RULES_DIR_ENV in message and "nowhere" in message
    with pytest.raises(RulesNotFound):
        Validator()


def test_rules_directory_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    require_rules()
    real = require_rules_dir()
    monkeypatch.setenv(RULES_DIR_ENV, str(real))
    assert require_rules_dir() == real


def _validate_in_child(xml: bytes, queue: multiprocessing.Queue[tuple[bool, bool]]) -> None:
    parent_validator_id = _PARENT_VALIDATOR_ID
    validator = get_validator()
    report = validator.validate(xml, Profile.PEPPOL_UBL)
    queue.put((id(validator) != parent_validator_id, report.valid))


_PARENT_VALIDATOR_ID = 0


def test_validator_is_created_again_after_fork(be_invoice: InvoiceState) -> None:
    """One validator per process: a forked worker builds its own (Saxon state never crosses
    a fork) and validates there."""
    global _PARENT_VALIDATOR_ID
    require_rules()
    xml = build_einvoice(be_invoice, "peppol").xml
    parent = get_validator()
    assert get_validator() is parent  # cached within the process
    assert parent.validate(xml, Profile.PEPPOL_UBL).valid
    _PARENT_VALIDATOR_ID = id(parent)
    ctx = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[tuple[bool, bool]] = ctx.Queue()
    child = ctx.Process(target=_validate_in_child, args=(xml, queue))
    child.start()
    fresh, valid = queue.get(timeout=120)
    child.join(timeout=30)
    assert child.exitcode == 0
    assert fresh and valid
