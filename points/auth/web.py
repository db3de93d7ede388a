"""Sign in and out, who am I, password, personal and device tokens."""

from __future__ import annotations

import time
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

import ledger
from ledger.errors import UnknownCommunity
from points.audit import audit
from points.auth import identity, recent
from points.auth.access import SESSION_IDLE_S
from points.auth.errors import NotSignedIn
from points.auth.identity import Principal, mask_phone
from points.auth.sessions import SESSION_COOKIE, end_session, start_session
from points.fields import Name, Password, PathId, Phone, Text, TokenDays
from points.openapi import PUBLIC, problems
from points.wiring import Conn

SESSION_STORE = "sessions"


def client_address(request: Request[Any, Any, Any]) -> str:
    """Whom the login limit counts: the connection's peer as the scope has it (behind trusted proxies, the address
    they forward: points/app.py), never a header the caller wrote."""
    client = request.scope.get("client")
    return client[0] if client else "unknown"


LOGIN_ATTEMPTS_PER_MINUTE = 20
# Per client address, on the login route only (a middleware on every route cost each request a thread hop);
# per account, the database counts failures and locks (points/auth/identity.py).
LOGIN_LIMIT = RateLimitConfig(rate_limit=("minute", LOGIN_ATTEMPTS_PER_MINUTE), identifier_for_request=client_address)


# Types and limits: points/fields.py. Decoded strictly (points/strict_input.py).


class LoginIn(msgspec.Struct, forbid_unknown_fields=True):
    phone: Annotated[Phone, msgspec.Meta(min_length=1)]
    password: Annotated[Password, msgspec.Meta(min_length=1)]


class PasswordIn(msgspec.Struct, forbid_unknown_fields=True):
    current_password: Password
    new_password: Password


class TokenIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    kind: Text = "personal"
    days: TokenDays = 90
    community: Text | None = None  # slug; required for device tokens


class MembershipOut(msgspec.Struct):
    community_id: int
    slug: str
    community_name: str
    member_id: int
    display_name: str
    status: str
    roles: list[str]


class MeOut(msgspec.Struct):
    person_id: int
    phone: str  # masked
    is_operator: bool
    signed_in_by: str
    memberships: list[MembershipOut]


class NewTokenOut(msgspec.Struct):
    token: str  # shown once; only its hash is kept
    details: identity.TokenInfo


def _principal(request: Request[Any, Any, Any]) -> Principal:
    principal: Principal | None = request.scope.get("user")
    if principal is None:
        raise NotSignedIn("sign in first")
    return principal


async def _me(conn: Any, principal: Principal) -> MeOut:
    person = await identity.person(conn, principal)
    memberships = [
        MembershipOut(m.community_id, m.slug, m.community_name, m.member_id, m.display_name, m.status, list(m.roles))
        for m in person.memberships
    ]
    return MeOut(person.id, mask_phone(person.phone), person.is_operator, principal.via, memberships)


class AuthController(Controller):
    path = "/api/v1"
    tags = ["identity"]  # noqa: RUF012

    @post(
        "/login",
        operation_id="login",
        status_code=HTTP_200_OK,
        middleware=[LOGIN_LIMIT.middleware],
        responses=problems(400, 401, 413, 415, 423, 429),
        security=PUBLIC,
    )
    async def login(self, request: Request[Any, Any, Any], conn: Conn, data: JSONBody[LoginIn]) -> MeOut:
        """Sign in with phone and password. Sets the session cookie; five failures in a row lock the account
        for 15 minutes."""
        client = request.client.host if request.client else None
        principal = await identity.check_login(conn, data.phone, data.password, client)
        # The session, the failure count reset, the audit row and the answer's reads: all, or nothing.
        async with ledger.transaction(conn):
            await identity.record_login(conn, principal.person_id, client)
            session = {"person_id": principal.person_id, "started_at": int(time.time())}
            await start_session(request, conn, session, max_age_s=SESSION_IDLE_S)
            return await _me(conn, principal)

    @post("/logout", operation_id="logout", status_code=HTTP_200_OK, responses=problems(401, 403))
    async def logout(self, request: Request[Any, Any, Any], conn: Conn) -> dict[str, str]:
        """End the session (the server forgets it, so the cookie is worthless from now on)."""
        principal = _principal(request)
        async with ledger.transaction(conn):
            await end_session(request, conn)
            await audit(conn, "logout", community_id=None, actor_person_id=principal.person_id)
        return {"status": "signed out"}

    @get("/me", operation_id="whoAmI", responses=problems(401, 403))
    async def me(self, request: Request[Any, Any, Any], conn: Conn) -> MeOut:
        return await _me(conn, _principal(request))

    @post(
        "/me/password",
        operation_id="changePassword",
        status_code=HTTP_200_OK,
        responses=problems(400, 401, 403, 409, 413, 415, 423),
    )
    async def change_password(
        self, request: Request[Any, Any, Any], conn: Conn, data: JSONBody[PasswordIn]
    ) -> dict[str, str]:
        """Change your password. Every other session and token of yours ends with the old password; the session
        or token making this request stays."""
        await identity.change_password(
            conn,
            _principal(request),
            data.current_password,
            data.new_password,
            session_id=request.cookies.get(SESSION_COOKIE),
            remote_addr=request.client.host if request.client else None,
        )
        return {"status": "password changed"}

    @post(
        "/me/tokens",
        operation_id="createToken",
        status_code=HTTP_201_CREATED,
        responses=problems(400, 401, 403, 404, 413, 415),
    )
    async def create_token(self, request: Request[Any, Any, Any], conn: Conn, data: JSONBody[TokenIn]) -> NewTokenOut:
        """A personal token (all your communities) or a device token (one community, e.g. a counter terminal).
        The token is shown once."""
        principal = _principal(request)
        community_id = None
        if data.community is not None:
            person = await identity.person(conn, principal)
            found = [m.community_id for m in person.memberships if m.slug == data.community]
            if not found:
                raise UnknownCommunity(f"community {data.community!r} does not exist", slug=data.community)
            community_id = found[0]
        secret, info = await identity.create_token(
            conn, principal, kind=data.kind, name=data.name, days=data.days, community_id=community_id
        )
        return NewTokenOut(secret, info)

    @get("/me/tokens", operation_id="listTokens", responses=problems(401, 403))
    async def list_tokens(self, request: Request[Any, Any, Any], conn: Conn) -> list[identity.TokenInfo]:
        return await identity.list_tokens(conn, _principal(request).person_id)

    @post(
        "/me/tokens/{token_id:int}/revoke",
        operation_id="revokeToken",
        status_code=HTTP_200_OK,
        responses=problems(400, 401, 403, 404),
    )
    async def revoke_token(self, request: Request[Any, Any, Any], conn: Conn, token_id: PathId) -> identity.TokenInfo:
        person_id = _principal(request).person_id
        revoked = await identity.revoke_token(conn, person_id, token_id)
        recent.forget_person(person_id)  # no grace period in this process
        return revoked
