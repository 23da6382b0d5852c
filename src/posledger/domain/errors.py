"""Typed errors of the domain, each with a stable ``type`` string.

Tree::

    DomainError
    ├── InvalidInput        bad event or master data; names the field (``field``)
    │   ├── ImmutableField  a store field that may not change once the store has postings
    │   └── PanDetected     a card number or CVV in the input; the body is never kept
    └── (posting outcomes are values, not exceptions: see ``posting.Parked``)
"""

from __future__ import annotations

__all__ = ["DomainError", "InvalidInput", "ImmutableField", "PanDetected"]


class DomainError(Exception):
    type: str = "domain_error"


class InvalidInput(DomainError):
    """Input that breaks the contract. ``field`` is a path such as ``payload.lines[0].qty``."""

    type = "invalid_event"

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail


class ImmutableField(InvalidInput):
    """A field that may not change any more: a store's currency, tax mode, timezone or cut-off
    once the store has postings (its history would be relabelled)."""

    type = "immutable_field"


class PanDetected(InvalidInput):
    """A full card number or a CVV field. The message never repeats the number."""

    type = "pan_detected"
