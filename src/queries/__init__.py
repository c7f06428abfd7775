"""The read side: queries served request/reply and by the ``invoicing query`` CLI.

``run_query(query, session)`` runs a validated query document (src/schemas/queries.py) in the
caller's session; ``handle_query(doc, engine, authenticator)`` validates, authenticates
(``invoices:read``) and answers a raw query document with a ``QueryReply``.
"""

from invoicing.queries.dispatch import execute as execute
from invoicing.queries.dispatch import handle_query as handle_query
from invoicing.queries.dispatch import run_query as run_query
