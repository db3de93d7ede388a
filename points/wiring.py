"""Request wiring: what a handler is given (its connection, community, access, write context), in one place.

Handlers name these dependencies by their aliases (``Conn``, ``CurrentCommunity``, ``CurrentAccess``, ``Here``);
``DEPENDENCIES`` registers them once on the app. No rule lives here: who may act on behalf of whom is decided by
``points.entries.actor_for``; this module only reads the request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, HeaderParameter

import ledger
from ledger.model import MAX_ID
from points.auth.access import Access, current_access
from points.community_cache import CommunityCache
from points.entries import actor_for
from points.request_db import request_connection

# Injected by name: the request's connection, the community named in the path, the caller's access there, and for
# ledger writes the WriteContext (connection, access and the actor to record).
Conn = NamedDependency[Any]
CurrentCommunity = NamedDependency[ledger.Community]
CurrentAccess = NamedDependency[Access]

OnBehalfOf = Annotated[
    str | None,
    HeaderParameter(
        name="X-On-Behalf-Of",
        # No pattern here: a JSON Schema pattern and Python's regex disagree on a trailing newline, and the
        # words "X-On-Behalf-Of is a member id" say more than "not in the expected form".
        description="An organizer or admin acting for a member without a phone (代办): the member's id "
        "(digits). Entries then record who acted for whom.",
    ),
]

DIGITS = re.compile(r"[0-9]{1,19}")


async def provide_conn(request: Request[Any, Any, Any]) -> Any:
    return await request_connection(request)


async def provide_community(request: Request[Any, Any, Any], conn: Conn, slug: FromPath[str]) -> ledger.Community:
    """The community of the path. The guard has looked it up (and checked the caller belongs) already."""
    communities: CommunityCache = request.app.state.communities
    return await communities.get(conn, slug)


def provide_access(request: Request[Any, Any, Any]) -> Access:
    return current_access(request)


@dataclass(frozen=True, slots=True)
class WriteContext:
    """What a ledger write needs from its request, as ONE dependency: Litestar resolves sibling dependencies
    concurrently, in a task group per request, which costs more than looking these up (see BENCHMARKS.md)."""

    conn: Any
    access: Access
    actor: str

    @property
    def community_id(self) -> int:
        return self.access.community_id  # the guard resolved the path's community and entered it


Here = NamedDependency[WriteContext]


async def provide_here(
    request: Request[Any, Any, Any], slug: FromPath[str], x_on_behalf_of: OnBehalfOf = None
) -> WriteContext:
    # ``slug`` is named so that the OpenAPI document declares it (Litestar documents the path parameters of the
    # handler and its dependencies only); the guard has resolved it into ``access`` already.
    conn = await request_connection(request)
    access = current_access(request)
    member_id = None
    if x_on_behalf_of is not None:
        # Digits only, within an id's range: int() alone would take "1_0", " 7 " and numbers PostgreSQL cannot hold;
        # anything else becomes 0, which actor_for refuses in words.
        member_id = int(x_on_behalf_of) if DIGITS.fullmatch(x_on_behalf_of) else 0
        if member_id > MAX_ID:
            member_id = 0
    return WriteContext(conn, access, await actor_for(conn, access, member_id))


DEPENDENCIES = {
    "conn": Provide(provide_conn),
    "community": Provide(provide_community),
    "access": Provide(provide_access, sync_to_thread=False),
    "here": Provide(provide_here),
}
