"""Country codes: ISO 3166-1 alpha-2 as the EN 16931 code list for country codes (BR-CL-14)
knows them, so that no address the service stores makes a document its rules refuse."""

from __future__ import annotations

#: every code the EN 16931 validation artefacts accept as a country (BR-CL-14): the union of
#: the CII and the UBL lists (``shared/einvoice/rules``), which differ in a few codes (``1A``
#: Kosovo, ``XI`` Northern Ireland, ``EL`` Greece in VAT usage, ``AN``, ``SS``)
COUNTRY_CODES = frozenset(
    """
    1A AD AE AF AG AI AL AM AN AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL
    BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX
    CY CZ DE DJ DK DM DO DZ EC EE EG EH EL ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG
    GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS
    IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA
    MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI
    NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA
    SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL
    TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS XI YE YT ZA ZM
    ZW
    """.split()  # noqa: SIM905 (the code list as the rules print it)
)


def is_country(code: str) -> bool:
    return code in COUNTRY_CODES
