"""The `points` command: serve, migrate, verify, demo.

With no DATABASE_URL every command uses the embedded PostgreSQL in the data
directory (started for the command and stopped after it); with DATABASE_URL
it uses that database and starts nothing.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import click

from points.embedded import DataDirectoryBusy, EmbeddedPostgres
from points.settings import Settings, SettingsError


@contextmanager
def database(settings: Settings, *, announce: bool = True) -> Iterator[str]:
    """The database URL to use, starting the embedded server when DATABASE_URL is unset."""
    if settings.database_url:
        yield settings.database_url
        return
    embedded = EmbeddedPostgres(settings.data_dir)
    try:
        url = embedded.start()
    except DataDirectoryBusy as exc:
        raise click.ClickException(str(exc)) from None
    if announce:
        click.echo(f"embedded PostgreSQL 18 in {embedded.data_dir}", err=True)
        click.echo(f"  DATABASE_URL={url.replace('+asyncpg', '')}", err=True)
    try:
        yield url
    finally:
        embedded.stop()


def _settings(data_dir: Path | None) -> Settings:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    return settings if data_dir is None else replace(settings, data_dir=data_dir)


data_dir_option = click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Embedded PostgreSQL data directory (default: POINTS_DATA_DIR or the user data dir).",
)


@click.group()
@click.version_option(package_name="linli-points")
def main() -> None:
    """邻里积分 Linli Points: volunteer points on an append-only double-entry ledger."""


@main.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1, or POINTS_HOST).")
@click.option("--port", type=int, default=None, help="Port (default 8000, or POINTS_PORT).")
@click.option("--demo", is_flag=True, help="Load the demo community before serving (safe to repeat).")
@click.option(
    "--worker/--no-worker",
    default=True,
    show_default=True,
    help="Run the scheduled jobs in this process too (turn off when `points worker` runs them).",
)
@data_dir_option
def serve(host: str | None, port: int | None, demo: bool, worker: bool, data_dir: Path | None) -> None:
    """Migrate and serve HTTP. Ctrl-C stops the server (and the embedded database) cleanly."""
    import uvicorn

    from points.app import create_app
    from points.bootstrap import ensure_operator
    from points.migrate import upgrade

    settings = _settings(data_dir)
    with database(settings) as url:
        upgrade(url)
        first_run = asyncio.run(ensure_operator(url))
        if first_run:
            click.echo(first_run, err=True)
        if demo:
            from points.demo import load_demo

            click.echo(asyncio.run(load_demo(url, settings.app_database_url)), err=True)
        app = create_app(settings, database_url=url, with_worker=worker)
        click.echo(f"serving on http://{host or settings.host}:{port or settings.port}  (OpenAPI: /schema)", err=True)
        uvicorn.run(
            app,
            host=host or settings.host,
            port=port or settings.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            # uvicorn would take X-Forwarded-For from any local peer; the app believes only POINTS_TRUSTED_PROXIES.
            proxy_headers=False,
        )


@main.command()
@data_dir_option
def worker(data_dir: Path | None) -> None:
    """Run the scheduled jobs without serving HTTP (several may run at once; each job runs once)."""
    from points.jobs.run import run_worker
    from points.migrate import upgrade

    settings = _settings(data_dir)
    with database(settings) as url:
        upgrade(url)
        click.echo("worker running; Ctrl-C stops it", err=True)
        asyncio.run(run_worker(settings, url))


@main.command()
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True, help="How many recent runs.")
@data_dir_option
def jobs(limit: int, data_dir: Path | None) -> None:
    """Recent runs of the scheduled jobs, and the ones given up on after every retry (with their error)."""
    from points.jobs.run import show_jobs

    with database(_settings(data_dir), announce=False) as url:
        click.echo(asyncio.run(show_jobs(url, limit)))


@main.command()
@click.option("--revision", default="head", show_default=True, help="Target revision (e.g. -1 to step back).")
@data_dir_option
def migrate(revision: str, data_dir: Path | None) -> None:
    """Bring the database schema up (or down) to a revision."""
    from points.migrate import downgrade, upgrade

    with database(_settings(data_dir)) as url:
        if revision.startswith("-") or revision == "base":
            downgrade(url, revision)
        else:
            upgrade(url, revision)
    click.echo(f"migrated to {revision}", err=True)


@main.command()
@click.option("--community", "slug", default=None, help="Check one community (by slug); default all.")
@data_dir_option
def verify(slug: str | None, data_dir: Path | None) -> None:
    """Recompute every balance and entry from the postings; exit 1 naming the first discrepancy."""
    from points.verify import run_verify

    with database(_settings(data_dir), announce=False) as url:
        ok, report = asyncio.run(run_verify(url, slug))
    click.echo(report)
    if not ok:
        sys.exit(1)


@main.command()
@data_dir_option
def demo(data_dir: Path | None) -> None:
    """Load the demo community 阳光社区 (safe to repeat: every write is idempotent)."""
    from points.demo import load_demo
    from points.migrate import upgrade

    settings = _settings(data_dir)
    with database(settings) as url:
        upgrade(url)
        click.echo(asyncio.run(load_demo(url, settings.app_database_url)))


@main.command()
@click.option("--phone", required=True, help="The operator's phone number (their sign-in name).")
@click.password_option(help="The new password (asked for when not given).")
@data_dir_option
def operator(phone: str, password: str, data_dir: Path | None) -> None:
    """Create a platform operator, or reset one's password (as the database owner)."""
    from points.auth.identity import normalise_phone
    from points.auth.passwords import check_new_password
    from points.bootstrap import make_operator
    from points.migrate import upgrade

    problems = check_new_password(password)
    if problems:
        raise click.ClickException(problems[0])
    phone = normalise_phone(phone)
    with database(_settings(data_dir)) as url:
        upgrade(url)
        asyncio.run(make_operator(url, phone, password))
    click.echo(f"operator {phone[:3]}****{phone[-4:]} can sign in")


if __name__ == "__main__":
    main()
