"""CSRF protection for cookie sessions only.

A browser attaches the session cookie by itself, so a form on another site
could post with it: those requests need Litestar's CSRF token. A request that
carries no session cookie (a Bearer token, or nobody) cannot be forged that
way, and API clients and counter terminals should not need a CSRF dance.
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.middleware.csrf import CSRFMiddleware
from litestar.types import Receive, Scope, Send

SESSION_COOKIE = "session"


class SessionCSRFMiddleware(CSRFMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers", []))
        cookie = headers.get(b"cookie", b"").decode("latin-1")
        has_session = any(part.strip().startswith(SESSION_COOKIE + "=") for part in cookie.split(";"))
        has_bearer = headers.get(b"authorization", b"").lower().startswith(b"bearer ")
        if scope["type"] == ScopeType.HTTP and (not has_session or has_bearer):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
