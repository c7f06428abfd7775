"""A pika publisher with publisher confirms and mandatory routing, confirming whole batches.

``publish_batch`` sends every message, then waits until RabbitMQ has confirmed all of them
(``basic.ack``), reporting nacked and returned (unroutable) ones as failures. Confirming a batch
costs one round trip instead of one per message. It runs on pika's asynchronous
``SelectConnection`` through its public API, driven in the caller's thread: the wait blocks in
the connection's poller until a frame arrives, and ends as soon as the frames read settle every
confirm of the batch (pika's ``BlockingChannel`` offers confirms only one publish at a time,
and AMQP transactions lose a quorum queue's refusal: tests/integration/
test_publisher_confirms.py). Any connection problem raises
``PublishError`` and the connection is rebuilt on the next call; the caller decides what to
retry (nothing is ever reported as published unless the broker confirmed it).
"""

from __future__ import annotations

import contextlib
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pika  # type: ignore[import-untyped]
import pika.exceptions  # type: ignore[import-untyped]
from pika.adapters.blocking_connection import (  # type: ignore[import-untyped]
    BlockingChannel,
    BlockingConnection,
)
from pika.adapters.select_connection import (  # type: ignore[import-untyped]
    IOLoop,
    SelectConnection,
)

AMQP_ERRORS: tuple[type[BaseException], ...] = (
    pika.exceptions.AMQPError,
    ConnectionError,
    OSError,
    AssertionError,  # pika asserts on a half-closed connection
)


#: between two broker addresses in ``INVOICING_AMQP_URL``: whitespace (never part of a URL: it
#: must be percent-encoded) or a comma that starts the next ``amqp://``/``amqps://`` URL (a comma
#: inside one URL's query string is kept)
_ADDRESS_SEPARATOR = re.compile(r"\s+|,\s*(?=amqps?://)", re.IGNORECASE)


def broker_urls(value: str) -> list[str]:
    """The broker addresses of ``INVOICING_AMQP_URL``: one URL, or several full URLs separated
    by whitespace or commas (``amqp://u:p@rabbit-0:5672/%2F, amqp://u:p@rabbit-1:5672/%2F``)."""
    urls = [u.strip(" ,") for u in _ADDRESS_SEPARATOR.split(value.strip())]
    urls = [u for u in urls if u]
    if not urls:
        raise ValueError("INVOICING_AMQP_URL is empty: give one or more amqp:// URLs")
    for n, url in enumerate(urls):
        if not re.match(r"amqps?://", url, re.IGNORECASE):
            raise ValueError(
                f"INVOICING_AMQP_URL address {n + 1} does not start with amqp:// or amqps:// "
                "(separate several full URLs by commas or whitespace)"
            )
    return urls


def connection_parameters(value: str) -> list[pika.URLParameters]:
    """pika parameters for every address, starting at a random one: processes spread over the
    nodes, and ``pika.BlockingConnection`` tries the rest in turn when one does not answer."""
    params = [pika.URLParameters(url) for url in broker_urls(value)]
    start = secrets.randbelow(len(params))
    return params[start:] + params[:start]


def connect(value: str, *, probe_timeout_s: float | None = None) -> BlockingConnection:
    """A blocking connection to the first of the addresses in ``value`` that accepts one;
    ``AMQPConnectionError`` when none does (the caller backs off and calls again). With
    ``probe_timeout_s`` (a health check) each address gets one attempt bounded by it."""
    params = connection_parameters(value)
    if probe_timeout_s is not None:
        for p in params:
            p.socket_timeout = probe_timeout_s
            p.blocked_connection_timeout = probe_timeout_s
            p.connection_attempts = 1
            p.retry_delay = 0
    return pika.BlockingConnection(params)


@contextlib.contextmanager
def declaring_channel(value: str) -> Iterator[BlockingChannel]:
    """A channel on a connection of its own to the first address that accepts one, closed
    afterwards: for declaring topology (the publishers' connections are asynchronous)."""
    conn = connect(value)
    try:
        yield conn.channel()
    finally:
        with contextlib.suppress(*AMQP_ERRORS):
            conn.close()


def redact(value: str) -> str:
    """The addresses of ``INVOICING_AMQP_URL`` without user, password or query, for logs."""
    from urllib.parse import urlsplit

    out = []
    for url in broker_urls(value):
        parts = urlsplit(url)
        out.append(f"{parts.scheme}://{parts.hostname or ''}:{parts.port or ''}{parts.path}")
    return ", ".join(out)


def places(value: str) -> list[str]:
    """Each address as ``amqp HOST:PORT vhost VHOST`` (default port and vhost filled in), no
    credentials: how health and error lines name a broker."""
    from urllib.parse import unquote, urlsplit

    out = []
    for url in broker_urls(value):
        parts = urlsplit(url)
        port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
        vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
        out.append(f"amqp {parts.hostname}:{port} vhost {vhost}")
    return out


#: a publish on a connection read from longer ago than this checks it first (``keepalive``)
IDLE_CHECK_S = 1.0


#: how long closing a connection waits for the broker's close-ok
CLOSE_TIMEOUT_S = 5.0


def _wake() -> None:
    """A timer that only bounds a wait for I/O (``IOLoop.poll`` waits until the next timer)."""


def _open_timeout_s(params: list[pika.URLParameters]) -> float:
    """A bound on opening a connection: pika's connection workflow tries every address
    ``connection_attempts`` times, each attempt bounded by its ``stack_timeout``; this adds a
    margin beyond it, so that a workflow that never reports is given up on."""
    attempts: float = sum(
        (p.stack_timeout or 15.0) * p.connection_attempts
        + p.retry_delay * (p.connection_attempts - 1)
        for p in params
    )
    return 5.0 + attempts


class PublishError(Exception):
    """The broker did not confirm some messages (they may or may not have arrived)."""


class Unroutable(PublishError):
    """Every message was confirmed, but some were returned: no queue took them (mandatory)."""


@dataclass
class Outgoing:
    exchange: str
    routing_key: str
    body: bytes
    properties: pika.BasicProperties
    mandatory: bool = True


@dataclass
class _Batch:
    """What the broker has answered of the batch being published (one at a time)."""

    #: delivery tags not confirmed yet
    waiting: set[int] = field(default_factory=set)
    #: delivery tags the broker nacked
    nacked: set[int] = field(default_factory=set)
    #: message ids the broker returned (unroutable, mandatory)
    returned: set[str] = field(default_factory=set)


class ConfirmingPublisher:
    """Publishes batches with publisher confirms on pika's asynchronous connection
    (``SelectConnection``), driven in the caller's thread: between two calls nothing runs,
    and each call runs the connection's I/O and timers until what it waits for has happened,
    the connection is lost, or its deadline passes. Only pika's public API is used:
    ``SelectConnection.create_connection`` (the addresses in turn),
    ``Channel.confirm_delivery``, ``add_on_return_callback``, ``add_on_close_callback`` and
    ``basic_publish``, and the IOLoop's ``call_later``, ``remove_timeout``, ``poll`` and
    ``process_timeouts``. Not thread-safe: one publisher per thread."""

    def __init__(self, url: str, *, confirm_timeout_s: float = 30.0) -> None:
        self.url = url
        self.confirm_timeout_s = confirm_timeout_s
        self._ioloop: IOLoop | None = None
        self._connection: Any = None
        self._channel: Any = None
        #: why the connection or its channel closed under this publisher (None while both
        #: stand)
        self._lost: BaseException | None = None
        self._next_tag = 0
        self._batch = _Batch()
        #: when the connection was last read (a confirm, a keepalive)
        self._last_io = 0.0
        #: connections opened so far (a reconnect counts one more)
        self.connections_opened = 0

    # ----------------------------------------------------------------- connection

    def _open(self) -> None:
        if self.is_open and self._idle_for() > IDLE_CHECK_S:
            # a connection idle for a while may have been closed by the broker (missed
            # heartbeats, a node that went away): reading what is pending notices that
            self.keepalive()
        if self.is_open:
            return
        self.close()
        ioloop = IOLoop()
        ioloop.activate_poller()
        self._ioloop = ioloop
        self._lost = None
        opened: list[Any] = []
        failed: list[BaseException] = []

        def connected(result: Any) -> None:
            if isinstance(result, BaseException):
                failed.append(result)
                return
            self._connection = result
            result.add_on_close_callback(self._on_lost)
            result.channel(on_open_callback=channel_open)

        def channel_open(channel: Any) -> None:
            channel.add_on_close_callback(self._on_lost)
            channel.add_on_return_callback(self._on_return)
            channel.confirm_delivery(
                ack_nack_callback=self._on_confirm, callback=lambda _frame: opened.append(channel)
            )

        params = connection_parameters(self.url)
        workflow = SelectConnection.create_connection(params, connected, custom_ioloop=ioloop)
        try:
            self._run(lambda: bool(opened or failed), _open_timeout_s(params), "connection")
        except PublishError:
            workflow.abort()
            raise
        if failed:
            # as pika's BlockingConnection reports a connection that none of the addresses
            # accepted
            raise pika.exceptions.AMQPConnectionError(failed[0])
        self._channel = opened[0]
        self.connections_opened += 1
        self._next_tag = 0
        self._batch = _Batch()
        self._last_io = time.monotonic()

    def _run(
        self, done: Callable[[], bool], timeout_s: float, what: str, *, raise_lost: bool = True
    ) -> None:
        """Run the connection's I/O and timers until ``done()``; raise the reason if the
        connection or its channel closes first (unless ``raise_lost`` is false),
        ``PublishError`` after ``timeout_s`` (a timer of that delay bounds each wait for I/O)."""
        ioloop = self._ioloop
        assert ioloop is not None
        deadline = time.monotonic() + timeout_s
        timer = ioloop.call_later(timeout_s, _wake)
        try:
            while not done():
                if raise_lost and self._lost is not None:
                    raise self._lost
                if time.monotonic() >= deadline:
                    raise PublishError(f"no {what} within {timeout_s}s")
                ioloop.poll()
                ioloop.process_timeouts()
        finally:
            ioloop.remove_timeout(timer)

    def _on_lost(self, _source: Any, reason: BaseException) -> None:
        if self._lost is None:
            self._lost = reason

    def _idle_for(self) -> float:
        """Seconds since this publisher last read from its connection."""
        return time.monotonic() - self._last_io

    @property
    def is_open(self) -> bool:
        return self._lost is None and self._channel is not None and self._channel.is_open

    def keepalive(self) -> None:
        """Answer the broker's heartbeats and read what is pending, without blocking.

        The connection does I/O only inside this publisher's calls, so a process that waits
        elsewhere (the relay on PostgreSQL) calls this at least once per heartbeat interval,
        or the broker drops the connection. A connection found closed is dropped here; the
        next publish opens a new one.
        """
        if self._ioloop is None:
            return
        try:
            self._pump()
        except AMQP_ERRORS:
            self.close()
            return
        self._last_io = time.monotonic()
        if not self.is_open:
            self.close()

    def _pump(self) -> None:
        """Process what the connection has ready (frames, due timers such as heartbeats)
        without waiting: a timer due at once bounds the wait for I/O to zero."""
        ioloop = self._ioloop
        assert ioloop is not None
        timer = ioloop.call_later(0, _wake)
        try:
            ioloop.poll()
            ioloop.process_timeouts()
        finally:
            ioloop.remove_timeout(timer)

    def close(self) -> None:
        """Close the connection, waiting briefly for the broker's answer, and its loop."""
        ioloop, conn = self._ioloop, self._connection
        if ioloop is None:
            return
        try:
            if conn is not None and conn.is_open:
                with contextlib.suppress(*AMQP_ERRORS, PublishError):
                    conn.close()
                    self._run(
                        lambda: bool(conn.is_closed), CLOSE_TIMEOUT_S, "close", raise_lost=False
                    )
        finally:
            self._ioloop, self._connection, self._channel = None, None, None
            ioloop.close()

    # ----------------------------------------------------------------- callbacks

    def _on_confirm(self, frame: Any) -> None:
        """A ``basic.ack`` or ``basic.nack`` of one tag, or with ``multiple`` of every tag up
        to it: settles those of the batch being published (only it can have tags waiting)."""
        method = frame.method
        tag, batch = int(method.delivery_tag), self._batch
        settled = [t for t in batch.waiting if t <= tag] if method.multiple else [tag]
        batch.waiting.difference_update(settled)
        if not isinstance(method, pika.spec.Basic.Ack):
            batch.nacked.update(settled)

    def _on_return(self, _channel: Any, _method: Any, properties: Any, _body: bytes) -> None:
        self._batch.returned.add(str(properties.message_id))

    # ----------------------------------------------------------------- publishing

    def publish_batch(self, messages: list[Outgoing]) -> None:
        """Publish and wait for every confirm; raise PublishError unless all were confirmed."""
        if not messages:
            return
        try:
            self._open()
            channel, batch = self._channel, _Batch()
            self._batch = batch
            for msg in messages:
                channel.basic_publish(
                    exchange=msg.exchange,
                    routing_key=msg.routing_key,
                    body=msg.body,
                    properties=msg.properties,
                    mandatory=msg.mandatory,
                )
                self._next_tag += 1
                batch.waiting.add(self._next_tag)
            # confirms may come in any order (RabbitMQ's documentation): wait for every one
            self._run(lambda: not batch.waiting, self.confirm_timeout_s, "confirm")
        except AMQP_ERRORS as exc:
            self.close()
            raise PublishError(f"{type(exc).__name__}: {exc}") from exc
        except PublishError:
            self.close()
            raise
        self._last_io = time.monotonic()
        returned = [m for m in messages if str(m.properties.message_id) in batch.returned]
        if batch.nacked or returned:
            error = Unroutable if not batch.nacked else PublishError
            raise error(f"{len(batch.nacked)} nacked, {len(returned)} unroutable (returned)")

    def publish(self, message: Outgoing) -> None:
        self.publish_batch([message])
