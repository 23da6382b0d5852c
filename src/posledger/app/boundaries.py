"""A token acts inside its store, in every reference it makes (CONTRACT section 15).

A ``device`` or ``manager`` token of store S may name only registers and locations of S: an
event's ``register_id``, a stock event's ``location_id``, either side of a transfer, the order
an ``order.fulfilled`` consumes, a reservation's location and order. A known register or
location of another store is refused (``Forbidden`` naming the field); an unknown one is left to
posting, where it waits as ``unknown_master_data`` and, once master data places it in another
store, keeps waiting (``missing_master_data``: a register or a stock event's own location must
be of the event's store).

The check reads which store each register and location belongs to from a copy of master data
refreshed at most once a second (and at once when a reference is unknown to it), so a request
costs no database read; a register moved between stores within that second is still caught in
posting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from posledger.app.access import Forbidden, Principal
from posledger.app.master_data import snapshot
from posledger.app.ports import UnitOfWorkFactory

__all__ = ["StoreScope", "Places"]

SCOPED_ROLES = frozenset({"device", "manager"})


@dataclass(frozen=True, slots=True)
class Places:
    """Which store each known register and location (a store is its own location) belongs to."""

    version: int
    registers: Mapping[str, str]
    locations: Mapping[str, str]


class StoreScope:
    REFRESH_SECONDS = 1.0

    def __init__(self, uow_factory: UnitOfWorkFactory, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._uow_factory = uow_factory
        self._monotonic = monotonic
        self._places: Places | None = None
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    def fresh(self) -> Places | None:
        """The copy, if it is recent enough to use without reading the database."""
        if self._places is not None and self._monotonic() - self._loaded_at < self.REFRESH_SECONDS:
            return self._places
        return None

    def load(self) -> Places:
        """Read master data again (at most once a second, whoever asks)."""
        with self._lock:
            fresh = self.fresh()
            if fresh is not None:
                return fresh
            master = self._uow_factory.run(lambda uow: snapshot(uow, ("stores", "registers", "locations")),
                                           read_only=True, operation="store scope")
            locations = {store_id: store_id for store_id in master.stores}
            locations.update({location_id: location.store_id for location_id, location in master.locations.items()})
            self._places = Places(master.version, {register_id: register.store_id
                                                   for register_id, register in master.registers.items()},
                                  locations)
            self._loaded_at = self._monotonic()
            return self._places

    def places(self) -> Places:
        return self.fresh() or self.load()

    def refuse_foreign_event(self, principal: Principal, document: Any, where: str = "") -> None:
        """Raise ``Forbidden`` naming the field if ``document`` (an event, not yet validated)
        names a register or location of a store other than the token's."""
        if principal.role not in SCOPED_ROLES or not isinstance(document, dict):
            return
        payload = document.get("payload")
        payload = payload if isinstance(payload, dict) else {}
        references = [("register_id", self.registers_store(document.get("register_id")))]
        for name in ("location_id", "from_location_id", "to_location_id"):
            references.append((f"payload.{name}", self.locations_store(payload.get(name))))
        for field, store_id in references:
            if store_id is not None and store_id != principal.store_id:
                raise Forbidden(f"{where}{field} names a {field.rsplit('.', 1)[-1].removesuffix('_id')} of "
                                f"another store; a {principal.role} token of store {principal.store_id} acts "
                                "only inside its store", field=f"{where}{field}")

    def refuse_foreign_location(self, principal: Principal, location_id: str, field: str) -> None:
        if principal.role not in SCOPED_ROLES:
            return
        store_id = self.locations_store(location_id)
        if store_id != principal.store_id:
            raise Forbidden(f"{field} is not a location of store {principal.store_id}", field=field)

    def refuse_foreign_order(self, principal: Principal, locations: list[str], field: str) -> None:
        """``locations``: where the order's active reservations are. An order id is its store's
        own: two stores may each hold reservations under one id, and each acts only on its own
        (``own_locations``). Refused when the order is reserved only in other stores."""
        if principal.role not in SCOPED_ROLES:
            return
        if locations and all(self.locations_store(location_id) != principal.store_id for location_id in locations):
            raise Forbidden(f"{field} names an order reserved in another store", field=field)

    def own_locations(self, principal: Principal, locations: list[str]) -> list[str] | None:
        """Of ``locations``, those of a scoped token's store; None (no limit) for other roles."""
        if principal.role not in SCOPED_ROLES:
            return None
        return [location_id for location_id in locations if self.locations_store(location_id) == principal.store_id]

    def registers_store(self, register_id: Any) -> str | None:
        return self._store_of(register_id, "registers")

    def locations_store(self, location_id: Any) -> str | None:
        return self._store_of(location_id, "locations")

    def _store_of(self, key: Any, table: str) -> str | None:
        if not isinstance(key, str):
            return None
        places = self.places()
        found = getattr(places, table).get(key)
        if found is None:  # perhaps created this second: look again, once a second at most
            places = self.load()
            found = getattr(places, table).get(key)
        return found if isinstance(found, str) else None
