"""posledger: POS events in, stock ledger, general ledger and invoices out."""

__version__ = "0.1.0"
