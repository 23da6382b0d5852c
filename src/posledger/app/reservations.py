"""Available-to-promise reservations: an order holds stock until it is fulfilled or released."""

from __future__ import annotations

from dataclasses import dataclass

from posledger.app.clock import Clock
from posledger.app.ports import UnitOfWork, UnitOfWorkFactory
from posledger.domain.errors import InvalidInput
from posledger.domain.fields import plain_text
from posledger.domain.pan import refuse_card_text

__all__ = ["Reservation", "NotAvailable", "reserve", "release"]


class NotAvailable(Exception):
    """ATP (on hand minus active reservations) is below the quantity asked for."""

    def __init__(self, atp: int, qty: int) -> None:
        super().__init__(f"only {atp} available to promise, {qty} asked")
        self.atp = atp
        self.qty = qty


@dataclass(frozen=True, slots=True)
class Reservation:
    order_id: str
    sku: str
    location_id: str
    qty: int
    atp_after: int


def reserve(uow_factory: UnitOfWorkFactory, order_id: str, sku: str, location_id: str, qty: int,
            *, clock: Clock) -> Reservation:
    for name, value in (("order_id", order_id), ("sku", sku), ("location_id", location_id)):
        plain_text(value, name, 64)
        refuse_card_text(value, name, barcode=name == "sku")
    if qty <= 0:
        raise InvalidInput("qty", "must be a positive integer")
    now = clock.now()

    def work(uow: UnitOfWork) -> int:
        position = uow.ledger.load_stock(sku, location_id)
        on_hand = position.on_hand if position else 0
        # The order's own reservation of this SKU is replaced, not added to: reserving again
        # (a client's retry) answers the same.
        atp = on_hand - uow.reservations.reserved(sku, location_id, excluding_order=order_id)
        if qty > atp:
            raise NotAvailable(atp, qty)
        uow.reservations.add(order_id, sku, location_id, qty, now)
        return atp

    atp = uow_factory.run(work, operation="reserve", idempotent=True)
    return Reservation(order_id, sku, location_id, qty, atp - qty)


def release(uow_factory: UnitOfWorkFactory, order_id: str, sku: str | None = None,
            locations: list[str] | None = None) -> int:
    """Release the order's active reservations (of ``sku``; at ``locations`` only, when given:
    an order id is a store's own, so a store's token releases only its store's)."""
    return uow_factory.run(lambda uow: uow.reservations.release(order_id, sku, locations),
                           operation="release reservation", idempotent=True)
