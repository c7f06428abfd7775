"""Operators' view of the service: Prometheus metrics, their HTTP exposure, heartbeat and health.

Dependencies point inwards only: this package imports nothing of handlers, workers or web, so
any layer may record a metric (``invoicing.observability.metrics``).
"""
