"""Communities (the tenants), their units, and accounts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledger import db
from ledger.errors import DuplicateCode, UnknownAccount, UnknownCommunity, UnknownUnit
from ledger.model import Bounds, check_bound, check_id, check_nul, check_text, refuse

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
UNIT_CODE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
ACCOUNT_CODE = re.compile(r"^[a-z][a-z0-9_-]*(:[A-Za-z0-9_.-]+)*$")
MAX_ACCOUNT_CODE_CHARS = 128
MAX_NAME_CHARS = 200
NORMAL_SIDES = ("debit", "credit")


@dataclass(frozen=True, slots=True)
class Community:
    id: int
    slug: str
    name: str


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    community_id: int
    unit: str
    code: str
    name: str
    normal_side: str
    lower_bound: int | None
    upper_bound: int | None
    created_at: datetime

    @property
    def bounds(self) -> Bounds:
        return Bounds(self.lower_bound, self.upper_bound)


async def create_community(
    conn: db.Connection, slug: str, name: str, *, unit: str = "points", unit_name: str = "积分"
) -> Community:
    """A community with its first unit (points)."""
    problems = [] if SLUG.fullmatch(slug) else ["a slug is 2-63 lower-case letters, digits and dashes"]
    if not 0 < len(name) <= MAX_NAME_CHARS:
        problems.append(f"a name is 1 to {MAX_NAME_CHARS} characters")
    problems += check_nul("a name", name)
    problems += [] if UNIT_CODE.fullmatch(unit) else ["a unit code is 1-32 lower-case letters, digits and _"]
    problems += check_text("a unit name", unit_name, 100)
    refuse(problems)
    # Opening a community is a platform action (migration 0002): it runs as the owner, creating the community
    # with its first unit in one call, because the unit is a tenant row the new community does not own yet.
    community_id = await db.fetchval(
        conn, "SELECT ledger.create_community($1, $2, $3, $4)", slug, name, unit, unit_name
    )
    return Community(community_id, slug, name)


async def add_unit(conn: db.Connection, community_id: int, code: str, name: str) -> None:
    problems = [] if UNIT_CODE.fullmatch(code) else ["a unit code is 1-32 lower-case letters, digits and _"]
    if not 0 < len(name) <= 100:
        problems.append("a unit name is 1 to 100 characters")
    problems += check_nul("a unit name", name)
    refuse(problems)
    await db.enter(conn, community_id)
    await db.fetchrow(
        conn, "INSERT INTO ledger.units (community_id, code, name) VALUES ($1, $2, $3)", community_id, code, name
    )


async def get_community(conn: db.Connection, slug: str) -> Community:
    if not SLUG.fullmatch(slug):  # no community is called that (and U+0000 must not reach the driver)
        raise UnknownCommunity(f"community {slug!r} does not exist", slug=slug)
    row = await conn.fetchrow("SELECT id, slug, name FROM ledger.communities WHERE slug = $1", slug)
    if row is None:
        raise UnknownCommunity(f"community {slug!r} does not exist", slug=slug)
    return Community(row["id"], row["slug"], row["name"])


async def open_account(
    conn: db.Connection,
    community_id: int,
    code: str,
    *,
    unit: str = "points",
    name: str = "",
    normal_side: str = "credit",
    lower_bound: int | None = 0,
    upper_bound: int | None = None,
) -> Account:
    """Open an empty account. Wallets keep the default lower bound 0; pass ``lower_bound=None``
    for an unbounded system account (issuance, supermarket, escrow)."""
    problems: list[str] = []
    if not ACCOUNT_CODE.fullmatch(code) or len(code) > MAX_ACCOUNT_CODE_CHARS:
        problems.append("an account code looks like 'volunteer:42' or 'issuance' (at most 128 characters)")
    if not UNIT_CODE.fullmatch(unit):  # no unit has such a code; a typo must not reach the driver (U+0000)
        problems.append("a unit code is 1-32 lower-case letters, digits and _")
    if normal_side not in NORMAL_SIDES:
        problems.append("normal_side is debit or credit")
    problems += check_text("an account name", name, MAX_NAME_CHARS)
    problems += check_bound("lower_bound", lower_bound) + check_bound("upper_bound", upper_bound)
    if lower_bound is not None and upper_bound is not None and lower_bound > upper_bound:
        problems.append("the lower bound must not exceed the upper bound")
    if (lower_bound is not None and lower_bound > 0) or (upper_bound is not None and upper_bound < 0):
        problems.append("a new account starts at 0, so its bounds must allow 0")
    refuse(problems)
    await db.enter(conn, community_id)
    try:
        row = await db.fetchrow(
            conn,
            "INSERT INTO ledger.accounts (community_id, unit, code, name, normal_side, lower_bound, upper_bound) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
            community_id,
            unit,
            code,
            name,
            normal_side,
            lower_bound,
            upper_bound,
        )
    except UnknownUnit:  # the database knows which constraint failed; here we can name the value as well
        raise UnknownUnit(f"this community keeps no unit {unit!r}", field="unit", unit=unit) from None
    except DuplicateCode:
        raise DuplicateCode(f"this community already has an account {code!r}", field="code", code=code) from None
    return account_from_row(row)


def account_from_row(row: Any) -> Account:
    return Account(
        id=row["id"],
        community_id=row["community_id"],
        unit=row["unit"],
        code=row["code"],
        name=row["name"],
        normal_side=row["normal_side"],
        lower_bound=row["lower_bound"],
        upper_bound=row["upper_bound"],
        created_at=row["created_at"],
    )


async def get_account(conn: db.Connection, community_id: int, account_id: int) -> Account:
    refuse(check_id("account_id", account_id))
    await db.enter(conn, community_id)
    row = await conn.fetchrow(
        "SELECT * FROM ledger.accounts WHERE id = $1 AND community_id = $2", account_id, community_id
    )
    if row is None:
        raise UnknownAccount(f"account {account_id} does not exist in this community", account_id=account_id)
    return account_from_row(row)


async def find_account(conn: db.Connection, community_id: int, code: str) -> Account | None:
    await db.enter(conn, community_id)
    row = await conn.fetchrow("SELECT * FROM ledger.accounts WHERE community_id = $1 AND code = $2", community_id, code)
    return None if row is None else account_from_row(row)
