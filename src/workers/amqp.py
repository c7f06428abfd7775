"""A pika publisher with publisher confirms and mandatory routing, confirming whole batches.

``publish_batch`` sends every message, then waits until RabbitMQ has confirmed all of them
(``basic.ack``), reporting nacked and returned (unroutable) ones as failures. Confirming a batch
costs one round trip instead of one per message. Any connection problem raises
``PublishError`` and the connection is rebuilt on the next call; the caller decides what to
retry (nothing is ever reported as published unless the broker confirmed it).
"""

from __future__ import annotations

import contextlib
import time
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

    # ----------------------------------------------------------------- connection

    def _open(self) -> BlockingChannel:
        if self._channel is not None and self._channel.is_open:
            return self._channel
        self.close()
        self._connection = pika.BlockingConnection(pika.URLParameters(self.url))
        channel = self._connection.channel()
        impl: Any = channel._impl  # the asynchronous channel: confirms without blocking per message
        impl.confirm_delivery(ack_nack_callback=self._on_confirm, callback=None)
        impl.add_on_return_callback(self._on_return)
        self._connection.process_data_events(time_limit=0)
        self._channel = channel
        self._next_tag = 0
        self._pending = _Pending()
        return channel

    @property
    def channel(self) -> BlockingChannel:
        return self._open()

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
            while True:
                settled = self._pending.confirmed | self._pending.nacked
                if all(t in settled for t in tags):
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PublishError(f"no confirm within {self.confirm_timeout_s}s")
                # callbacks on the underlying channel do not end a blocking wait early: poll
                self._connection.process_data_events(time_limit=min(left, 0.002))
        except AMQP_ERRORS as exc:
            self.close()
            raise PublishError(f"{type(exc).__name__}: {exc}") from exc
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
