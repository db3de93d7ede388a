"""Races that really happen in PostgreSQL: each racer on a connection of its own, all of them stopped at the lock
that decides the race before any of them commits.

The in-process test client serves one request at a time in practice (a request waiting on a database lock holds
the others back), so ``asyncio.gather`` over HTTP calls never races in the database: those tests would pass with
the deciding lock removed. Here the service functions are called directly, each on its own pooled connection, as
the service does for concurrent requests. ``race`` holds a row lock on a third connection (the holder: the
database owner's) while the racers start, waits until every racer is waiting on a lock (so each has read and
planned before any of them wrote), then lets go: what happens next is decided by PostgreSQL alone, whatever order
the scheduler picks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

import ledger
from points import db
from points.auth.access import Access, enter_community

T = TypeVar("T")

# Long enough for a loaded 2-core machine; a race that does not reach its lock fails the test, it never hangs it.
TIMEOUT_S = 20.0


@asynccontextmanager
async def connections(engine: AsyncEngine, n: int) -> AsyncIterator[list[Any]]:
    """``n`` pooled connections at once, entered in no community (a pooled one may still be in an earlier test's),
    and left in none."""
    async with AsyncExitStack() as stack:
        conns = [await stack.enter_async_context(db.connection(engine)) for _ in range(n)]
        for c in conns:
            await ledger.leave(c)
        try:
            yield conns
        finally:
            for c in conns:
                if not c.is_in_transaction():
                    await ledger.leave(c)


async def entered_as(
    owner: asyncpg.Connection, community_id: int, member_id: int, work: Callable[[Any, Access], Awaitable[T]]
) -> Callable[[Any], Awaitable[T]]:
    """A racer: on its own connection, enter the community as this member's person (as a request does), then
    ``work(conn, access)``. The person is read now: during the race the owner's connection is the holder."""
    person_id = await owner.fetchval("SELECT person_id FROM points.members WHERE id = $1", member_id)

    async def racer(conn: Any) -> T:
        return await work(conn, await enter_community(conn, person_id, community_id))

    return racer


async def all_waiting(holder: asyncpg.Connection, conns: Sequence[Any], tasks: Sequence[asyncio.Task[Any]]) -> None:
    """Until every racer's backend waits on a lock (the holder's, or another racer's); a racer that finished before
    that fails at once, saying how (the race was not forced)."""
    pids = [c.get_server_pid() for c in conns]
    deadline = asyncio.get_running_loop().time() + TIMEOUT_S
    while True:
        done = [t for t in tasks if t.done()]
        if done:
            outcomes = [t.exception() or t.result() for t in done]
            raise AssertionError(f"{len(done)} racer(s) finished before the lock was let go: {outcomes!r}")
        waiting = await holder.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY ($1::int[]) AND wait_event_type = 'Lock'", pids
        )
        if waiting == len(pids):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"only {waiting} of {len(pids)} racers reached a lock in {TIMEOUT_S} s")
        await asyncio.sleep(0.005)


async def waiting_on_locks(holder: asyncpg.Connection, n: int) -> None:
    """Until ``n`` backends of this database wait on a lock (the holder's, or a racer's queued behind it), for
    racers whose connections the test does not see (a scheduled job takes its own from the pool); by the clock, not
    by a count of polls, which was too short on a loaded machine."""
    deadline = asyncio.get_running_loop().time() + TIMEOUT_S
    while True:
        waiting = await holder.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        if waiting >= n:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"only {waiting} of {n} racers waited on a lock in {TIMEOUT_S} s")
        await asyncio.sleep(0.005)


async def race(
    engine: AsyncEngine,
    holder: asyncpg.Connection,
    hold: str,
    hold_args: Sequence[Any],
    racers: Sequence[Callable[[Any], Awaitable[T]]],
) -> list[T | BaseException]:
    """Run every racer on its own connection while ``holder`` holds the lock ``hold`` takes (a SELECT ... FOR
    UPDATE); once all of them wait on a lock, commit the holder and collect what each racer ended with (its result
    or its exception), in the racers' order."""
    async with connections(engine, len(racers)) as conns:
        tasks: list[asyncio.Task[T]] = []
        try:
            async with holder.transaction():
                locked = await holder.fetch(hold, *hold_args)
                assert locked, f"the holder locked nothing: {hold}"
                tasks = [asyncio.create_task(_run(r, c)) for r, c in zip(racers, conns, strict=True)]
                await all_waiting(holder, conns, tasks)
            gathered = asyncio.gather(*tasks, return_exceptions=True)
            return list(await asyncio.wait_for(gathered, TIMEOUT_S))
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def _run(racer: Callable[[Any], Awaitable[T]], conn: Any) -> T:
    return await racer(conn)


def split(results: Sequence[T | BaseException]) -> tuple[list[T], list[BaseException]]:
    ok = [r for r in results if not isinstance(r, BaseException)]
    failed = [r for r in results if isinstance(r, BaseException)]
    return ok, failed


def sqlstate_behind(exc: BaseException) -> str | None:
    """The SQLSTATE of the database refusal a domain error was raised from (None: the service refused it itself,
    before writing). A race is decided by PostgreSQL when its loser's error comes from the database. The context
    counts as well as the cause: a service may re-raise the domain error ``from None`` after trying a replay."""
    cause: BaseException | None = exc
    while cause is not None:
        state = getattr(cause, "sqlstate", None)
        if state:
            return str(state)
        cause = cause.__cause__ or cause.__context__
    return None
