"""One pooled database connection per request, shared by authentication, guards and handlers.

It is taken on first use (a request that never touches the database takes
none) and handed back when the response has been sent. Sharing it matters:
the guard enters the request's community on it (row-level security's tenant)
in the same round trip that loads the caller's roles, and the handler's
queries then run in that community. The guard sets the tenant (or clears it)
at the start of every request, so a pooled connection never carries the last
request's community into the next one.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from litestar.connection import ASGIConnection
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncEngine

from points import db

_STACK = "points.db_stack"
_CONN = "points.db_conn"


async def request_connection(connection: ASGIConnection[Any, Any, Any, Any]) -> Any:
    state = connection.scope["state"]
    conn = state.get(_CONN)
    if conn is None:
        stack: AsyncExitStack | None = state.get(_STACK)
        if stack is None:
            raise RuntimeError("RequestConnectionMiddleware is not installed")
        engine: AsyncEngine = connection.app.state.engine
        conn = await stack.enter_async_context(db.connection(engine))
        state[_CONN] = conn
    return conn


class RequestConnectionMiddleware(ASGIMiddleware):
    scopes = ("http",)  # type: ignore[assignment]

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        async with AsyncExitStack() as stack:
            scope.setdefault("state", {})[_STACK] = stack
            try:
                await next_app(scope, receive, send)
            finally:
                scope["state"].pop(_CONN, None)
