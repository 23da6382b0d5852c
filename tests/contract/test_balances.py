"""Balances kept at posting (issue 15), on both backends: the trial balance reads them and they
equal the journal; ``check`` is incremental from its checkpoint, finds a tampered balance, and
``rebuild`` restores them; reads run beside a writer without waiting for it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from posledger.app.checks import rebuild_projections, run_check
from posledger.app.queries import trial_balance
from tests.support.builders import line, receive, sale, tender
from tests.support.harness import FixedClock, Hub

CLOCK = FixedClock()


@contextmanager
def _posting_all_along(hub: Hub, batch: Callable[[int], list[dict[str, Any]]]) -> Iterator[list[BaseException]]:
    """A writer thread sending and posting ``batch(n)`` after ``batch(n - 1)`` until the block
    ends; yields the errors it met (for the caller to assert none)."""
    stop = threading.Event()
    failures: list[BaseException] = []

    def post() -> None:
        number = 0
        try:
            while not stop.is_set():
                hub.send_and_post(*batch(number))
                number += 1
        except BaseException as error:  # noqa: BLE001 - reported to the caller
            failures.append(error)

    writer = threading.Thread(target=post)
    writer.start()
    try:
        yield failures
    finally:
        stop.set()
        writer.join(30)


def _sales(count: int, start: int = 1, register: str = "S1-R1", at: str = "2026-11-22T10:15:03-05:00") -> list[dict[str, Any]]:
    return [sale([line("A", 1, 1299, tax=115), line("B", 2, 500, tax=40, line_no=2)], [tender("cash", 2494)],
                 receipt_no=f"B-{register}-{number}", register=register, at=at)
            for number in range(start, start + count)]


def _journal_sums(hub: Hub) -> dict[tuple[str, str], tuple[int, int]]:
    """The journal summed by hand (drill-down, every line), to compare the kept balances with."""
    with hub.uow() as uow:
        lines = uow.queries.entry_lines(account=None, store_id=None, business_day=None, event_offset=None,
                                        after=(0, 0), limit=1_000_000)
    sums: dict[tuple[str, str], tuple[int, int]] = {}
    for ln in lines:
        debit, credit = sums.get((ln.store_id, ln.account), (0, 0))
        sums[(ln.store_id, ln.account)] = (debit + ln.debit, credit + ln.credit)
    return sums


def test_the_trial_balance_reads_balances_that_equal_the_journal(hub: Hub) -> None:
    hub.send_and_post(receive("A", 50, 700), receive("B", 50, 200))
    hub.send_and_post(*_sales(5), *_sales(3, register="S1-R2", at="2026-11-23T09:00:00-05:00"))
    journal = _journal_sums(hub)
    with hub.uow() as uow:
        consolidated = trial_balance(uow)
        one_day = trial_balance(uow, None, *(2 * [__import__("datetime").date(2026, 11, 23)]))
    kept = {("S1", a["account"]): (a["debit"], a["credit"]) for a in consolidated["accounts"]}
    assert kept == journal
    assert one_day["totals"]["debit"] == one_day["totals"]["credit"] == 3 * 2494 + 3 * (700 + 2 * 200)
    assert consolidated["totals"]["debit"] == consolidated["totals"]["credit"]


def test_check_is_incremental_and_finds_a_tampered_balance(hub: Hub) -> None:
    hub.send_and_post(receive("A", 50, 700), receive("B", 50, 200), *_sales(10))
    first = run_check(hub.uow, clock=CLOCK)
    assert first.ok and first.scope == "full" and first.entries_checked >= 12, first
    hub.send_and_post(*_sales(2, start=11))
    second = run_check(hub.uow, clock=CLOCK)
    assert second.ok and second.scope == "incremental", second
    assert second.entries_checked == 2  # one entry per sale posted since: not the whole journal
    nothing = run_check(hub.uow, clock=CLOCK)
    assert nothing.ok and nothing.entries_checked == 0 and nothing.moves_checked == 0

    with hub.uow() as uow:  # a balance that no longer says what the journal says
        uow.db.execute("UPDATE account_balances SET debit = debit + 1 WHERE store_id = 'S1' AND account = '1000'")
        uow.commit()
    tampered = run_check(hub.uow, clock=CLOCK)
    assert not tampered.ok and tampered.balance_mismatches == ["S1/1000"], tampered
    assert not run_check(hub.uow, clock=CLOCK).ok  # a failing run keeps the old checkpoint

    rebuilt = rebuild_projections(hub.uow)
    assert rebuilt["account_balances"] > 0 and rebuilt["daily_balances"] > 0
    assert run_check(hub.uow, clock=CLOCK).ok
    assert run_check(hub.uow, full=True, clock=CLOCK).ok


def test_a_tampered_day_is_found_once_posted_to_again_and_always_by_a_full_check(hub: Hub) -> None:
    hub.send_and_post(receive("A", 50, 700), receive("B", 50, 200), *_sales(3))
    assert run_check(hub.uow, clock=CLOCK).ok
    with hub.uow() as uow:
        uow.db.execute("UPDATE daily_balances SET credit = credit + 5 WHERE account = '4000'")
        uow.commit()
    full = run_check(hub.uow, full=True, clock=CLOCK)
    assert not full.ok and full.balance_mismatches == ["2026-11-22/S1/4000"], full
    hub.send_and_post(*_sales(1, start=4))  # posts to that store-day: the incremental run reads it
    incremental = run_check(hub.uow, clock=CLOCK)
    assert not incremental.ok and incremental.balance_mismatches == ["2026-11-22/S1/4000"]


def test_the_checkpoint_misses_nothing_posted_while_checks_run(hub: Hub) -> None:
    """Checks run again and again while a writer thread posts: every incremental
    run passes, and the last one has seen every line."""
    hub.send_and_post(receive("A", 10_000, 700), receive("B", 10_000, 200))
    with _posting_all_along(hub, lambda n: _sales(5, start=100 + 5 * n, register="S1-R2")) as failures:
        reports = [run_check(hub.uow, clock=CLOCK) for _ in range(15)]
    assert not failures, failures
    assert all(report.ok for report in reports), [r for r in reports if not r.ok]
    assert sum(report.entries_checked for report in reports) > 0
    final = run_check(hub.uow, clock=CLOCK)
    assert final.ok and run_check(hub.uow, full=True, clock=CLOCK).ok


def test_reads_do_not_wait_for_an_open_write(hub: Hub) -> None:
    """A read-only unit of work runs on a reader connection while a write transaction is open."""
    hub.send_and_post(receive("A", 5, 700))
    with hub.uow() as writer:
        writer.db.execute("UPDATE account_balances SET debit = debit WHERE account = '1300'")
        done = threading.Event()
        seen: list[Any] = []

        def read() -> None:
            seen.append(hub.uow.run(lambda uow: trial_balance(uow)["totals"], read_only=True))
            done.set()

        reader = threading.Thread(target=read)
        reader.start()
        assert done.wait(5), "the read waited for the open write transaction"
        reader.join()
        writer.rollback()
    assert seen[0]["debit"] == 3500


def test_many_concurrent_reads_share_a_bounded_pool_of_reader_connections(hub: Hub) -> None:
    """Thirty reads at once, beside a write: each answers; no more reader connections than the
    bound are opened (the rest wait for one), and every one goes back to the pool."""
    from concurrent.futures import ThreadPoolExecutor

    hub.send_and_post(receive("A", 5, 700), *_sales(3))
    with ThreadPoolExecutor(30) as pool:
        totals = list(pool.map(lambda _: hub.uow.run(lambda uow: trial_balance(uow)["totals"], read_only=True),
                               range(30)))
    assert all(total == totals[0] for total in totals) and totals[0]["debit"] == totals[0]["credit"] > 0
    readers: Any = hub.uow._readers  # type: ignore[attr-defined]
    assert 1 <= readers.idle() <= 8
    hub.send_and_post(*_sales(1, start=50))  # the writer still writes


# ------------------------------------------------------------- PostgreSQL: readers and the check

def _postgres_hub() -> Any:
    from tests.contract.conftest import fresh_postgres_schema, postgres_or_skip
    from tests.support.builders import MASTER, reset_sequences
    from tests.support.harness import make_hub

    postgres_or_skip()
    reset_sequences()
    context = fresh_postgres_schema()
    factory = context.__enter__()
    hub = make_hub(factory)
    hub.load(MASTER)
    return hub, context


def test_a_settled_check_waits_for_writes_in_flight_not_for_reports() -> None:
    import time

    hub, context = _postgres_hub()
    try:
        hub.send_and_post(receive("A", 50, 700), *_sales(3))
        started = threading.Event()

        def long_report(uow: Any) -> None:
            trial_balance(uow)
            started.set()
            time.sleep(3)

        reader = threading.Thread(target=lambda: hub.uow.run(long_report, read_only=True))
        reader.start()
        assert started.wait(5)
        began = time.monotonic()
        report = run_check(hub.uow, clock=CLOCK)
        hub.send_and_post(*_sales(1, start=10))  # writes are not held up either
        took = time.monotonic() - began
        reader.join()
        assert report.ok and took < 2, took
    finally:
        context.__exit__(None, None, None)


def test_two_checks_finishing_together_both_pass_and_keep_the_newer_checkpoint() -> None:
    hub, context = _postgres_hub()
    try:
        hub.send_and_post(receive("A", 50, 700), *_sales(5))
        failures: list[BaseException] = []
        reports: list[Any] = []

        def one() -> None:
            try:
                reports.append(run_check(hub.uow, clock=CLOCK))
            except BaseException as error:  # noqa: BLE001 - asserted below
                failures.append(error)

        for number in range(5):
            hub.send_and_post(*_sales(1, start=100 + number))
            threads = [threading.Thread(target=one) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            assert not failures and all(r.ok for r in reports), (failures, reports)
        assert run_check(hub.uow, clock=CLOCK).entries_checked == 0
    finally:
        context.__exit__(None, None, None)


def test_readers_ended_by_the_server_are_replaced_not_failed_one_by_one() -> None:
    import psycopg

    from tests.contract.conftest import POSTGRES_URL

    hub, context = _postgres_hub()
    try:
        hub.send_and_post(receive("A", 5, 700))
        units = [hub.uow(read_only=True) for _ in range(4)]  # four readers in the pool
        for unit in units:
            unit.__enter__()
        pids = [unit.db.connection.info.backend_pid for unit in units]
        for unit in units:
            unit.__exit__(None, None, None)
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            for pid in pids:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        outcomes = []
        for _ in range(4):  # single attempts, as /health makes them
            try:
                with hub.uow(read_only=True) as uow:
                    outcomes.append(trial_balance(uow)["totals"]["debit"])
            except psycopg.OperationalError:
                outcomes.append("failed")
        assert outcomes.count("failed") <= 1 and outcomes[-1] == 3500, outcomes
    finally:
        context.__exit__(None, None, None)


def test_rebuild_while_posting_goes_on_leaves_balances_equal_to_the_journal(hub: Hub) -> None:
    hub.send_and_post(receive("A", 10_000, 700), receive("B", 10_000, 200))
    # New stores' keys too: a balance row that did not exist when the rebuild began.
    with _posting_all_along(hub, lambda n: _sales(3, start=500 + 3 * n,
                                                  register="S1-R2" if n % 2 else "S2-R1")) as failures:
        for _ in range(5):
            rebuild_projections(hub.uow)
    assert not failures, failures
    report = run_check(hub.uow, full=True, clock=CLOCK)
    assert report.ok, report


def test_the_day_summarys_kept_tenders_and_taxes_match_the_journal_and_rebuild(hub: Hub) -> None:
    """The day summary reads tenders and taxes by rate kept at posting; a full check recomputes
    them from the journal and the documents, finds a tampered row, and rebuild restores it."""
    hub.send_and_post(receive("A", 50, 700), receive("B", 50, 200), *_sales(3))
    assert run_check(hub.uow, full=True, clock=CLOCK).ok
    with hub.uow() as uow:
        kept = uow.checks.day_figures(recomputed=False)
        assert kept == uow.checks.day_figures(recomputed=True) and any(key[0] == "tax" for key in kept)
        uow.db.execute("UPDATE daily_tenders SET amount = amount + 1")
        uow.db.execute("UPDATE daily_taxes SET tax = tax - 1")
        uow.commit()
    full = run_check(hub.uow, full=True, clock=CLOCK)
    assert not full.ok and {key.split("/")[0] for key in full.balance_mismatches} == {"tender", "tax"}
    rebuild_projections(hub.uow)
    assert run_check(hub.uow, full=True, clock=CLOCK).ok
    with hub.uow() as uow:
        assert uow.checks.day_figures(recomputed=False) == kept
