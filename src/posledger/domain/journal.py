"""Journal entries: immutable, balanced, each line carrying its dimensions and its cause."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import msgspec

__all__ = ["JournalLine", "JournalEntry", "EntryBuilder", "residual"]


class JournalLine(msgspec.Struct, frozen=True, gc=False):
    """One side of a posting. Exactly one of ``debit`` and ``credit`` is positive.

    Attributes:
      account: chart-of-accounts code, e.g. ``"4000"``.
      debit, credit: minor units, never negative.
    """

    account: str
    debit: int
    credit: int


class JournalEntry(msgspec.Struct, frozen=True, gc=False):
    """A balanced entry for one store and business day, caused by ``event_id``."""

    store_id: str
    business_day: date
    register_id: str | None
    memo: str
    lines: tuple[JournalLine, ...]


def residual(lines: Iterable[JournalLine]) -> int:
    """Debits minus credits: zero for a balanced entry."""
    return sum(line.debit - line.credit for line in lines)


class EntryBuilder:
    """Collects signed amounts per account (positive = debit) and emits a balanced entry.

    Amounts on the same account and side are summed; a zero amount makes no line; a negative
    debit becomes a credit, so rules can be written as plain arithmetic.
    """

    __slots__ = ("_debits", "_credits")

    def __init__(self) -> None:
        self._debits: dict[str, int] = {}
        self._credits: dict[str, int] = {}

    def debit(self, account: str, amount: int) -> None:
        if amount > 0:
            debits = self._debits
            debits[account] = debits.get(account, 0) + amount
        elif amount < 0:
            credits = self._credits
            credits[account] = credits.get(account, 0) - amount

    def credit(self, account: str, amount: int) -> None:
        if amount > 0:
            credits = self._credits
            credits[account] = credits.get(account, 0) + amount
        elif amount < 0:
            debits = self._debits
            debits[account] = debits.get(account, 0) - amount

    def residual(self) -> int:
        return sum(self._debits.values()) - sum(self._credits.values())

    def lines(self) -> tuple[JournalLine, ...]:
        """Per account in code order, its debit line and then its credit line."""
        debits, credits = self._debits, self._credits
        result = []
        for account in sorted(debits.keys() | credits.keys()):
            debit = debits.get(account, 0)
            if debit:
                result.append(JournalLine(account, debit, 0))
            credit = credits.get(account, 0)
            if credit:
                result.append(JournalLine(account, 0, credit))
        return tuple(result)

    def build(self, store_id: str, business_day: date, register_id: str | None, memo: str) -> JournalEntry:
        unbalanced = self.residual()  # the sums the lines are made of
        if unbalanced != 0:
            raise AssertionError(f"unbalanced entry for {memo}: residual {unbalanced}")
        return JournalEntry(store_id, business_day, register_id, memo, self.lines())
