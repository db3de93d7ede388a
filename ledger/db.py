"""The slice of a database connection the ledger needs, and error translation.

The ledger talks to PostgreSQL through an asyncpg connection (or anything
with the same four methods): the posting path is one function call, one round
trip, so it stays off an ORM's unit of work. ``points`` hands in connections
from its SQLAlchemy engine's pool.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

import asyncpg

from ledger.errors import CommunityMismatch, from_database


class Row(Protocol):
    def __getitem__(self, key: str | int) -> Any: ...


class Connection(Protocol):
    async def fetch(self, query: str, *args: Any) -> Sequence[Any]: ...
    async def fetchrow(self, query: str, *args: Any) -> Any: ...
    async def fetchval(self, query: str, *args: Any) -> Any: ...
    async def execute(self, query: str, *args: Any) -> str: ...


@asynccontextmanager
async def translated_errors() -> AsyncIterator[None]:
    """Re-raise the database's ledger errors (SQLSTATE class LE, our constraints) as LedgerError."""
    try:
        yield
    except asyncpg.PostgresError as exc:
        ledger_error = from_database(exc)
        if ledger_error is None:
            raise
        raise ledger_error from exc


async def fetch(conn: Connection, query: str, *args: Any) -> Sequence[Any]:
    async with translated_errors():
        return await conn.fetch(query, *args)


async def fetchrow(conn: Connection, query: str, *args: Any) -> Any:
    async with translated_errors():
        return await conn.fetchrow(query, *args)


async def fetchval(conn: Connection, query: str, *args: Any) -> Any:
    async with translated_errors():
        return await conn.fetchval(query, *args)


# --- the tenant of a connection ------------------------------------------------------------------
#
# Row-level security (migration 0002) shows the application role only the rows of the community set
# in the session variable linli.community_id. Every ledger call takes its community explicitly, and
# enters it first; the last community entered per connection is remembered, so a connection that
# keeps serving one community pays for this once, not per call.

_entered: weakref.WeakKeyDictionary[Any, int | None] = weakref.WeakKeyDictionary()  # None: known to be in none
# Inside transaction(): the tenant in force in the open transaction, so that entering the same community again
# costs nothing there either. Absent outside transaction() (e.g. in a bare conn.transaction()).
_in_tx: weakref.WeakKeyDictionary[Any, int | None] = weakref.WeakKeyDictionary()
_UNKNOWN = -1  # never a community id: the connection may be in any community (or none); set it to be sure


def _in_transaction(conn: Connection) -> bool:
    return bool(getattr(conn, "is_in_transaction", lambda: False)())


async def enter(conn: Connection, community_id: int) -> None:
    """Make ``community_id`` the tenant of this connection's session (or of its open transaction)."""
    if not _in_transaction(conn):
        if _entered.get(conn, _UNKNOWN) == community_id:
            return
        await conn.execute("SELECT set_config('linli.community_id', $1, false)", str(community_id))
        _entered[conn] = community_id
        return
    if _in_tx.get(conn, _UNKNOWN) == community_id:
        return
    # Inside a transaction the setting is local to it: a rollback must not leave a stale tenant behind.
    await conn.execute("SELECT set_config('linli.community_id', $1, true)", str(community_id))
    if conn in _in_tx:
        _in_tx[conn] = community_id


async def leave(conn: Connection) -> None:
    """No tenant: tenant tables look empty."""
    if not _in_transaction(conn):
        if conn in _entered and _entered[conn] is None:
            return
        await conn.execute("SELECT set_config('linli.community_id', '', false)")
        _entered[conn] = None
        return
    if conn in _in_tx and _in_tx[conn] is None:
        return
    await conn.execute("SELECT set_config('linli.community_id', '', true)")
    if conn in _in_tx:
        _in_tx[conn] = None


def entered(conn: Connection, community_id: int | None) -> None:
    """Record a tenant set by other means (points.enter_community sets it in the same round trip as auth)."""
    _entered[conn] = community_id


def current_tenant(conn: Connection) -> int | None:
    """The community this connection is known to be entered in (None: none, or not known)."""
    tenant = _in_tx[conn] if conn in _in_tx else _entered.get(conn, _UNKNOWN)
    return None if tenant == _UNKNOWN else tenant


def require_tenant(conn: Connection, community_id: int) -> None:
    """Writing functions refuse a community other than the one the connection is entered in: the caller checked
    access to that one (the database refuses it as well, migration 0004)."""
    tenant = current_tenant(conn)
    if tenant is not None and tenant != community_id:
        raise CommunityMismatch(
            f"this connection works in community {tenant}, not {community_id}",
            entered_community_id=tenant,
            community_id=community_id,
        )


@asynccontextmanager
async def transaction(conn: Any) -> AsyncIterator[None]:
    """All or nothing: the statements inside commit together when the block ends, or none of them do.

    Every service operation that writes more than one statement runs inside one (one way, used everywhere;
    docs/ARCHITECTURE.md). Nested use becomes a savepoint. A single ledger call (post_entry, place_hold ...) is
    atomic by itself and needs none, which keeps the posting path one round trip.
    """
    nested = conn in _in_tx
    before = _in_tx[conn] if nested else _entered.get(conn, _UNKNOWN)
    _in_tx[conn] = before
    try:
        async with conn.transaction():
            yield
    except BaseException:
        if nested:
            _in_tx[conn] = before  # the savepoint's SET LOCAL was rolled back with it
        raise
    finally:
        if not nested:
            _in_tx.pop(conn, None)  # the transaction's SET LOCAL ended with it; the session's tenant holds again
