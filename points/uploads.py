"""Every file a multipart form uploaded is closed when its request ends, whatever became of the request.

Litestar parses a multipart form once (the CSRF middleware reads it first) into ``UploadFile``s over spooled
temporary files and leaves them open. A handler that reads its photo can close it, but a request refused before its
handler runs (signed out, no CSRF token, a database error in the guard) never reaches that code, and the files
linger until the collector finds them (a ResourceWarning, which the tests treat as an error)."""

from __future__ import annotations

from litestar.datastructures import UploadFile
from litestar.types import ASGIApp, Receive, Scope, Send
from litestar.utils.empty import value_or_default
from litestar.utils.scope.state import ScopeState


class CloseUploadsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            form = value_or_default(ScopeState.from_scope(scope).form, {})
            for value in form.values():
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, UploadFile):
                        await item.close()
