"""Access control: bearer tokens (stored as SHA-256 hashes) and what each role may do.

Roles (CONTRACT section 7): ``device`` posts events for its own store only; ``manager`` reads
one store; ``finance`` reads all, resolves exceptions, reconciles; ``admin`` manages master data
and tokens. A token is shown once, at creation; only its hash is kept.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from posledger.app.clock import Clock
from posledger.app.ports import UnitOfWorkFactory
from posledger.domain.errors import InvalidInput
from posledger.domain.pan import refuse_card_text

__all__ = ["ROLES", "Principal", "Forbidden", "create_token", "authenticate", "token_hash"]

ROLES = ("device", "manager", "finance", "admin")


class Forbidden(Exception):
    """Authenticated, but this role or store may not do this; ``field``: the reference at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Principal:
    role: str
    store_id: str | None  # device and manager tokens belong to one store
    name: str

    def may_write_store(self, store_id: str) -> bool:
        """Post events or reserve stock for ``store_id``."""
        if self.role == "admin":
            return True
        return self.role == "device" and self.store_id == store_id

    def may_read_store(self, store_id: str | None) -> bool:
        """Read one store's data; ``None`` means all stores (consolidated)."""
        if self.role in ("finance", "admin"):
            return True
        return store_id is not None and self.store_id == store_id

    def require(self, *roles: str) -> None:
        if self.role not in roles:
            raise Forbidden(f"role {self.role} may not do this; needs {' or '.join(roles)}")

    def require_read(self, store_id: str | None) -> None:
        if not self.may_read_store(store_id):
            what = f"store {store_id}" if store_id else "all stores"
            raise Forbidden(f"a {self.role} token for store {self.store_id} may not read {what}")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(uow_factory: UnitOfWorkFactory, role: str, store_id: str | None, name: str, *,
                 clock: Clock) -> str:
    """Create a token and return it; this is the only time it is visible."""
    refuse_card_text(name, "name")
    if role not in ROLES:
        raise InvalidInput("role", f"must be one of {', '.join(ROLES)}")
    if role in ("device", "manager") and not store_id:
        raise InvalidInput("store_id", f"a {role} token belongs to one store")
    if role in ("finance", "admin") and store_id:
        raise InvalidInput("store_id", f"a {role} token is not tied to a store")
    token = f"plg_{role[:3]}_{secrets.token_urlsafe(32)}"
    now = clock.now()
    uow_factory.run(lambda uow: uow.tokens.add(token_hash(token), role, store_id, name, now),
                    operation="create token")
    return token


def authenticate(uow_factory: UnitOfWorkFactory, token: str, admin_token: str | None) -> Principal | None:
    """The principal a bearer token stands for, or None. The bootstrap admin token from the
    environment is compared in constant time."""
    if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
        return Principal("admin", None, "bootstrap admin")
    hashed = token_hash(token)
    found = uow_factory.run(lambda uow: uow.tokens.find(hashed), read_only=True, operation="authenticate")
    if found is None:
        return None
    role, store_id, name = found
    return Principal(role, store_id, name)
