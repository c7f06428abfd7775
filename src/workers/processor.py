"""The command actor's one step: hand a delivery to the message pipeline.

This is the ONE place where the worker calls the pipeline's entry point. Everything around
it -- crash loops, transient retries, delayed retries, dead letters, metrics -- is a dramatiq
middleware (src/workers/middleware.py) acting on the ``Delivery`` this step leaves behind.
"""

from __future__ import annotations

from invoicing.pipeline import Outcome, Pipeline
from invoicing.workers.delivery import Delivery


class CommandProcessor:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def __call__(self, delivery: Delivery) -> Outcome:
        """decode, authenticate, validate, run in one transaction: the pipeline's outcome."""
        return self.pipeline.handle_raw(
            delivery.body,
            delivery.transport,
            retry_missing=delivery.retry_missing,
            decoded=delivery.decoded(),  # decoded once, when its identity was read
        )
