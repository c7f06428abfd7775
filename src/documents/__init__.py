"""Documents the service produces from an invoice state (PDF, e-invoices)."""
