"""The per-tax-group ledger of an invoice: invoiced, credited, written off and open.

Every invoice keeps, per (tax category, rate), what it invoiced (its frozen VAT breakdown,
BT-116/BT-117) and the movements against it: credit notes and write-offs, each with its date
and its own amounts per group. From these follow, per group, what remains (invoiced - credited
- written off) and what is open (the remainder less the group's share of the payments).

Rules (see docs/arithmetic.md, "The ledger per tax group"):

- A movement may touch only the groups the invoice has and never take more than remains there,
  net or VAT: a credit reverses the tax where it was charged, never more (§ 17 UStG, art. 77
  Code TVA, EN 16931 credit notes).
- A credit that takes the whole remaining net of a group takes the whole remaining VAT of it
  too, so "credit the rest" and void end every group at exactly 0.00 net and 0.00 VAT however
  the earlier partial credits were rounded. A partial credit whose rounded VAT is a cent above
  what remains of the group's VAT is capped at what remains.
- A partial credit of a credit note's own lines whose every split would state VAT without net,
  or VAT a currency unit or more from net x rate, or leave such a rest, is refused
  (``credit_not_splittable``): in JPY three 1-yen credits of 8 + 2 yen left 5 + 2, which no
  valid document can credit.
- Payments are not per group; for the open amount per group (void of a partly paid invoice,
  write-offs) they are spread over the groups pro rata to what remains in each (largest
  remainder, so the shares add up to the cent), as partial payments are attributed to the rates
  of a mixed-rate invoice.

Pure code: no database, no clock. Amounts are ``Decimal`` in the currency's minor units.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from invoicing.domain.calc import split_gross
from invoicing.domain.errors import DomainError, ErrorDetail, InvalidState, NotFound
from invoicing.domain.money import HUNDRED, ZERO, allocate, quantum, round_money
from invoicing.domain.tax import TaxCategory

Key = tuple[str, Decimal]


def key_of(category: TaxCategory | str, rate: Decimal) -> Key:
    """The identity of a tax group: category value and the rate without trailing zeros."""
    return (TaxCategory(category).value, Decimal(rate).normalize())


def describe(key: Key) -> str:
    category, rate = key
    return f"{category} {rate:f} %"


_CENT = Decimal("0.01")


def drift(net: Decimal, tax: Decimal, rate: Decimal) -> Decimal:
    """How far a group's VAT is from net x rate, in currency units (not minor units), measured
    as the official BR-S-09 rule does: against net x rate rounded to two decimals. A document
    is valid while the drift is below 1."""
    return tax - (net * rate / HUNDRED).quantize(_CENT, rounding=ROUND_HALF_UP)


def drift_bound(rate: Decimal) -> Decimal:
    """The drift a rest may keep: half a unit of VAT plus half a unit of net at ``rate``, what
    splitting a gross amount to whole units can leave (0.595 at 19 %). Below 1, so whatever
    rests in a group can still be credited by a valid document; in a currency with minor units
    no sequence of movements comes near it, in one without (JPY) every movement watches it."""
    return (1 + abs(rate) / HUNDRED) / 2


def creditable(net: Decimal, tax: Decimal, rate: Decimal) -> bool:
    """True when a valid document can state this group: its VAT less than one unit from
    net x rate (BR-S-09, ``drift``) and no VAT without net (a credit note whose group has
    taxable amount 0 and VAT 0.01 or 1 yen corrects VAT on nothing)."""
    return abs(drift(net, tax, rate)) < 1 and (net != 0 or tax == 0)


def _within(value: Decimal, cap: Decimal) -> bool:
    return min(ZERO, cap) <= value <= max(ZERO, cap)


def _fit(
    standard: Decimal,
    step: Decimal,
    valid: Callable[[Decimal], bool],
    cost: Callable[[Decimal], Decimal],
    bound: Decimal,
) -> Decimal:
    """The VAT of a part: ``standard`` while it is valid and leaves a drift (``cost``) within
    ``bound``; else the valid neighbour (two minor units either side) with the least drift,
    nearest to ``standard`` on a tie; ``standard`` if no neighbour is valid."""
    if valid(standard) and cost(standard) <= bound:
        return standard
    candidates = [standard + k * step for k in (0, -1, 1, -2, 2)]
    fitting = [t for t in candidates if valid(t)]
    if not fitting:
        return standard
    return min(fitting, key=lambda t: (cost(t), abs(t - standard)))


def _worst_drift(
    b: GroupBalance,
    credit: tuple[Decimal, Decimal] = (ZERO, ZERO),
    write_off: tuple[Decimal, Decimal] = (ZERO, ZERO),
) -> Decimal:
    """The largest drift a group would keep after a movement, over everything a later credit
    note could have to take whole: what remains; what remains once every write-off is
    reversed (invoiced - credited); and what is written off (it comes back on reversal after
    the rest was credited)."""
    c_net, c_tax = b.credited_net + credit[0], b.credited_tax + credit[1]
    w_net, w_tax = b.written_off_net + write_off[0], b.written_off_tax + write_off[1]
    base_net, base_tax = b.invoiced_net - c_net, b.invoiced_tax - c_tax
    return max(
        abs(drift(base_net - w_net, base_tax - w_tax, b.rate)),
        abs(drift(base_net, base_tax, b.rate)),
        abs(drift(w_net, w_tax, b.rate)),
    )


class MovementKind(StrEnum):
    CREDIT = "credit"
    WRITE_OFF = "write_off"
    WRITE_OFF_REVERSAL = "write_off_reversal"


@dataclass(frozen=True)
class GroupAmount:
    """Net (BT-116) and VAT (BT-117) of one tax group."""

    category: TaxCategory
    rate: Decimal
    net: Decimal
    tax: Decimal

    @property
    def key(self) -> Key:
        return key_of(self.category, self.rate)

    @property
    def gross(self) -> Decimal:
        return self.net + self.tax

    def to_json(self) -> dict[str, str]:
        return {
            "category": self.category.value,
            "rate": f"{self.rate.normalize():f}",
            "net": str(self.net),
            "tax": str(self.tax),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GroupAmount:
        return cls(
            TaxCategory(data["category"]),
            Decimal(str(data["rate"])),
            Decimal(str(data["net"])),
            Decimal(str(data["tax"])),
        )


@dataclass(frozen=True)
class Movement:
    """One credit note, write-off or reversal of a write-off, with its date and its groups.

    ``groups`` are positive amounts taken from the invoice (a reversal gives them back).
    """

    kind: MovementKind
    date: dt.date
    groups: tuple[GroupAmount, ...]
    document_id: str | None = None
    number: str | None = None
    reason: str | None = None

    @property
    def net(self) -> Decimal:
        return sum((g.net for g in self.groups), ZERO)

    @property
    def tax(self) -> Decimal:
        return sum((g.tax for g in self.groups), ZERO)

    @property
    def gross(self) -> Decimal:
        return self.net + self.tax

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "date": self.date.isoformat(),
            "document_id": self.document_id,
            "number": self.number,
            "reason": self.reason,
            "groups": [g.to_json() for g in self.groups],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Movement:
        return cls(
            kind=MovementKind(data["kind"]),
            date=dt.date.fromisoformat(data["date"]),
            groups=tuple(GroupAmount.from_json(g) for g in data["groups"]),
            document_id=data.get("document_id"),
            number=data.get("number"),
            reason=data.get("reason"),
        )


@dataclass(frozen=True)
class GroupBalance:
    """Everything the ledger knows about one tax group."""

    category: TaxCategory
    rate: Decimal
    invoiced_net: Decimal
    invoiced_tax: Decimal
    credited_net: Decimal
    credited_tax: Decimal
    written_off_net: Decimal
    written_off_tax: Decimal
    open_net: Decimal
    open_tax: Decimal

    @property
    def key(self) -> Key:
        return key_of(self.category, self.rate)

    @property
    def remaining_net(self) -> Decimal:
        return self.invoiced_net - self.credited_net - self.written_off_net

    @property
    def remaining_tax(self) -> Decimal:
        return self.invoiced_tax - self.credited_tax - self.written_off_tax

    @property
    def remaining_gross(self) -> Decimal:
        return self.remaining_net + self.remaining_tax


def _sign(kind: MovementKind) -> int:
    return -1 if kind is MovementKind.WRITE_OFF_REVERSAL else 1


@dataclass(frozen=True)
class Ledger:
    """An invoice's groups as invoiced, the movements against them and the payments."""

    currency: str
    invoiced: tuple[GroupAmount, ...]
    movements: tuple[Movement, ...] = ()
    paid: Decimal = ZERO
    _balances: tuple[GroupBalance, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_balances", self._compute())

    # ------------------------------------------------------------------ construction

    @classmethod
    def of(
        cls,
        currency: str,
        breakdown: Iterable[Mapping[str, Any]],
        movements: Iterable[Mapping[str, Any]] = (),
        paid: Decimal = ZERO,
    ) -> Ledger:
        """From an invoice's stored VAT breakdown and movement list (JSON shapes)."""
        invoiced = tuple(
            GroupAmount(
                TaxCategory(g["category"]),
                Decimal(str(g["rate"])),
                Decimal(str(g["taxable_amount"])),
                Decimal(str(g["tax_amount"])),
            )
            for g in breakdown
        )
        return cls(currency, invoiced, tuple(Movement.from_json(m) for m in movements), paid)

    def with_movement(self, movement: Movement) -> Ledger:
        return replace(self, movements=(*self.movements, movement))

    def with_paid(self, paid: Decimal) -> Ledger:
        return replace(self, paid=paid)

    def movements_json(self) -> list[dict[str, Any]]:
        return [m.to_json() for m in self.movements]

    # ------------------------------------------------------------------ balances

    def _compute(self) -> tuple[GroupBalance, ...]:
        taken: dict[tuple[MovementKind, Key], tuple[Decimal, Decimal]] = {}
        for m in self.movements:
            kind = MovementKind.CREDIT if m.kind is MovementKind.CREDIT else MovementKind.WRITE_OFF
            for g in m.groups:
                net, tax = taken.get((kind, g.key), (ZERO, ZERO))
                s = _sign(m.kind)
                taken[(kind, g.key)] = (net + s * g.net, tax + s * g.tax)
        base = []
        for g in self.invoiced:
            c_net, c_tax = taken.get((MovementKind.CREDIT, g.key), (ZERO, ZERO))
            w_net, w_tax = taken.get((MovementKind.WRITE_OFF, g.key), (ZERO, ZERO))
            base.append(
                GroupBalance(
                    g.category, g.rate, g.net, g.tax, c_net, c_tax, w_net, w_tax, ZERO, ZERO
                )
            )
        remaining = [b.remaining_gross for b in base]
        total = sum(remaining, ZERO)
        paid_part = min(max(self.paid, ZERO), max(total, ZERO))
        shares = allocate(paid_part, remaining, self.currency) if base else []
        out = []
        for b, share in zip(base, shares, strict=True):
            open_net, open_tax = self._open_split(b, b.remaining_gross - share)
            out.append(replace(b, open_net=open_net, open_tax=open_tax))
        return tuple(out)

    def _open_split(self, b: GroupBalance, open_gross: Decimal) -> tuple[Decimal, Decimal]:
        """Split a group's open gross into net and VAT without leaving its remainder."""
        if open_gross == b.remaining_gross:
            return b.remaining_net, b.remaining_tax
        return self._bounded_split(open_gross, b.rate, b.remaining_net, b.remaining_tax)

    def _bounded_split(
        self, gross: Decimal, rate: Decimal, net_cap: Decimal, tax_cap: Decimal
    ) -> tuple[Decimal, Decimal]:
        """``gross`` as net + VAT at ``rate`` (split_gross), net and VAT kept between 0 and
        their caps (same sign), so a part never takes more of either than there is."""
        _, tax = split_gross(gross, rate, self.currency)
        tax = min(max(tax, min(ZERO, tax_cap)), max(ZERO, tax_cap))
        net = gross - tax
        if net > max(ZERO, net_cap):
            tax = gross - max(ZERO, net_cap)
        elif net < min(ZERO, net_cap):
            tax = gross - min(ZERO, net_cap)
        if net_cap > 0 and gross - tax == net_cap and tax < tax_cap:
            # a part that takes all of the net takes all of the VAT (check_movement's rule):
            # leave a minor unit of net instead of VAT without net behind
            tax += quantum(self.currency)
        return gross - tax, tax

    def part_of_open(self, amount: Decimal) -> list[GroupAmount]:
        """``amount`` of the open amount per group: all of it when it is the whole open amount,
        else pro rata to what is open in each group (largest remainder), split into net and
        VAT inside each group's open net and VAT. A write-off corrects VAT per rate this way
        (§ 17 UStG). Where that split would leave the group's rest with a drift beyond
        ``drift_bound`` (only in currencies without minor units), the neighbouring split that
        keeps the rest creditable is taken (``_fit``)."""
        opened = self.open_groups()
        if amount == self.open_amount:
            return [self._fit_part(g, g.gross, g.tax) for g in opened]
        shares = allocate(amount, [g.gross for g in opened], self.currency)
        out: list[GroupAmount] = []
        for g, share in zip(opened, shares, strict=True):
            if share == g.gross:
                out.append(self._fit_part(g, share, g.tax))
            elif share:
                _, tax = self._bounded_split(share, g.rate, g.net, g.tax)
                out.append(self._fit_part(g, share, tax))
        return out

    def _fit_part(self, opened: GroupAmount, gross: Decimal, tax: Decimal) -> GroupAmount:
        """A write-off's part of one group: ``gross`` with VAT ``tax`` unless another split,
        inside the group's remaining net and VAT, leaves less drift (``_worst_drift``)."""
        b = self.group(opened.key)
        assert b is not None
        rem_net, rem_tax = b.remaining_net, b.remaining_tax

        def valid(t: Decimal) -> bool:
            net = gross - t
            whole_net = net == rem_net and rem_net != 0
            return _within(net, rem_net) and _within(t, rem_tax) and (t == rem_tax or not whole_net)

        def cost(t: Decimal) -> Decimal:
            return _worst_drift(b, write_off=(gross - t, t))

        fitted = _fit(tax, quantum(self.currency), valid, cost, drift_bound(b.rate))
        return replace(opened, net=gross - fitted, tax=fitted)

    def reversal(self, original: Movement) -> tuple[GroupAmount, ...]:
        """What reversing the write-off ``original`` gives back: the same gross per group, with
        the write-off's VAT unless that would leave the group's rest with a drift beyond
        ``drift_bound``; then the neighbouring split, never more net or VAT than is written
        off in the group (the VAT owed again on money that arrives is the VAT in it, § 17
        Abs. 2 Nr. 1 Satz 2 UStG)."""
        out = []
        for g in original.groups:
            b = self.group(g.key)
            assert b is not None
            gross = g.gross

            def valid(t: Decimal, gross: Decimal = gross, b: GroupBalance = b) -> bool:
                return _within(gross - t, b.written_off_net) and _within(t, b.written_off_tax)

            def cost(t: Decimal, gross: Decimal = gross, b: GroupBalance = b) -> Decimal:
                return _worst_drift(b, write_off=(t - gross, -t))

            tax = _fit(g.tax, quantum(self.currency), valid, cost, drift_bound(b.rate))
            out.append(replace(g, net=gross - tax, tax=tax))
        return tuple(out)

    def movement(self, document_id: str) -> Movement | None:
        return next((m for m in self.movements if m.document_id == document_id), None)

    def reversed_write_off(self, document_id: str) -> bool:
        return any(
            m.kind is MovementKind.WRITE_OFF_REVERSAL and m.document_id == document_id
            for m in self.movements
        )

    @property
    def groups(self) -> tuple[GroupBalance, ...]:
        return self._balances

    def group(self, key: Key) -> GroupBalance | None:
        return next((b for b in self._balances if b.key == key), None)

    def _sum(self, attr: str) -> Decimal:
        return sum((getattr(b, attr) for b in self._balances), ZERO)

    @property
    def invoiced_gross(self) -> Decimal:
        return self._sum("invoiced_net") + self._sum("invoiced_tax")

    @property
    def credited_net(self) -> Decimal:
        return self._sum("credited_net")

    @property
    def credited_tax(self) -> Decimal:
        return self._sum("credited_tax")

    @property
    def credited_gross(self) -> Decimal:
        return self.credited_net + self.credited_tax

    @property
    def written_off_net(self) -> Decimal:
        return self._sum("written_off_net")

    @property
    def written_off_tax(self) -> Decimal:
        return self._sum("written_off_tax")

    @property
    def written_off_gross(self) -> Decimal:
        return self.written_off_net + self.written_off_tax

    @property
    def remaining_gross(self) -> Decimal:
        """What the customer owes in all: invoiced less credited and written off."""
        return self.invoiced_gross - self.credited_gross - self.written_off_gross

    @property
    def open_amount(self) -> Decimal:
        return max(self.remaining_gross - self.paid, ZERO)

    @property
    def credit_balance(self) -> Decimal:
        """Paid beyond what is owed (an overpayment, or a credit after payment)."""
        return max(self.paid - self.remaining_gross, ZERO)

    def remainder(self) -> list[GroupAmount]:
        """Exactly what remains per group (credit the rest), groups with nothing left omitted."""
        return [
            GroupAmount(b.category, b.rate, b.remaining_net, b.remaining_tax)
            for b in self._balances
            if b.remaining_net or b.remaining_tax
        ]

    def open_groups(self) -> list[GroupAmount]:
        """What is open per group (void of a partly paid invoice, write-off of the rest)."""
        return [
            GroupAmount(b.category, b.rate, b.open_net, b.open_tax)
            for b in self._balances
            if b.open_net or b.open_tax
        ]

    def _fit_credit(self, b: GroupBalance, net: Decimal, tax: Decimal) -> Decimal:
        """A partial credit's VAT: ``tax`` unless it leaves a drift beyond ``drift_bound``
        (``_worst_drift``); then a neighbour whose own drift stays below 1 (a valid document)
        and inside the remainder."""

        def valid(t: Decimal) -> bool:
            return _within(t, b.remaining_tax) and creditable(net, t, b.rate)

        def cost(t: Decimal) -> Decimal:
            return _worst_drift(b, credit=(net, t))

        return _fit(tax, quantum(self.currency), valid, cost, drift_bound(b.rate))

    def _gross_credit(self, b: GroupBalance, gross: Decimal, fit: bool) -> tuple[Decimal, Decimal]:
        """A gross-entry credit's net and VAT in a group: the gross as entered, all that remains
        when it is all that remains, else split (``split_gross``) inside the group's remaining
        net and VAT (``_bounded_split``: a part that takes all of the net takes all of the
        VAT); with ``fit``, a neighbouring split of the same gross where the standard one would
        leave a rest beyond ``drift_bound`` (``_fit_credit``, only without minor units)."""
        rem_net, rem_tax = b.remaining_net, b.remaining_tax
        if gross == b.remaining_gross:
            return rem_net, rem_tax
        _, tax = self._bounded_split(gross, b.rate, rem_net, rem_tax)
        if fit:

            def valid(t: Decimal) -> bool:
                net = gross - t
                whole_net = net == rem_net and rem_net != 0
                return (
                    _within(net, rem_net)
                    and _within(t, rem_tax)
                    and (t == rem_tax or not whole_net)
                    and creditable(net, t, b.rate)
                )

            def cost(t: Decimal) -> Decimal:
                return _worst_drift(b, credit=(gross - t, t))

            tax = _fit(tax, quantum(self.currency), valid, cost, drift_bound(b.rate))
        return gross - tax, tax

    def _credit_part(
        self, b: GroupBalance, amount: Decimal, tax: Decimal, gross: bool, fit: bool = True
    ) -> tuple[Decimal, Decimal]:
        """A partial credit of a credit note's own lines in group ``b``: ``amount`` gross
        (``gross``) or net with its rounded VAT ``tax``, as net and VAT taken (fitted when
        ``fit``; the whole remaining net takes the whole remaining VAT)."""
        if gross:
            return self._gross_credit(b, amount, fit)
        if amount == b.remaining_net and amount != 0:
            return amount, b.remaining_tax
        tax = min(max(tax, min(ZERO, b.remaining_tax)), max(ZERO, b.remaining_tax))
        return amount, self._fit_credit(b, amount, tax) if fit else tax

    @staticmethod
    def _leaves_creditable(b: GroupBalance, net: Decimal, tax: Decimal) -> bool:
        """A partial credit of ``net`` + ``tax`` is a valid document and leaves what remains
        (and what remains before write-offs, which comes back if they are reversed) creditable
        by a valid document, unless that was already lost before it (a ledger kept before
        this rule)."""
        if not creditable(net, tax, b.rate):
            return False
        rest = (b.remaining_net, b.remaining_tax)
        base = (b.invoiced_net - b.credited_net, b.invoiced_tax - b.credited_tax)
        return all(
            creditable(n - net, t - tax, b.rate) or not creditable(n, t, b.rate)
            for n, t in (rest, base)
        )

    def _creditable_amounts(self, b: GroupBalance, amount: Decimal, gross: bool) -> list[Decimal]:
        """The nearest amounts below and above ``amount`` (within 100 minor units, inside the
        remainder) that a partial credit of group ``b`` could take instead (the hint of
        ``credit_not_splittable``)."""
        q = quantum(self.currency)
        rest = b.remaining_gross if gross else b.remaining_net
        sign = Decimal(1) if rest >= 0 else Decimal(-1)
        found: list[Decimal] = []
        for direction in (-1, 1):
            for k in range(1, 101):
                a = amount + direction * k * sign * q
                if not (_within(a, rest) and a != 0 and a != rest):
                    break
                std = ZERO if gross else round_money(a * b.rate / HUNDRED, self.currency)
                if self._leaves_creditable(b, *self._credit_part(b, a, std, gross)):
                    found.append(a)
                    break
        return found

    def _split_ok(
        self,
        b: GroupBalance,
        amount: Decimal,
        net: Decimal,
        tax: Decimal,
        gross: bool,
        error: Callable[[str, str, Key, str, str], None],
    ) -> bool:
        """True when the partial credit ``net`` + ``tax`` (of ``amount`` as entered) is
        ``_leaves_creditable``; else report ``credit_not_splittable`` through ``error``, with
        the whole rest and the nearest amounts that can be credited in the hint. Only in a
        currency without minor units can a rest drift a unit; a part of VAT without net is
        refused in every currency."""
        if (net, tax) == (b.remaining_net, b.remaining_tax) or self._leaves_creditable(b, net, tax):
            return True
        side = "gross" if gross else "net"
        if not creditable(net, tax, b.rate):
            why = "VAT without net" if net == 0 else "VAT a currency unit or more from net x rate"
            problem = f"as {net} net + {tax} VAT it would state {why}"
        else:
            problem = (
                f"it would leave {b.remaining_net - net} net + {b.remaining_tax - tax} VAT, "
                "a currency unit or more from net x rate, which no valid credit note can take"
            )
        nearby = self._creditable_amounts(b, amount, gross)
        others = f", or credit {' or '.join(str(a) for a in nearby)} {side}" if nearby else ""
        error(
            "credit_not_splittable",
            f"{amount} {side} at {describe(b.key)} cannot be credited on its own: {problem} "
            "(EN 16931 BR-S-09)",
            b.key,
            "unit_price",
            f"{b.remaining_gross} gross ({b.remaining_net} net, {b.remaining_tax} VAT) remains "
            f"at {describe(b.key)}: credit all of it (a credit note without lines){others}",
        )
        return False

    # ------------------------------------------------------------------ checks

    def check_movement(
        self,
        kind: MovementKind,
        proposed: Sequence[GroupAmount],
        pointers: Mapping[Key, str] | None = None,
        *,
        default_pointer: str = "",
        fit: bool = False,
        gross: bool = False,
    ) -> tuple[GroupAmount, ...]:
        """Validate a credit or write-off against what remains; return its groups as taken.

        ``pointers[key]`` names where a group came from (``/lines/3``, the first credit line
        of that group); a line pointer gets ``/tax_rate`` or ``/unit_price`` appended. A group
        the invoice does not have, or more net than remains in a group, is rejected with a
        hint. A group whose whole remaining net is taken takes its whole remaining VAT; a
        rounded VAT beyond the group's remaining VAT is capped at it. ``fit`` (a credit note
        of its own lines) lets the VAT move a minor unit off net x rate, inside the document's
        tolerance, where the rounded VAT would leave a rest with a drift beyond
        ``drift_bound`` (only in currencies without minor units; ``_fit_credit``).
        ``gross`` (a credit note of its own lines entered with gross prices) checks each
        group's gross against what remains there and splits it inside the remaining net and
        VAT, so the credit takes the gross its lines state (``_gross_credit``): compared net to
        net, a second half of 50.00 on an invoice of 100.00 was refused for a cent of net, and
        49.99 took the whole remaining VAT on top of its net and credited 50.00.
        """
        pointers = pointers or {}
        errors: list[ErrorDetail] = []
        taken: list[GroupAmount] = []
        known = ", ".join(describe(b.key) for b in self._balances) or "none"
        what = "credit" if kind is MovementKind.CREDIT else "write-off"

        def error(code: str, detail: str, key: Key, field_: str, hint: str) -> None:
            ptr = pointers.get(key, default_pointer)
            if ptr.startswith("/lines/"):
                ptr = f"{ptr}/{field_}"
            errors.append(ErrorDetail(code, detail, ptr, title="Invalid Attribute", hint=hint))

        for g in proposed:
            b = self.group(g.key)
            if b is None:
                error(
                    "credit_group_unknown" if kind is MovementKind.CREDIT else "group_unknown",
                    f"the invoice has no {describe(g.key)} amounts, so a {what} cannot "
                    "reverse tax there",
                    g.key,
                    "tax_rate",
                    f"use a tax group of the invoice: {known}",
                )
                continue
            rem_net, rem_tax = b.remaining_net, b.remaining_tax
            if gross:
                rem_gross = b.remaining_gross
                if not min(ZERO, rem_gross) <= g.gross <= max(ZERO, rem_gross):
                    too_large = g.gross * rem_gross > 0 or (rem_gross == 0 and g.gross != 0)
                    error(
                        "credit_too_large" if too_large else "invalid_attribute",
                        f"the {what} takes {g.gross} gross at {describe(g.key)} but "
                        f"{rem_gross} gross ({rem_net} net, {rem_tax} VAT) remains there",
                        g.key,
                        "unit_price",
                        f"at most {rem_gross} gross ({rem_net} net, {rem_tax} VAT) remains at "
                        f"{describe(g.key)}: lower the quantities or prices of that group",
                    )
                    continue
                net, tax = self._credit_part(b, g.gross, ZERO, True, fit)
                if fit and not self._split_ok(b, g.gross, net, tax, True, error):
                    continue
                taken.append(replace(g, net=net, tax=tax))
                continue
            if not min(ZERO, rem_net) <= g.net <= max(ZERO, rem_net):
                too_large = g.net * rem_net > 0 or (rem_net == 0 and g.net != 0)
                error(
                    ("credit_too_large" if kind is MovementKind.CREDIT else "write_off_too_large")
                    if too_large
                    else "invalid_attribute",
                    f"the {what} takes {g.net} net at {describe(g.key)} but {rem_net} net "
                    f"({rem_tax} VAT) remains there",
                    g.key,
                    "unit_price",
                    f"at most {rem_net} net ({rem_tax} VAT) remains at {describe(g.key)}: "
                    "lower the quantities or prices of that group",
                )
                continue
            _, tax = self._credit_part(b, g.net, g.tax, False, fit)
            if fit and not self._split_ok(b, g.net, g.net, tax, False, error):
                continue
            taken.append(replace(g, tax=tax))
        if errors:
            raise DomainError.many(errors)
        return tuple(taken)


def check_payment(
    amount: Decimal, currency: str, open_amount: Decimal, *, keep_excess: bool, written_off: bool
) -> None:
    """A payment in the currency's minor units, beyond the open amount only when kept as the
    customer's credit; a written-off invoice points at reverse_write_off.

    On an invoice with a write-off standing, money beyond the open amount is refused even with
    ``keep_excess``: it is the written-off amount arriving after all, whose VAT must be
    corrected again (§ 17 Abs. 2 Nr. 1 Satz 2 UStG; a price reduction taken back, § 17 Abs. 1)
    by ``reverse_write_off`` first. Kept as credit, it left the invoice paid, written off in
    full and holding the money as the customer's credit, the VAT still corrected."""
    if round_money(amount, currency) != amount:
        raise DomainError(
            "invalid_attribute",
            f"{amount} has more decimals than {currency} allows",
            pointer="/amount",
        )
    if amount > open_amount and written_off:
        raise DomainError(
            "overpayment",
            f"the payment of {amount} exceeds the open amount of {open_amount} {currency} of "
            "a written-off invoice",
            pointer="/amount",
            hint="money beyond the open amount of a written-off invoice is the written-off "
            "amount arriving: reverse_write_off first (its VAT is owed again, § 17 Abs. 2 Nr. 1 "
            "Satz 2 UStG), then record the payment; what exceeds even that can then be kept "
            "with keep_overpayment_as_credit",
        )
    if amount > open_amount and not keep_excess:
        hint = (
            "record at most the open amount, or set keep_overpayment_as_credit to keep the "
            "excess as credit"
        )
        raise DomainError(
            "overpayment",
            f"the payment of {amount} exceeds the open amount of {open_amount} {currency}",
            pointer="/amount",
            hint=hint,
        )


def plan_write_off(
    ledger: Ledger, amount: Decimal | None, write_off_id: str, day: dt.date, reason: str
) -> Movement:
    """A write-off of ``amount`` (None: all that is open) per group, checked (docs/arithmetic.md).

    Rejected when nothing is open, when the amount has more decimals than the currency or
    exceeds the open amount, and when the id is taken."""
    open_amount = ledger.open_amount
    take = open_amount if amount is None else amount
    if take <= 0:
        raise DomainError(
            "nothing_open",
            "nothing is open to write off",
            pointer="/invoice_id",
            status="409",
            title="Invalid State",
        )
    if round_money(take, ledger.currency) != take:
        raise DomainError(
            "invalid_attribute",
            f"{take} has more decimals than {ledger.currency} allows",
            pointer="/amount",
        )
    if take > open_amount:
        raise DomainError(
            "write_off_too_large",
            f"the write-off of {take} exceeds the open amount of {open_amount} {ledger.currency}",
            pointer="/amount",
            hint="write off at most the open amount (or leave amount out for all of it)",
        )
    if ledger.movement(write_off_id) is not None:
        raise DomainError(
            "write_off_exists",
            f"write-off {write_off_id} already exists",
            pointer="/write_off_id",
            status="409",
            title="Invalid State",
        )
    taken = ledger.check_movement(
        MovementKind.WRITE_OFF, ledger.part_of_open(take), default_pointer="/amount"
    )
    return Movement(MovementKind.WRITE_OFF, day, taken, write_off_id, None, reason)


def plan_reversal(ledger: Ledger, write_off_id: str, day: dt.date, *, void: bool) -> Movement:
    """The reversal of write-off ``write_off_id`` (the money arrived after all): the same gross
    per group given back (``Ledger.reversal``). Rejected for an unknown or reversed write-off,
    on a void invoice and dated before the write-off (``date_before_write_off``)."""
    original = ledger.movement(write_off_id)
    if original is None or original.kind is not MovementKind.WRITE_OFF:
        raise NotFound(
            "write_off_not_found",
            f"write-off {write_off_id} is not on this invoice",
            pointer="/write_off_id",
        )
    if ledger.reversed_write_off(write_off_id):
        raise InvalidState(
            "already_reversed",
            f"write-off {write_off_id} is already reversed",
            pointer="/write_off_id",
        )
    if void:
        raise InvalidState(
            "invalid_state", "a void invoice's write-off cannot be reversed", pointer="/invoice_id"
        )
    if day < original.date:
        raise DomainError(
            "date_before_write_off",
            f"date {day.isoformat()} of the reversal is before the write-off's date "
            f"{original.date.isoformat()}; a reversal cannot precede what it reverses",
            pointer="/date",
            hint=f"date the reversal on or after {original.date.isoformat()}",
        )
    groups = ledger.reversal(original)
    return Movement(
        MovementKind.WRITE_OFF_REVERSAL, day, groups, write_off_id, None, original.reason
    )


def rounded(amounts: Iterable[GroupAmount], currency: str) -> list[GroupAmount]:
    """The same amounts rounded to the currency's minor units (inputs from JSON)."""
    return [
        replace(g, net=round_money(g.net, currency), tax=round_money(g.tax, currency))
        for g in amounts
    ]
