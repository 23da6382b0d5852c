"""``check``: the contract's invariants (section 5) verified against what is stored, and the
balances kept at posting verified against the journal they summarise.

A full check walks every journal line and stock move. An incremental check starts from the
checkpoint of the last passing run (the totals verified up to a journal entry id and a stock move
id, both in posting order) and reads only what was posted since: the journal lines after the
entry id, the moves after the move id, the store-days they touched, the documents numbered after
the last verified number of each series. What it compares is bounded by the chart of accounts,
the stores, the SKUs per location and the series, never by history. A run that finds a problem
keeps the old checkpoint, so the next run looks again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from posledger.app.clock import Clock
from posledger.app.master_data import snapshot
from posledger.app.ports import CheckPoint, UnitOfWork, UnitOfWorkFactory

__all__ = ["InvariantReport", "check_invariants", "verify", "run_check", "rebuild_projections"]

Sums = dict[tuple[str, str], tuple[int, int]]
K = TypeVar("K")


@dataclass(slots=True)
class InvariantReport:
    """CONTRACT section 5's invariants, checked against what is stored."""

    ledger_balanced: bool
    unbalanced_stores: list[str]
    inventory_mismatches: dict[str, tuple[int, int]]  # store: (GL 1300, stock value)
    on_hand_mismatches: list[tuple[str, str]]
    events_posted_twice: list[str]
    series_with_gaps: list[str]
    # Balances kept at posting that differ from the journal: "store/account" or "day/store/account".
    balance_mismatches: list[str] = field(default_factory=list)
    scope: str = "full"  # or "incremental"
    entries_checked: int = 0  # journal entries read this run (all of them when full)
    moves_checked: int = 0

    @property
    def ok(self) -> bool:
        return (self.ledger_balanced and not self.unbalanced_stores
                and not self.inventory_mismatches and not self.on_hand_mismatches
                and not self.events_posted_twice and not self.series_with_gaps
                and not self.balance_mismatches)

    def problems(self) -> list[str]:
        """What is wrong, one sentence each, for a person to read (empty when ``ok``)."""
        found = [] if self.ledger_balanced else ["debits do not equal credits across the journal"]
        found += [f"store {store}: its journal does not balance" for store in self.unbalanced_stores]
        found += [f"store {store}: inventory account 1300 holds {gl / 100:,.2f} but its stock is worth "
                  f"{stock / 100:,.2f}" for store, (gl, stock) in self.inventory_mismatches.items()]
        found += [f"SKU {sku} at {location}: on hand differs from the sum of its stock moves"
                  for sku, location in self.on_hand_mismatches]
        found += [f"event {event}: posted more than once" for event in self.events_posted_twice]
        found += [f"document series {series}: numbers have a gap" for series in self.series_with_gaps]
        found += [f"kept balance {key}: differs from the journal (`posledger rebuild` recomputes it)"
                  for key in self.balance_mismatches]
        return found


def _add(base: Sums, more: Sums) -> Sums:
    total = dict(base)
    for key, (a, b) in more.items():
        before = total.get(key, (0, 0))
        total[key] = (before[0] + a, before[1] + b)
    return total


def _nonzero(sums: dict[K, tuple[int, int]]) -> dict[K, tuple[int, int]]:
    return {key: value for key, value in sums.items() if value != (0, 0)}


def verify(uow: UnitOfWork, since: CheckPoint | None, checked_at: str = "") -> tuple[InvariantReport, CheckPoint]:
    """Check everything (``since`` None) or what was posted after ``since``; returns the report
    and the checkpoint to keep if it passes. Read in one snapshot (see ``run_check``)."""
    checks = uow.checks
    last_entry, last_move = checks.last_ids()
    start_entry, start_move = (since.entry_id, since.move_id) if since else (0, 0)
    mismatches: list[str] = []

    # The journal, summed per store and account, against the balances kept at posting.
    journal = _add(since.account_sums if since else {}, checks.line_sums(start_entry))
    kept = checks.account_balances()
    for key in sorted(set(_nonzero(journal)) | set(_nonzero(kept))):
        if journal.get(key, (0, 0)) != kept.get(key, (0, 0)):
            mismatches.append("/".join(key))
    # Daily balances: every day on a full run; the store-days posted to since, otherwise.
    store_days = None if since is None else checks.store_days_after(start_entry)
    if store_days is None or store_days:
        daily_journal, daily_kept = checks.daily_line_sums(store_days), checks.daily_balances(store_days)
        for day_key in sorted(set(daily_journal) | set(_nonzero(daily_kept))):
            if daily_journal.get(day_key, (0, 0)) != daily_kept.get(day_key, (0, 0)):
                mismatches.append("/".join(day_key))

    # The day summary's tenders and taxes by rate, kept at posting, against the journal and the
    # documents (a full run: they are read per day, not per entry).
    if since is None:
        kept_days, recomputed_days = checks.day_figures(recomputed=False), checks.day_figures(recomputed=True)
        mismatches += ["/".join(key) for key in sorted(set(kept_days) | set(recomputed_days))
                       if kept_days.get(key) != recomputed_days.get(key)]

    # Debits equal credits, consolidated and per store; the GL's inventory equals the stock
    # ledger's value per store (both from the verified sums).
    balanced = sum(d for d, _ in journal.values()) == sum(c for _, c in journal.values())
    master = snapshot(uow, ("stores",))
    stock_values = uow.queries.stock_value_by_store()
    per_store: dict[str, list[int]] = {}
    for (store_id, account), (debit, credit) in journal.items():
        totals = per_store.setdefault(store_id, [0, 0, 0])
        totals[0] += debit
        totals[1] += credit
        if account == "1300":
            totals[2] += debit - credit
    unbalanced, inventory = [], {}
    for store_id in sorted(set(master.stores) | set(stock_values) | set(per_store)):
        debit, credit, gl_inventory = per_store.get(store_id, [0, 0, 0])
        if debit != credit:
            unbalanced.append(store_id)
        if gl_inventory != stock_values.get(store_id, 0):
            inventory[store_id] = (gl_inventory, stock_values.get(store_id, 0))

    # Stock positions against the moves they sum.
    moves = _add(since.stock_sums if since else {}, checks.move_sums(start_move))
    on_hand = []
    positions = set()
    for row in uow.queries.stock(None, None):
        positions.add((row.sku, row.location_id))
        if moves.get((row.sku, row.location_id), (0, 0)) != (row.position.on_hand, row.position.value):
            on_hand.append((row.sku, row.location_id))
    on_hand.extend(key for key, sums in moves.items() if key not in positions and sums != (0, 0))

    # Document numbers: each series gapless up to its last number.
    checked_series = since.series if since else {}
    gaps, series_now = [], {}
    for series, (last_number, issued_since, highest) in sorted(checks.series_counts(checked_series).items()):
        since_number = checked_series.get(series, 0)
        if highest != last_number or issued_since != last_number - since_number:
            gaps.append(series)
        series_now[series] = last_number

    report = InvariantReport(
        balanced, unbalanced, inventory, sorted(on_hand), checks.events_posted_twice(start_entry), gaps,
        mismatches, "incremental" if since else "full", last_entry - start_entry, last_move - start_move)
    checkpoint = CheckPoint(last_entry, last_move, checked_at, journal, moves, series_now)
    return report, checkpoint


def check_invariants(uow: UnitOfWork) -> InvariantReport:
    """A full check inside the caller's unit of work (tests, the demo, benchmarks)."""
    return verify(uow, None)[0]


def run_check(uow_factory: UnitOfWorkFactory, *, full: bool = False, clock: Clock) -> InvariantReport:
    """``posledger check``: incremental from the last passing run unless ``full`` (or there is
    none); a passing run moves the checkpoint. The reading runs in a *settled* snapshot, where
    every journal and stock id handed out before it is committed, so that "after id X" next
    time misses nothing posted concurrently."""
    now = clock.now()

    def read(uow: UnitOfWork) -> tuple[InvariantReport, CheckPoint]:
        return verify(uow, None if full else uow.checks.checkpoint(), now)

    report, checkpoint = uow_factory.run(read, read_only=True, settled=True, operation="check")
    if report.ok:
        uow_factory.run(lambda uow: uow.checks.save_checkpoint(checkpoint), operation="check checkpoint",
                        idempotent=True)
    return report


def rebuild_projections(uow_factory: UnitOfWorkFactory) -> dict[str, int]:
    """Rebuild what is kept beside the journal (balances per store and account, per day, and the
    open-exception gauges) from the records themselves, in one transaction."""

    def work(uow: UnitOfWork) -> dict[str, int]:
        accounts, days = uow.checks.rebuild_balances()
        gauges = uow.checks.rebuild_exception_counts()
        return {"account_balances": accounts, "daily_balances": days, "open_exception_counts": gauges}

    return uow_factory.run(work, operation="rebuild projections", idempotent=True)
