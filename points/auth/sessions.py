"""Litestar's server-side sessions, with the session id rotated at login.

A session id that existed before login must not be the one that carries the
login (session fixation). Litestar keeps the cookie's id; this backend hands
out a fresh one when the login handler asks for it.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.types import Empty, Message, ScopeSession

SESSION_COOKIE = "session"  # the cookie carrying the session id
_ROTATE = "points.rotate_session"


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
        await super().store_in_message(scope_session, message, connection)


class SessionConfig(ServerSideSessionConfig):
    _backend_class = RotatingSessionBackend
