"""The routing table and the committed RabbitMQ definitions agree; tokens authenticate."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from invoicing.domain.errors import Forbidden
from invoicing.pipeline.authenticate import TokenOrUserAuthenticator
from invoicing.workers.settings import PipelineSettings
from invoicing.workers.topology import definitions, queue_of

ROOT = Path(__file__).resolve().parents[2]


def test_committed_definitions_match_the_topology() -> None:
    committed = json.loads((ROOT / "deploy/rabbitmq/definitions.json").read_text())
    assert committed == definitions(PipelineSettings())


def test_every_workload_queue_is_quorum_with_limit_and_dlx() -> None:
    for q in definitions(PipelineSettings())["queues"]:
        assert q["arguments"]["x-queue-type"] == "quorum"
        if q["name"] in {
            "invoicing.commands",
            "invoicing.documents",
            "invoicing.exports",
            "invoicing.billing",
        }:
            assert q["arguments"]["x-delivery-limit"] == 20
            assert q["arguments"]["x-dead-letter-exchange"] == "invoicing.dlx"


def test_routing_by_workload() -> None:
    assert queue_of("finalize_invoice") == "invoicing.commands"
    assert queue_of("send_invoice") == "invoicing.documents"
    assert queue_of("export_datev") == "invoicing.exports"
    assert queue_of("record_billable_entry") == "invoicing.billing"


SECRET = "x" * 32


def _token(**claims: object) -> str:
    base = {"sub": "svc", "exp": int(time.time()) + 60, "orgs": {}}
    base.update(claims)
    return jwt.encode(base, SECRET, "HS256")


def test_token_claims_become_grants() -> None:
    org = uuid.uuid4()
    auth = TokenOrUserAuthenticator(SECRET)
    p = auth.authenticate({"token": _token(orgs={str(org): ["invoices:write"]})}, None)
    assert p.allows(org, "invoices:write") and not p.allows(org, "organizations:admin")
    assert not p.allows(uuid.uuid4(), "invoices:write")


@pytest.mark.parametrize(
    ("credentials", "code"),
    [
        (None, "missing_credentials"),
        ({"token": _token(exp=int(time.time()) - 3600)}, "expired_credentials"),
        (
            {"token": jwt.encode({"sub": "x", "exp": 2**31}, "y" * 32, "HS256")},
            "invalid_credentials",
        ),
        ({"token": jwt.encode({"sub": "x"}, SECRET, "HS256")}, "invalid_credentials"),
    ],
)
def test_bad_credentials_are_forbidden(credentials: dict[str, str] | None, code: str) -> None:
    with pytest.raises(Forbidden) as info:
        TokenOrUserAuthenticator(SECRET).authenticate(credentials, None)
    assert info.value.errors[0].code == code


@pytest.mark.parametrize(
    ("credentials", "pointer"),
    [
        ("eyJ.a.b", "/credentials"),
        (["token"], "/credentials"),
        ({"token": 123}, "/credentials/token"),
        ({"token": ""}, "/credentials/token"),
        ({"token": None}, "/credentials/token"),
    ],
)
def test_malformed_credentials_say_what_is_wrong_with_them(credentials: Any, pointer: str) -> None:
    """Credentials that were sent but hold no usable token were refused as
    ``missing_credentials``, "the command carries no credentials": the sender did send some
    and looked for a missing field instead of the wrong shape."""
    from invoicing.pipeline.authenticate import authenticate

    doc = {"credentials": credentials}
    with pytest.raises(Forbidden) as info:
        authenticate(TokenOrUserAuthenticator(SECRET), doc, None, uuid.uuid4(), "invoices:write")
    (error,) = info.value.errors
    assert (error.code, error.pointer) == ("invalid_credentials", pointer)
    assert "no credentials" not in error.detail and '"token"' in error.hint
    # absent credentials stay missing ones
    with pytest.raises(Forbidden) as absent:
        authenticate(TokenOrUserAuthenticator(SECRET), {}, None, uuid.uuid4(), "invoices:write")
    assert absent.value.errors[0].code == "missing_credentials"


def test_a_verified_token_is_kept_but_its_expiry_is_checked_on_every_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    org = uuid.uuid4()
    auth = TokenOrUserAuthenticator(SECRET, leeway_s=30)
    token = _token(orgs={str(org): ["invoices:write"]})
    verified: list[str] = []
    real = auth._verify

    def counting(value: str) -> tuple[object, float]:
        verified.append(value)
        return real(value)

    monkeypatch.setattr(auth, "_verify", counting)
    first = auth.authenticate({"token": token}, None)
    again = auth.authenticate({"token": token}, None)
    assert again is first and verified == [token]  # verified once
    # a forged variant of a kept token is no hit: it is verified (and refused)
    forged_token = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    with pytest.raises(Forbidden) as forged:
        auth.authenticate({"token": forged_token}, None)
    assert forged.value.errors[0].code == "invalid_credentials"
    # within exp + leeway the kept token serves; past it, it is verified again (PyJWT, on its
    # own clock, then refuses an expired one: test_bad_credentials_are_forbidden)
    exp = int(jwt.decode(token, SECRET, algorithms=["HS256"])["exp"])
    monkeypatch.setattr(time, "time", lambda: exp + 29.5)
    auth.authenticate({"token": token}, None)
    assert verified == [token, forged_token]
    monkeypatch.setattr(time, "time", lambda: exp + 30.0)
    auth.authenticate({"token": token}, None)
    assert verified == [token, forged_token, token]


def test_the_kept_tokens_are_bounded() -> None:
    auth = TokenOrUserAuthenticator(SECRET)
    auth.TOKEN_CACHE_SIZE = 3
    tokens = [_token(sub=f"svc-{i}") for i in range(5)]
    for token in tokens:
        auth.authenticate({"token": token}, None)
    assert list(auth._verified) == tokens[2:]


def test_broker_verified_user_id_maps_to_grants() -> None:
    org = uuid.uuid4()
    auth = TokenOrUserAuthenticator(SECRET, user_grants={"billing": {str(org): ["invoices:write"]}})
    assert auth.authenticate(None, {"user_id": "billing"}).allows(org, "invoices:write")
    with pytest.raises(Forbidden):
        auth.authenticate(None, {"user_id": "stranger"})


def test_a_short_jwt_secret_is_refused() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="at least 32 bytes"):
        PipelineSettings(jwt_secret="too-short")
    assert PipelineSettings(jwt_secret="x" * 32).jwt_secret == "x" * 32
    assert PipelineSettings(jwt_secret="").jwt_secret == ""


def test_delay_bindings_select_by_a_header_rabbitmq_matches() -> None:
    """RabbitMQ ignores x-* headers in headers-exchange matching: a selector named x-... would
    make every retry copy reach every delay queue (each retry multiplied the message)."""
    from invoicing.workers.topology import DELAY_EXCHANGE, bindings

    delay = [b for b in bindings(PipelineSettings()) if b.source == DELAY_EXCHANGE]
    assert len(delay) == len(set(PipelineSettings().retry_delays_s))
    for b in delay:
        selectors = {k for k in b.arguments if k != "x-match"}
        assert selectors and not any(k.startswith("x-") for k in selectors), b.arguments


def test_dead_letters_never_expire_before_they_are_archived() -> None:
    """Reference A4.8 #16: dramatiq's XQ drops a dead letter after 7 days without a trace. The
    dead-letter queue here has no TTL, expiry or length limit (nor a policy that could add one),
    so a dead letter waits for ``invoicing dead-letters archive`` however long it is stopped;
    the ``dead_letters`` table it goes to is not one that ``invoicing retention`` deletes from."""
    from invoicing import retention
    from invoicing.workers.topology import DEAD_LETTER_QUEUE

    committed = json.loads((ROOT / "deploy/rabbitmq/definitions.json").read_text())
    [queue] = [q for q in committed["queues"] if q["name"] == DEAD_LETTER_QUEUE]
    limits = {"x-message-ttl", "x-expires", "x-max-length", "x-max-length-bytes", "x-overflow"}
    assert queue["durable"] and not queue["auto_delete"]
    assert queue["arguments"] == {"x-queue-type": "quorum"}
    assert not limits & set(queue["arguments"])
    assert not committed.get("policies")
    assert "dead_letters" not in {t.name for t in retention.TABLES}


def test_missing_credentials_do_not_call_a_query_a_command() -> None:
    """A query without credentials was answered "the command carries no credentials"."""
    with pytest.raises(Forbidden) as info:
        TokenOrUserAuthenticator(SECRET).authenticate(None, None)
    (error,) = info.value.errors
    assert error.code == "missing_credentials" and "command carries" not in error.detail
