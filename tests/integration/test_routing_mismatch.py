"""A command routed by one type but naming another is rejected and not executed.

The worker passes the routing key a command was published with to ``invoicing.commands`` as
``transport["expected_type"]``; the pipeline rejects a body whose ``type`` differs (pointer
``/type``, a hint), records nothing, and a corrected re-send with the same id runs.
"""

from __future__ import annotations

import uuid

from tests.support.client import Client


def test_routing_key_must_match_the_type(client: Client) -> None:
    client.setup_org()
    customer = client.customer()
    before = client.snapshot()
    doc = client.doc("send_invoice", {"invoice_id": str(uuid.uuid4())})
    out = client.bus.handle_document(doc, {"expected_type": "finalize_invoice"})
    assert out.status == "rejected"
    [error] = out.errors
    assert error["code"] == "routing_mismatch"
    assert error["source"]["pointer"] == "/type"
    assert "send_invoice" in error["detail"] and "finalize_invoice" in error["detail"]
    assert "routing key" in error["meta"]["hint"]
    assert [e["type"] for e in out.events] == ["command.rejected"]
    assert client.snapshot() == before

    invoice_id = str(uuid.uuid4())
    create = client.doc(
        "create_invoice",
        {
            "id": invoice_id,
            "customer_id": str(customer),
            "lines": [{"description": "Beratung", "quantity": 1, "unit_price": "100.00"}],
        },
    )
    assert client.bus.handle_document(create, {"expected_type": "void_invoice"}).status == (
        "rejected"
    )
    # nothing was recorded for the id: the corrected command runs
    assert client.bus.handle_document(create, {"expected_type": "create_invoice"}).status == (
        "applied"
    )


def test_a_body_without_a_type_says_so(client: Client) -> None:
    """A body with no ``type`` (or a number) published with some routing key was rejected with
    "the command's type is 'None'": Python's word for a value the body never held."""
    for bad in (None, 5, True):
        doc = client.doc("finalize_invoice", {"invoice_id": str(uuid.uuid4())})
        if bad is None:
            del doc["type"]
        else:
            doc["type"] = bad
        out = client.bus.handle_document(doc, {"expected_type": "finalize_invoice"})
        [error] = out.errors
        assert (error["code"], error["source"]["pointer"]) == ("routing_mismatch", "/type")
        assert "None" not in error["detail"], error["detail"]
        expected = {None: "has no type", 5: "type is 5, not a text", True: "type is true, not"}[bad]
        assert expected in error["detail"], error["detail"]
