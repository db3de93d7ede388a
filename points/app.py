"""The Litestar application: wiring only. Rules live in ledger/ (and the domain packages)."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from typing import Any, cast

import msgspec
import structlog
from litestar import Litestar, MediaType, Response, get
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.logging.config import StructLoggingConfig
from litestar.middleware import DefineMiddleware
from litestar.middleware.logging import LoggingMiddlewareConfig
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.params import FromPath
from litestar.plugins.structlog import StructlogConfig, StructlogPlugin
from litestar.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from catalog.swap_web import SwapListingsController, SwapProposalsController
from catalog.web import CounterController, GoodsController
from points import db
from points.auth.access import SESSION_IDLE_S, AuthenticationMiddleware, authorize
from points.auth.csrf import SessionCSRFMiddleware
from points.auth.session_store import PostgresSessionStore
from points.auth.sessions import SESSION_COOKIE, SessionConfig
from points.auth.web import SESSION_STORE, AuthController
from points.community_cache import CommunityCache
from points.earning.web import ActivitiesController, AwardsController, EarningSetupController
from points.earning.web_attendance import AttendanceController
from points.earning.web_reports import ReportsController
from points.errors import internal_error_handler, problem_catalog, problem_details_plugin
from points.expiry.web import ExpiryController
from points.jobs.worker import Worker
from points.ledger_web import (
    CommunitiesController,
    LedgerController,
)
from points.members.web import MEMBER_CONTROLLERS
from points.openapi import PUBLIC, SIGNED_IN, StrictStructSchemaPlugin, components, problems
from points.orders.web import OrdersController
from points.pages.routes import PAGE_HANDLERS
from points.pages.web import static_router, template_config
from points.publication.web import PublicationController
from points.request_db import RequestConnectionMiddleware
from points.settings import Settings, get_settings
from points.strict_input import strict_input
from points.uploads import CloseUploadsMiddleware
from points.wallet_web import WalletController
from points.wiring import DEPENDENCIES

VERSION = "0.1.0"


@get(
    "/health",
    operation_id="health",
    tags=["service"],
    cache=False,
    security=PUBLIC,
    responses={
        503: ResponseSpec(
            data_container=dict[str, Any], description="The database does not answer.", generate_examples=False
        )
    },
)
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


@get(
    "/problems/{code:str}",
    operation_id="describeProblem",
    tags=["service"],
    media_type=MediaType.JSON,
    responses=problems(400, 404),
    security=PUBLIC,
)
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


def structlog_config(settings: Settings) -> StructLoggingConfig:
    """JSON lines on stdout, for the web process and for `points worker` alike."""
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        structlog.processors.JSONRenderer(serializer=_json_bytes),
    ]
    level = getattr(logging, settings.log_level.upper())
    return StructLoggingConfig(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        log_exceptions="never",  # 4xx are answers, not incidents; 500s are logged by internal_error_handler
        pretty_print_tty=False,
    )


def _logging(settings: Settings) -> StructlogPlugin:
    return StructlogPlugin(
        StructlogConfig(
            structlog_logging_config=structlog_config(settings),
            # Bodies, headers and cookies are never logged: they carry phone numbers and credentials.
            middleware_logging_config=LoggingMiddlewareConfig(
                request_log_fields=["method", "path"],
                response_log_fields=["status_code"],
                exclude=["/health"],
            ),
            enable_middleware_logging=settings.request_log,
        )
    )


def _proxy_headers(settings: Settings) -> list[Callable[[ASGIApp], ASGIApp]]:
    """Behind trusted reverse proxies, the client is the address they forward (X-Forwarded-For); put in the
    scope first of all, so the rate limit, the audit trail and everything else see the same address. Without
    any, the header is ignored: the peer of the TCP connection is the client (`points serve` turns uvicorn's own
    proxy handling off, which would otherwise believe any local peer)."""
    if not settings.trusted_proxies:
        return []
    trusted = list(settings.trusted_proxies)

    def proxy_headers(app: ASGIApp) -> ASGIApp:
        # uvicorn types its ASGI callables with its own (equivalent) definitions of scope, receive and send
        return cast("ASGIApp", ProxyHeadersMiddleware(cast("Any", app), trusted_hosts=trusted))

    return [proxy_headers]


def create_app(
    settings: Settings | None = None, *, database_url: str | None = None, with_worker: bool = False
) -> Litestar:
    """Build the app. ``database_url`` overrides the settings (the CLI passes the embedded one); ``with_worker``
    runs the scheduled jobs in this process too (``points serve`` does, unless told not to)."""
    settings = settings or get_settings()
    url = database_url or settings.database_url
    if url is None:
        raise RuntimeError("no database: run through `points serve`, or set DATABASE_URL")
    # Created now (it connects lazily) so that the session store can share its pool.
    engine = db.make_engine(url, pool_size=settings.pool_size, app_url_override=settings.app_database_url)

    worker = Worker(engine) if with_worker else None

    async def on_startup(app: Litestar) -> None:
        app.state.engine = engine
        app.state.communities = CommunityCache()
        if worker is not None:
            await worker.start()
        # Everything loaded so far (Litestar, SQLAlchemy, the OpenAPI model) lives as long as the process; out of
        # the collector's sight, a full collection takes a few ms instead of ~40 ms in the middle of a request.
        gc.collect()
        gc.freeze()

    async def on_shutdown(app: Litestar) -> None:
        if worker is not None:
            await worker.stop()  # lets a running job finish before the pool goes
        await engine.dispose()

    sessions = SessionConfig(
        store=SESSION_STORE,
        key=SESSION_COOKIE,
        max_age=SESSION_IDLE_S,  # idle timeout: every use renews it ...
        renew_on_access=True,  # ... and the absolute limit is checked by the authentication middleware
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )
    csrf = CSRFConfig(secret=settings.secret_key, cookie_secure=settings.secure_cookies, cookie_samesite="lax")

    return Litestar(
        route_handlers=[
            health,
            describe_problem,
            AuthController,
            CommunitiesController,
            LedgerController,
            *MEMBER_CONTROLLERS,
            WalletController,
            ExpiryController,
            PublicationController,
            OrdersController,
            EarningSetupController,
            ActivitiesController,
            AwardsController,
            AttendanceController,
            ReportsController,
            GoodsController,
            CounterController,
            SwapListingsController,
            SwapProposalsController,
            *PAGE_HANDLERS,  # the pages (points/pages/), left out of the OpenAPI document
            static_router(),
        ],
        template_config=template_config(),
        dependencies=DEPENDENCIES,
        guards=[authorize],
        middleware=[
            CloseUploadsMiddleware,  # outermost: a form's uploaded files are closed however its request ended
            *_proxy_headers(settings),
            RequestConnectionMiddleware(),
            sessions.middleware,
            DefineMiddleware(AuthenticationMiddleware),
            DefineMiddleware(SessionCSRFMiddleware, config=csrf),
        ],
        stores={SESSION_STORE: PostgresSessionStore(engine)},
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        plugins=[problem_details_plugin(), _logging(settings), StrictStructSchemaPlugin()],
        exception_handlers={Exception: internal_error_handler},
        before_request=strict_input,  # strict bodies and query parameters, for every operation
        openapi_config=OpenAPIConfig(
            title="邻里积分 Linli Points",
            version=VERSION,
            description="Volunteer points and community exchange on an append-only double-entry ledger.",
            path="/schema",
            render_plugins=[ScalarRenderPlugin()],
            components=components(),
            security=SIGNED_IN,  # every operation but those that say PUBLIC (points/auth/policy.py decides)
        ),
        request_max_body_size=2 * 1024 * 1024,
    )
