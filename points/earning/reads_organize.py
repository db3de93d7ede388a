"""Reads for the organizer's pages (points/pages/organize.py) that the API does not need: an organizer's
activities newest first, and the award of one activity. Reads only; every write goes through the services."""

from __future__ import annotations

from collections.abc import Sequence

import ledger
from points.earning import activities, awards


async def activities_of(
    conn: ledger.Connection,
    community_id: int,
    *,
    states: Sequence[str],
    organizer_member_id: int | None,
    newest_first: bool,
    limit: int = 20,
) -> list[activities.Activity]:
    """Activities in these states, of one organizer (None: everyone's). Newest first for what is done (awarded,
    cancelled), soonest first for what is still to run: the dashboard shows the work in the order it comes."""
    await ledger.enter(conn, community_id)
    order = "a.starts_at DESC, a.id DESC" if newest_first else "a.starts_at, a.id"
    rows = await conn.fetch(
        activities._SELECT + " WHERE a.community_id = $1 AND a.state = ANY($2::text[])"
        " AND ($3::bigint IS NULL OR a.organizer_member_id = $3)"
        f" ORDER BY {order} LIMIT $4",
        community_id,
        list(states),
        organizer_member_id,
        limit,
    )
    return [activities._activity(r) for r in rows]


async def award_of_activity(conn: ledger.Connection, community_id: int, activity_id: int) -> awards.Award | None:
    """The activity's award that counts (pending or posted), else its latest rejected one, with its lines."""
    await ledger.enter(conn, community_id)
    award_id: int | None = await conn.fetchval(
        "SELECT id FROM points.awards WHERE community_id = $1 AND activity_id = $2"
        " ORDER BY (state = 'rejected'), id DESC LIMIT 1",
        community_id,
        activity_id,
    )
    if award_id is None:
        return None
    return await awards.get_award(conn, community_id, award_id)


async def approvable_count(conn: ledger.Connection, community_id: int, member_id: int | None) -> int:
    """How many awards wait for this organizer's approval: pending, made by someone else, and paying nobody of
    their own household (awards.approve refuses those to them: another organizer must decide)."""
    await ledger.enter(conn, community_id)
    found: int = await conn.fetchval(
        "SELECT count(*) FROM points.awards w WHERE w.community_id = $1 AND w.state = 'pending_approval'"
        " AND w.made_by_member_id IS DISTINCT FROM $2 AND NOT EXISTS ("
        "  SELECT 1 FROM points.award_lines l JOIN points.members o ON o.id = l.member_id"
        "  JOIN points.members me ON me.id = $2 AND me.community_id = o.community_id"
        "  WHERE l.award_id = w.id AND (o.id = me.id OR (me.household_id IS NOT NULL"
        "   AND o.household_id = me.household_id)))",
        community_id,
        member_id,
    )
    return found
