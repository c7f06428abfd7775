"""Bad input: one command.rejected each, nothing changed, processing goes on."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.support.client import DE_ORG, Client, line


def _pointers(errors: list[dict[str, object]]) -> list[object]:
    return [e["source"]["pointer"] for e in errors]  # type: ignore[index]


def test_not_json_and_not_an_object(client: Client) -> None:
    out = client.bus.handle_raw("{not json")
    assert out.status == "rejected" and out.events[0]["type"] == "command.rejected"
    assert out.errors[0]["code"] == "invalid_json"
    out = client.bus.handle_raw("[1, 2]")
    assert out.status == "rejected" and out.errors[0]["code"] == "invalid_document"
    # processing goes on
    client.customer()


def test_missing_identity(client: Client) -> None:
    out = client.bus.handle_document({"type": "create_invoice", "payload": {}})
    assert out.status == "rejected"
    assert _pointers(out.errors) == ["/command_id", "/organization_id"]
    assert out.errors[0]["detail"] == "can't be blank"


def test_unknown_command_type(client: Client) -> None:
    before = client.snapshot()
    errors = client.rejected("explode_invoice", {"id": str(uuid.uuid4())})
    assert errors[0]["code"] == "unknown_command" and _pointers(errors) == ["/type"]
    assert client.snapshot() == before


def test_missing_command_type_is_blank_not_none(client: Client) -> None:
    """A command without ``type`` (or with ``"type": null``) was rejected with the detail
    "None is not a command type": Python's repr, a word no JSON client sent."""
    ids = {"organization_id": str(client.org), "payload": {}}
    for doc in ({**ids, "command_id": str(uuid.uuid4())}, {**ids, "type": None}):
        doc.setdefault("command_id", str(uuid.uuid4()))
        out = client.bus.handle_document(doc)
        assert out.status == "rejected"
        (err,) = out.errors
        assert (err["code"], err["detail"], _pointers(out.errors)) == (
            "unknown_command",
            "can't be blank",
            ["/type"],
        )
        assert "create_invoice" in err["meta"]["hint"]
    reply = client.bus.query_document({"organization_id": str(client.org), "payload": {}})
    assert reply["status"] == "error"
    assert reply["errors"][0]["detail"] == "can't be blank"


@pytest.mark.parametrize(
    ("payload", "pointer", "detail"),
    [
        ({"lines": [line(quantity="abc")]}, "/payload/lines/0/quantity", "is not a decimal number"),
        ({"lines": [line(quantity=0)]}, "/payload/lines/0/quantity", "greater than 0"),
        ({"lines": [line(quantity=-2)]}, "/payload/lines/0/quantity", "greater than 0"),
        ({"lines": [line(description="")]}, "/payload/lines/0/description", "can't be blank"),
        (
            {"lines": [line(description="x" * 186)]},
            "/payload/lines/0/description",
            "is too long (maximum is 185 characters)",
        ),
        ({"currency": "XYZ"}, "/payload/currency", "XYZ is not an ISO 4217 currency in use"),
        ({"lines": [line(unit_price=True)]}, "/payload/lines/0/unit_price", "not a boolean"),
        (
            {"lines": [{"quantity": 1, "unit_price": 1}]},
            "/payload/lines/0/description",
            "can't be blank",
        ),
        ({"lines": [line(tax_rate=101)]}, "/payload/lines/0/tax_rate", "less than or equal to 100"),
        ({"surprise": 1}, "/payload/surprise", "is not a known attribute"),
        ({"lines": "many"}, "/payload/lines", "valid list"),
    ],
)
def test_invalid_create_invoice(
    client: Client, payload: dict[str, object], pointer: str, detail: str
) -> None:
    before = client.snapshot()
    errors = client.rejected("create_invoice", {"id": str(uuid.uuid4()), **payload})
    assert pointer in _pointers(errors)
    assert any(detail in str(e["detail"]) for e in errors), errors
    assert all(e["status"] == "422" and e["title"] for e in errors)
    assert all(e["meta"]["hint"] for e in errors), "every error says what to do"
    assert client.snapshot() == before


@pytest.mark.parametrize(
    ("payload", "pointer", "char"),
    [
        ({"lines": [line(description="Beratung\x0c")]}, "/payload/lines/0/description", "U+000C"),
        ({"notes": "Danke\x00"}, "/payload/notes", "U+0000"),
        ({"lines": [line(description="\ud800")]}, "/payload/lines/0/description", "U+D800"),
        ({"lines": [line(unit="h\x1b")]}, "/payload/lines/0/unit", "U+001B"),
        # bidirectional overrides and isolates can show text reversed ("IBAN" spoofing)
        ({"lines": [line(description="abc\u202edef")]}, "/payload/lines/0/description", "U+202E"),
        ({"notes": "\u2066x\u2069"}, "/payload/notes", "U+2066"),
        ({"lines": [line(description="\u202a1\u202c")]}, "/payload/lines/0/description", "U+202A"),
    ],
)
def test_characters_no_document_can_carry(
    client: Client, payload: dict[str, object], pointer: str, char: str
) -> None:
    """XML 1.0 cannot carry C0 controls (other than tab, LF, CR) or lone surrogates: such text
    would finalize fine and then fail every e-invoice, so it is refused at the door."""
    before = client.snapshot()
    errors = client.rejected("create_invoice", {"id": str(uuid.uuid4()), **payload})
    assert _pointers(errors) == [pointer], errors
    assert char in str(errors[0]["detail"]) and errors[0]["meta"]["hint"]
    assert client.snapshot() == before
    # tabs and line breaks stay allowed, and so do right-to-left text and its marks (U+200F)
    client.ok("create_invoice", {"id": str(uuid.uuid4()), "notes": "a\tb\r\nc", "lines": [line()]})
    client.ok(
        "create_invoice",
        {"id": str(uuid.uuid4()), "lines": [line(description="\u05e9\u05dc\u05d5\u05dd\u200f 5")]},
    )


@pytest.mark.parametrize("ascii_only", [True, False])
@pytest.mark.parametrize(
    ("text", "char"),
    [("Beratung\x0c", "U+000C"), ("\ud800", "U+D800"), ("abc\u202edef", "U+202E")],
)
def test_characters_no_document_can_carry_in_a_raw_body(
    client: Client, text: str, char: str, ascii_only: bool
) -> None:
    """The same through ``handle_raw`` (the workers' entry), the character escaped (\\u...) or
    as UTF-8 bytes: a body without them skips the walk of the document, these do not."""
    before = client.snapshot()
    doc = client.doc("create_invoice", {"id": str(uuid.uuid4()), "lines": [line(description=text)]})
    body = json.dumps(doc, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    out = client.bus.handle_raw(body)
    assert out.status == "rejected", out
    assert _pointers(out.errors) == ["/payload/lines/0/description"], out.errors
    assert char in str(out.errors[0]["detail"]) and out.errors[0]["meta"]["hint"]
    assert client.snapshot() == before


def test_invalid_vat_id(client: Client) -> None:
    errors = client.rejected(
        "create_customer",
        {"id": str(uuid.uuid4()), "email": "a@b.example", "locale": "de", "vat_id": "DE136695977"},
    )
    assert _pointers(errors) == ["/payload/vat_id"] and errors[0]["code"] == "invalid_vat_id"


def test_invalid_email_and_duplicate_email(client: Client) -> None:
    errors = client.rejected(
        "create_customer", {"id": str(uuid.uuid4()), "email": "invalid mail", "locale": "de"}
    )
    assert errors[0]["detail"] == "invalid mail is not an email"
    client.customer(email="Jane@Example.com")
    errors = client.rejected(
        "create_customer", {"id": str(uuid.uuid4()), "email": "jane@example.COM", "locale": "en"}
    )
    assert errors[0]["code"] == "email_taken"


@pytest.mark.parametrize("command", ["create_customer", "update_customer"])
def test_every_bad_field_of_a_customer_in_one_rejection(client: Client, command: str) -> None:
    """The contact rules (email, VAT id) are checked with the schema's, so a customer with a
    bad locale, country, email and VAT id hears of all four at once, each under its own code
    and with a hint (before, the email and VAT id only after the other two were fixed)."""
    cid = str(client.customer()) if command == "update_customer" else str(uuid.uuid4())
    payload = {
        "id": cid,
        "email": "nope",
        "locale": "xx",
        "vat_id": "DE123",
        "address": {
            "street_address": "Hauptstr. 1",
            "zip_code": "10115",
            "city": "Berlin",
            "country_code": "ZZ",
        },
    }
    errors = client.rejected(command, payload)
    found = sorted((e["source"]["pointer"], e["code"]) for e in errors)
    assert found == [
        ("/payload/address/country_code", "invalid_attribute"),
        ("/payload/email", "invalid_attribute"),
        ("/payload/locale", "invalid_attribute"),
        ("/payload/vat_id", "invalid_vat_id"),
    ]
    by_pointer = {e["source"]["pointer"]: e for e in errors}
    assert by_pointer["/payload/email"]["detail"] == "nope is not an email"
    assert by_pointer["/payload/email"]["meta"]["hint"] == (
        "send an email address such as billing@example.com"
    )
    assert by_pointer["/payload/vat_id"]["meta"]["hint"] == (
        "give the VAT id with its country prefix, e.g. DE136695976"
    )


def test_an_organizations_vat_id_is_checked_with_its_other_fields(client: Client) -> None:
    """configure_organization and configure_subsidiary: a bad VAT id is reported beside a bad
    country code, not only once the country is fixed."""
    address = {**DE_ORG["address"], "country_code": "ZZ"}
    errors = client.rejected(
        "configure_organization", {**DE_ORG, "address": address, "vat_id": "DE1"}
    )
    assert sorted((e["source"]["pointer"], e["code"]) for e in errors) == [
        ("/payload/address/country_code", "invalid_attribute"),
        ("/payload/vat_id", "invalid_vat_id"),
    ]
    sub = {"id": "sub-be", "name": "Filiale", "address": address, "vat_id": "BE0"}
    errors = client.rejected("configure_subsidiary", sub)
    assert sorted((e["source"]["pointer"], e["code"]) for e in errors) == [
        ("/payload/address/country_code", "invalid_attribute"),
        ("/payload/vat_id", "invalid_vat_id"),
    ]


def test_blank_required_fields(client: Client) -> None:
    errors = client.rejected("create_customer", {"id": str(uuid.uuid4())})
    assert sorted(_pointers(errors)) == ["/payload/email", "/payload/locale"]
    assert {e["detail"] for e in errors} == {"can't be blank"}


def test_payment_on_a_draft(client: Client) -> None:
    cust = client.customer()
    iid = client.invoice(cust, [line()])
    before = client.snapshot()
    errors = client.rejected(
        "record_payment", {"invoice_id": str(iid), "amount": "10", "date": "2026-01-01"}
    )
    assert errors[0]["code"] == "invalid_state" and errors[0]["status"] == "409"
    assert errors[0]["detail"] == "invoice not in SENT status: it is draft"
    assert errors[0]["meta"]["hint"]
    assert client.snapshot() == before


def test_money_with_too_many_decimals_for_the_currency(client: Client) -> None:
    cust = client.customer()
    inv = client.finalized(cust, [line()])
    errors = client.rejected(
        "record_payment", {"invoice_id": inv["id"], "amount": "1.001", "date": "2026-01-01"}
    )
    assert _pointers(errors) == ["/payload/amount"]


def test_forbidden_transitions(client: Client) -> None:
    cust = client.customer()
    inv = client.finalized(cust, [line()])
    iid = inv["id"]
    for ctype, payload in [
        ("update_invoice", {"id": iid, "notes": "x"}),
        ("add_line", {"invoice_id": iid, "line": line()}),
        ("remove_line", {"invoice_id": iid, "line_id": inv["lines"][0]["id"]}),
        ("delete_invoice", {"invoice_id": iid}),
        ("finalize_invoice", {"invoice_id": iid}),
        ("purge_invoice", {"invoice_id": iid}),
    ]:
        before = client.snapshot()
        errors = client.rejected(ctype, payload)
        assert errors[0]["status"] == "409", (ctype, errors)
        assert client.snapshot() == before
    client.ok("void_invoice", {"invoice_id": iid})
    assert client.rejected("void_invoice", {"invoice_id": iid})[0]["code"] == "already_void"
    assert (
        client.rejected("record_payment", {"invoice_id": iid, "amount": 1, "date": "2026-01-01"})[
            0
        ]["code"]
        == "invalid_state"
    )


def test_finalize_needs_a_complete_invoice(client: Client) -> None:
    iid = client.invoice(None, [])
    errors = client.rejected("finalize_invoice", {"invoice_id": str(iid)})
    assert {e["code"] for e in errors} == {"no_lines", "invalid_attribute"}
    cust = client.customer(address=None)
    iid = client.invoice(cust, [line()])
    assert (
        client.rejected("finalize_invoice", {"invoice_id": str(iid)})[0]["code"]
        == "buyer_address_missing"
    )


def test_process_continues_after_bad_lines(tmp_path, capfd) -> None:  # type: ignore[no-untyped-def]
    """The CLI: each bad line yields one command.rejected; the good ones are applied."""
    import subprocess
    import sys

    org = str(uuid.uuid4())
    good = {
        "type": "configure_organization",
        "command_id": str(uuid.uuid4()),
        "organization_id": org,
        "payload": {"name": "X GmbH", "address": {"country_code": "DE"}},
    }
    bad = {
        "type": "create_invoice",
        "command_id": str(uuid.uuid4()),
        "organization_id": org,
        "payload": {"id": str(uuid.uuid4()), "currency": "EURO"},
    }
    later = {
        "type": "create_customer",
        "command_id": str(uuid.uuid4()),
        "organization_id": org,
        "payload": {"id": str(uuid.uuid4()), "email": "a@b.example", "locale": "de"},
    }
    text = "\n".join([json.dumps(good), "garbage", json.dumps(bad), json.dumps(later)]) + "\n"
    result = subprocess.run(
        [sys.executable, "-m", "invoicing.cli", "process", "-"],
        input=text,
        capture_output=True,
        text=True,
        env={"INVOICING_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    types = [json.loads(x)["type"] for x in result.stdout.splitlines()]
    assert types == [
        "organization.configured",
        "command.rejected",
        "command.rejected",
        "customer.created",
    ]
    assert "applied=2 duplicate=0 rejected=2" in result.stderr


@pytest.mark.parametrize("code", ["ZZ", "XX", "QQ", "EU"])
def test_an_address_takes_only_a_real_country_code(client: Client, code: str) -> None:
    """Any two letters passed as a country: a customer in "ZZ" was created and an invoice to
    it finalized and numbered with buyer country ZZ, which no e-invoice may carry (EN 16931
    BR-CL-14: ISO 3166-1); the mistake showed only when the document was sent, if ever."""
    from tests.support.client import customer_payload

    client.setup_org()
    payload = customer_payload(uuid.uuid4())
    payload["address"]["country_code"] = code
    errors = client.rejected("create_customer", payload)
    assert _pointers(errors) == ["/payload/address/country_code"]
    assert "ISO 3166-1" in errors[0]["detail"]
    payload["address"]["country_code"] = "at"  # case is folded, real codes pass
    client.ok("create_customer", payload)


def test_update_invoice_of_a_finalized_invoice_points_at_its_id(client: Client) -> None:
    """update_invoice names the invoice with ``id``; its rejection for a finalized invoice
    pointed at ``/payload/invoice_id``, a field the command does not have."""
    cust = client.customer()
    inv = client.finalized(cust, [line()])
    payload = {"id": inv["id"], "notes": "zu spät"}
    errors = client.rejected("update_invoice", payload)
    assert [e["code"] for e in errors] == ["invalid_state"]
    assert _pointers(errors) == ["/payload/id"]
    # the pointer resolves in the body sent
    assert client.doc("update_invoice", payload)["payload"]["id"] == inv["id"]
