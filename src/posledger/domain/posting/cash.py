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


def _finish(ctx: EventContext, entry: EntryBuilder, memo: str, drawer: Drawer | None) -> None:
    ctx.result.entries.append(entry.build(ctx.store.store_id, ctx.business_day,
                                          ctx.envelope.register_id, memo))
    if drawer is not None:
        ctx.result.drawer = drawer


def post_register_opened(ctx: EventContext, opened: RegisterOpened) -> None:
    """A new session starts from its opening float alone, identified by its register, its id
    and this event. Another session still open is left as it was, never closed (the Z-report
    shows it so); its cash stays in account 1000 for the register, as ``session_already_open``
    says. The open session opened again (the same id) is one session with both floats. A
    closed session's id opened again is another session under the same id
    (``session_mismatch``): the closed one's figures never change."""
    drawer = _drawer(ctx)
    entry = EntryBuilder()
    entry.debit(acc.CASH_DRAWER, opened.opening_float)
    entry.credit(acc.STORE_SAFE, opened.opening_float)
    if drawer.session_open and drawer.session_id == opened.session_id:
        _finish(ctx, entry, f"open {opened.session_id}",
                drawer.with_cash(opened.opening_float, opening_float=opened.opening_float))
        return
    if drawer.session_open:
        ctx.find("session_already_open", register_id=drawer.register_id,
                 open_session_id=drawer.session_id, new_session_id=opened.session_id)
    elif drawer.session_id == opened.session_id:
        ctx.find("session_mismatch", register_id=drawer.register_id, session_id=opened.session_id,
                 open_session_id=None, problem="the id of a closed session: another session opens under it")
    fresh = Drawer(drawer.register_id, drawer.store_id, cash_expected=opened.opening_float,
                   session_id=opened.session_id, session_status="open",
                   business_day=ctx.business_day, opening_float=opened.opening_float,
                   opened_at=ctx.envelope.occurred_at.isoformat(), open_event_id=ctx.envelope.event_id)
    _finish(ctx, entry, f"open {opened.session_id}", fresh)


_CASH_MOVES = {
    # kind: (debit account, credit account, drawer figure, sign on the drawer)
    "drop": (acc.STORE_SAFE, acc.CASH_DRAWER, "drops", -1),
    "float_add": (acc.CASH_DRAWER, acc.STORE_SAFE, "float_adds", +1),
    "paid_out": (acc.PETTY_EXPENSES, acc.CASH_DRAWER, "paid_outs", -1),
}


def _in_session(ctx: EventContext, drawer: Drawer, session_id: str, **detail: int) -> bool:
    """Whether the event's session is the drawer's open one; if not, ``session_mismatch``
    (``cash``: what the event moved in or out of the drawer, outside any session)."""
    if drawer.session_open and drawer.session_id == session_id:
        return True
    ctx.find("session_mismatch", register_id=drawer.register_id, session_id=session_id,
             open_session_id=drawer.session_id if drawer.session_open else None, **detail)
    return False


def post_cash_moved(ctx: EventContext, moved: CashMoved) -> None:
    """The cash moves in the GL whatever its session; it counts in the session's figures only
    when it names the open session."""
    drawer = _drawer(ctx)
    debit, credit, figure, sign = _CASH_MOVES[moved.kind]
    in_session = _in_session(ctx, drawer, moved.session_id, cash=sign * moved.amount)
    entry = EntryBuilder()
    entry.debit(debit, moved.amount)
    entry.credit(credit, moved.amount)
    _finish(ctx, entry, f"{moved.kind} {moved.session_id}",
            drawer.with_cash(sign * moved.amount, **{figure: moved.amount}) if in_session else None)


def post_register_closed(ctx: EventContext, closed: RegisterClosed) -> None:
    """Counted cash to the safe, expected cash out of the drawer, the difference to 6200.

    Expected cash is the session's: opening float + cash sales - cash refunds + float adds -
    drops - paid outs of the events inside it; so after a close account 1000 for the register
    nets to zero (cash posted outside any session aside).

    A close naming a session that is not the open one (closed already, or never opened) posts
    nothing and changes no session: its count cannot be set against any expected cash, and a
    second close must not count a session's cash twice. ``session_mismatch`` holds it for the
    sales audit."""
    drawer = _drawer(ctx)
    if not _in_session(ctx, drawer, closed.session_id, counted=closed.counted_cash):
        return
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
                            over_short=over_short, approved_by=closed.approved_by,
                            closed_at=ctx.envelope.occurred_at.isoformat())
    _finish(ctx, entry, f"close {closed.session_id}", closed_drawer)
