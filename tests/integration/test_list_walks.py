"""Random lists over random organizations: every page of ``list_invoices`` is what the documents
themselves say, on SQLite and PostgreSQL.

A lifecycle walk (tests/support/walks.py) builds an organization of drafts, issued, paid, partly
paid, credited, written-off, voided, overdue, deleted and restored documents, its invoices with
random tags, purchase orders, people, custom fields, discounts and delivery dates over three
customers; its series are unpadded (``RE-2026-9`` before ``RE-2026-10``, ``9/2026`` before
``10/2026``) and some invoices carry manual numbers (``M-9``, ``M-10``, ``M-07``), so that
``number`` is sorted past any padding. Then random queries (seeded, so a failure names its walk
and query): one to three filters drawn from the states (``status``, ``payment_status``,
``aging``, ``overdue``, ``credited``, ``sent_status``, ``export_status``, ``finalized``,
``kind``, ``deleted``), the money and date operators, ids, references, people, tags, texts,
custom fields and ``full_query``; zero to three sort keys of any kind and direction; a random
page size. Every page is compared with an oracle that filters and sorts the documents
(``get_invoice`` of every invoice of the organization) as the contract says
(docs/seed-mapping.md, ``InvoiceFilter``): all given filters hold, missing values sort last
either way, ties go by id in the direction of the last key, numbers in the numbering's order
(digit runs by their value: ``tests/support/numbers.py``); the page's items are the documents
themselves, and the total counts every match.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import math
import random
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from invoicing.models import Invoice
from invoicing.pipeline import Pipeline
from invoicing.schemas.filters import INVOICE_SORT_KEYS
from invoicing.schemas.queries import OPEN_ITEM_SORT_KEYS, PAYMENT_SORT_KEYS
from sqlalchemy import select

from tests.support.client import DE_ORG, Client
from tests.support.documents import export_file
from tests.support.numbers import natural
from tests.support.walks import KINDS, Walk

pytestmark = pytest.mark.integration

STEPS = 110
QUERIES = 60
#: the share of the random queries also sent as export_csv's filter (the same documents)
CSV_SHARE = 0.25

Doc = dict[str, Any]
Predicate = Callable[[Doc], bool]

PEOPLE = ["p-anna", "p-bob", "p-carl"]
TAGS = ["alpha", "Beta", "ÄRGER", "straße"]
ORDERS = ["PO-1", "po-2", "PO-10", "Bestellung-Ä7", "po-20 a"]
CHANNELS = ["web", "Mail", "FAX", "mail"]
LABELS = ["urgent", "legal", "Ärger"]
WORDS = ["acme", "example", "x", "y", "po-", "ärger", "STRASSE", "jane", "re-20", "beta", "ü"]

MONEY = {
    "net_total": "net_total",
    "tax_total": "tax_total",
    "gross_total": "gross_total",
    "allowance_total": "allowance_total",
    "paid_amount": "paid_amount",
    "open_amount": "open_amount",
    "credited_amount": "credited_amount",
    "credited_net_amount": "credited_net",
    "written_off_amount": "written_off_amount",
}
DATES = ["issue_date", "due_date", "delivery_date", "paid_on"]
TIMESTAMPS = ["created_at", "updated_at", "finalized_at", "sent_at", "paid_at", "voided_at"]
TIMESTAMPS += ["deleted_at"]
RECEIVABLE = ("finalized", "sent", "partially_paid")
#: what a random filter filters on (one_filter), the money and date operators more often
FILTER_KINDS = ["status", "payment_status", "aging", "flags", "money", "money", "date", "date"]
FILTER_KINDS += ["stamp", "ref", "people", "tags", "text", "custom", "custom", "words", "ids"]
FILTER_KINDS += ["currency"]
STATUSES = ["draft", "finalized", "sent", "partially_paid", "paid", "void"]
STATUSES += ["overdue", "not_overdue", "open", "unsent"]
SORT_KEYS = [*INVOICE_SORT_KEYS, "custom_fields.priority", "custom_fields.channel"]
#: series without padding, so that their numbers outgrow a width (9 -> 10, 99 -> 100)
NUMBERING = {"invoice": {"pattern": "RE-{YYYY}-{SEQ}"}, "credit_note": {"pattern": "{SEQ}/{YYYY}"}}
#: manual numbers of new invoices: past a padding, equal values with leading zeros
MANUAL = ["M-7", "M-07", "M-9", "M-10", "M-100", "M-2026-9999", "M-2026-10000", "m-8", "M-7a"]


class RichWalk(Walk):
    """A lifecycle walk whose new invoices carry what the filters and sorts look at."""

    def __init__(self, bus: Pipeline, seed: int) -> None:
        client = Client(bus)
        client.setup_org({**DE_ORG, "number_series": NUMBERING})
        super().__init__(bus, seed, client=client)
        self.manual = list(MANUAL)
        self.customers = [self.customer]
        self.customers.append(str(self.client.customer(company="ÖKO-Bau GmbH")))
        self.customers.append(
            str(self.client.customer(company=None, given_name="Zoë", family_name="Ärmel"))
        )

    def run(self, steps: int, more: tuple[str, ...] = ()) -> None:
        """As a lifecycle walk, with more new invoices (a list needs documents to order) and
        more of the ``more`` kinds."""
        kinds = [*KINDS, *["create"] * 5, *["finalize"] * 2, *more]
        for step in range(steps):
            self.day += dt.timedelta(days=1)
            self.step(kinds, f"step {step}")

    def command(self, kind: str) -> tuple[str, dict[str, Any], str | None] | None:
        made = super().command(kind)
        if made is None or made[0] != "create_invoice":
            return made
        rng = self.rng
        ctype, payload, new = made
        payload["customer_id"] = rng.choice(self.customers)
        extra: dict[str, Any] = {
            "tags": rng.sample(TAGS, rng.randint(0, 2)),
            "purchase_order_number": rng.choice([None, *ORDERS]),
            "creator_id": rng.choice([None, *PEOPLE]),
            "responsible_id": rng.choice([None, *PEOPLE]),
            "subscriber_ids": rng.sample(PEOPLE, rng.randint(0, 2)),
            "delivery_date": rng.choice([None, (self.day + dt.timedelta(days=-3)).isoformat()]),
        }
        fields: dict[str, Any] = {}
        for name, values in (
            ("priority", [-3, 0, 2, 10, 10, "high", "10", True]),
            ("channel", CHANNELS),
            ("labels", [rng.sample(LABELS, rng.randint(1, 2))]),
        ):
            if rng.random() < 0.6:
                fields[name] = rng.choice(values)
        extra["custom_fields"] = fields
        if rng.random() < 0.25:
            extra["discount"] = {"type": "percentage", "value": rng.choice([5, 10])}
        if rng.random() < 0.2:  # a foreign currency at a rate of the organization's
            extra |= {"currency": rng.choice(["USD", "CHF"]), "exchange_rate": "0.9"}
        if self.manual and rng.random() < 0.2:
            extra["number"] = self.manual.pop(rng.randrange(len(self.manual)))
        payload.update({k: v for k, v in extra.items() if v is not None})
        return ctype, payload, new


# ----------------------------------------------------------------------------- the oracle


def money(doc: Doc, field: str) -> Decimal:
    return Decimal(doc["totals"][MONEY[field]])


BERLIN = ZoneInfo("Europe/Berlin")


def day_of(doc: Doc, field: str) -> dt.date | None:
    value = doc[field]
    if value is None:
        return None
    if field in TIMESTAMPS:
        # the organization's calendar day: the walk's organization is German (DE_ORG)
        return dt.datetime.fromisoformat(value).astimezone(BERLIN).date()
    return dt.date.fromisoformat(value)


def receivable(doc: Doc) -> bool:
    return (
        doc["kind"] == "invoice"
        and doc["status"] in RECEIVABLE
        and Decimal(doc["totals"]["open_amount"]) > 0
    )


def status_matches(status: str, doc: Doc) -> bool:
    if status == "overdue":
        return bool(doc["overdue"]) and doc["status"] in RECEIVABLE
    if status == "not_overdue":
        return receivable(doc) and not doc["overdue"]
    if status == "open":
        return receivable(doc)
    if status == "unsent":
        issued = doc["finalized_at"] is not None
        return issued and doc["sent_at"] is None and doc["status"] != "void"
    return bool(doc["status"] == status)


def aging_matches(bucket: str, doc: Doc, today: dt.date) -> bool:
    if bucket == "other":
        return not receivable(doc)
    if not receivable(doc):
        return False
    due = day_of(doc, "due_date")
    if bucket == "not_due":
        return due is None or due >= today
    if due is None:
        return False
    late = (today - due).days
    return {"1-15": 1 <= late <= 15, "16-45": 16 <= late <= 45, "46+": late >= 46}[bucket]


def compare(op: str, value: Any, operand: Any) -> bool:
    """A comparison operator of the contract; a missing value matches none."""
    if value is None:
        return False
    return {
        "eq": lambda: value == operand,
        "not_eq": lambda: value != operand,
        "gt": lambda: value > operand,
        "gte": lambda: value >= operand,
        "lt": lambda: value < operand,
        "lte": lambda: value <= operand,
        "in": lambda: value in operand,
    }[op]()


def text_matches(op: str, value: str | None, operand: Any) -> bool:
    """Texts, ids and references: the negations match a missing value."""
    if op == "not_eq":
        return value is None or value != operand
    if op == "not_in":
        return value is None or value not in operand
    if op == "contains":
        return operand.lower() in (value or "").lower()
    return value is not None and (value == operand if op == "eq" else value in operand)


def field_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    return None


def custom_matches(op: str, operand: Any, doc: Doc, field: str) -> bool:
    present = field in doc["custom_fields"]
    value = doc["custom_fields"].get(field)
    if isinstance(value, list):
        if op == "=":
            return operand in value
        if op == "<>":
            return operand not in value
        if op == "in":
            return any(v in value for v in operand)
        return False
    text = field_text(value) if present else None
    if op == "=":
        return text == field_text(operand)
    if op == "<>":
        return text is None or text != field_text(operand)
    if op == "in":
        return text in [field_text(v) for v in operand]
    if op == "contains":
        return isinstance(value, str) and operand.lower() in value.lower()
    number = isinstance(value, int) and not isinstance(value, bool)
    word = {"<": "lt", ">": "gt", "<=": "lte", ">=": "gte"}[op]
    if isinstance(operand, int):
        return number and compare(word, value, operand)
    return isinstance(value, str) and compare(word, value, operand)


class World:
    """The organization's documents and what the oracle needs besides them."""

    def __init__(self, walk: RichWalk) -> None:
        self.walk = walk
        client = walk.client
        with client.bus.uow_factory() as uow:
            ids = uow.session.scalars(
                select(Invoice.id).where(Invoice.organization_id == client.org)
            ).all()
        self.docs: dict[str, Doc] = {}
        for iid in ids:
            found = self.query("get_invoice", {"invoice_id": str(iid), "include_deleted": True})
            doc = found["invoice"]
            self.docs[doc["id"]] = doc
        self.customers: dict[str, dict[str, Any]] = {}
        for cid in walk.customers:
            self.customers[cid] = self.query("get_customer", {"customer_id": cid})["customer"]
        self.today = walk.client.bus.deps.today()

    def edge_day(self, rng: random.Random) -> dt.date:
        """A day that puts a receivable's due date on the edge of an aging bucket (0, 1, 15,
        16, 45 or 46 days late), where an off-by-one would show."""
        dues = [day_of(d, "due_date") for d in self.docs.values() if receivable(d)]
        known = [due for due in dues if due is not None]
        if not known:
            return self.today + dt.timedelta(days=rng.randint(0, STEPS + 60))
        return rng.choice(known) + dt.timedelta(days=rng.choice([0, 1, 15, 16, 45, 46]))

    def csv_ids(self, flt: dict[str, Any]) -> list[str]:
        """The ids of the rows of ``export_csv`` with this filter."""
        client = self.walk.client
        out = client.ok("export_csv", {"filters": flt})
        (event,) = [e for e in out.events if e["type"] == "export.completed"]
        text = export_file(client.bus, client.org, event).decode("utf-8-sig")
        return sorted(row["id"] for row in csv.DictReader(io.StringIO(text, newline="")))

    def query(self, qtype: str, payload: dict[str, Any]) -> Any:
        reply = self.walk.client.bus.query_document(
            {"type": qtype, "organization_id": str(self.walk.client.org), "payload": payload}
        )
        assert reply["status"] == "ok", (qtype, payload, reply["errors"])
        return reply["result"]

    # ---------------------------------------------------------------- texts

    def customer_texts(self, doc: Doc) -> list[str]:
        customer = self.customers.get(doc["customer_id"] or "", {})
        person = " ".join(p for p in (customer.get("given_name"), customer.get("family_name")) if p)
        return [customer.get("company") or "", person, customer.get("email") or ""]

    def search_texts(self, doc: Doc) -> list[str]:
        buyer = doc["buyer"] or {}
        own = [doc["number"], doc["purchase_order_number"], buyer.get("name"), buyer.get("email")]
        lines = [t for line in doc["lines"] for t in (line["description"], line["subtitle"])]
        texts = [t or "" for t in (*own, *lines, *doc["tags"])]
        return [t.lower() for t in (*texts, *self.customer_texts(doc))]

    def customer_name(self, doc: Doc) -> str | None:
        buyer = doc["buyer"] or {}
        customer = self.customers.get(doc["customer_id"] or "", {})
        person = " ".join(
            p for p in (customer.get("given_name") or "", customer.get("family_name") or "")
        ).strip()
        for name in (buyer.get("name"), customer.get("company"), person, customer.get("email")):
            if name:
                return str(name).lower()
        return None

    # ---------------------------------------------------------------- filters

    def random_filter(self, rng: random.Random) -> tuple[dict[str, Any], Predicate]:
        docs = list(self.docs.values())
        flt: dict[str, Any] = {}
        predicates: list[Predicate] = []
        for _ in range(rng.randint(1, 3)):
            name, value, predicate = self.one_filter(rng, docs)
            if name in flt:
                continue
            if name == "aging":
                value, as_of = value
                flt["as_of"] = as_of.isoformat()
            flt[name] = value
            predicates.append(predicate)
        deleted = rng.choice(["exclude", "exclude", "include", "only"])
        if deleted != "exclude":
            flt["deleted"] = deleted
        in_trash = {
            "exclude": lambda d: not d["deleted"],
            "include": lambda d: True,
            "only": lambda d: bool(d["deleted"]),
        }[deleted]
        return flt, lambda d: in_trash(d) and all(p(d) for p in predicates)

    def one_filter(self, rng: random.Random, docs: list[Doc]) -> tuple[str, Any, Predicate]:
        kind = rng.choice(FILTER_KINDS)
        if kind == "status":
            statuses = rng.sample(STATUSES, rng.randint(1, 2))
            return "status", statuses, lambda d: any(status_matches(s, d) for s in statuses)
        if kind == "payment_status":
            wanted = rng.sample(["paid", "unpaid", "partially_paid"], rng.randint(1, 2))

            def paying(d: Doc) -> bool:
                unpaid = d["kind"] == "invoice" and d["status"] in ("finalized", "sent")
                return any(unpaid if w == "unpaid" else d["status"] == w for w in wanted)

            return "payment_status", wanted, paying
        if kind == "aging":
            buckets = rng.sample(["not_due", "1-15", "16-45", "46+", "other"], rng.randint(1, 2))
            as_of = self.edge_day(rng)  # the filter's as_of (random_filter sets it)
            return (
                "aging",
                (buckets, as_of),
                lambda d: any(aging_matches(b, d, as_of) for b in buckets),
            )
        if kind == "flags":
            flag = rng.choice(
                ["finalized", "overdue", "credited", "sent_status", "export_status", "kind"]
            )
            if flag == "finalized":
                on = rng.random() < 0.5
                return flag, on, lambda d: (d["finalized_at"] is not None) == on
            if flag == "overdue":
                on = rng.random() < 0.5
                return flag, on, lambda d: bool(d["overdue"]) == on
            if flag == "credited":
                on = rng.random() < 0.5
                return flag, on, lambda d: (money(d, "credited_amount") > 0) == on
            if flag == "sent_status":
                sent = rng.choice(["sent", "unsent"])
                return flag, sent, lambda d: (d["sent_at"] is not None) == (sent == "sent")
            if flag == "export_status":
                exported = rng.choice(["exported", "unexported"])
                return (
                    flag,
                    exported,
                    lambda d: (
                        d["exported_at"] is not None
                        if exported == "exported"
                        else d["exported_at"] is None
                        and d["finalized_at"] is not None
                        and d["kind"] != "quote"
                    ),
                )
            kinds = rng.sample(["invoice", "credit_note"], 1)
            return "kind", kinds, lambda d: d["kind"] in kinds
        if kind == "money":
            field = rng.choice(list(MONEY))
            values = sorted({money(d, field) for d in docs})
            op = rng.choice(["eq", "not_eq", "gt", "gte", "lt", "lte", "in"])
            if op == "in":
                operand: Any = rng.sample(values, min(len(values), rng.randint(1, 3)))
                wire: Any = [str(v) for v in operand]
            else:
                operand = rng.choice([*values, Decimal("0"), Decimal("0.01"), Decimal("100.5")])
                wire = str(operand)
            return field, {op: wire}, lambda d: compare(op, money(d, field), operand)
        if kind in ("date", "stamp"):
            field = rng.choice(DATES if kind == "date" else TIMESTAMPS)
            days = sorted({v for d in docs if (v := day_of(d, field)) is not None})
            days = days or [self.today]
            op = rng.choice(["eq", "not_eq", "gt", "gte", "lt", "lte", "in"])
            pick = [*days, days[0] - dt.timedelta(days=1), days[-1] + dt.timedelta(days=1)]
            if op == "in":
                operand = rng.sample(pick, min(len(pick), rng.randint(1, 3)))
                wire = [v.isoformat() for v in operand]
            else:
                operand = rng.choice(pick)
                wire = operand.isoformat()
            return field, {op: wire}, lambda d: compare(op, day_of(d, field), operand)
        if kind == "ref":
            field = rng.choice(["creator_id", "responsible_id", "purchase_order_number", "ids"])
            op = rng.choice(["eq", "not_eq", "in", "not_in"])
            pool: list[Any] = PEOPLE if field.endswith("_id") else ORDERS
            if field == "purchase_order_number" and rng.random() < 0.4:
                op = "contains"
                operand = rng.choice(["po-", "Ä7", "PO-1", "0 A", "bestellung"])
            elif field == "ids":
                field, pool = "customer_id", self.walk.customers
                operand = rng.choice(pool) if op in ("eq", "not_eq") else rng.sample(pool, 2)
            else:
                operand = rng.choice(pool) if op in ("eq", "not_eq") else rng.sample(pool, 2)
            return field, {op: operand}, lambda d: text_matches(op, d[field], operand)
        if kind == "currency":
            op = rng.choice(["eq", "not_eq", "in", "not_in"])
            codes = ["EUR", "USD", "CHF", "JPY"]
            operand = rng.choice(codes) if op in ("eq", "not_eq") else rng.sample(codes, 2)
            return "currency", {op: operand}, lambda d: text_matches(op, d["currency"], operand)
        if kind == "people":
            field = rng.choice(["subscriber_id", "person_id"])
            op = rng.choice(["eq", "not_eq", "in", "not_in"])
            operand = rng.choice(PEOPLE) if op in ("eq", "not_eq") else rng.sample(PEOPLE, 2)
            wanted = operand if isinstance(operand, list) else [operand]

            def people(d: Doc) -> bool:
                found = set(d["subscriber_ids"])
                if field == "person_id":
                    found |= {d["creator_id"], d["issuer_id"], d["responsible_id"]}
                has = any(p in found for p in wanted)
                return not has if op.startswith("not") else has

            return field, {op: operand}, people
        if kind == "tags":
            field = rng.choice(["tags", "tags_any"])
            tags = rng.sample(TAGS, rng.randint(1, 2))
            if field == "tags":
                return field, tags, lambda d: all(t in d["tags"] for t in tags)
            return field, tags, lambda d: any(t in d["tags"] for t in tags)
        if kind == "text":
            op = rng.choice(["contains", "eq", "not_eq"])
            numbers = [d["number"] for d in docs if d["number"]] or ["RE-2026-001"]
            if op == "contains":
                operand = rng.choice(["re-", "-00", "1", "GS", "2026-01"])
            else:
                operand = rng.choice(numbers)
            return "number", {op: operand}, lambda d: text_matches(op, d["number"], operand)
        if kind == "custom":
            field = rng.choice(["priority", "channel", "labels"])
            op = rng.choice(["=", "<>", "<", ">", "<=", ">=", "in", "contains"])
            if field == "priority":
                candidates: list[Any] = [-3, 0, 2, 10, "high", "10", True]
            elif field == "channel":
                candidates = [*CHANNELS, "a", "Z"]
            else:
                candidates = LABELS
            if op == "in":
                operand = rng.sample(candidates, 2)
            elif op == "contains":
                operand = rng.choice(["MAIL", "e", "är", "ä"])
            else:
                operand = rng.choice(candidates)
                if op in ("<", ">", "<=", ">=") and isinstance(operand, bool):
                    operand = 1
            cf = {"field_id": field, "operator": op, "value": operand}
            return (
                "custom_fields",
                [cf],
                lambda d: custom_matches(op, operand, d, field),
            )
        if kind == "words":
            words = rng.sample(WORDS, rng.randint(1, 2))
            query = " ".join(words)

            def found(d: Doc) -> bool:
                texts = self.search_texts(d)
                return all(any(w.lower() in t for t in texts) for w in words)

            return "full_query", query, found
        chosen = rng.sample(sorted(self.docs), min(len(self.docs), rng.randint(1, 4)))
        op = rng.choice(["in", "not_in"])
        return "id", {op: chosen}, lambda d: (d["id"] in chosen) == (op == "in")

    # ---------------------------------------------------------------- sorting

    def parts(self, doc: Doc, name: str) -> list[Any]:
        """A sort key's values for a document, in the order they sort (None: missing)."""
        if name.startswith("custom_fields."):
            value = doc["custom_fields"].get(name.removeprefix("custom_fields."))
            number = value if isinstance(value, int) and not isinstance(value, bool) else None
            return [number, field_text(value) if not isinstance(value, list) else None]
        if name in MONEY:
            return [money(doc, name)]
        if name == "credited":
            return [1 if money(doc, "credited_amount") > 0 else 0]
        if name in TIMESTAMPS:
            value = doc[name]
            return [None if value is None else dt.datetime.fromisoformat(value)]
        if name == "customer_name":
            return [self.customer_name(doc)]
        if name == "number":
            return [None if doc["number"] is None else natural(doc["number"])]
        return [doc[name]]

    def order(self, docs: list[Doc], sort: list[str]) -> list[Doc]:
        keys = sort or ["-created_at"]

        def cmp(a: Doc, b: Doc) -> int:
            for key in keys:
                descending = key.startswith("-")
                for x, y in zip(
                    self.parts(a, key.lstrip("-")), self.parts(b, key.lstrip("-")), strict=True
                ):
                    if x == y:
                        continue
                    if x is None or y is None:
                        return 1 if x is None else -1  # missing last, either way
                    result = -1 if x < y else 1
                    return -result if descending else result
            result = -1 if a["id"] < b["id"] else (1 if a["id"] > b["id"] else 0)
            return -result if keys[-1].startswith("-") else result

        return sorted(docs, key=functools.cmp_to_key(cmp))


def assert_numbers_past_a_width(docs: Iterable[Doc]) -> None:
    """The walk's numbers (of these documents) order otherwise as text: the sorts by number
    are checked past a padding."""
    numbers = [d["number"] for d in docs if d["number"] is not None]
    assert sorted(numbers) != sorted(numbers, key=natural), numbers


def random_sort(rng: random.Random) -> list[str]:
    keys = rng.sample(SORT_KEYS, rng.choice([0, 1, 1, 2, 2, 3]))
    return [("-" if rng.random() < 0.5 else "") + key for key in keys]


def check_query(world: World, rng: random.Random, where: str) -> int:
    """One random query, every page of it (up to five) against the oracle; returns the total."""
    flt, predicate = world.random_filter(rng)
    sort = random_sort(rng)
    page_size = rng.choice([1, 2, 5, 50, 200])
    expected = world.order([d for d in world.docs.values() if predicate(d)], sort)
    payload: dict[str, Any] = {"filter": flt, "page_size": page_size}
    # with full_query, counting stops at the end of the page unless exact_total asks for all
    exact = "full_query" not in flt or rng.random() < 0.5
    if "full_query" in flt and exact:
        payload["exact_total"] = True
    if sort:
        payload["sort"] = sort
    context = (where, flt, sort, page_size)
    pages = math.ceil(len(expected) / page_size)
    for page in range(1, min(pages, 5) + 1):
        result = world.query("list_invoices", {**payload, "page": page})
        info = result["page"]
        if exact:
            assert (info["total"], info["pages"]) == (len(expected), pages), context
            assert info["total_exact"], context
        else:  # a lower bound that reaches the end of the page; exact when nothing is left
            assert min(len(expected), page * page_size) <= info["total"], (context, info)
            assert info["total"] <= len(expected), (context, info)
            assert info["total_exact"] == (info["total"] == len(expected)), (context, info)
        want = expected[(page - 1) * page_size : page * page_size]
        got_ids = [item["id"] for item in result["items"]]
        assert got_ids == [d["id"] for d in want], (context, page)
        for item in result["items"]:
            assert item == world.docs[item["id"]], (context, item["id"])
    if pages == 0:
        result = world.query("list_invoices", payload)
        assert result["items"] == [] and result["page"]["total"] == 0, context
    if rng.random() < CSV_SHARE:  # the same filter in export_csv: the same documents
        assert world.csv_ids(flt) == sorted(d["id"] for d in expected), context
    return len(expected)


def check_number_sorts(world: World) -> None:
    """Every document not in the trash in the order of ``number`` and ``-number`` (alone and
    after another key), all pages of 200: the random sorts pick ``number`` too seldom to cross
    a width every time."""
    for sort in (["number"], ["-number"], ["status", "-number"], ["-credited", "number"]):
        expected = world.order([d for d in world.docs.values() if not d["deleted"]], sort)
        got: list[str] = []
        for page in range(1, math.ceil(len(expected) / 200) + 1):
            payload = {"sort": sort, "page": page, "page_size": 200}
            got += [item["id"] for item in world.query("list_invoices", payload)["items"]]
        assert got == [d["id"] for d in expected], sort


def check_aging_edges(world: World) -> None:
    """Each aging bucket, as of the days that put one receivable on each bucket's edges."""
    dues = sorted({day_of(d, "due_date") for d in world.docs.values() if receivable(d)} - {None})
    assert dues, "the walk should leave receivables"
    for late in (0, 1, 15, 16, 45, 46):
        as_of = dues[len(dues) // 2] + dt.timedelta(days=late)  # type: ignore[operator]
        for bucket in ("not_due", "1-15", "16-45", "46+", "other"):
            flt = {"aging": [bucket], "as_of": as_of.isoformat()}
            result = world.query("list_invoices", {"filter": flt, "page_size": 200})
            expected = {
                d["id"]
                for d in world.docs.values()
                if not d["deleted"] and aging_matches(bucket, d, as_of)
            }
            assert {item["id"] for item in result["items"]} == expected, (flt, late)


@pytest.mark.parametrize("seed", range(2))
def test_every_page_of_a_random_list_is_what_the_documents_say(bus: Pipeline, seed: int) -> None:
    walk = RichWalk(bus, seed + 500)
    walk.run(STEPS)
    world = World(walk)
    assert len(world.docs) >= 20, "the walk should make documents enough to sort and filter"
    assert_numbers_past_a_width(world.docs.values())
    rng = random.Random(seed)
    totals = [check_query(world, rng, f"seed {seed} query {n}") for n in range(QUERIES)]
    # the random queries must reach both empty and full lists, not only one of them
    assert min(totals) == 0 and max(totals) >= 10, totals
    check_number_sorts(world)
    check_aging_edges(world)


def check_open_items(world: World, rng: random.Random, where: str) -> int:
    """One random ``open_items`` query against the receivables among the documents."""
    as_of = world.edge_day(rng)
    payload: dict[str, Any] = {"as_of": as_of.isoformat(), "page_size": rng.choice([1, 3, 200])}
    customers: list[str] = []
    if rng.random() < 0.4:
        customers = rng.sample(world.walk.customers, rng.randint(1, 2))
        payload["customer_id"] = customers
    overdue_only = rng.random() < 0.4
    if overdue_only:
        payload["overdue_only"] = True
    sort = [
        ("-" if rng.random() < 0.5 else "") + key
        for key in rng.sample(OPEN_ITEM_SORT_KEYS, rng.choice([0, 1, 2]))
    ]
    if sort:
        payload["sort"] = sort

    def owed(d: Doc) -> bool:
        due = day_of(d, "due_date")
        late = due is not None and due < as_of
        chosen = not customers or d["customer_id"] in customers
        return receivable(d) and not d["deleted"] and chosen and (late or not overdue_only)

    matching = [d for d in world.docs.values() if owed(d)]
    expected = world.order(matching, sort or ["due_date"])
    context = (where, payload)
    size = payload["page_size"]
    result = world.query("open_items", payload)
    assert result["page"]["total"] == len(expected), context
    assert [i["invoice"]["id"] for i in result["items"]] == [d["id"] for d in expected[:size]], (
        context
    )
    totals: dict[str, Decimal] = {}
    for d in expected:
        totals[d["currency"]] = totals.get(d["currency"], Decimal(0)) + money(d, "open_amount")
    got_totals = {t["currency"]: Decimal(t["amount"]) for t in result["totals"]}
    assert got_totals == totals, context
    for item in result["items"]:
        doc = world.docs[item["invoice"]["id"]]
        assert item["invoice"] == doc, context
        assert Decimal(item["open_amount"]) == money(doc, "open_amount"), context
        due = day_of(doc, "due_date")
        late = max(0, (as_of - due).days) if due is not None else 0
        assert item["days_overdue"] == late, (context, doc["due_date"])
        assert aging_matches(item["aging"], doc, as_of), (context, item["aging"], doc["due_date"])
    return len(expected)


@pytest.mark.parametrize("seed", range(2))
def test_open_items_are_the_receivables_the_documents_say(bus: Pipeline, seed: int) -> None:
    walk = RichWalk(bus, seed + 700)
    walk.run(STEPS)
    world = World(walk)
    rng = random.Random(seed)
    totals = [check_open_items(world, rng, f"seed {seed} query {n}") for n in range(QUERIES)]
    assert len(set(totals)) >= 3 and max(totals) >= 2, totals


def check_payments(world: World, rng: random.Random, where: str) -> None:
    """One random ``list_payments`` query against the payments the documents hold."""
    rows = [
        (doc, payment)
        for doc in world.docs.values()
        for payment in doc["payments"]
        if not doc["deleted"]
    ]
    payload: dict[str, Any] = {"page_size": rng.choice([1, 4, 200])}
    predicates: list[Callable[[Doc, Doc], bool]] = []
    if rows and rng.random() < 0.3:
        invoice_id = rng.choice(rows)[0]["id"]
        payload["invoice_id"] = invoice_id
        predicates.append(lambda d, p: d["id"] == invoice_id)
    days = sorted({dt.date.fromisoformat(p["date"]) for _, p in rows}) or [world.today]
    if rng.random() < 0.5:
        start = rng.choice(days)
        payload["date_from"] = start.isoformat()
        predicates.append(lambda d, p: dt.date.fromisoformat(p["date"]) >= start)
    if rng.random() < 0.5:
        end = rng.choice(days)
        payload["date_to"] = end.isoformat()
        predicates.append(lambda d, p: dt.date.fromisoformat(p["date"]) <= end)
    if rng.random() < 0.2:
        methods = sorted({p["method"] for _, p in rows}) or ["bank_transfer"]
        method = rng.choice(methods)
        payload["method"] = [method]
        predicates.append(lambda d, p: p["method"] == method)
    keys = rng.sample(PAYMENT_SORT_KEYS, rng.choice([0, 1, 2]))
    sort = [("-" if rng.random() < 0.5 else "") + key for key in keys]
    if sort:
        payload["sort"] = sort
    if "date_from" in payload and "date_to" in payload and end < start:
        return  # refused as a range that ends before it starts (tested elsewhere)
    matching = [(d, p) for d, p in rows if all(pred(d, p) for pred in predicates)]

    def value(payment: Doc, key: str) -> Any:
        if key == "amount":
            return Decimal(payment["amount"])
        if key == "date":
            return payment["date"]
        return dt.datetime.fromisoformat(payment["recorded_at"])

    def cmp(a: tuple[Doc, Doc], b: tuple[Doc, Doc]) -> int:
        for key in sort or ["date"]:
            x, y = value(a[1], key.lstrip("-")), value(b[1], key.lstrip("-"))
            if x != y:
                result = -1 if x < y else 1
                return -result if key.startswith("-") else result
        x, y = a[1]["id"], b[1]["id"]
        result = -1 if x < y else (1 if x > y else 0)
        return -result if (sort or ["date"])[-1].startswith("-") else result

    expected = sorted(matching, key=functools.cmp_to_key(cmp))
    result = world.query("list_payments", payload)
    context = (where, payload)
    assert result["page"]["total"] == len(expected), context
    got = [(item["invoice_id"], item["id"]) for item in result["items"]]
    want = [(d["id"], p["id"]) for d, p in expected[: payload["page_size"]]]
    assert got == want, context
    for item in result["items"]:
        doc = world.docs[item["invoice_id"]]
        (payment,) = [p for p in doc["payments"] if p["id"] == item["id"]]
        assert Decimal(item["amount"]) == Decimal(payment["amount"]), context
        assert (item["date"], item["method"]) == (payment["date"], payment["method"]), context
        assert (item["invoice_number"], item["currency"]) == (doc["number"], doc["currency"])


@pytest.mark.parametrize("seed", range(2))
def test_payments_are_listed_as_the_documents_hold_them(bus: Pipeline, seed: int) -> None:
    walk = RichWalk(bus, seed + 900)
    walk.run(STEPS, more=("pay",) * 6 + ("finalize",) * 2)
    world = World(walk)
    assert sum(len(d["payments"]) for d in world.docs.values()) >= 2, "the walk should pay"
    rng = random.Random(seed)
    for n in range(QUERIES):
        check_payments(world, rng, f"seed {seed} query {n}")
