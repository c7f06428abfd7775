"""Human-readable documents: invoices, credit notes and quotes as PDF/A-3b (Typst + Jinja2).

``render_pdf(state)`` is the entry point; see docs/pdf.md for the engine choice.
"""

from invoicing.documents.pdf.engine import PdfRenderer as PdfRenderer
from invoicing.documents.pdf.engine import render_pdf as render_pdf
from invoicing.documents.pdf.payment import display_ogm as display_ogm
from invoicing.documents.pdf.view import payment_reference as payment_reference
