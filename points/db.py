"""Database access for the service: one SQLAlchemy async engine (asyncpg) per process.

The service logs in as the role ``linli_app``, which can read the ledger and
call its functions but has no UPDATE, DELETE or TRUNCATE on it; only
migrations and `points verify` connect as the owner. Handlers borrow the pooled asyncpg connection itself: the
ledger's posting path is one SQL call and needs no ORM unit of work.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.sql.expression import ClauseElement
from sqlalchemy.util import greenlet_spawn

from points.settings import app_url, asyncpg_url


def make_engine(
    url: str, *, pool_size: int = 10, as_owner: bool = False, app_url_override: str | None = None
) -> AsyncEngine:
    """An engine on ``url``'s database, logged in as linli_app unless ``as_owner``."""
    return create_async_engine(
        asyncpg_url(url) if as_owner else app_url(url, app_url_override),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=10,
        # The posting functions keep one generic plan per session; recycling sessions lets plans follow the
        # tables' statistics as a community grows (a plan made on empty tables is slow on full ones).
        pool_recycle=1800,
        connect_args={"server_settings": {"application_name": "linli-points"}},
    )


@asynccontextmanager
async def connection(engine: AsyncEngine) -> AsyncIterator[Any]:
    """A pooled asyncpg connection, in autocommit mode; use ``conn.transaction()`` to group writes.

    Straight from the pool (``raw_connection``), not through an ``AsyncConnection``: the handlers never use
    SQLAlchemy's Connection, and skipping it halves the pool's cost per request (one greenlet hop each way)."""
    pooled = await engine.raw_connection()
    raw = pooled.driver_connection
    try:
        yield raw
    finally:
        try:
            # A handler cancelled mid-transaction must not hand the next request an open transaction.
            if raw is not None and raw.is_in_transaction():
                await raw.execute("ROLLBACK")
        finally:
            await greenlet_spawn(pooled.close)


_DIALECT = asyncpg_dialect(paramstyle="numeric_dollar")  # type: ignore[no-untyped-call]


def compiled(statement: ClauseElement) -> tuple[Any, ...]:
    """A SQLAlchemy Core statement as asyncpg takes it: the SQL with $n placeholders, then its arguments in order.

    CRUD-shaped tables (goods, listings) may be written with Core on the request's own connection, inside the same
    ``ledger.transaction`` as the ledger call they go with: ``await conn.fetch(*db.compiled(stmt))``."""
    done = statement.compile(dialect=_DIALECT, compile_kwargs={"render_postcompile": True})
    order: list[str] = getattr(done, "positiontup", None) or []  # SQLCompiler's; numeric styles always set it
    return (done.string, *(done.params[name] for name in order))
