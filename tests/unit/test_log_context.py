"""``logs.bound``: structlog's ``bound_contextvars`` through its token API, with the same
effect on the context-local log context."""

from __future__ import annotations

import threading

import pytest
import structlog
from invoicing import logs
from structlog.contextvars import bind_contextvars, clear_contextvars, get_contextvars


@pytest.fixture(autouse=True)
def _clean() -> None:
    clear_contextvars()


def test_keys_come_back_to_what_they_were_bound_or_not() -> None:
    bind_contextvars(queue="commands", command_id="outer")
    with logs.bound(command_id="inner", invoice_id="i-1"):
        assert get_contextvars() == {
            "queue": "commands",
            "command_id": "inner",
            "invoice_id": "i-1",
        }
        with logs.bound(invoice_id="i-2"):
            assert get_contextvars()["invoice_id"] == "i-2"
        assert get_contextvars()["invoice_id"] == "i-1"
    assert get_contextvars() == {"queue": "commands", "command_id": "outer"}


def test_an_error_inside_restores_them_too() -> None:
    with pytest.raises(ValueError), logs.bound(command_id="c"):
        raise ValueError("boom")
    assert get_contextvars() == {}


def test_a_cleared_context_inside_is_restored_as_structlogs_helper_restores_it() -> None:
    """As ``bound_contextvars``: the keys bound by the block come back to their values from
    before, whatever the block did with them."""
    bind_contextvars(command_id="outer")
    with structlog.contextvars.bound_contextvars(command_id="x"):
        clear_contextvars()
    theirs = get_contextvars()
    clear_contextvars()
    bind_contextvars(command_id="outer")
    with logs.bound(command_id="x"):
        clear_contextvars()
    assert get_contextvars() == theirs == {"command_id": "outer"}


def test_each_thread_has_its_own() -> None:
    seen: list[dict[str, object]] = []

    def other() -> None:
        with logs.bound(command_id="theirs"):
            seen.append(get_contextvars())
        seen.append(get_contextvars())

    with logs.bound(command_id="mine"):
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert get_contextvars() == {"command_id": "mine"}
    assert seen == [{"command_id": "theirs"}, {}]
