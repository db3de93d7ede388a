"""Signing in and out, tokens, and the audit trail of it all.

Phone numbers are personal data: they are compared and stored, but only ever
shown masked (``mask_phone``) and never written to logs or the audit trail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio.to_thread

import ledger
from points.audit import audit
from points.auth import passwords, recent, session_store, tokens
from points.auth.errors import AccountLocked, Conflict, DeviceTokenNotAllowed, InvalidRequest, LoginFailed, NotFound
from points.field_problems import field_problem

LOCK_AFTER_FAILURES = 5
LOCK_MINUTES = 15
MIN_PHONE_DIGITS, MAX_PHONE_DIGITS = 6, 20
PHONE = re.compile(rf"^\+?[0-9]{{{MIN_PHONE_DIGITS},{MAX_PHONE_DIGITS}}}$")
TOKEN_KINDS = ("personal", "device")
MAX_TOKEN_DAYS = tokens.MAX_LIFETIME_DAYS


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a person, signed in by session or by token."""

    person_id: int
    is_operator: bool
    via: str  # "session" | "token"
    token_id: int | None = None
    token_community_id: int | None = None  # a device token works in this one community only


def mask_phone(phone: str) -> str:
    """138****0001: enough to recognise one's own number, not enough to call it."""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


def normalise_phone(phone: str, key: str = "phone") -> str:
    cleaned = re.sub(r"[\s-]", "", phone)
    if not PHONE.match(cleaned):
        problem = field_problem(key, "not_a_phone", min_digits=MIN_PHONE_DIGITS, max_digits=MAX_PHONE_DIGITS)
        raise InvalidRequest("a phone number is 6 to 20 digits, optionally starting with +", errors=[problem])
    return cleaned


def _password_refused(password: str, key: str) -> InvalidRequest | None:
    problems = passwords.check_new_password(password)
    if not problems:
        return None
    if len(password) < passwords.MIN_PASSWORD_CHARS:
        problem = field_problem(key, "too_short", min=passwords.MIN_PASSWORD_CHARS, unit="characters")
    else:
        problem = field_problem(key, "too_long", max=passwords.MAX_PASSWORD_CHARS, unit="characters")
    return InvalidRequest(problems[0], errors=[problem])


async def check_login(conn: ledger.Connection, phone: str, password: str, remote_addr: str | None) -> Principal:
    """Check the password; count failures and lock the account after LOCK_AFTER_FAILURES in a row.

    A failure is recorded (and committed) before the error is raised, by design; a success writes nothing here:
    ``record_login`` does, in the transaction that also writes the new session."""
    try:
        phone = normalise_phone(phone)
    except InvalidRequest:
        raise LoginFailed("wrong phone number or password") from None
    row = await conn.fetchrow(
        "SELECT id, password_hash, is_operator, locked_until, locked_until > now() AS locked "
        "FROM points.people WHERE phone = $1",
        phone,
    )
    if row is not None and row["locked"]:
        await audit(conn, "login.refused_locked", community_id=None, actor_person_id=row["id"], remote_addr=remote_addr)
        raise AccountLocked("too many failed logins; try again later", locked_until=row["locked_until"].isoformat())
    ok = await anyio.to_thread.run_sync(passwords.verify_password, row["password_hash"] if row else None, password)
    if not ok:
        await _count_failure(conn, row["id"] if row else None, phone, remote_addr)
        raise LoginFailed("wrong phone number or password")
    return Principal(person_id=row["id"], is_operator=row["is_operator"], via="session")


async def record_login(conn: ledger.Connection, person_id: int, remote_addr: str | None) -> None:
    """A successful sign-in: the failure count starts again, and the audit trail says so. Run it inside the
    transaction that writes the session."""
    await conn.execute("UPDATE points.people SET failed_logins = 0, locked_until = NULL WHERE id = $1", person_id)
    await audit(conn, "login.succeeded", community_id=None, actor_person_id=person_id, remote_addr=remote_addr)


async def _count_failure(conn: ledger.Connection, person_id: int | None, phone: str, remote_addr: str | None) -> None:
    locked_until: datetime | None = None
    async with ledger.transaction(conn):  # the count and its audit row together
        if person_id is not None:
            locked_until = await conn.fetchval(
                "UPDATE points.people SET failed_logins = failed_logins + 1, "
                "locked_until = CASE WHEN failed_logins + 1 >= $2 THEN now() + make_interval(mins => $3) END "
                "WHERE id = $1 RETURNING locked_until",
                person_id,
                LOCK_AFTER_FAILURES,
                LOCK_MINUTES,
            )
        await audit(
            conn,
            "login.failed",
            community_id=None,
            actor_person_id=person_id,
            detail={"phone": mask_phone(phone)},
            remote_addr=remote_addr,
        )
    if locked_until is not None:
        raise AccountLocked("too many failed logins; try again later", locked_until=locked_until.isoformat())


async def change_password(
    conn: ledger.Connection,
    principal: Principal,
    current_password: str,
    new_password: str,
    *,
    session_id: str | None,
    remote_addr: str | None,
) -> None:
    """Set a new password and end every other session and token of the person (the calling session or token
    stays): whoever learnt the old password, or holds a copy of a cookie or token, is signed out with it.

    Nothing is written until the new password is known to be acceptable and the current one right. A wrong
    current password counts as a failed login (five lock the account, as at the login form)."""
    refused = _password_refused(new_password, "new_password")
    if refused is not None:
        raise refused
    old_hash = await _verify_current_password(conn, principal.person_id, current_password, remote_addr)
    new_hash = await anyio.to_thread.run_sync(passwords.hash_password, new_password)
    async with ledger.transaction(conn):
        # Conditional on the hash just verified: a password changed by another request meanwhile wins.
        status = await conn.execute(
            "UPDATE points.people SET password_hash = $3, failed_logins = 0, locked_until = NULL "
            "WHERE id = $1 AND password_hash = $2",
            principal.person_id,
            old_hash,
            new_hash,
        )
        if status != "UPDATE 1":
            raise Conflict("the password was changed by another request just now; sign in again")
        sessions_ended = await session_store.end_sessions_of(
            conn, principal.person_id, keep_session_id=session_id if principal.via == "session" else None
        )
        tokens_revoked = await conn.execute(
            "UPDATE points.api_tokens SET revoked_at = now() "
            "WHERE person_id = $1 AND revoked_at IS NULL AND id IS DISTINCT FROM $2",
            principal.person_id,
            principal.token_id,
        )
        await audit(
            conn,
            "password.changed",
            community_id=None,
            actor_person_id=principal.person_id,
            detail={"sessions_ended": sessions_ended, "tokens_revoked": int(tokens_revoked.split()[-1])},
            remote_addr=remote_addr,
        )
    recent.forget_person(principal.person_id)  # tokens this process checked a moment ago are refused at once


async def _verify_current_password(
    conn: ledger.Connection, person_id: int, password: str, remote_addr: str | None
) -> str:
    """The person's password hash, once ``password`` is shown to match it; like ``check_login`` this writes nothing
    on success (the change that follows does, in its own transaction)."""
    row = await conn.fetchrow(
        "SELECT phone, password_hash, locked_until, locked_until > now() AS locked FROM points.people WHERE id = $1",
        person_id,
    )
    if row is None:
        raise NotFound("this account no longer exists")
    if row["locked"]:
        await audit(conn, "login.refused_locked", community_id=None, actor_person_id=person_id, remote_addr=remote_addr)
        raise AccountLocked("too many failed logins; try again later", locked_until=row["locked_until"].isoformat())
    if not await anyio.to_thread.run_sync(passwords.verify_password, row["password_hash"], password):
        await _count_failure(conn, person_id, row["phone"], remote_addr)
        raise LoginFailed("the current password is wrong")
    password_hash: str = row["password_hash"]
    return password_hash


@dataclass(frozen=True, slots=True)
class NewPerson:
    """A phone number checked and normalised, with its password already hashed (if one was given)."""

    phone: str
    password_hash: str | None


async def new_person(phone: str, password: str | None = None) -> NewPerson:
    """Check a phone number and password and hash the password, before any transaction opens: the hash takes
    tens of milliseconds and must not hold locks while it runs."""
    phone = normalise_phone(phone)
    if password is None:
        return NewPerson(phone, None)
    refused = _password_refused(password, "password")
    if refused is not None:
        raise refused
    return NewPerson(phone, await anyio.to_thread.run_sync(passwords.hash_password, password))


async def person_for_phone(conn: ledger.Connection, person: NewPerson) -> int:
    """The person with this phone number, created if new (with the password, if given)."""
    person_id: int | None = await conn.fetchval(
        "INSERT INTO points.people (phone, password_hash) VALUES ($1, $2) ON CONFLICT (phone) DO NOTHING RETURNING id",
        person.phone,
        person.password_hash,
    )
    if person_id is None:
        if person.password_hash is not None:
            raise Conflict("this phone number already has an account; its owner sets their own password")
        person_id = await conn.fetchval("SELECT id FROM points.people WHERE phone = $1", person.phone)
    if person_id is None:  # deleted between the two statements: only the owner deletes people
        raise Conflict("this phone number's account changed meanwhile; try again")
    return person_id


# --- tokens -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    kind: str
    name: str
    community_id: int | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


async def create_token(
    conn: ledger.Connection, principal: Principal, *, kind: str, name: str, days: int, community_id: int | None
) -> tuple[str, TokenInfo]:
    """A new token, shown once. Device tokens (counter terminals) work in one community only."""
    if kind not in TOKEN_KINDS:
        raise InvalidRequest("kind is personal or device")
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise InvalidRequest(f"a token lives 1 to {MAX_TOKEN_DAYS} days")
    if not 1 <= len(name) <= 100:
        raise InvalidRequest("a token name is 1 to 100 characters")
    if kind == "device" and community_id is None:
        raise InvalidRequest("a device token names the community it works in")
    if principal.token_community_id is not None:  # the guard refuses it first (policy PERSONAL); checked twice
        raise DeviceTokenNotAllowed("a device token cannot create tokens")
    secret, secret_hash = tokens.new_token()
    async with ledger.transaction(conn):
        row = await conn.fetchrow(
            "INSERT INTO points.api_tokens (person_id, community_id, kind, name, secret_hash, expires_at) "
            "VALUES ($1, $2, $3, $4, $5, now() + make_interval(days => $6)) RETURNING *",
            principal.person_id,
            community_id,
            kind,
            name,
            secret_hash,
            days,
        )
        await audit(
            conn,
            "token.created",
            community_id=None,
            actor_person_id=principal.person_id,
            subject=f"token {row['id']}",
            detail={"kind": kind, "name": name, "community_id": community_id},
        )
    return secret, _token(row)


def _token(row: Any) -> TokenInfo:
    return TokenInfo(
        row["id"],
        row["kind"],
        row["name"],
        row["community_id"],
        row["created_at"],
        row["expires_at"],
        row["revoked_at"],
        row["last_used_at"],
    )


async def list_tokens(conn: ledger.Connection, person_id: int) -> list[TokenInfo]:
    rows = await conn.fetch("SELECT * FROM points.api_tokens WHERE person_id = $1 ORDER BY id", person_id)
    return [_token(r) for r in rows]


async def revoke_token(conn: ledger.Connection, person_id: int, token_id: int) -> TokenInfo:
    async with ledger.transaction(conn):
        row = await conn.fetchrow(
            "UPDATE points.api_tokens SET revoked_at = coalesce(revoked_at, now()) "
            "WHERE id = $1 AND person_id = $2 RETURNING *",
            token_id,
            person_id,
        )
        if row is None:
            raise NotFound(f"no token {token_id} of yours")
        await audit(conn, "token.revoked", community_id=None, actor_person_id=person_id, subject=f"token {token_id}")
    return _token(row)


async def authenticate_token(conn: ledger.Connection, token: str) -> Principal | None:
    """The principal a Bearer token stands for, or None when it is unknown, revoked or expired."""
    if not tokens.looks_like_token(token):
        return None
    row = await conn.fetchrow(
        "WITH t AS (SELECT * FROM points.api_tokens WHERE secret_hash = $1 "
        "           AND revoked_at IS NULL AND expires_at > now()), "
        # last_used_at is for people reviewing their tokens; minute precision spares a write per request
        "     touched AS (UPDATE points.api_tokens a SET last_used_at = now() FROM t "
        "                 WHERE a.id = t.id "
        "                   AND (a.last_used_at IS NULL OR a.last_used_at < now() - interval '1 minute')) "
        "SELECT t.id, t.person_id, t.community_id, p.is_operator FROM t JOIN points.people p ON p.id = t.person_id",
        tokens.digest(token),
    )
    if row is None:
        return None
    return Principal(
        person_id=row["person_id"],
        is_operator=row["is_operator"],
        via="token",
        token_id=row["id"],
        token_community_id=row["community_id"],
    )


async def person_is_operator(conn: ledger.Connection, person_id: int) -> bool | None:
    """None when the person no longer exists."""
    value: bool | None = await conn.fetchval("SELECT is_operator FROM points.people WHERE id = $1", person_id)
    return value


@dataclass(frozen=True, slots=True)
class Membership:
    community_id: int
    slug: str
    community_name: str
    member_id: int
    display_name: str
    status: str
    roles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Person:
    id: int
    phone: str
    is_operator: bool
    memberships: tuple[Membership, ...]
    locale: str | None = None  # the pages' language, once the person chose one


async def person(conn: ledger.Connection, principal: Principal) -> Person:
    """The caller with every community they belong to (only the token's community, for a device token)."""
    row = await conn.fetchrow("SELECT phone, is_operator, locale FROM points.people WHERE id = $1", principal.person_id)
    if row is None:
        raise NotFound("this account no longer exists")
    rows = await conn.fetch("SELECT * FROM points.memberships($1)", principal.person_id)
    memberships = tuple(
        Membership(
            r["community_id"],
            r["slug"],
            r["community_name"],
            r["member_id"],
            r["display_name"],
            r["status"],
            tuple(r["roles"]),
        )
        for r in rows
        if principal.token_community_id in (None, r["community_id"])
    )
    return Person(principal.person_id, row["phone"], row["is_operator"], memberships, row["locale"])


async def remember_locale(conn: ledger.Connection, person_id: int, locale: str) -> None:
    """Keep the pages' language on the person (one statement; the table allows only the languages we have)."""
    await conn.execute("UPDATE points.people SET locale = $2 WHERE id = $1", person_id, locale)
