"""Reads for the volunteer's supermarket pages (points/pages/shop.py) that the counter's services do not offer:
what became of the payment code a phone is showing, the member's limits left on each good this period, and the
household members without a phone a member may pay for (代办). Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import ledger
from catalog import codes, goods
from catalog.counter import _period_key  # one definition of a limit's day, week and month (the community's calendar)


@dataclass(frozen=True, slots=True)
class CodeState:
    """A payment code as its phone last showed it: ``state`` is live, used, replaced or expired."""

    id: int
    state: str
    seconds_left: int
    receipt_number: int | None  # used: the receipt it paid
    receipt_member_id: int | None  # whose basket it paid (another's for 代办)
    receipt_total: int | None


async def code_id(conn: ledger.Connection, community_id: int, member_id: int, code: str) -> int:
    """The id of a code just issued to this member (the page asks after it by id: its digits stay off any URL)."""
    await ledger.enter(conn, community_id)
    found: int = await conn.fetchval(
        "SELECT id FROM points.payment_codes WHERE code_hash = $1 AND community_id = $2 AND member_id = $3",
        codes.code_hash(code),
        community_id,
        member_id,
    )
    return found


async def code_state(conn: ledger.Connection, community_id: int, member_id: int, code_id: int) -> CodeState | None:
    """What became of one of this member's codes (None: no such code of theirs)."""
    await ledger.enter(conn, community_id)
    row = await conn.fetchrow(
        "SELECT c.id, CASE WHEN c.used_at IS NOT NULL THEN 'used' WHEN c.replaced_at IS NOT NULL THEN 'replaced'"
        " WHEN c.expires_at <= now() THEN 'expired' ELSE 'live' END AS state,"
        " greatest(0, floor(extract(epoch FROM c.expires_at - now())))::int AS seconds_left,"
        " r.number AS receipt_number, r.member_id AS receipt_member_id, r.total_points AS receipt_total"
        " FROM points.payment_codes c LEFT JOIN points.receipts r ON r.payment_code_id = c.id"
        " WHERE c.id = $1 AND c.community_id = $2 AND c.member_id = $3",
        code_id,
        community_id,
        member_id,
    )
    return None if row is None else CodeState(**dict(row))


@dataclass(frozen=True, slots=True)
class Room:
    """What a member may still take of a limited good this period (None: no such limit)."""

    member: int | None
    household: int | None

    @property
    def least(self) -> int | None:
        found = [x for x in (self.member, self.household) if x is not None]
        return min(found) if found else None


async def limits_left(
    conn: ledger.Connection, member_id: int, household_id: int | None, listed: Sequence[goods.Good]
) -> dict[int, Room]:
    """Per limited good, the room left for the member and their household this period, counted from the same
    usage rows the counter checks and raises (points.redemption_usage)."""
    limited = [g for g in listed if g.limit_period is not None]
    if not limited:
        return {}
    now = datetime.now(UTC)
    rows = await conn.fetch(
        "SELECT u.good_id, split_part(u.subject, ':', 1) AS per, u.quantity FROM points.redemption_usage u"
        " JOIN unnest($1::bigint[], $2::text[]) AS k(good_id, period) ON k.good_id = u.good_id AND k.period = u.period"
        " WHERE u.subject = 'member:' || $3::bigint OR u.subject = 'household:' || $4::bigint",
        [g.id for g in limited],
        [_period_key(str(g.limit_period), now) for g in limited],
        member_id,
        household_id,
    )
    used = {(r["good_id"], r["per"]): r["quantity"] for r in rows}
    rooms = {}
    for g in limited:
        mine = None if g.limit_per_member is None else max(0, g.limit_per_member - used.get((g.id, "member"), 0))
        ours = None
        if g.limit_per_household is not None and household_id is not None:
            ours = max(0, g.limit_per_household - used.get((g.id, "household"), 0))
        rooms[g.id] = Room(mine, ours)
    return rooms


@dataclass(frozen=True, slots=True)
class Member:
    id: int
    display_name: str
    household_id: int | None
    household: str | None
    available: int


_MEMBER = (
    "SELECT m.id, m.display_name, m.household_id, h.label AS household, a.balance - a.held AS available"
    " FROM points.members m LEFT JOIN points.households h ON h.id = m.household_id"
    " JOIN ledger.accounts a ON a.id = m.wallet_account_id"
)


async def member(conn: ledger.Connection, community_id: int, member_id: int) -> Member:
    await ledger.enter(conn, community_id)
    row = await conn.fetchrow(_MEMBER + " WHERE m.id = $1 AND m.community_id = $2", member_id, community_id)
    return Member(**dict(row))


async def proxied(conn: ledger.Connection, community_id: int, member_id: int) -> list[Member]:
    """The active members of this member's household who do not sign in (no phone): those the counter lets this
    member pay for with their own code (代办), as catalog/counter.py's plan checks."""
    await ledger.enter(conn, community_id)
    rows = await conn.fetch(
        _MEMBER + " JOIN points.members me ON me.id = $2 AND me.household_id = m.household_id"
        " WHERE m.community_id = $1 AND m.id <> $2 AND m.status = 'active' AND m.person_id IS NULL"
        " ORDER BY m.display_name, m.id",
        community_id,
        member_id,
    )
    return [Member(**dict(r)) for r in rows]


async def receipts_of_entries(
    conn: ledger.Connection, community_id: int, member_id: int, entry_ids: Sequence[int]
) -> dict[int, int]:
    """The receipt number behind each of these ledger entries of the member's wallet: a redemption's own receipt,
    and for a return the receipt it gave back from (我的积分 links each history line to its receipt). By the
    member's receipts (their index), so a page of history costs one small read."""
    if not entry_ids:
        return {}
    await ledger.enter(conn, community_id)
    rows = await conn.fetch(
        "SELECT r.entry_id, r.number FROM points.receipts r"
        " WHERE r.community_id = $1 AND r.member_id = $2 AND r.entry_id = ANY($3::bigint[])"
        " UNION ALL SELECT t.entry_id, r.number FROM points.receipts r JOIN points.returns t ON t.receipt_id = r.id"
        " WHERE r.community_id = $1 AND r.member_id = $2 AND t.entry_id = ANY($3::bigint[])",
        community_id,
        member_id,
        list(entry_ids),
    )
    return {r["entry_id"]: r["number"] for r in rows}
