"""Members, households, places and roles. Handlers call these with plain values.

Every function works in one community, entered on the connection first (row-level
security), and takes the acting person for the audit trail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import asyncpg

import ledger
from ledger.model import NO_NUL, NUL
from points.audit import audit
from points.auth import identity, recent
from points.auth.errors import Conflict, ConflictOfInterest, InvalidRequest, NotFound
from points.auth.policy import COMMUNITY_ROLES, ORGANIZER
from points.field_problems import field_problem

MEMBER_STATUSES = ("active", "suspended", "left")
WALLET_PREFIX = "volunteer:"  # members' wallets are volunteer:<member id>, opened by joining


def check_account_code(code: str) -> None:
    """Accounts opened by hand may not take a member wallet's name."""
    if code.startswith(WALLET_PREFIX):
        raise InvalidRequest(f"codes starting with {WALLET_PREFIX} are members' wallets: add a member instead")


PLACE_LEVELS = ("compound", "grid", "building")
MAX_NAME_CHARS = 100


@dataclass(frozen=True, slots=True)
class Member:
    id: int
    community_id: int
    person_id: int | None
    display_name: str
    phone: str | None
    household_id: int | None
    place_id: int | None
    status: str
    wallet_account_id: int
    roles: tuple[str, ...]


_MEMBER_SELECT = """
SELECT m.*, p.phone,
       coalesce((SELECT array_agg(DISTINCT g.role ORDER BY g.role) FROM points.role_grants g
                  WHERE g.member_id = m.id AND g.revoked_at IS NULL), '{}') AS roles
  FROM points.members m LEFT JOIN points.people p ON p.id = m.person_id
"""


def _member(row: Any) -> Member:
    return Member(
        id=row["id"],
        community_id=row["community_id"],
        person_id=row["person_id"],
        display_name=row["display_name"],
        phone=row["phone"],
        household_id=row["household_id"],
        place_id=row["place_id"],
        status=row["status"],
        wallet_account_id=row["wallet_account_id"],
        roles=tuple(row["roles"]),
    )


def check_name(name: str, what: str = "a display name", key: str = "display_name") -> None:
    """A name or label: 1 to MAX_NAME_CHARS characters once trimmed, no U+0000. ``key`` is the field it came in."""
    if not name.strip():
        raise InvalidRequest(f"{what} is 1 to {MAX_NAME_CHARS} characters", errors=[field_problem(key, "required")])
    if len(name.strip()) > MAX_NAME_CHARS:
        problem = field_problem(key, "too_long", max=MAX_NAME_CHARS, unit="characters")
        raise InvalidRequest(f"{what} is 1 to {MAX_NAME_CHARS} characters", errors=[problem])
    if NUL in name:  # PostgreSQL cannot store it; the edge refuses it too (points/fields.py)
        raise InvalidRequest(f"{what} {NO_NUL}", errors=[field_problem(key, "contains_nul")])


def not_one_of(key: str, value: str, allowed: tuple[str, ...], what: str) -> InvalidRequest:
    """A choice outside its list (a role, a status, a level), as the service refuses it."""
    return InvalidRequest(
        f"{what} is one of {', '.join(allowed)}",
        errors=[field_problem(key, "not_one_of", allowed=list(allowed), value=value)],
    )


async def get_member(conn: ledger.Connection, community_id: int, member_id: int) -> Member:
    await ledger.enter(conn, community_id)
    row = await conn.fetchrow(_MEMBER_SELECT + " WHERE m.id = $1 AND m.community_id = $2", member_id, community_id)
    if row is None:
        raise NotFound(f"no member {member_id} in this community", member_id=member_id)
    return _member(row)


def _like(text: str) -> str:
    """Typed text as a LIKE pattern matching it literally anywhere (a % or _ in a name is just a character)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _phone_like(text: str) -> str | None:
    """A search for a phone as people read it off a list: digits, or the masked form 138****0001 (each * one
    unseen digit). None when the text is no such thing (a name is searched by name only)."""
    cleaned = re.sub(r"[\s-]", "", text)
    if not re.fullmatch(r"\+?[0-9*]*[0-9][0-9*]*", cleaned):
        return None
    return "%" + cleaned.replace("*", "_") + "%"


async def list_members(
    conn: ledger.Connection, community_id: int, *, after_id: int, limit: int, search: str | None = None
) -> list[Member]:
    """Members in id order; with ``search``, only those whose name contains it or whose phone matches it (in full
    or masked, as the member list shows phones to those who may not see them whole)."""
    text = (search or "").strip()
    if NUL in text:
        raise InvalidRequest(f"a search {NO_NUL}")
    await ledger.enter(conn, community_id)
    if not text:
        rows = await conn.fetch(
            _MEMBER_SELECT + " WHERE m.community_id = $1 AND m.id > $2 ORDER BY m.id LIMIT $3",
            community_id,
            after_id,
            limit,
        )
        return [_member(r) for r in rows]
    rows = await conn.fetch(
        _MEMBER_SELECT + " WHERE m.community_id = $1 AND m.id > $2"
        " AND (m.display_name ILIKE $4 OR ($5::text IS NOT NULL AND p.phone LIKE $5))"
        " ORDER BY m.id LIMIT $3",
        community_id,
        after_id,
        limit,
        _like(text),
        _phone_like(text),
    )
    return [_member(r) for r in rows]


async def household_labels(conn: ledger.Connection, community_id: int, ids: list[int]) -> dict[int, str]:
    """The labels of these households, for a member list that shows 3-201 rather than a number."""
    await ledger.enter(conn, community_id)
    rows = await conn.fetch(
        "SELECT id, label FROM points.households WHERE community_id = $1 AND id = ANY($2::bigint[])", community_id, ids
    )
    return {r["id"]: r["label"] for r in rows}


async def household_id_for(conn: ledger.Connection, community_id: int, label: str | None) -> int | None:
    """The household with this label, created on first mention (the way a register is typed in)."""
    if label is None or not label.strip():
        return None
    check_name(label, "a household label", "household")
    await ledger.enter(conn, community_id)
    found: int | None = await conn.fetchval(
        "INSERT INTO points.households (community_id, label) VALUES ($1, $2) "
        "ON CONFLICT (community_id, label) DO NOTHING RETURNING id",
        community_id,
        label.strip(),
    )
    if found is None:
        found = await conn.fetchval(
            "SELECT id FROM points.households WHERE community_id = $1 AND label = $2", community_id, label.strip()
        )
    return found


async def place_id_for(conn: ledger.Connection, community_id: int, place_id: int | None) -> int | None:
    if place_id is None:
        return None
    await ledger.enter(conn, community_id)
    if await conn.fetchval("SELECT 1 FROM points.places WHERE id = $1 AND community_id = $2", place_id, community_id):
        return place_id
    raise NotFound(f"no place {place_id} in this community", place_id=place_id)


def _forgotten(member: Member) -> Member:
    """The member's roles or status changed: their next request loads them again (points/auth/recent.py)."""
    if member.person_id is not None:
        recent.forget_person(member.person_id)
    return member


async def create_member(
    conn: ledger.Connection,
    community_id: int,
    *,
    actor_person_id: int | None,
    display_name: str,
    phone: str | None = None,
    password: str | None = None,
    household: str | None = None,
    place_id: int | None = None,
    roles: tuple[str, ...] = ("volunteer",),
) -> Member:
    """Add a member; their points wallet opens with them. Without a phone they never sign in (代办 only).

    All or nothing: the person, the household, the member, the roles and the audit row commit together."""
    check_name(display_name)
    for role in roles:
        if role not in COMMUNITY_ROLES:
            raise not_one_of("roles", role, COMMUNITY_ROLES, "a role")
    if household is not None and household.strip():
        check_name(household, "a household label", "household")
    # Checked and hashed before the transaction opens: hashing takes tens of milliseconds.
    new_person = await identity.new_person(phone, password) if phone else None
    async with ledger.transaction(conn):
        person_id = await identity.person_for_phone(conn, new_person) if new_person else None
        household_id = await household_id_for(conn, community_id, household)
        place = await place_id_for(conn, community_id, place_id)
        await ledger.enter(conn, community_id)
        try:
            row = await conn.fetchrow(
                "SELECT * FROM points.add_member($1, $2, $3, $4, $5)",
                community_id,
                display_name.strip(),
                person_id,
                household_id,
                place,
            )
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "members_person_once":
                raise Conflict("this phone number is already a member of this community") from exc
            raise Conflict("the wallet code for this member is taken by an account opened by hand") from exc
        for role in roles:
            await _insert_grant(conn, community_id, row["id"], role, None, actor_person_id)
        await audit(
            conn,
            "member.created",
            community_id=community_id,
            actor_person_id=actor_person_id,
            subject=f"member {row['id']}",
            detail={"roles": list(roles)},
        )
        member = await get_member(conn, community_id, row["id"])
    if person_id is not None:
        recent.forget_person(person_id)  # a member now: no stale "not a member" from the last few seconds
    return member


async def _insert_grant(
    conn: ledger.Connection, community_id: int, member_id: int, role: str, place_id: int | None, granted_by: int | None
) -> None:
    await conn.execute(
        "INSERT INTO points.role_grants (community_id, member_id, role, place_id, granted_by) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        community_id,
        member_id,
        role,
        place_id,
        granted_by,
    )


async def grant_role(
    conn: ledger.Connection,
    community_id: int,
    member_id: int,
    role: str,
    *,
    place_id: int | None,
    actor_person_id: int,
) -> Member:
    if role not in COMMUNITY_ROLES:
        raise not_one_of("role", role, COMMUNITY_ROLES, "a role")
    if place_id is not None and role != ORGANIZER:
        raise InvalidRequest("only the organizer role is scoped to a compound or grid")
    async with ledger.transaction(conn):
        await get_member(conn, community_id, member_id)
        await place_id_for(conn, community_id, place_id)
        await _insert_grant(conn, community_id, member_id, role, place_id, actor_person_id)
        await audit(
            conn,
            "role.granted",
            community_id=community_id,
            actor_person_id=actor_person_id,
            subject=f"member {member_id}",
            detail={"role": role, "place_id": place_id},
        )
        member = await get_member(conn, community_id, member_id)
    return _forgotten(member)


async def revoke_role(
    conn: ledger.Connection, community_id: int, member_id: int, role: str, *, actor_person_id: int
) -> Member:
    async with ledger.transaction(conn):
        await get_member(conn, community_id, member_id)
        status = await conn.execute(
            "UPDATE points.role_grants SET revoked_at = now() "
            "WHERE member_id = $1 AND community_id = $2 AND role = $3 AND revoked_at IS NULL",
            member_id,
            community_id,
            role,
        )
        if status.endswith(" 0"):
            raise NotFound(f"member {member_id} does not hold the role {role}")
        await audit(
            conn,
            "role.revoked",
            community_id=community_id,
            actor_person_id=actor_person_id,
            subject=f"member {member_id}",
            detail={"role": role},
        )
        member = await get_member(conn, community_id, member_id)
    return _forgotten(member)


async def set_status(
    conn: ledger.Connection, community_id: int, member_id: int, status: str, *, actor_person_id: int
) -> Member:
    if status not in MEMBER_STATUSES:
        raise not_one_of("status", status, MEMBER_STATUSES, "a status")
    async with ledger.transaction(conn):
        await get_member(conn, community_id, member_id)
        await conn.execute(
            "UPDATE points.members SET status = $3 WHERE id = $1 AND community_id = $2", member_id, community_id, status
        )
        await audit(
            conn,
            "member.status",
            community_id=community_id,
            actor_person_id=actor_person_id,
            subject=f"member {member_id}",
            detail={"status": status},
        )
        member = await get_member(conn, community_id, member_id)
    return _forgotten(member)


async def create_place(
    conn: ledger.Connection, community_id: int, *, level: str, name: str, parent_id: int | None, actor_person_id: int
) -> int:
    if level not in PLACE_LEVELS:
        raise not_one_of("level", level, PLACE_LEVELS, "a level")
    check_name(name, "a place name", "name")
    async with ledger.transaction(conn):
        await place_id_for(conn, community_id, parent_id)
        try:
            place_id: int = await conn.fetchval(
                "INSERT INTO points.places (community_id, parent_id, level, name) VALUES ($1, $2, $3, $4) RETURNING id",
                community_id,
                parent_id,
                level,
                name.strip(),
            )
        except asyncpg.UniqueViolationError as exc:
            raise Conflict("a place of that name is already there") from exc
        await audit(
            conn,
            "place.created",
            community_id=community_id,
            actor_person_id=actor_person_id,
            subject=f"place {place_id}",
            detail={"level": level},
        )
        return place_id


@dataclass(frozen=True, slots=True)
class Place:
    id: int
    level: str
    name: str
    parent_id: int | None


async def list_places(conn: ledger.Connection, community_id: int) -> list[Place]:
    await ledger.enter(conn, community_id)
    rows = await conn.fetch(
        "SELECT id, level, name, parent_id FROM points.places WHERE community_id = $1 ORDER BY id", community_id
    )
    return [Place(r["id"], r["level"], r["name"], r["parent_id"]) for r in rows]


async def own_household(conn: ledger.Connection, community_id: int, member_id: int) -> list[tuple[int, int]]:
    """(member id, wallet account id) of the member and everyone of their household: whom they may not award.
    The one reading of that rule, for the generic entries API and for the awards' maker and checker."""
    await ledger.enter(conn, community_id)
    rows = await conn.fetch(
        "SELECT o.id, o.wallet_account_id FROM points.members me "
        "JOIN points.members o ON o.community_id = me.community_id "
        "AND (o.id = me.id OR (me.household_id IS NOT NULL AND o.household_id = me.household_id)) "
        "WHERE me.id = $1 AND me.community_id = $2",
        member_id,
        community_id,
    )
    return [(r["id"], r["wallet_account_id"]) for r in rows]


async def refuse_award_to_own_household(
    conn: ledger.Connection, community_id: int, actor_member_id: int | None, credited_account_ids: list[int]
) -> None:
    """An award may not credit the awarding member's wallet or any wallet of their household."""
    if actor_member_id is None or not credited_account_ids:
        return
    own = [wallet for _, wallet in await own_household(conn, community_id, actor_member_id)]
    hit = sorted(set(own) & set(credited_account_ids))
    if hit:
        raise ConflictOfInterest("nobody awards points to themselves or to their own household", account_ids=hit)
