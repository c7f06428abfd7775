"""``INVOICING_AMQP_URL`` holding several broker addresses (no I/O)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from invoicing.workers.amqp import broker_urls, connection_parameters, redact
from invoicing.workers.settings import PipelineSettings
from pydantic import ValidationError

SRC = Path(__file__).resolve().parents[2] / "src"
A = "amqp://svc:s3cret@rabbit-0:5672/%2F?heartbeat=30"
B = "amqp://svc:s3cret@rabbit-1:5672/%2F?heartbeat=30"
C = "amqps://svc:s3cret@rabbit-2:5671/%2F"


def test_one_url_is_one_address() -> None:
    assert broker_urls(A) == [A]
    assert broker_urls(f"  {A}\n") == [A]


@pytest.mark.parametrize(
    "value",
    [f"{A},{B},{C}", f"{A}, {B} ,{C}", f"{A} {B}\n{C}", f"{A},\n  {B}\t{C},"],
)
def test_commas_and_whitespace_separate_full_urls(value: str) -> None:
    assert broker_urls(value) == [A, B, C]


def test_a_comma_inside_one_url_is_kept() -> None:
    url = "amqp://svc:pw@rabbit-0/%2F?client_properties={'a':1,'b':2}"
    assert broker_urls(url) == [url]
    assert broker_urls(f"{url},{B}") == [url, B]


@pytest.mark.parametrize("value", ["", "   ", "rabbit-0:5672", f"{A}, rabbit-1:5672"])
def test_an_address_that_is_not_a_url_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="INVOICING_AMQP_URL"):
        broker_urls(value)
    with pytest.raises(ValidationError, match="INVOICING_AMQP_URL"):
        PipelineSettings(amqp_url=value)


def test_every_address_is_tried_starting_anywhere() -> None:
    starts = set()
    for _ in range(200):
        params = connection_parameters(f"{A},{B},{C}")
        hosts = [p.host for p in params]
        assert sorted(hosts) == ["rabbit-0", "rabbit-1", "rabbit-2"]
        # a rotation: the order of the list is kept, only the start moves
        assert "".join(h[-1] for h in hosts) in "012012"
        starts.add(hosts[0])
    assert starts == {"rabbit-0", "rabbit-1", "rabbit-2"}
    assert [p.port for p in connection_parameters(C)] == [5671]


def test_redacted_addresses_carry_no_credentials() -> None:
    text = redact(f"{A},{C}")
    assert "s3cret" not in text and "svc" not in text
    assert text == "amqp://rabbit-0:5672/%2F, amqps://rabbit-2:5671/%2F"


def test_every_process_connects_through_the_address_list() -> None:
    """No connection in src/ bypasses ``amqp.connect`` (the one place that reads the list)."""
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.name == "amqp.py" and path.parent.name == "workers":
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"URLParameters\(|BlockingConnection\(|SelectConnection\(", text):
            offenders.append(str(path.relative_to(SRC)))
    assert offenders == []
