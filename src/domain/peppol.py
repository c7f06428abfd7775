"""Peppol participant ids (``scheme:identifier``, EN 16931 BT-34 / BT-49) as pure checks.

A participant id is what a Peppol access point delivers to: an EAS code (the CEF "Electronic
Address Scheme" code list) and an identifier under that scheme. The checks here are the ones
the Peppol BIS Billing 3.0 rules (OpenPEPPOL peppol-bis-invoice-3 v3.0.19, the rule set the
service validates with) make of an electronic address, run when the id is *configured* instead
of when the first document is built:

* the scheme is on the EAS code list (PEPPOL-EN16931-CL008, BR-CL-25);
* ``0208``, the Belgian enterprise number (KBO/BCE): ten digits whose last two are
  97 - (the first eight mod 97) (PEPPOL-COMMON-R043), so ``0208:0403.019.261`` and
  ``0208:BE0403019261`` are refused;
* ``9925``, the Belgian VAT number: ``BE`` and a valid enterprise number (the Belgian Peppol
  directory registers ``9925:be0403019261``; an identifier without the prefix names no
  participant, though no published rule checks it).

Before session 40 a customer's ``peppol_id`` was stored as sent: ``0208:BE0477472701`` was
accepted and every Peppol document of that customer then failed PEPPOL-COMMON-R043 at its
delivery, a value without ``:`` was silently ignored (the address derived from the VAT id went
out instead), and ``9925:0477472701`` went out to a participant that does not exist.
"""

from __future__ import annotations

import re

from stdnum.be import vat as be_vat

#: the EAS codes Peppol BIS Billing 3.0.19 accepts (``$eaid`` in PEPPOL-EN16931-UBL.sch)
EAS_CODES = frozenset(
    (
        "0002",
        "0007",
        "0009",
        "0037",
        "0060",
        "0088",
        "0096",
        "0097",
        "0106",
        "0130",
        "0135",
        "0142",
        "0151",
        "0177",
        "0183",
        "0184",
        "0188",
        "0190",
        "0191",
        "0192",
        "0193",
        "0195",
        "0196",
        "0198",
        "0199",
        "0200",
        "0201",
        "0202",
        "0204",
        "0208",
        "0209",
        "0210",
        "0211",
        "0212",
        "0213",
        "0215",
        "0216",
        "0218",
        "0221",
        "0230",
        "0235",
        "9910",
        "9913",
        "9914",
        "9915",
        "9918",
        "9919",
        "9920",
        "9922",
        "9923",
        "9924",
        "9925",
        "9926",
        "9927",
        "9928",
        "9929",
        "9930",
        "9931",
        "9932",
        "9933",
        "9934",
        "9935",
        "9936",
        "9937",
        "9938",
        "9939",
        "9940",
        "9941",
        "9942",
        "9943",
        "9944",
        "9945",
        "9946",
        "9947",
        "9948",
        "9949",
        "9950",
        "9951",
        "9952",
        "9953",
        "9957",
        "9959",
        "0147",
        "0154",
        "0158",
        "0170",
        "0194",
        "0203",
        "0205",
        "0217",
        "0225",
        "0240",
    )
)

#: EAS of the Belgian enterprise number and of the Belgian VAT number
BE_ENTERPRISE_EAS = "0208"
BE_VAT_EAS = "9925"

PEPPOL_ID_HINT = (
    'give the participant id as "scheme:identifier", e.g. "0208:0403019261" (the Belgian '
    'enterprise number, ten digits without dots), "9925:BE0403019261" (the Belgian VAT number) '
    'or "0088:<GLN>"'
)

_SHAPE = re.compile(r"^(\d{4}):(\S{1,50})$")


def enterprise_number_valid(value: str) -> bool:
    """PEPPOL-COMMON-R043: ten digits, the last two 97 - (the first eight mod 97)."""
    return bool(re.fullmatch(r"[0-9]{10}", value)) and int(value[8:]) == 97 - int(value[:8]) % 97


def validate_peppol_id(value: str) -> str:
    """``value`` (surrounding blanks removed) if it is a Peppol participant id the rules
    accept, else ``ValueError`` saying what is wrong."""
    text = value.strip()
    match = _SHAPE.match(text)
    if match is None:
        raise ValueError(
            f"{value} is not a Peppol participant id: it must be a four-digit EAS scheme, a "
            "colon and the identifier, without blanks"
        )
    scheme, identifier = match.groups()
    if scheme not in EAS_CODES:
        raise ValueError(
            f"{scheme} is not an electronic address scheme of the EAS code list that Peppol "
            "accepts (PEPPOL-EN16931-CL008)"
        )
    if scheme == BE_ENTERPRISE_EAS and not enterprise_number_valid(identifier):
        raise ValueError(
            f"{identifier} is not a Belgian enterprise number: scheme 0208 takes its ten digits, "
            "without dots or country prefix, whose last two are the mod-97 check "
            "(PEPPOL-COMMON-R043)"
        )
    if scheme == BE_VAT_EAS and not (
        identifier[:2].upper() == "BE"
        and re.fullmatch(r"[0-9]{10}", identifier[2:]) is not None
        and be_vat.is_valid(identifier[2:])
    ):
        raise ValueError(
            f"{identifier} is not a Belgian VAT number: scheme 9925 takes BE and the ten digits "
            "of the enterprise number"
        )
    return text
