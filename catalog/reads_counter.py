"""Reads the counter's page needs and the services do not answer: who a payment code or card belongs to, before
the basket has a line (the preview needs one), and the household members a proxy (代办) may pay for. Nothing here
writes; the rules stay in catalog/counter.py, which checks them all again at the preview and at confirmation."""

from __future__ import annotations

from dataclasses import dataclass

import ledger
from points.auth.errors import NotFound


@dataclass(frozen=True, slots=True)
class Shopper:
    member_id: int
    name: str
    household: str | None
    available: int


@dataclass(frozen=True, slots=True)
class Dependant:
    member_id: int
    name: str


async def shopper(conn: ledger.Connection, community_id: int, member_id: int) -> Shopper:
    """The member's name, household and points available (balance less what is held)."""
    await ledger.enter(conn, community_id)
    row = await conn.fetchrow(
        "SELECT m.display_name, h.label, a.balance - a.held AS available FROM points.members m"
        " LEFT JOIN points.households h ON h.id = m.household_id"
        " JOIN ledger.accounts a ON a.id = m.wallet_account_id WHERE m.community_id = $1 AND m.id = $2",
        community_id,
        member_id,
    )
    if row is None:
        raise NotFound(f"no member {member_id} in this community", member_id=member_id)
    return Shopper(member_id, row["display_name"], row["label"], row["available"])


async def dependants(conn: ledger.Connection, community_id: int, member_id: int) -> list[Dependant]:
    """The active members of ``member_id``'s household who do not sign in (no phone): whom they may pay for."""
    await ledger.enter(conn, community_id)
    rows = await conn.fetch(
        "SELECT o.id, o.display_name FROM points.members m JOIN points.members o"
        " ON o.household_id = m.household_id AND o.id <> m.id AND o.community_id = m.community_id"
        " WHERE m.community_id = $1 AND m.id = $2 AND o.person_id IS NULL AND o.status = 'active'"
        " ORDER BY o.display_name, o.id",
        community_id,
        member_id,
    )
    return [Dependant(r["id"], r["display_name"]) for r in rows]
