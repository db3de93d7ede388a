"""The Litestar application: wiring only. Rules live in ledger/ (and the domain packages)."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from typing import Any

import msgspec
import structlog
from litestar import Litestar, MediaType, Response, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.logging.config import StructLoggingConfig
from litestar.middleware.logging import LoggingMiddlewareConfig
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.params import FromPath
from litestar.plugins.structlog import StructlogConfig, StructlogPlugin
from sqlalchemy.ext.asyncio import AsyncEngine

from points import db
from points.community_cache import CommunityCache
from points.errors import internal_error_handler, problem_catalog, problem_details_plugin
from points.ledger_web import CommunitiesController, LedgerController, provide_actor, provide_community
from points.settings import Settings, get_settings

VERSION = "0.1.0"


async def provide_conn(state: State) -> AsyncGenerator[Any, None]:
    async with db.connection(state.engine) as conn:
        yield conn


def provide_communities(state: State) -> CommunityCache:
    cache: CommunityCache = state.communities
    return cache


@get("/health", operation_id="health", tags=["service"], cache=False)
async def health(state: State) -> Response[dict[str, Any]]:
    """Reports whether the database answers; 503 when it does not."""
    try:
        async with db.connection(state.engine) as conn:
            version = await conn.fetchval("SHOW server_version")
    except Exception as exc:  # any failure to reach the database is what this endpoint reports
        return Response(
            {"status": "unavailable", "database": "unreachable", "error": type(exc).__name__}, status_code=503
        )
    return Response({"status": "ok", "database": "ok", "postgres": version, "version": VERSION})


@get("/problems/{code:str}", operation_id="describeProblem", tags=["service"], media_type=MediaType.JSON)
async def describe_problem(code: FromPath[str]) -> dict[str, Any]:
    """What an error ``code`` means (the ``type`` link of every problem+json response)."""
    known = problem_catalog().get(code)
    if known is None:
        raise NotFoundException(f"no problem is called {code!r}")
    return known


_log_encoder = msgspec.json.Encoder(enc_hook=str)


def _json_bytes(obj: Any, **_: Any) -> bytes:
    """Litestar's structlog logger writes bytes; msgspec renders a log line straight to them."""
    return _log_encoder.encode(obj)


def _logging(settings: Settings) -> StructlogPlugin:
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        structlog.processors.JSONRenderer(serializer=_json_bytes),
    ]
    level = getattr(logging, settings.log_level.upper())
    return StructlogPlugin(
        StructlogConfig(
            structlog_logging_config=StructLoggingConfig(
                processors=processors,
                wrapper_class=structlog.make_filtering_bound_logger(level),
                log_exceptions="never",  # 4xx are answers, not incidents; 500s are logged by internal_error_handler
                pretty_print_tty=False,
            ),
            # Bodies, headers and cookies are never logged: they carry phone numbers and credentials.
            middleware_logging_config=LoggingMiddlewareConfig(
                request_log_fields=["method", "path"],
                response_log_fields=["status_code"],
                exclude=["/health"],
            ),
            enable_middleware_logging=settings.request_log,
        )
    )


def create_app(settings: Settings | None = None, *, database_url: str | None = None) -> Litestar:
    """Build the app. ``database_url`` overrides the settings (the CLI passes the embedded one)."""
    settings = settings or get_settings()
    url = database_url or settings.database_url
    if url is None:
        raise RuntimeError("no database: run through `points serve`, or set DATABASE_URL")

    async def open_engine(app: Litestar) -> None:
        app.state.engine = db.make_engine(url, pool_size=settings.pool_size, app_url_override=settings.app_database_url)
        app.state.communities = CommunityCache()

    async def close_engine(app: Litestar) -> None:
        engine: AsyncEngine = app.state.engine
        await engine.dispose()

    return Litestar(
        route_handlers=[health, describe_problem, CommunitiesController, LedgerController],
        dependencies={
            "conn": Provide(provide_conn),
            "communities": Provide(provide_communities, sync_to_thread=False),
            "community": Provide(provide_community),
            "actor": Provide(provide_actor),
        },
        on_startup=[open_engine],
        on_shutdown=[close_engine],
        plugins=[problem_details_plugin(), _logging(settings)],
        exception_handlers={Exception: internal_error_handler},
        openapi_config=OpenAPIConfig(
            title="邻里积分 Linli Points",
            version=VERSION,
            description="Volunteer points and community exchange on an append-only double-entry ledger.",
            path="/schema",
            render_plugins=[ScalarRenderPlugin()],
        ),
        request_max_body_size=2 * 1024 * 1024,
    )
