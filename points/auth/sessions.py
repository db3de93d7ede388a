"""Litestar's server-side sessions, with the session id rotated at login.

A session id that existed before login must not be the one that carries the
login (session fixation). Litestar keeps the cookie's id; this backend hands
out a fresh one when the login handler asks for it. And a session ended on the
server (logout, a password change elsewhere) is not written back into existence
by a request of it that was still under way.
"""

from __future__ import annotations

import secrets
from contextvars import ContextVar
from typing import Any

from litestar.connection import ASGIConnection
from litestar.middleware.session.base import BaseSessionBackend
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.stores.base import Store
from litestar.types import Empty, Message, ScopeSession

from points.auth.session_store import PostgresSessionStore, delete_session, write_session

SESSION_COOKIE = "session"  # the cookie carrying the session id
SESSION_ID_BYTES = 32  # as Litestar's own session ids
_ROTATE = "points.rotate_session"
_WRITTEN = "points.session_written"  # the handler wrote (or deleted) the session row in its own transaction
# True while the response of such a request is sent: the backend then only sets (or clears) the cookie.
_written: ContextVar[bool] = ContextVar("points.session_written", default=False)


async def start_session(
    connection: ASGIConnection[Any, Any, Any, Any], conn: Any, data: dict[str, Any], *, max_age_s: int
) -> None:
    """Sign in: end the session the request came with (if any) and write a new one under a fresh id (no session
    fixation), both on ``conn``, so that they commit or roll back with the sign-in's transaction. The response
    then only sets the cookie."""
    old = connection.cookies.get(SESSION_COOKIE)
    if old:
        await delete_session(conn, old)
    new_id = secrets.token_hex(SESSION_ID_BYTES)
    await write_session(conn, new_id, BaseSessionBackend.serialize_data(data, connection.scope), max_age_s)
    state = connection.scope["state"]
    state[_ROTATE], state[_ROTATE + ".id"], state[_WRITTEN] = True, new_id, True
    connection.set_session(data)


async def end_session(connection: ASGIConnection[Any, Any, Any, Any], conn: Any) -> None:
    """Sign out: delete the session row on ``conn`` (inside the sign-out's transaction); the response clears the
    cookie."""
    current = connection.cookies.get(SESSION_COOKIE)
    if current:
        await delete_session(conn, current)
    connection.scope["state"][_WRITTEN] = True
    connection.clear_session()


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
        status = message.get("status", 200)
        if connection.scope["state"].get(_WRITTEN) and isinstance(status, int) and status >= 500:
            # The sign-in or sign-out failed after writing the session row in its transaction, which rolled back:
            # the cookie stays as it was. A cookie for a session that never committed would make the next
            # sign-in fail its CSRF check (tests/test_page_rollback.py found it).
            return
        written = _written.set(bool(connection.scope["state"].get(_WRITTEN)))
        try:
            await super().store_in_message(scope_session, message, connection)
        finally:
            _written.reset(written)

    async def set(self, session_id: str, data: bytes, store: Store) -> None:
        """Litestar writes every request's session back when its response starts. Only a sign-in creates one (in
        its own transaction, start_session); any other request rewrites its session only if it still exists, so a
        session ended while one of its requests was under way (a password change elsewhere) is not brought back."""
        if _written.get():
            return
        if not isinstance(store, PostgresSessionStore):
            await super().set(session_id, data, store)
            return
        await store.rewrite(session_id, data, expires_in=self.config.max_age)

    async def delete(self, session_id: str, store: Store) -> None:
        if _written.get():
            return  # the sign-out deleted the row in its own transaction
        await super().delete(session_id, store)


class SessionConfig(ServerSideSessionConfig):
    _backend_class = RotatingSessionBackend
