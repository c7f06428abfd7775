"""Per-client DATEV configuration: numbers, chart of accounts, revenue account mapping (the
organization's client, and a subsidiary's own when it has books of its own).

Validated on save (``configure_datev``) so that an export never starts with settings that
would produce a file DATEV rejects. Defaults follow ../shared/reference/datev.md section 3.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal
from uuid import UUID

from invoicing.domain.errors import DomainError
from invoicing.domain.tax import EU_COUNTRIES, TaxCategory
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

AccountNumber = Annotated[str, StringConstraints(pattern=r"^[1-9]\d{0,8}$")]
#: a subsidiary's id, as ``schemas.common.Reference`` (imported from there, this module would
#: import the schemas package, whose ``exports`` module imports this one)
SubsidiaryId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
]
Region = Literal["domestic", "eu", "third_country"]
Chart = Literal["SKR03", "SKR04"]


class RevenueAccount(BaseModel):
    """One line of the revenue mapping: the most specific matching line wins.

    ``rate`` and ``region`` are wildcards when absent. ``bu_key`` is written only when the
    account is not an automatic account (on automatic accounts DATEV derives the tax itself).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    category: TaxCategory
    rate: Annotated[str, StringConstraints(pattern=r"^\d{1,2}(\.\d{1,2})?$")] | None = Field(
        default=None, description="percent as a decimal string, e.g. '19' or '7'"
    )
    region: Region | None = Field(default=None, description="buyer's country seen from ours")
    account: AccountNumber
    bu_key: Annotated[str, StringConstraints(pattern=r"^\d{1,4}$")] | None = None


def _ra(
    category: TaxCategory, account: str, rate: str | None = None, region: Region | None = None
) -> RevenueAccount:
    return RevenueAccount(category=category, account=account, rate=rate, region=region)


T = TaxCategory
DEFAULT_REVENUE: dict[str, tuple[RevenueAccount, ...]] = {
    "SKR03": (
        _ra(T.STANDARD, "8400", "19"),
        _ra(T.STANDARD, "8300", "7"),
        _ra(T.INTRA_EU, "8125"),
        _ra(T.REVERSE_CHARGE, "8336", region="eu"),
        _ra(T.REVERSE_CHARGE, "8337", region="domestic"),
        _ra(T.REVERSE_CHARGE, "8338", region="third_country"),
        _ra(T.EXPORT, "8120"),
        _ra(T.OUTSIDE_SCOPE, "8338"),
        _ra(T.EXEMPT, "8100"),
        _ra(T.ZERO, "8100"),
    ),
    "SKR04": (
        _ra(T.STANDARD, "4400", "19"),
        _ra(T.STANDARD, "4300", "7"),
        _ra(T.INTRA_EU, "4125"),
        _ra(T.REVERSE_CHARGE, "4336", region="eu"),
        _ra(T.REVERSE_CHARGE, "4337", region="domestic"),
        _ra(T.REVERSE_CHARGE, "4338", region="third_country"),
        _ra(T.EXPORT, "4120"),
        _ra(T.OUTSIDE_SCOPE, "4338"),
        _ra(T.EXEMPT, "4100"),
        _ra(T.ZERO, "4100"),
    ),
}

#: Revenue of a small business (§ 19 UStG): SKR03 8195, SKR04 4185 ("Erlöse als
#: Kleinunternehmer i.S.d. § 19 Abs. 1 UStG", DATEV Kontenrahmen; shared/reference/datev.md).
SMALL_BUSINESS_REVENUE = {"SKR03": "8195", "SKR04": "4185"}

#: DATEV "AM" accounts (tax derived from the account). Conservative list, confirm per client.
DEFAULT_AUTOMATIC: dict[str, tuple[str, ...]] = {
    "SKR03": (
        "8120",
        "8125",
        "8300",
        "8310",
        "8315",
        "8336",
        "8338",
        "8400",
        "2401",
        "2406",
        "8710",
        "8720",
        "8731",
        "8736",
        "8920",
        "8921",
        "8922",
        "8923",
        "8924",
        "8925",
    ),
    "SKR04": (
        "4120",
        "4125",
        "4300",
        "4310",
        "4315",
        "4336",
        "4338",
        "4400",
        "4710",
        "4720",
        "4731",
        "4736",
        "6931",
        "6936",
    ),
}
DEFAULT_BANK = {"SKR03": "1200", "SKR04": "1800"}

#: Accounts of write-offs per chart, reason and rate ("0": groups without tax). Forderungs-
#: verluste (übliche Höhe) 19 % / 7 % / steuerfrei, Erlösschmälerungen, gewährte Skonti
#: (DATEV SKR03/SKR04 account frames; confirm with the tax advisor). The taxed ones are
#: automatic accounts (DATEV corrects the VAT from the gross); see docs/datev.md.
WRITE_OFF_ACCOUNTS: dict[str, dict[str, dict[str, str]]] = {
    "SKR03": {
        "uncollectible": {"19": "2406", "7": "2401", "0": "2400"},
        "small_difference": {"19": "8720", "7": "8710", "0": "8700"},
        "cash_discount": {"19": "8736", "7": "8731", "0": "8730"},
    },
    "SKR04": {
        "uncollectible": {"19": "6936", "7": "6931", "0": "6930"},
        "small_difference": {"19": "4720", "7": "4710", "0": "4700"},
        "cash_discount": {"19": "4736", "7": "4731", "0": "4730"},
    },
}
#: Realised exchange differences of payments received at another rate than the invoice's:
#: "Erträge aus Kursdifferenzen" / "Aufwendungen aus Kursdifferenzen" (SKR03 2660 / 2150,
#: SKR04 4840 / 6880; not taxable, no BU key; confirm with the tax advisor).
EXCHANGE_DIFFERENCE_ACCOUNTS: dict[str, dict[str, str]] = {
    "SKR03": {"gain": "2660", "loss": "2150"},
    "SKR04": {"gain": "4840", "loss": "6880"},
}
#: BU-Schlüssel for a taxed write-off on an account the client does not treat as automatic
WRITE_OFF_BU = {"19": "3", "7": "2"}


class DatevSettings(BaseModel):
    """What an organization's tax advisor tells us about the DATEV client (Mandant)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    consultant_number: int = Field(ge=1001, le=9_999_999, description="Beraternummer")
    client_number: int = Field(ge=1, le=99_999, description="Mandantennummer")
    chart: Chart = Field(default="SKR03", description="Sachkontenrahmen")
    account_length: int = Field(default=4, ge=4, le=8, description="Sachkontenlänge")
    fiscal_year_start_month: int = Field(default=1, ge=1, le=12, description="WJ-Beginn month")
    fiscal_year_start_day: int = Field(default=1, ge=1, le=28, description="WJ-Beginn day")
    lock_batches: bool = Field(default=False, description="Festschreibung (header 21, row 114)")
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "EUR"
    seller_country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = "DE"
    bank_account: AccountNumber | None = Field(default=None, description="1200 / 1800 default")
    revenue_accounts: tuple[RevenueAccount, ...] | None = Field(
        default=None, description="null: the chart's defaults"
    )
    automatic_accounts: tuple[AccountNumber, ...] | None = Field(
        default=None, description="null: the chart's defaults"
    )
    debtor_range_start: int | None = Field(default=None, description="default 10000 at length 4")
    debtor_range_end: int | None = Field(default=None, description="default 69999 at length 4")
    leistungsdatum: bool = Field(
        default=True, description="write delivery date / service period end into fields 115/116"
    )
    credit_note_reference: Literal["credited_invoice", "own_number"] = Field(
        default="credited_invoice",
        description="Belegfeld 1 of a credit note: the credited invoice's number (OPOS "
        "clearing) or the credit note's own number",
    )
    origin: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{0,2}$")] = "RE"
    label: Annotated[str, StringConstraints(pattern=r"^[\w.\-/ ]{1,16}$")] = "Rechnungsausgang"

    # ------------------------------------------------------------------ derived
    @property
    def skr(self) -> str:
        return self.chart[-2:]

    @property
    def small_business_account(self) -> str:
        """Where a § 19 UStG small business's (exempt) revenue is booked."""
        return SMALL_BUSINESS_REVENUE[self.chart]

    @property
    def bank(self) -> str:
        return self.bank_account or DEFAULT_BANK[self.chart]

    @property
    def revenue(self) -> tuple[RevenueAccount, ...]:
        return (
            self.revenue_accounts
            if self.revenue_accounts is not None
            else (DEFAULT_REVENUE[self.chart])
        )

    @property
    def automatic(self) -> frozenset[str]:
        accounts = self.automatic_accounts
        return frozenset(accounts if accounts is not None else DEFAULT_AUTOMATIC[self.chart])

    @property
    def debtor_range(self) -> tuple[int, int]:
        low = 10**self.account_length
        start = self.debtor_range_start if self.debtor_range_start is not None else low
        end = self.debtor_range_end if self.debtor_range_end is not None else 7 * low - 1
        return start, end

    def fiscal_year_start(self, day: dt.date) -> dt.date:
        """Start of the fiscal year (Wirtschaftsjahr) that contains ``day``."""
        start = dt.date(day.year, self.fiscal_year_start_month, self.fiscal_year_start_day)
        return start if start <= day else start.replace(year=day.year - 1)

    # ------------------------------------------------------------------ validation
    @model_validator(mode="after")
    def _consistent(self) -> DatevSettings:
        problems: list[str] = []
        skl = self.account_length
        start, end = self.debtor_range
        low = 10**skl
        if not (low <= start <= end < 7 * low):
            problems.append(
                f"the debtor range {start}..{end} must lie inside {low}..{7 * low - 1}: personal "
                f"accounts have Sachkontenlänge + 1 = {skl + 1} digits and start with 1-6"
            )
        ledger = [("bank_account", self.bank)] + [
            (f"revenue_accounts/{i}/account", ra.account) for i, ra in enumerate(self.revenue)
        ]
        for where, account in ledger:
            if len(account) > skl:
                problems.append(f"{where}: {account} is longer than the Sachkontenlänge {skl}")
        for i, ra in enumerate(self.revenue):
            taxed = ra.category is TaxCategory.STANDARD and ra.rate not in (None, "0")
            if taxed and ra.account not in self.automatic and not ra.bu_key:
                problems.append(
                    f"revenue_accounts/{i}: {ra.account} is not an automatic account, so a "
                    "BU-Schlüssel (e.g. 3 for 19 %, 2 for 7 %) is required"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # ------------------------------------------------------------------ mapping
    def revenue_account(self, category: str, rate: str, region: Region) -> RevenueAccount:
        """The revenue account line for a tax group; raises a DomainError when none fits."""
        try:
            cat = TaxCategory(category)
        except ValueError:
            cat = None
        best: RevenueAccount | None = None
        best_score = -1
        norm = _norm_rate(rate)
        for ra in self.revenue:
            if ra.category is not cat:
                continue
            if ra.rate is not None and _norm_rate(ra.rate) != norm:
                continue
            if ra.region is not None and ra.region != region:
                continue
            score = (2 if ra.rate is not None else 0) + (1 if ra.region is not None else 0)
            if score > best_score:
                best, best_score = ra, score
        if best is None:
            raise DomainError(
                "datev_account_missing",
                f"no DATEV revenue account is configured for tax category {category} at "
                f"{rate} % ({region})",
                pointer="/revenue_accounts",
                hint="add a revenue_accounts entry with configure_datev",
            )
        return best

    def write_off_account(self, reason: str, category: str, rate: str) -> tuple[str, str]:
        """(account, BU key) of a written-off tax group; a DomainError when none fits."""
        norm = _norm_rate(rate)
        taxed = category == TaxCategory.STANDARD.value and norm != "0"
        account = WRITE_OFF_ACCOUNTS[self.chart].get(reason, {}).get(norm if taxed else "0")
        if account is None:
            raise DomainError(
                "datev_account_missing",
                f"no DATEV account is known for a {reason} write-off at {rate} %",
                pointer="/date_from",
                hint="export a period without it and book that write-off by hand",
            )
        bu = "" if not taxed or account in self.automatic else WRITE_OFF_BU.get(norm, "")
        return account, bu

    def exchange_difference_account(self, kind: str) -> str:
        """The account of a realised exchange gain (``gain``) or loss (``loss``)."""
        return EXCHANGE_DIFFERENCE_ACCOUNTS[self.chart][kind]

    def region_of(self, country: str | None) -> Region:
        if not country or country.upper() == self.seller_country:
            return "domestic"
        code = country.upper()
        return "eu" if code in EU_COUNTRIES or code == "EL" else "third_country"


def _norm_rate(rate: str) -> str:
    text = rate.strip()
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


class DatevConfiguration(DatevSettings):
    """The configure_datev payload: settings plus explicit debtor accounts per customer, for
    the organization's DATEV client or (``subsidiary_id``) a subsidiary's own."""

    subsidiary_id: SubsidiaryId | None = Field(
        default=None,
        description="a subsidiary (configure_subsidiary) with books of its own: these settings "
        "make its DATEV client, exported apart (export_datev with subsidiary_id); its documents "
        "leave the organization's export. seller_country defaults to the subsidiary's country. "
        "Null: the organization's own client",
    )
    debtor_accounts: dict[UUID, int] = Field(
        default_factory=dict, description="customer id -> fixed Debitor account (in this client)"
    )
