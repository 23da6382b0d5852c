"""Posting rules for register sessions: open, cash moves, close with over/short."""

from __future__ import annotations

import msgspec

from posledger.domain import accounts as acc
from posledger.domain.events import CashMoved, RegisterClosed, RegisterOpened
from posledger.domain.journal import EntryBuilder
from posledger.domain.posting.context import EventContext
from posledger.domain.posting.model import Drawer

__all__ = ["post_register_opened", "post_cash_moved", "post_register_closed",
           "CASH_VARIANCE_LIMIT"]

CASH_VARIANCE_LIMIT = 500  # minor units; beyond it a close needs approved_by


def _drawer(ctx: EventContext) -> Drawer:
    assert ctx.envelope.register_id is not None
    return ctx.state.drawer(ctx.envelope.register_id, ctx.store.store_id)


def _finish(ctx: EventContext, entry: EntryBuilder, memo: str, drawer: Drawer) -> None:
    ctx.result.entries.append(entry.build(ctx.store.store_id, ctx.business_day,
                                          ctx.envelope.register_id, memo))
    ctx.result.drawer = drawer


def post_register_opened(ctx: EventContext, opened: RegisterOpened) -> None:
    drawer = _drawer(ctx)
    if drawer.session_status == "open":
        ctx.find("session_already_open", register_id=drawer.register_id,
                 open_session_id=drawer.session_id, new_session_id=opened.session_id)
    entry = EntryBuilder()
    entry.debit(acc.CASH_DRAWER, opened.opening_float)
    entry.credit(acc.STORE_SAFE, opened.opening_float)
    fresh = Drawer(drawer.register_id, drawer.store_id,
                   cash_expected=drawer.cash_expected + opened.opening_float,
                   session_id=opened.session_id, session_status="open",
                   business_day=ctx.business_day, opening_float=opened.opening_float)
    _finish(ctx, entry, f"open {opened.session_id}", fresh)


_CASH_MOVES = {
    # kind: (debit account, credit account, drawer figure, sign on the drawer)
    "drop": (acc.STORE_SAFE, acc.CASH_DRAWER, "drops", -1),
    "float_add": (acc.CASH_DRAWER, acc.STORE_SAFE, "float_adds", +1),
    "paid_out": (acc.PETTY_EXPENSES, acc.CASH_DRAWER, "paid_outs", -1),
}


def _check_session(ctx: EventContext, drawer: Drawer, session_id: str) -> None:
    if drawer.session_status != "open" or drawer.session_id != session_id:
        ctx.find("session_mismatch", register_id=drawer.register_id, session_id=session_id,
                 open_session_id=drawer.session_id if drawer.session_status == "open" else None)


def post_cash_moved(ctx: EventContext, moved: CashMoved) -> None:
    drawer = _drawer(ctx)
    _check_session(ctx, drawer, moved.session_id)
    debit, credit, figure, sign = _CASH_MOVES[moved.kind]
    entry = EntryBuilder()
    entry.debit(debit, moved.amount)
    entry.credit(credit, moved.amount)
    _finish(ctx, entry, f"{moved.kind} {moved.session_id}",
            drawer.with_cash(sign * moved.amount, **{figure: moved.amount}))


def post_register_closed(ctx: EventContext, closed: RegisterClosed) -> None:
    """Counted cash to the safe, expected cash out of the drawer, the difference to 6200.

    Expected cash is the drawer's running balance (account 1000 for the register), which is
    opening float + cash sales - cash refunds + float adds - drops - paid outs when all of
    them happened inside the session; so after a close account 1000 nets to zero."""
    drawer = _drawer(ctx)
    _check_session(ctx, drawer, closed.session_id)
    expected = drawer.cash_expected
    over_short = closed.counted_cash - expected  # positive: over; negative: short
    entry = EntryBuilder()
    entry.debit(acc.STORE_SAFE, closed.counted_cash)
    entry.credit(acc.CASH_DRAWER, expected)
    entry.credit(acc.CASH_OVER_SHORT, over_short)
    if abs(over_short) > CASH_VARIANCE_LIMIT and closed.approved_by is None:
        ctx.find("cash_variance", register_id=drawer.register_id, session_id=closed.session_id,
                 expected=expected, counted=closed.counted_cash, over_short=over_short)
    closed_drawer = msgspec.structs.replace(drawer, cash_expected=0, session_id=closed.session_id,
                            session_status="closed", counted=closed.counted_cash,
                            over_short=over_short, approved_by=closed.approved_by)
    _finish(ctx, entry, f"close {closed.session_id}", closed_drawer)
