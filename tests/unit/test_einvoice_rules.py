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
    _SVRL,
    RULES_DIR_ENV,
    Profile,
    RulesNotFound,
    Validator,
    _fired,
    require_rules_dir,
)
from invoicing.domain.errors import DomainError
from invoicing.schemas.events import InvoiceState
from lxml import etree

from tests.support import scenarios
from tests.support.external import require_rules
from tests.unit.test_einvoice_documents import NS


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


def _whole(report: str) -> list[tuple[str | None, ...]]:
    """The findings of a report read from the whole parsed report (the reference)."""
    root = etree.fromstring(report.encode("utf-8"))
    found = root.xpath("//svrl:failed-assert | //svrl:successful-report", namespaces=_SVRL)
    return [_facts(el) for el in found]


def _facts(el: etree._Element) -> tuple[str | None, ...]:
    text = "".join(el.xpath("svrl:text//text()", namespaces=_SVRL))
    return (etree.QName(el).localname, el.get("id"), el.get("flag"), el.get("location"), text)


_BROKEN = (
    (b"<ram:TypeCode>380</ram:TypeCode>", b"<ram:TypeCode>999</ram:TypeCode>"),
    (
        b"<cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>",
        b"<cbc:InvoiceTypeCode>1</cbc:InvoiceTypeCode>",
    ),
    (b'currencyID="EUR"', b'currencyID="XXY"'),
    (b"<ram:CategoryCode>S</ram:CategoryCode>", b"<ram:CategoryCode>Q</ram:CategoryCode>"),
    (b"<cbc:ID>S</cbc:ID>", b"<cbc:ID>Q</cbc:ID>"),
)


@pytest.mark.parametrize(
    ("fixture", "fmt"),
    [
        ("de_invoice", "xrechnung_cii"),
        ("de_invoice", "xrechnung_ubl"),
        ("de_invoice", "zugferd"),
        ("be_invoice", "peppol"),
    ],
)
def test_findings_cut_out_of_the_report_are_those_of_the_whole_report(
    request: pytest.FixtureRequest, fixture: str, fmt: str
) -> None:
    """The validator parses only the findings of an SVRL report (validation._fired); for the
    reports of every layer, of a valid and a broken document, that yields the same elements
    with the same rule ids, flags, locations and texts as parsing the whole report."""
    require_rules()
    einvoice = build_einvoice(request.getfixturevalue(fixture), fmt)
    broken = einvoice.xml
    for old, new in _BROKEN:
        broken = broken.replace(old, new)
    assert broken != einvoice.xml
    findings = 0
    for doc in (einvoice.xml, broken):
        for report in validate(doc, einvoice.profile).svrl.values():
            assert [_facts(el) for el in _fired(report)] == _whole(report)
            findings += len(_whole(report))
    assert findings >= 3  # the broken document breaks rules of every layer


_HEAD = '<?xml version="1.0" encoding="UTF-8"?>'
_OUT = '<svrl:schematron-output xmlns:svrl="http://purl.oclc.org/dsdl/svrl"{decl}>'
_FA = (
    '<svrl:failed-assert id="R-{n}" flag="fatal" location="/a[1]">'
    "<svrl:text>rule {n} &lt;svrl:failed-assert&gt; broken</svrl:text></svrl:failed-assert>"
)


@pytest.mark.parametrize(
    "report",
    [
        # the usual shape: the findings are cut out
        _HEAD
        + _OUT.format(decl="")
        + _FA.format(n=1)
        + _FA.format(n=2)
        + "</svrl:schematron-output>",
        # a prefix the root declares, used inside a finding
        _HEAD
        + _OUT.format(decl=' xmlns:x="urn:x"')
        + '<svrl:successful-report id="R-3" role="warning" location="/a"><svrl:text>'
        "<x:em>see</x:em> this</svrl:text></svrl:successful-report></svrl:schematron-output>",
        # a prefix declared deeper than the root: the whole report is parsed
        _HEAD
        + _OUT.format(decl="")
        + '<svrl:active-pattern xmlns:y="urn:y"><svrl:failed-assert id="R-4" location="/a">'
        "<svrl:text><y:b>bold</y:b></svrl:text></svrl:failed-assert></svrl:active-pattern>"
        "</svrl:schematron-output>",
        # an empty finding written as an empty element: the whole report is parsed
        _HEAD
        + _OUT.format(decl="")
        + '<svrl:failed-assert id="R-5" location="/a"/>'
        + _FA.format(n=6)
        + "</svrl:schematron-output>",
        # svrl bound again further down: the whole report is parsed
        _HEAD
        + _OUT.format(decl="")
        + '<svrl:active-pattern xmlns:svrl="http://purl.oclc.org/dsdl/svrl">'
        + _FA.format(n=7)
        + "</svrl:active-pattern></svrl:schematron-output>",
        # the root binds another prefix to SVRL only: the whole report is parsed
        _HEAD
        + '<s:schematron-output xmlns:s="http://purl.oclc.org/dsdl/svrl">'
        + '<s:failed-assert id="R-8" location="/a"><s:text>t</s:text></s:failed-assert>'
        + "</s:schematron-output>",
    ],
)
def test_findings_of_unusual_reports(report: str) -> None:
    found = [_facts(el) for el in _fired(report)]
    assert found == _whole(report)
    assert found  # every report above has a finding
