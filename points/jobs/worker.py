"""The queue, its schedules, and the worker: PgQueuer over asyncpg, the driver the service already uses.

Every periodic job is two things: a schedule that, every ``every_s`` seconds, enqueues the job (at most one
waiting at a time: the dedupe key), and an entrypoint that runs it. Several workers share one database safely:
a schedule row is claimed by one worker per tick and a job by one worker (both ``FOR UPDATE SKIP LOCKED``).
A job that raises is retried with backoff up to ``MAX_ATTEMPTS`` times, then kept with status ``failed`` and its
traceback (``on_failure="hold"``) where ``points jobs`` shows it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
import structlog
from pgqueuer import PgQueuer
from pgqueuer.core.executors import DatabaseRetryEntrypointExecutor, EntrypointExecutorParameters
from pgqueuer.domain.models import Job, Schedule
from sqlalchemy.ext.asyncio import AsyncEngine

from points.jobs import tasks

log = structlog.get_logger("points.jobs")

MAX_ATTEMPTS = 5
FIRST_RETRY_S = 2
LAST_RETRY_S = 300
POOL_SIZE = 3  # the queue's own connections: one listens for new jobs, the others claim and log them


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    name: str
    every_s: int
    run: Callable[[AsyncEngine], Awaitable[int]]  # returns how many things it did (for the log)


# A lapsed hold no longer reserves anything the moment it lapses (reads and postings ignore it); the sweep marks
# it expired and releases its row within half a minute, with nobody touching it.
PERIODIC: tuple[PeriodicJob, ...] = (
    PeriodicJob("expire_lapsed_holds", 20, tasks.expire_lapsed_holds),
    PeriodicJob("delete_expired_sessions", 600, tasks.delete_expired_sessions),
    PeriodicJob("expire_points", 60, tasks.expire_points),  # points expiry (points/expiry/), due within the minute
    PeriodicJob("time_out_swaps", 60, tasks.time_out_swaps),  # the swap table's hand-over deadlines (catalog/)
    PeriodicJob("expire_swap_listings", 60, tasks.expire_swap_listings),  # the swap table's old listings
    # the 公示 window (points/publication/): awards whose window ended settle within the minute
    PeriodicJob("settle_published_awards", 60, tasks.settle_published_awards),
    # service orders (points/orders/): not accepted in time back to the dispatcher, not confirmed in time confirmed
    PeriodicJob("time_out_service_orders", 60, tasks.time_out_service_orders),
)


def cron_every(seconds: int) -> str:
    """A cron expression firing every ``seconds`` (croniter's six fields put seconds last)."""
    if not 1 <= seconds <= 3600 or (seconds < 60 and 60 % seconds) or (seconds >= 60 and seconds % 60):
        raise ValueError(f"cannot schedule every {seconds} s: use a divisor of 60 s, or whole minutes up to an hour")
    if seconds < 60:
        return f"* * * * * */{seconds}"
    return f"*/{seconds // 60} * * * *"


def _retrying(first_retry_s: float) -> Callable[[EntrypointExecutorParameters], DatabaseRetryEntrypointExecutor]:
    def executor(parameters: EntrypointExecutorParameters) -> DatabaseRetryEntrypointExecutor:
        return DatabaseRetryEntrypointExecutor(
            parameters,
            max_attempts=MAX_ATTEMPTS - 1,  # pgqueuer counts retries after the first run
            initial_delay=timedelta(seconds=first_retry_s),
            max_delay=timedelta(seconds=LAST_RETRY_S),
        )

    return executor


def build_queue(
    pool: asyncpg.Pool,
    engine: AsyncEngine,
    jobs: Sequence[PeriodicJob] = PERIODIC,
    *,
    first_retry_s: float = FIRST_RETRY_S,
) -> PgQueuer:
    """A PgQueuer on ``pool`` (as the service's role) with every periodic job registered."""
    pgq = PgQueuer.from_asyncpg_pool(pool)
    for job in jobs:
        _register(pgq, engine, job, first_retry_s)
    return pgq


def _register(pgq: PgQueuer, engine: AsyncEngine, job: PeriodicJob, first_retry_s: float) -> None:
    @pgq.entrypoint(job.name, executor_factory=_retrying(first_retry_s), on_failure="hold")
    async def run(queued: Job) -> None:
        try:
            done = await job.run(engine)
        except Exception:
            log.exception("job_failed", job=job.name, job_id=queued.id, attempt=queued.attempts + 1)
            raise
        log.debug("job_done", job=job.name, job_id=queued.id, done=done)

    @pgq.schedule(job.name, cron_every(job.every_s))
    async def enqueue(schedule: Schedule) -> None:
        if pgq.queries is None:  # PgQueuer sets it in __post_init__; never None once built
            raise RuntimeError("the queue has no queries")
        # At most one waiting: a tick that finds the last run still queued or running adds nothing.
        await pgq.queries.enqueue(job.name, None, dedupe_key=job.name, on_conflict="skip")


def plain_dsn(engine: AsyncEngine) -> str:
    """The engine's database and login, as asyncpg itself takes them."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


class Worker:
    """A worker running in the background of this process until ``stop()``."""

    def __init__(
        self, engine: AsyncEngine, jobs: Sequence[PeriodicJob] = PERIODIC, *, first_retry_s: float = FIRST_RETRY_S
    ) -> None:
        self._engine = engine
        self._jobs = jobs
        self._first_retry_s = first_retry_s
        self._task: asyncio.Task[None] | None = None
        self._pgq: PgQueuer | None = None
        self._pool: asyncpg.Pool | None = None

    async def start(self) -> None:
        self._pool = await asyncpg.create_pool(
            plain_dsn(self._engine), min_size=1, max_size=POOL_SIZE, server_settings={"application_name": "linli-jobs"}
        )
        self._pgq = build_queue(self._pool, self._engine, self._jobs, first_retry_s=self._first_retry_s)
        self._task = asyncio.create_task(self._run(self._pgq), name="points-jobs-worker")

    @staticmethod
    async def _run(pgq: PgQueuer) -> None:
        try:
            await pgq.run(dequeue_timeout=timedelta(seconds=10), batch_size=2, max_concurrent_tasks=4)
        except Exception:
            log.exception("worker_stopped")
            raise

    @property
    def queries(self) -> Any:
        """The queue's queries (to enqueue a job by hand); None before start()."""
        return None if self._pgq is None else self._pgq.queries

    async def stop(self) -> None:
        if self._pgq is not None:
            self._pgq.shutdown.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, timeout=15)
        if self._pool is not None:
            await self._pool.close()

    async def __aenter__(self) -> Worker:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()
