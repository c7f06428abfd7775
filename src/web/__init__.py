"""The hosted invoice page (``invoicing web``): what a share link opens.

A small Starlette application on uvicorn. For a valid share token (``publish_invoice``) it
shows the invoice in the recipient's language (the PDF's own view model,
``invoicing.documents.pdf.view``), offers its stored PDF and e-invoice XML, the payment details
with the EPC QR code and the Belgian structured communication, and the payment status. Nothing
else of the organization is reachable. It reads through its own read-only database engine.
"""
