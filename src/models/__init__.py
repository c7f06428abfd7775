"""SQLAlchemy 2 typed models. The schema exists only through the Alembic migrations here.

Modules that define tables are imported below so that ``Base.metadata`` knows every table.
"""

from invoicing.models import core as core
from invoicing.models import dead_letters as dead_letters
from invoicing.models import deliveries as deliveries
from invoicing.models import documents as documents
from invoicing.models import dunning as dunning
from invoicing.models import exports as exports
from invoicing.models import pipeline as pipeline
from invoicing.models.base import Base as Base
from invoicing.models.core import (
    BillableEntry as BillableEntry,
)
from invoicing.models.core import (
    Budget as Budget,
)
from invoicing.models.core import (
    Customer as Customer,
)
from invoicing.models.core import (
    CustomerCreditEntry as CustomerCreditEntry,
)
from invoicing.models.core import (
    CustomerPayment as CustomerPayment,
)
from invoicing.models.core import (
    DeletedCreditEntry as DeletedCreditEntry,
)
from invoicing.models.core import (
    DeletedPayment as DeletedPayment,
)
from invoicing.models.core import (
    Invoice as Invoice,
)
from invoicing.models.core import (
    InvoiceLine as InvoiceLine,
)
from invoicing.models.core import (
    NumberSeries as NumberSeries,
)
from invoicing.models.core import (
    Organization as Organization,
)
from invoicing.models.core import (
    OutboxEvent as OutboxEvent,
)
from invoicing.models.core import (
    Payment as Payment,
)
from invoicing.models.core import (
    ProcessedCommand as ProcessedCommand,
)
from invoicing.models.core import (
    Subsidiary as Subsidiary,
)
from invoicing.models.core import (
    WriteOffId as WriteOffId,
)
