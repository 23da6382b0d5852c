"""Typed errors of the domain, each with a stable ``type`` string.

Tree::

    DomainError
    ├── InvalidInput        bad event or master data; names the field (``field``)
    │   ├── InvalidInputs   several at once (``errors``; the first is also ``field``)
    │   ├── UnknownField    a field the contract does not define
    │   ├── ImmutableField  a store field that may not change once the store has postings
    │   └── PanDetected     a card number or CVV in the input; the body is never kept
    └── (posting outcomes are values, not exceptions: see ``posting.Parked``)
"""

from __future__ import annotations

__all__ = ["grouped", "raise_all", "DomainError", "InvalidInput", "InvalidInputs", "UnknownField", "ImmutableField", "PanDetected"]


class DomainError(Exception):
    type: str = "domain_error"


class InvalidInput(DomainError):
    """Input that breaks the contract. ``field`` is a path such as ``payload.lines[0].qty``."""

    type = "invalid_event"

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail

    @property
    def errors(self) -> list[InvalidInput]:
        """Every field error (CONTRACT section 7: a problem lists them all at once)."""
        return [self]


class InvalidInputs(InvalidInput):
    """Several field errors of one input, found at once; the first one is also its ``field``,
    ``detail`` and ``type``."""

    def __init__(self, errors: list[InvalidInput]) -> None:
        if not errors:
            raise ValueError("InvalidInputs needs at least one error")
        first = errors[0]
        super().__init__(first.field, first.detail)
        self.type = first.type
        self._errors = list(errors)

    @property
    def errors(self) -> list[InvalidInput]:
        return self._errors


def grouped(errors: list[InvalidInput]) -> InvalidInput:
    """The one error, or all of them as one ``InvalidInputs``."""
    flat = [e for error in errors for e in error.errors]
    return flat[0] if len(flat) == 1 else InvalidInputs(flat)


def raise_all(errors: list[InvalidInput]) -> None:
    """Raise what ``errors`` holds, if anything: the one error, or all of them."""
    if errors:
        raise grouped(errors)


class UnknownField(InvalidInput):
    """A field the contract does not define (CONTRACT section 2: fields are closed)."""

    type = "unknown_field"


class ImmutableField(InvalidInput):
    """A field that may not change any more: a store's currency, tax mode, timezone or cut-off
    once the store has postings (its history would be relabelled)."""

    type = "immutable_field"


class PanDetected(InvalidInput):
    """A full card number or a CVV field. The message never repeats the number."""

    type = "pan_detected"
