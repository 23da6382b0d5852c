"""Access control: bearer tokens (stored as SHA-256 hashes) and what each role may do.

Roles (CONTRACT sections 7 and 15): ``device`` posts events for its own store only; ``manager``
reads one store; ``finance`` reads all, resolves exceptions, reconciles; ``admin`` manages master
data and tokens; ``monitor`` reads only ``/metrics`` and ``/health``. A token is shown once, at
creation; only its hash is kept, with a public ``token_id`` to list and revoke it by.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime

import msgspec

from posledger.app.clock import Clock
from posledger.app.ports import TokenRecord, UnitOfWork, UnitOfWorkFactory
from posledger.domain.errors import InvalidInput
from posledger.domain.fields import plain_text
from posledger.domain.pan import refuse_card_text

__all__ = ["ROLES", "Principal", "Forbidden", "CreatedToken", "TokenUse", "create_token", "list_tokens",
           "revoke_token", "authenticate", "token_hash", "bootstrap_token_problem", "MIN_BOOTSTRAP_CHARS"]

ROLES = ("device", "manager", "finance", "admin", "monitor")


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
    token_id: str | None = None  # None: the bootstrap admin token

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

    @property
    def actor(self) -> str:
        """Who the audit log says acted: the token's id (never the token)."""
        return self.token_id or self.name

    def require(self, *roles: str) -> None:
        if self.role not in roles:
            raise Forbidden(f"role {self.role} may not do this; needs {' or '.join(roles)}")

    def require_read(self, store_id: str | None) -> None:
        if not self.may_read_store(store_id):
            what = f"store {store_id}" if store_id else "all stores"
            raise Forbidden(f"a {self.role} token for store {self.store_id} may not read {what}")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


MIN_BOOTSTRAP_CHARS = 32
USE_RECORDED_EVERY_SECONDS = 60  # last_used_at: written at most this often per token and process


def bootstrap_token_problem(admin_token: str | None) -> str | None:
    """Why the bootstrap admin token may not start a server (CONTRACT section 15), or None."""
    if admin_token is not None and len(admin_token) < MIN_BOOTSTRAP_CHARS:
        return (f"POSLEDGER_ADMIN_TOKEN must be at least {MIN_BOOTSTRAP_CHARS} characters (it has "
                f"{len(admin_token)}); make one with `openssl rand -base64 32`")
    return None


@dataclass(frozen=True, slots=True)
class CreatedToken:
    token_id: str
    token: str  # the secret: shown once, never stored
    record: TokenRecord


def create_token(uow_factory: UnitOfWorkFactory, role: str, store_id: str | None, name: str, *,
                 clock: Clock, expires_at: str | None = None, actor: str = "cli") -> CreatedToken:
    """Create a token; this is the only time its secret is visible. A device or manager token's
    store must exist; ``expires_at`` (RFC 3339 with an offset) must lie ahead."""
    plain_text(name, "name", 256)
    if store_id is not None:
        plain_text(store_id, "store_id", 64)
    refuse_card_text(name, "name")
    if role not in ROLES:
        raise InvalidInput("role", f"must be one of {', '.join(ROLES)}")
    if role in ("device", "manager") and not store_id:
        raise InvalidInput("store_id", f"a {role} token belongs to one store")
    if role in ("finance", "admin", "monitor") and store_id:
        raise InvalidInput("store_id", f"a {role} token is not tied to a store")
    if not name.strip() or len(name) > 256 or not name.isprintable():
        raise InvalidInput("name", "must be 1-256 printable characters")
    now = clock.now()
    expiry = None
    if expires_at is not None:
        expiry = _moment(expires_at, "expires_at")
        if expiry <= datetime.fromisoformat(now):
            raise InvalidInput("expires_at", "must be in the future")
    token = f"plg_{role[:3]}_{secrets.token_urlsafe(32)}"
    token_id = f"tok_{secrets.token_hex(10)}"
    expiry_text = expiry.isoformat() if expiry is not None else None

    record = TokenRecord(token_id, role, store_id, name, now, expiry_text, None, False)

    def work(uow: UnitOfWork) -> None:
        if store_id is not None and store_id not in snapshot_stores(uow):
            raise InvalidInput("store_id", f"no store {store_id} in master data")
        uow.tokens.add(token_id, token_hash(token), role, store_id, name, now, expiry_text)
        uow.audit.add(now, actor, "token.create", token_id, None, _record_json(record))  # never the secret

    uow_factory.run(work, operation="create token")
    return CreatedToken(token_id, token, record)


def _record_json(record: TokenRecord) -> str:
    return msgspec.json.encode(record).decode()


def snapshot_stores(uow: UnitOfWork) -> set[str]:
    from posledger.app.master_data import snapshot  # master_data imports ingest, which is heavier

    return set(snapshot(uow, ("stores",)).stores)


def list_tokens(uow_factory: UnitOfWorkFactory, *, after: str = "", limit: int = 1000) -> list[TokenRecord]:
    """Tokens in ``token_id`` order after ``after`` (a cursor: the last id of the page before)."""
    return uow_factory.run(lambda uow: uow.tokens.list(after, limit), read_only=True, operation="list tokens")


def revoke_token(uow_factory: UnitOfWorkFactory, token_id: str, *, clock: Clock, actor: str = "cli") -> bool:
    """Revoked for the next request on every node: tokens are looked up per request. False when
    it was revoked already; ``LookupError`` when there is no such token."""
    now = clock.now()

    def work(uow: UnitOfWork) -> bool:
        if uow.tokens.get(token_id) is None:
            raise LookupError(f"no token {token_id}")
        if not uow.tokens.revoke(token_id):
            return False
        uow.audit.add(now, actor, "token.revoke", token_id, None, '{"revoked":true}')
        return True

    return uow_factory.run(work, operation="revoke token", idempotent=True)


def _moment(text: str, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise InvalidInput(field, "must be an RFC 3339 time with an offset") from None
    if moment.tzinfo is None:
        raise InvalidInput(field, "must carry an offset (e.g. 2027-01-31T00:00:00+00:00)")
    return moment


class TokenUse:
    """When each token was last used, written back at most once a minute per token (a write per
    request would cost every request a transaction)."""

    def __init__(self) -> None:
        self._written: dict[str, float] = {}
        self._lock = threading.Lock()

    def due(self, token_id: str, now: float) -> bool:
        with self._lock:
            if now - self._written.get(token_id, float("-inf")) < USE_RECORDED_EVERY_SECONDS:
                return False
            if len(self._written) > 100_000:
                self._written.clear()
            self._written[token_id] = now
            return True


def authenticate(uow_factory: UnitOfWorkFactory, token: str, admin_token: str | None, *, clock: Clock,
                 use: TokenUse | None = None) -> Principal | None:
    """The principal a bearer token stands for, or None (unknown, revoked or expired). The
    bootstrap admin token from the environment is compared in constant time. Looked up on every
    call, so that a revocation holds from the next request on, on every node."""
    if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
        return Principal("admin", None, "bootstrap admin", None)
    hashed = token_hash(token)
    found = uow_factory.run(lambda uow: uow.tokens.find(hashed), read_only=True, operation="authenticate")
    if found is None:
        return None
    now = clock.now()
    if found.expires_at is not None and datetime.fromisoformat(found.expires_at) <= datetime.fromisoformat(now):
        return None
    if use is not None and use.due(found.token_id, time.monotonic()):
        uow_factory.run(lambda uow: uow.tokens.touch(found.token_id, now), operation="token used", idempotent=True)
    return Principal(found.role, found.store_id, found.name, found.token_id)
