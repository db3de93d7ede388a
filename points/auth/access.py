"""Authentication (who is calling) and authorization (may they), for every request.

- ``AuthenticationMiddleware`` reads a Bearer token or the session and puts a
  :class:`Principal` (or None) in ``request.user``.
- ``authorize`` is the app-wide guard. It looks the operation up in the policy
  table (points/auth/policy.py), and for operations inside a community enters
  that community on the request's connection and loads the caller's roles
  there, in one round trip (none when the same person used the same community
  in the last few seconds: points/auth/recent.py). A caller who is not a member
  gets the same 404 as for a community that does not exist.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

import ledger
from ledger.errors import UnknownCommunity
from points.auth import identity, recent
from points.auth.errors import DeviceTokenNotAllowed
from points.auth.identity import Principal
from points.auth.policy import POLICY, STREET_ADMIN
from points.community_cache import CommunityCache
from points.request_db import request_connection

SESSION_IDLE_S = 30 * 60  # the session store forgets a session not used for this long
SESSION_ABSOLUTE_S = 12 * 3600  # and no session lives longer than this, used or not
OPENAPI_PREFIX = "/schema"


@dataclass(frozen=True, slots=True)
class Access:
    """What the caller is in the community of this request."""

    community_id: int
    member_id: int | None
    status: str | None
    household_id: int | None
    wallet_account_id: int | None
    roles: frozenset[str]  # effective: only an active member's grants count; street_admin added when implied
    person_id: int
    is_operator: bool

    @property
    def actor(self) -> str:
        if self.member_id is not None:
            return f"member:{self.member_id}"
        return f"{'operator' if self.is_operator else 'person'}:{self.person_id}"


# Tokens and access checked in the last few seconds (points/auth/recent.py explains the trade).
_recent_tokens: recent.Recent[str, Principal] = recent.register(recent.Recent())
_recent_access: recent.Recent[tuple[int, int], Access] = recent.register(recent.Recent())


class AuthenticationMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        header = connection.headers.get("authorization")
        if header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise NotAuthorizedException("send Authorization: Bearer <token>")
            principal = _recent_tokens.get(value.strip())
            if principal is None:
                conn = await request_connection(connection)
                principal = await identity.authenticate_token(conn, value.strip())
                if principal is None:
                    raise NotAuthorizedException("the token is unknown, revoked or expired")
                _recent_tokens.put(value.strip(), principal.person_id, principal)
            return AuthenticationResult(user=principal, auth="token")
        session = connection.scope.get("session")
        data: dict[str, Any] = session if isinstance(session, dict) else {}
        person_id, started_at = data.get("person_id"), data.get("started_at")
        if isinstance(person_id, int) and isinstance(started_at, int | float):
            if time.time() - started_at < SESSION_ABSOLUTE_S:
                return AuthenticationResult(user=Principal(person_id, False, "session"), auth="session")
            connection.clear_session()  # past its absolute lifetime: signed out, the store forgets it
        return AuthenticationResult(user=None, auth=None)


async def authorize(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """The one guard: every operation is checked against the policy table, and unknown ones are refused."""
    if connection.url.path == OPENAPI_PREFIX or connection.url.path.startswith(OPENAPI_PREFIX + "/"):
        return  # the OpenAPI document is public
    operation_id = getattr(handler, "operation_id", None)
    rule = POLICY.get(operation_id) if isinstance(operation_id, str) else None
    if rule is None:
        raise PermissionDeniedException(f"operation {operation_id!r} has no access policy")
    if rule.public:
        return
    principal: Principal | None = connection.scope.get("user")
    if principal is None:
        raise NotAuthorizedException("sign in first (a session cookie or Authorization: Bearer <token>)")
    if rule.personal and principal.token_community_id is not None:
        raise DeviceTokenNotAllowed("a device token cannot do this; sign in or use a personal token")
    conn = await request_connection(connection)
    slug = connection.path_params.get("slug")
    if slug is None:
        await ledger.leave(conn)
        if rule.signed_in or (rule.operator and await identity.person_is_operator(conn, principal.person_id)):
            return
        raise PermissionDeniedException("this needs a platform operator")
    communities: CommunityCache = connection.app.state.communities
    community = await communities.get(conn, slug)
    if principal.token_community_id not in (None, community.id):
        raise UnknownCommunity(f"community {slug!r} does not exist", slug=slug)
    access = _recent_access.get((principal.person_id, community.id))
    if access is None:
        access = await enter_community(conn, principal.person_id, community.id)
        _recent_access.put((principal.person_id, community.id), principal.person_id, access)
    else:
        await ledger.enter(conn, community.id)  # free when the pooled connection is in this community already
    connection.scope["state"]["access"] = access
    if rule.operator and access.is_operator:
        return
    if not access.roles and access.member_id is None:
        raise UnknownCommunity(f"community {slug!r} does not exist", slug=slug)
    if rule.signed_in or access.roles & rule.roles:
        return
    own_wallet = access.wallet_account_id
    if rule.own_account and own_wallet is not None and connection.path_params.get("account_id") == own_wallet:
        return
    raise PermissionDeniedException("your roles in this community do not allow this")


async def enter_community(conn: Any, person_id: int, community_id: int) -> Access:
    row = await conn.fetchrow("SELECT * FROM points.enter_community($1, $2)", person_id, community_id)
    ledger.entered(conn, community_id)
    roles = set(row["roles"]) if row["status"] == "active" else set()
    if row["street_admin"]:
        roles.add(STREET_ADMIN)
    return Access(
        community_id=community_id,
        member_id=row["member_id"],
        status=row["status"],
        household_id=row["household_id"],
        wallet_account_id=row["wallet_account_id"],
        roles=frozenset(roles),
        person_id=person_id,
        is_operator=row["is_operator"],
    )


def current_access(connection: ASGIConnection[Any, Any, Any, Any]) -> Access:
    access: Access | None = connection.scope["state"].get("access")
    if access is None:
        raise RuntimeError("current_access used on an operation outside a community")
    return access
