"""A store's business day: its local date after applying its day cut-off."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from posledger.domain.master import Store

__all__ = ["business_day_of"]


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def business_day_of(occurred_at: datetime, store: Store) -> date:
    """A sale at 01:30 local with a 04:00 cut-off belongs to the previous business day."""
    local = occurred_at.astimezone(_zone(store.timezone))
    cutoff = timedelta(hours=store.day_cutoff.hour, minutes=store.day_cutoff.minute)
    return (local - cutoff).date()
