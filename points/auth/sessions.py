"""Litestar's server-side sessions, with the session id rotated at login.

A session id that existed before login must not be the one that carries the
login (session fixation). Litestar keeps the cookie's id; this backend hands
out a fresh one when the login handler asks for it. And a session ended on the
server (logout, a password change elsewhere) is not written back into existence
by a request of it that was still under way.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from litestar.connection import ASGIConnection
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.stores.base import Store
from litestar.types import Empty, Message, ScopeSession

from points.auth.session_store import PostgresSessionStore

SESSION_COOKIE = "session"  # the cookie carrying the session id
_ROTATE = "points.rotate_session"
# True while the response of a login stores its new session (the only way a session comes to exist here).
_creating: ContextVar[bool] = ContextVar("points.creating_session", default=False)


def rotate_session_id(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Make the response carry a new session id (call it when the session changes hands, i.e. at login)."""
    connection.scope["state"][_ROTATE] = True


class RotatingSessionBackend(ServerSideSessionBackend):
    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        state = connection.scope["state"]
        if state.get(_ROTATE):
            new_id: str | None = state.get(_ROTATE + ".id")
            if new_id is None:
                new_id = self.generate_session_id()
                state[_ROTATE + ".id"] = new_id
            return new_id
        return super().get_session_id(connection)

    async def store_in_message(
        self, scope_session: ScopeSession, message: Message, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        """Litestar stores every request's session, even an empty one with no cookie: for a Bearer client that
        would be a row written (and a cookie set) per request. An empty session is stored only to end one."""
        if not scope_session and scope_session is not Empty and self.config.key not in connection.cookies:
            return
        if not scope_session and scope_session is not Empty:
            scope_session = Empty  # an emptied session: delete it and clear the cookie
        creating = _creating.set(bool(connection.scope["state"].get(_ROTATE)))
        try:
            await super().store_in_message(scope_session, message, connection)
        finally:
            _creating.reset(creating)

    async def set(self, session_id: str, data: bytes, store: Store) -> None:
        """Litestar writes every request's session back when its response starts. Only a login creates one; any
        other request rewrites its session only if it still exists, so a session ended while one of its requests
        was under way (a password change elsewhere) is not brought back by that request."""
        if _creating.get() or not isinstance(store, PostgresSessionStore):
            await super().set(session_id, data, store)
            return
        await store.rewrite(session_id, data, expires_in=self.config.max_age)


class SessionConfig(ServerSideSessionConfig):
    _backend_class = RotatingSessionBackend
