"""CSRF protection for cookie sessions only, with the token bound to its session.

A browser attaches the session cookie by itself, so a form on another site
could post with it: those requests need Litestar's CSRF token. A request that
carries no session cookie (a Bearer token, or nobody) cannot be forged that
way, and API clients and counter terminals should not need a CSRF dance.

Litestar's check is a double-submit cookie: the header must repeat the
``csrftoken`` cookie, and the token must carry the server's signature. Alone,
that lets anyone who can plant a cookie in the victim's browser (a sibling
subdomain, a man in the middle on plain HTTP) plant their own valid token with
it. So the signing key here is derived from the server secret *and the session
id*: a token signed for one session is refused with any other session's cookie.
After signing in (a new session id) the next GET hands out a new token.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from typing import Any

from litestar.enums import ScopeType
from litestar.middleware.csrf import CSRFMiddleware, generate_csrf_token
from litestar.types import Receive, Scope, Send
from litestar.utils.scope.state import ScopeState

from points.auth.sessions import SESSION_COOKIE


def session_secret(secret: str, session_id: str) -> str:
    """The key CSRF tokens of this session are signed with: unknowable without the server secret."""
    return hmac.new(secret.encode(), b"csrf-session:" + session_id.encode(), hashlib.sha256).hexdigest()


class SessionCSRFMiddleware(CSRFMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        request: Any = scope["litestar_app"].request_class(scope=scope)
        session_id = request.cookies.get(SESSION_COOKIE)
        has_bearer = request.headers.get("authorization", "").lower().startswith("bearer ")
        if session_id is None or has_bearer:
            await self.app(scope, receive, send)
            return
        bound = dataclasses.replace(self.config, secret=session_secret(self.config.secret, session_id))
        await _SessionBoundCSRF(self.app, bound)(scope, receive, send)


class _SessionBoundCSRF(CSRFMiddleware):
    """Litestar's check with this session's key; a safe request holding a token of another session (or none)
    gets a fresh one, since Litestar would otherwise keep handing back the stale cookie."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request: Any = scope["litestar_app"].request_class(scope=scope)
        if request.method in self.config.safe_methods:
            cookie = request.cookies.get(self.config.cookie_name)
            if cookie is not None and self._decode_csrf_token(cookie) is None:
                token = ScopeState.from_scope(scope).csrf_token = generate_csrf_token(secret=self.config.secret)
                await self.app(scope, receive, self.create_send_wrapper(send=send, token=token, csrf_cookie=None))
                return
        await super().__call__(scope, receive, send)
