"""Scheduled jobs on PostgreSQL: a lapsed hold is expired with nobody touching it, a job runs once however many
workers there are, and a failing job is retried, logged and shown by `points jobs`."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from pgqueuer.domain.models import Job
from sqlalchemy.ext.asyncio import AsyncEngine

import ledger
from ledger import db as ledger_db
from points.jobs import tasks
from points.jobs.report import render, report
from points.jobs.worker import MAX_ATTEMPTS, PeriodicJob, Worker, build_queue, cron_every, plain_dsn
from tests.conftest import fund

pytestmark = pytest.mark.slow


async def eventually(check: Callable[[], Awaitable[bool]], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    pytest.fail(f"{what} did not happen within {within_s} s")


def test_schedules_are_written_as_cron() -> None:
    assert cron_every(20) == "* * * * * */20"
    assert cron_every(600) == "*/10 * * * *"
    for bad in (0, 7, 61, 7200):
        with pytest.raises(ValueError):
            cron_every(bad)


async def test_a_lapsed_hold_is_expired_by_the_job_with_nobody_touching_it(
    conn: Any, engine: AsyncEngine, owner_conn: asyncpg.Connection, community: ledger.Community, issuance: Any
) -> None:
    """A basket held at the counter for one second and then forgotten: the sweep marks the hold expired and gives
    the reservation back, although no request touches the hold or its account."""
    wallet = await ledger.open_account(conn, community.id, "volunteer:forgotten")
    await fund(conn, community, issuance, wallet, 40)
    hold = await ledger.place_hold(
        conn, community.id, account_id=wallet.id, counter_account_id=issuance.id, amount=25, kind="redemption",
        timeout_s=1, idempotency_key="basket-1",
    )  # fmt: skip
    assert await owner_conn.fetchval("SELECT held FROM ledger.accounts WHERE id = $1", wallet.id) == 25

    async def expired() -> bool:
        status = await owner_conn.fetchval("SELECT status FROM ledger.holds WHERE id = $1", hold.id)
        return bool(status == "expired")

    sweep = PeriodicJob("expire_lapsed_holds", 1, tasks.expire_lapsed_holds)  # every second, for the test
    async with Worker(engine, [sweep]):
        await eventually(expired, 15, "the hold's expiry")
    row = await owner_conn.fetchrow("SELECT held, balance FROM ledger.accounts WHERE id = $1", wallet.id)
    assert (row["held"], row["balance"]) == (0, 40)  # reservation released, nothing posted


async def test_two_workers_never_run_one_job_twice(engine: AsyncEngine) -> None:
    """Sixty jobs, two workers (each with its own connections) taking them at the same time: every job runs
    exactly once."""
    ran: list[int] = []
    pools = [await asyncpg.create_pool(plain_dsn(engine), min_size=1, max_size=3) for _ in range(2)]
    queues = [build_queue(pool, engine, jobs=()) for pool in pools]
    for pgq in queues:

        @pgq.entrypoint("count_once")
        async def count_once(job: Job) -> None:
            await asyncio.sleep(0.01)  # long enough for the other worker to try the same row
            ran.append(job.id)

    try:
        assert queues[0].queries is not None
        ids = await queues[0].queries.enqueue(["count_once"] * 60, [None] * 60, [0] * 60)
        runners = [
            asyncio.create_task(pgq.run(dequeue_timeout=timedelta(seconds=1), batch_size=5, max_concurrent_tasks=10))
            for pgq in queues
        ]

        async def all_ran() -> bool:
            return len(ran) >= len(ids)

        await eventually(all_ran, 30, "sixty jobs")
        await asyncio.sleep(0.5)  # a double run would show up now
    finally:
        for pgq in queues:
            pgq.shutdown.set()
        await asyncio.gather(*runners, return_exceptions=True)
        for pool in pools:
            await pool.close()
    assert sorted(ran) == sorted(ids)


async def test_a_schedule_fires_once_per_tick_across_two_workers(engine: AsyncEngine) -> None:
    """Two workers with the same every-second schedule: it is run once a second, not twice."""
    runs: list[float] = []

    async def tick(_: AsyncEngine) -> int:
        runs.append(time.monotonic())
        return 1

    every_second = [PeriodicJob("tick_once", 1, tick)]
    started = time.monotonic()
    async with Worker(engine, every_second), Worker(engine, every_second):
        await asyncio.sleep(6)
    elapsed = time.monotonic() - started
    assert len(runs) >= 2, runs
    assert len(runs) <= elapsed + 1, f"{len(runs)} runs in {elapsed:.1f} s: a tick ran twice"
    gaps = [later - earlier for earlier, later in itertools.pairwise(runs)]
    assert min(gaps) >= 0.5, f"two runs {min(gaps):.3f} s apart: both workers ran one tick"


async def test_a_failing_job_is_retried_logged_and_shown(engine: AsyncEngine, conn: Any) -> None:
    """A job that fails twice is retried with backoff and then succeeds; one that always fails is kept as
    failed after MAX_ATTEMPTS, with its error; `points jobs` shows both."""
    attempts = {"flaky": 0, "broken": 0}

    async def flaky(_: AsyncEngine) -> int:
        attempts["flaky"] += 1
        if attempts["flaky"] <= 2:
            raise RuntimeError(f"the database went away (attempt {attempts['flaky']})")
        return 1

    async def broken(_: AsyncEngine) -> int:
        attempts["broken"] += 1
        raise RuntimeError("this job is broken for good")

    jobs = [PeriodicJob("flaky_once", 3600, flaky), PeriodicJob("broken_always", 3600, broken)]
    async with Worker(engine, jobs, first_retry_s=0.2) as worker:
        assert worker.queries is not None
        await worker.queries.enqueue(["flaky_once", "broken_always"], [None, None], [0, 0])

        async def done() -> bool:
            return attempts["flaky"] == 3 and attempts["broken"] == MAX_ATTEMPTS and bool((await report(conn)).failed)

        await eventually(done, 60, "the retries")
    seen = await report(conn)
    flaky_run = next(r for r in seen.runs if r.job == "flaky_once")
    assert (flaky_run.status, flaky_run.failures) == ("successful", 2)
    broken_run = next(r for r in seen.failed if r.job == "broken_always")
    assert broken_run.failures == MAX_ATTEMPTS
    assert "broken for good" in (broken_run.last_error or "")
    text = render(seen)
    assert "flaky_once" in text
    assert "2 failed attempt(s)" in text
    assert "broken for good" in text


async def test_expired_sessions_are_deleted(engine: AsyncEngine, owner_conn: asyncpg.Connection) -> None:
    key = f"expired-{time.time_ns()}".encode()
    await owner_conn.execute(
        "INSERT INTO points.sessions (key_hash, value, expires_at) VALUES ($1, '{}', now() - interval '1 minute')", key
    )
    assert await tasks.delete_expired_sessions(engine) >= 1
    assert await owner_conn.fetchval("SELECT count(*) FROM points.sessions WHERE key_hash = $1", key) == 0


async def test_the_sweep_works_in_each_community_it_finds(
    conn: Any, engine: AsyncEngine, community: ledger.Community, issuance: Any
) -> None:
    """The sweep's connection is entered in each community in turn (the ledger refuses to write elsewhere)."""
    wallet = await ledger.open_account(conn, community.id, "volunteer:sweep")
    await fund(conn, community, issuance, wallet, 5)
    await ledger.place_hold(
        conn, community.id, account_id=wallet.id, counter_account_id=issuance.id, amount=5, kind="swap",
        timeout_s=1, idempotency_key="sweep-1",
    )  # fmt: skip
    await asyncio.sleep(1.1)
    await ledger_db.enter(conn, community.id)
    assert await tasks.expire_lapsed_holds(engine) >= 1
    assert (await ledger.balance(conn, community.id, wallet.id)).held == 0
