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

from ledger.errors import from_database


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

_entered: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


async def enter(conn: Connection, community_id: int) -> None:
    """Make ``community_id`` the tenant of this connection's session (or of its open transaction)."""
    in_transaction = getattr(conn, "is_in_transaction", lambda: False)()
    if not in_transaction and _entered.get(conn) == community_id:
        return
    # Inside a transaction the setting is local to it: a rollback must not leave a stale tenant behind.
    await conn.execute("SELECT set_config('linli.community_id', $1, $2)", str(community_id), in_transaction)
    if not in_transaction:
        _entered[conn] = community_id


async def leave(conn: Connection) -> None:
    """No tenant: tenant tables look empty."""
    if _entered.pop(conn, None) is not None or getattr(conn, "is_in_transaction", lambda: False)():
        await conn.execute("SELECT set_config('linli.community_id', '', false)")


def entered(conn: Connection, community_id: int | None) -> None:
    """Record a tenant set by other means (points.enter_community sets it in the same round trip as auth)."""
    if community_id is None:
        _entered.pop(conn, None)
    else:
        _entered[conn] = community_id
