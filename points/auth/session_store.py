"""A Litestar session store kept in PostgreSQL (table points.sessions).

Litestar's server-side sessions need a Store; keeping sessions in the same
database means a restart keeps people signed in, several server processes
share them, and logout really revokes (the row is gone). Keys are stored as
SHA-256 digests so the table itself does not contain live cookies.

Each row also names its person (taken from the session data when it is written),
so that a password change can end that person's other sessions
(``end_sessions_of``) in the same transaction as the change itself.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from litestar.stores.base import Store
from sqlalchemy.ext.asyncio import AsyncEngine

from points import db


def _key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def _person_of(data: bytes) -> int | None:
    """The person a serialized session belongs to (Litestar stores the session dict as JSON)."""
    try:
        value = json.loads(data)
    except ValueError:
        return None
    person_id = value.get("person_id") if isinstance(value, dict) else None
    return person_id if isinstance(person_id, int) and not isinstance(person_id, bool) else None


async def end_sessions_of(conn: Any, person_id: int, *, keep_session_id: str | None) -> int:
    """End every session of this person but ``keep_session_id`` (the caller's own, if any); on the caller's
    connection, so that it commits or rolls back with the caller's transaction. Returns how many ended."""
    status: str = await conn.execute(
        "DELETE FROM points.sessions WHERE person_id = $1 AND key_hash IS DISTINCT FROM $2",
        person_id,
        None if keep_session_id is None else _key(keep_session_id),
    )
    return int(status.split()[-1])


def _seconds(value: int | timedelta | None) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


async def write_session(conn: Any, key: str, value: bytes, expires_in: int | timedelta | None) -> None:
    """Create or replace a session row on the caller's connection (so that it commits with the caller's
    transaction: a sign-in writes its session together with its audit row)."""
    await conn.execute(
        "INSERT INTO points.sessions (key_hash, value, expires_at, person_id) "
        "VALUES ($1, $2, now() + make_interval(secs => $3), $4) "
        "ON CONFLICT (key_hash) DO UPDATE "
        "SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, person_id = EXCLUDED.person_id",
        _key(key),
        value,
        _seconds(expires_in),
        _person_of(value),
    )


async def delete_session(conn: Any, key: str) -> None:
    """Forget a session, on the caller's connection (see write_session)."""
    await conn.execute("DELETE FROM points.sessions WHERE key_hash = $1", _key(key))


class PostgresSessionStore(Store):
    __slots__ = ("_engine",)

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def set(self, key: str, value: str | bytes, expires_in: int | timedelta | None = None) -> None:
        data = value.encode() if isinstance(value, str) else value
        async with db.connection(self._engine) as conn:
            await write_session(conn, key, data, expires_in)

    async def rewrite(self, key: str, value: bytes, expires_in: int | timedelta | None = None) -> None:
        """Write an existing session's data back; a session ended meanwhile (logout elsewhere, a password change)
        stays ended instead of coming back when a request of it that was already under way finishes."""
        async with db.connection(self._engine) as conn:
            await conn.execute(
                "UPDATE points.sessions SET value = $2, expires_at = now() + make_interval(secs => $3), "
                "person_id = $4 WHERE key_hash = $1",
                _key(key),
                value,
                _seconds(expires_in),
                _person_of(value),
            )

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        async with db.connection(self._engine) as conn:
            if renew_for is None:
                value: bytes | None = await conn.fetchval(
                    "SELECT value FROM points.sessions WHERE key_hash = $1 "
                    "AND (expires_at IS NULL OR expires_at > now())",
                    _key(key),
                )
            else:
                value = await conn.fetchval(
                    "UPDATE points.sessions SET expires_at = now() + make_interval(secs => $2) "
                    "WHERE key_hash = $1 AND expires_at IS NOT NULL AND expires_at > now() RETURNING value",
                    _key(key),
                    _seconds(renew_for),
                )
            return value

    async def delete(self, key: str) -> None:
        async with db.connection(self._engine) as conn:
            await delete_session(conn, key)

    async def delete_all(self) -> None:
        async with db.connection(self._engine) as conn:
            await conn.execute("DELETE FROM points.sessions")

    async def delete_expired(self) -> int:
        async with db.connection(self._engine) as conn:
            status: str = await conn.execute("DELETE FROM points.sessions WHERE expires_at <= now()")
        return int(status.split()[-1])

    async def exists(self, key: str) -> bool:
        return await self.get(key) is not None

    async def expires_in(self, key: str) -> int | None:
        async with db.connection(self._engine) as conn:
            seconds = await conn.fetchval(
                "SELECT extract(epoch FROM expires_at - now()) FROM points.sessions "
                "WHERE key_hash = $1 AND expires_at > now()",
                _key(key),
            )
        return None if seconds is None else int(seconds)
