"""Handlers: one short function per command, inside a unit of work.

Importing this package registers every handler in ``registry.HANDLERS``.
"""

from invoicing.handlers import (  # noqa: F401  (registration)
    allocations,
    billing,
    budgets,
    credit_notes,
    exports,
    integrations,
    invoices,
    lifecycle,
    organizations,
    payments,
    subsidiaries,
    writeoffs,
)
from invoicing.handlers import dunning as dunning
from invoicing.handlers import sending as sending
from invoicing.handlers import sharing as sharing
