"""The public contract: command and event documents, errors, queries."""

from invoicing.schemas import commands as commands
from invoicing.schemas import documents as documents
from invoicing.schemas import dunning as dunning
from invoicing.schemas import events as events
from invoicing.schemas import examples as examples
from invoicing.schemas import exports as exports
from invoicing.schemas import integrations as integrations
from invoicing.schemas import sending as sending
from invoicing.schemas import sharing as sharing
