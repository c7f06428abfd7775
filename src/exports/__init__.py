"""Accounting exports: DATEV EXTF (Buchungsstapel + Debitoren/Kreditoren) and invoice CSV.

Pure formatting lives in :mod:`invoicing.exports.datev` and :mod:`invoicing.exports.csv_export`;
the database side (streaming queries, debtor accounts, export marks) in
:mod:`invoicing.exports.datev_db`; the per-organization DATEV configuration in
:mod:`invoicing.exports.settings`.
"""
