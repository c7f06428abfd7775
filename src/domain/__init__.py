"""Pure domain rules: money, tax, totals, numbering, states. No I/O here."""
