"""The read side: queries served request/reply and by the ``invoicing query`` CLI.

``run_query(query, session)`` runs a validated query document (src/schemas/queries.py) in the
caller's session; ``execute(query, engine)`` in one read-only transaction. A raw query document
is decoded, authenticated (``invoices:read``) and validated by the pipeline
(``invoicing.pipeline.Pipeline.query_raw`` / ``query_document``) before it gets here.
"""

from invoicing.queries.dispatch import execute as execute
from invoicing.queries.dispatch import run_query as run_query
