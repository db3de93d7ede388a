"""Reads for the volunteer's pages (points/pages/activities.py) that the API's services do not answer in one go:
one's own check-in to an activity, what each of one's activities paid, and the phoneless members of one's
household (for 代办). Read only; every rule stays in the domain modules beside this one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import ledger
from points.auth.access import Access


@dataclass(frozen=True, slots=True)
class MyCheckin:
    checked_in_at: datetime
    checked_out_at: datetime | None
    method: str


@dataclass(frozen=True, slots=True)
class Paid:
    points: int
    minutes: int
    state: str  # posted, pending_approval, published (in its 公示 window) or voided (an objection upheld)


@dataclass(frozen=True, slots=True)
class Housemate:
    member_id: int
    display_name: str


async def my_checkin(conn: ledger.Connection, access: Access, activity_id: int) -> MyCheckin | None:
    if access.member_id is None:
        return None
    await ledger.enter(conn, access.community_id)
    row = await conn.fetchrow(
        "SELECT checked_in_at, checked_out_at, method FROM points.attendance"
        " WHERE activity_id = $1 AND member_id = $2 AND community_id = $3",
        activity_id,
        access.member_id,
        access.community_id,
    )
    return None if row is None else MyCheckin(row["checked_in_at"], row["checked_out_at"], row["method"])


async def paid_for(conn: ledger.Connection, access: Access, activity_ids: list[int]) -> dict[int, Paid]:
    """The caller's line of each activity's live award (posted or waiting for approval; a rejected or corrected
    award paid nothing)."""
    if access.member_id is None or not activity_ids:
        return {}
    await ledger.enter(conn, access.community_id)
    rows = await conn.fetch(
        "SELECT w.activity_id, l.points, l.minutes, w.state FROM points.awards w"
        " JOIN points.award_lines l ON l.award_id = w.id AND l.member_id = $2"
        " WHERE w.community_id = $1 AND w.activity_id = ANY($3::bigint[]) AND w.state <> 'rejected'"
        " AND NOT EXISTS (SELECT 1 FROM points.award_corrections c WHERE c.award_id = w.id)",
        access.community_id,
        access.member_id,
        activity_ids,
    )
    return {r["activity_id"]: Paid(r["points"], r["minutes"], r["state"]) for r in rows}


async def phoneless_housemates(conn: ledger.Connection, access: Access) -> list[Housemate]:
    """Active members of the caller's household who cannot sign in themselves: those the caller may check in
    (代办; points/earning/attendance.py decides, this only offers them)."""
    if access.member_id is None or access.household_id is None:
        return []
    await ledger.enter(conn, access.community_id)
    rows = await conn.fetch(
        "SELECT m.id, m.display_name FROM points.members m LEFT JOIN points.people p ON p.id = m.person_id"
        " WHERE m.community_id = $1 AND m.household_id = $2 AND m.id <> $3 AND m.status = 'active'"
        " AND (p.id IS NULL OR p.password_hash IS NULL) ORDER BY m.display_name, m.id",
        access.community_id,
        access.household_id,
        access.member_id,
    )
    return [Housemate(r["id"], r["display_name"]) for r in rows]


@dataclass(frozen=True, slots=True)
class MySignup:
    status: str  # registered, waitlisted, cancelled
    position: int | None  # on the waiting list: 1 is next


async def my_signups(conn: ledger.Connection, access: Access, activity_ids: list[int]) -> dict[int, MySignup]:
    """The caller's sign-up to each of these activities, with the place on the waiting list as
    points/earning/activities.py counts it (by the time of signing up, then the member id)."""
    if access.member_id is None or not activity_ids:
        return {}
    await ledger.enter(conn, access.community_id)
    rows = await conn.fetch(
        "SELECT s.activity_id, s.status, CASE WHEN s.status = 'waitlisted' THEN (SELECT count(*) FROM"
        " points.signups w WHERE w.activity_id = s.activity_id AND w.status = 'waitlisted' AND (w.signed_up_at,"
        " w.member_id) <= (s.signed_up_at, s.member_id)) END AS position FROM points.signups s"
        " WHERE s.community_id = $1 AND s.member_id = $2 AND s.activity_id = ANY($3::bigint[])",
        access.community_id,
        access.member_id,
        activity_ids,
    )
    return {r["activity_id"]: MySignup(r["status"], r["position"]) for r in rows}
