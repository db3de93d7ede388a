"""The slice of a database connection the ledger needs, and error translation.

The ledger talks to PostgreSQL through an asyncpg connection (or anything
with the same four methods): the posting path is one function call, one round
trip, so it stays off an ORM's unit of work. ``points`` hands in connections
from its SQLAlchemy engine's pool.
"""

from __future__ import annotations

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
