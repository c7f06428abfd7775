"""The message pipeline, the same for commands and queries: decode, authenticate, validate,
translate errors, then dispatch -- commands through the inbox, their handler and the outbox in
one transaction, queries to their read function. Handlers never see AMQP or JSON.

``Pipeline.handle_raw(body, transport)`` is the entry point for commands (an ``Outcome``;
``RetryLater`` to run it again later), ``Pipeline.query_raw(body, transport)`` for queries.
"""

from invoicing.pipeline.core import Outcome as Outcome
from invoicing.pipeline.core import Pipeline as Pipeline
from invoicing.pipeline.core import RetryLater as RetryLater
from invoicing.pipeline.core import Transport as Transport
