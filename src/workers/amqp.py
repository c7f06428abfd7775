"""A pika publisher with publisher confirms and mandatory routing, confirming whole batches.

``publish_batch`` sends every message, then waits until RabbitMQ has confirmed all of them
(``basic.ack``), reporting nacked and returned (unroutable) ones as failures. Confirming a batch
costs one round trip instead of one per message. The wait blocks in pika until the confirm that
settles the batch arrives: the confirm callback then schedules a zero-delay timer, which ends
``process_data_events`` at once (pika's blocking wait ends on a ready timer, not on a callback
of the channel underneath) -- no polling loop. Any connection problem raises
``PublishError`` and the connection is rebuilt on the next call; the caller decides what to
retry (nothing is ever reported as published unless the broker confirmed it).
"""

from __future__ import annotations

import contextlib
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pika  # type: ignore[import-untyped]
import pika.exceptions  # type: ignore[import-untyped]
from pika.adapters.blocking_connection import (  # type: ignore[import-untyped]
    BlockingChannel,
    BlockingConnection,
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


def _wake() -> None:
    """The zero-delay timer that ends a blocking ``process_data_events``."""


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
class _Pending:
    confirmed: set[int] = field(default_factory=set)
    nacked: set[int] = field(default_factory=set)
    returned: set[str] = field(default_factory=set)


class ConfirmingPublisher:
    def __init__(self, url: str, *, confirm_timeout_s: float = 30.0) -> None:
        self.url = url
        self.confirm_timeout_s = confirm_timeout_s
        self._connection: BlockingConnection | None = None
        self._channel: BlockingChannel | None = None
        self._next_tag = 0
        self._pending = _Pending()
        #: the delivery tags ``publish_batch`` waits for; the confirm settling the last one
        #: wakes the wait
        self._awaited: set[int] = set()
        #: when the connection was last read (a confirm, a keepalive)
        self._last_io = 0.0
        #: connections opened so far (a reconnect counts one more)
        self.connections_opened = 0

    # ----------------------------------------------------------------- connection

    def _open(self) -> BlockingChannel:
        if self._channel is not None and self._channel.is_open and self._idle_for() > IDLE_CHECK_S:
            # a connection idle for a while may have been closed by the broker (missed
            # heartbeats, a node that went away): reading what is pending notices that
            self.keepalive()
        if self._channel is not None and self._channel.is_open:
            return self._channel
        self.close()
        self._connection = connect(self.url)
        self.connections_opened += 1
        channel = self._connection.channel()
        # pika's one private attribute we use, on purpose: the asynchronous channel under the
        # blocking one, for confirms without one round trip per message (BlockingChannel's
        # public confirm mode blocks on every publish). The public batching alternative, AMQP
        # transactions, loses a refusal on RabbitMQ 3.10: a quorum queue at its length limit
        # drops a message published in a transaction and still answers tx.commit-ok, where
        # confirm mode nacks it. pika is pinned below 2 (pyproject.toml, requirements.lock);
        # tests/integration/test_publisher_confirms.py runs this path against the broker.
        impl: Any = channel._impl
        impl.confirm_delivery(ack_nack_callback=self._on_confirm, callback=None)
        impl.add_on_return_callback(self._on_return)
        self._connection.process_data_events(time_limit=0)
        self._channel = channel
        self._next_tag = 0
        self._pending = _Pending()
        self._last_io = time.monotonic()
        return channel

    def _idle_for(self) -> float:
        """Seconds since this publisher last read from its connection."""
        return time.monotonic() - self._last_io

    @property
    def channel(self) -> BlockingChannel:
        return self._open()

    @property
    def is_open(self) -> bool:
        return self._channel is not None and self._channel.is_open

    def keepalive(self) -> None:
        """Answer the broker's heartbeats and read what is pending, without blocking.

        pika's ``BlockingConnection`` only does I/O inside its own calls, so a process that
        waits elsewhere (the relay on PostgreSQL) calls this at least once per heartbeat
        interval, or the broker drops the connection. A connection found closed is dropped
        here; the next publish opens a new one.
        """
        if self._connection is None:
            return
        try:
            self._connection.process_data_events(time_limit=0)
        except AMQP_ERRORS:
            self.close()
            return
        self._last_io = time.monotonic()
        if not self.is_open:
            self.close()

    def close(self) -> None:
        conn, self._connection, self._channel = self._connection, None, None
        if conn is not None and conn.is_open:
            with contextlib.suppress(*AMQP_ERRORS):
                conn.close()

    # ----------------------------------------------------------------- callbacks

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        tag, multiple = int(method.delivery_tag), bool(method.multiple)
        target = (
            self._pending.confirmed
            if isinstance(method, pika.spec.Basic.Ack)
            else self._pending.nacked
        )
        if multiple:
            settled = self._pending.confirmed | self._pending.nacked
            target.update(t for t in range(1, tag + 1) if t not in settled)
        else:
            target.add(tag)
        if self._awaited and self._settled(self._awaited) and self._connection is not None:
            self._awaited = set()
            self._connection.call_later(0, _wake)

    def _settled(self, tags: Iterable[int]) -> bool:
        pending = self._pending
        return all(t in pending.confirmed or t in pending.nacked for t in tags)

    def _on_return(self, _channel: Any, _method: Any, properties: Any, _body: bytes) -> None:
        self._pending.returned.add(str(properties.message_id))

    # ----------------------------------------------------------------- publishing

    def publish_batch(self, messages: list[Outgoing]) -> None:
        """Publish and wait for every confirm; raise PublishError unless all were confirmed."""
        if not messages:
            return
        try:
            channel = self._open()
            impl: Any = channel._impl
            tags: dict[int, Outgoing] = {}
            for msg in messages:
                impl.basic_publish(
                    exchange=msg.exchange,
                    routing_key=msg.routing_key,
                    body=msg.body,
                    properties=msg.properties,
                    mandatory=msg.mandatory,
                )
                self._next_tag += 1
                tags[self._next_tag] = msg
            deadline = time.monotonic() + self.confirm_timeout_s
            assert self._connection is not None
            self._awaited = set(tags)
            while not self._settled(tags):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PublishError(f"no confirm within {self.confirm_timeout_s}s")
                # blocks until the last confirm (its callback's timer ends the wait) or ``left``
                self._connection.process_data_events(time_limit=left)
        except AMQP_ERRORS as exc:
            self.close()
            raise PublishError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            self._awaited = set()
        self._last_io = time.monotonic()
        nacked = [t for t in tags if t in self._pending.nacked]
        returned = [
            t for t, m in tags.items() if str(m.properties.message_id) in self._pending.returned
        ]
        self._pending.confirmed.difference_update(tags)
        self._pending.nacked.difference_update(tags)
        if nacked or returned:
            self._pending.returned.clear()
            error = Unroutable if not nacked else PublishError
            raise error(f"{len(nacked)} nacked, {len(returned)} unroutable (returned)")

    def publish(self, message: Outgoing) -> None:
        self.publish_batch([message])
