"""`points worker` and `points jobs`: the queue outside the web process."""

from __future__ import annotations

import asyncio
import signal

from points import db
from points.jobs.report import render, report
from points.jobs.worker import Worker
from points.settings import Settings


async def run_worker(settings: Settings, url: str) -> None:
    """Run the scheduled jobs until SIGINT or SIGTERM; a job under way is let finish."""
    from points.app import structlog_config

    structlog_config(settings).configure()
    engine = db.make_engine(url, pool_size=2, app_url_override=settings.app_database_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with Worker(engine):
            await stop.wait()
    finally:
        await engine.dispose()


async def show_jobs(url: str, limit: int, app_url: str | None = None) -> str:
    engine = db.make_engine(url, pool_size=1, app_url_override=app_url)
    try:
        async with db.connection(engine) as conn:
            return render(await report(conn, limit=limit))
    finally:
        await engine.dispose()
