"""Activities and their sign-ups: draft -> open -> closed -> awarded, or cancelled.

Volunteers sign up while an activity is open and before it starts; a full activity puts them on the waiting
list, and a place given back goes to the first one waiting. The activity row is locked for each sign-up
(here, and by the trigger underneath), so two people taking the last place at once cannot both get it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta

import asyncpg

import ledger
from points.auth.access import Access
from points.auth.errors import InvalidRequest, NotFound
from points.earning.errors import NotNow, WrongState, translated
from points.earning.types import MAX_POINTS, get_type
from points.members.service import get_member, place_id_for

MAX_TITLE_CHARS = 100
MAX_DESCRIPTION_CHARS = 2000
MAX_CAPACITY = 10_000
MAX_LENGTH = timedelta(hours=24)
EARLIEST_CHECKIN = timedelta(minutes=30)  # check-ins open this long before the start (the trigger agrees)
STATES = ("draft", "open", "closed", "awarded", "cancelled")


@dataclass(frozen=True, slots=True)
class Activity:
    id: int
    community_id: int
    type_id: int
    type_name: str
    title: str
    description: str
    place_id: int | None
    starts_at: datetime
    ends_at: datetime
    capacity: int | None
    reward_points: int
    per_hour: bool
    organizer_member_id: int
    organizer_name: str
    state: str
    attendance_confirmed_at: datetime | None
    cancel_reason: str | None
    registered: int
    waitlisted: int
    checked_in: int


@dataclass(frozen=True, slots=True)
class Signup:
    activity_id: int
    member_id: int
    status: str  # registered, waitlisted, cancelled
    position: int | None  # on the waiting list: 1 is next
    signed_up_at: datetime


_SELECT = """
SELECT a.id, a.community_id, a.type_id, t.name AS type_name, a.title, a.description, a.place_id, a.starts_at,
       a.ends_at, a.capacity, a.reward_points, a.per_hour, a.organizer_member_id, m.display_name AS organizer_name,
       a.state, a.attendance_confirmed_at, a.cancel_reason,
       (SELECT count(*) FROM points.signups s WHERE s.activity_id = a.id AND s.status = 'registered') AS registered,
       (SELECT count(*) FROM points.signups s WHERE s.activity_id = a.id AND s.status = 'waitlisted') AS waitlisted,
       (SELECT count(*) FROM points.attendance x WHERE x.activity_id = a.id) AS checked_in
  FROM points.activities a
  JOIN points.activity_types t ON t.id = a.type_id
  JOIN points.members m ON m.id = a.organizer_member_id
"""


_FIELDS = tuple(f.name for f in fields(Activity))


def _activity(row: asyncpg.Record) -> Activity:
    return Activity(**{name: row[name] for name in _FIELDS})


def check_schedule(starts_at: datetime, ends_at: datetime) -> None:
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise InvalidRequest("starts_at and ends_at carry a time zone", field="starts_at")
    if ends_at <= starts_at:
        raise InvalidRequest("ends_at is after starts_at", field="ends_at")
    if ends_at - starts_at > MAX_LENGTH:
        raise InvalidRequest("an activity lasts at most 24 hours; post a longer one as several", field="ends_at")


def check_fields(title: str, description: str, capacity: int | None, reward_points: int) -> None:
    if not title.strip() or len(title) > MAX_TITLE_CHARS:
        raise InvalidRequest(f"title is 1 to {MAX_TITLE_CHARS} characters", field="title")
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise InvalidRequest(f"description is at most {MAX_DESCRIPTION_CHARS} characters", field="description")
    if capacity is not None and not 1 <= capacity <= MAX_CAPACITY:
        raise InvalidRequest(f"capacity is 1 to {MAX_CAPACITY}, or absent for no limit", field="capacity")
    if not 0 <= reward_points <= MAX_POINTS:
        raise InvalidRequest(f"reward_points is 0 to {MAX_POINTS}", field="reward_points")


async def get_activity(conn: ledger.Connection, community_id: int, activity_id: int) -> Activity:
    await ledger.enter(conn, community_id)
    row = await conn.fetchrow(_SELECT + " WHERE a.id = $1 AND a.community_id = $2", activity_id, community_id)
    if row is None:
        raise NotFound(f"no activity {activity_id} in this community", activity_id=activity_id)
    return _activity(row)


async def list_activities(
    conn: ledger.Connection,
    community_id: int,
    *,
    states: tuple[str, ...],
    after: datetime | None = None,
    limit: int = 50,
) -> list[Activity]:
    """Activities in these states, soonest first; ``after`` keeps those ending after that moment."""
    await ledger.enter(conn, community_id)
    rows = await conn.fetch(
        _SELECT + " WHERE a.community_id = $1 AND a.state = ANY($2::text[]) AND ($3::timestamptz IS NULL OR"
        " a.ends_at > $3) ORDER BY a.starts_at, a.id LIMIT $4",
        community_id,
        list(states),
        after,
        limit,
    )
    return [_activity(r) for r in rows]


async def create_activity(
    conn: ledger.Connection,
    access: Access,
    *,
    type_id: int,
    title: str,
    description: str = "",
    place_id: int | None,
    starts_at: datetime,
    ends_at: datetime,
    capacity: int | None,
    reward_points: int | None,
    per_hour: bool = False,
    organizer_member_id: int | None = None,
    publish: bool = False,
) -> Activity:
    """A new activity, as a draft or already open for sign-ups (``publish``). The reward defaults to the type's
    points; ``per_hour`` pays the type's points per hour of attendance instead."""
    check_schedule(starts_at, ends_at)
    activity_type = await get_type(conn, access.community_id, type_id)
    reward = activity_type.default_points if reward_points is None else reward_points
    check_fields(title, description, capacity, reward)
    if per_hour and activity_type.points_per_hour is None:
        raise InvalidRequest(f"{activity_type.name} has no points per hour: set them on the type", field="per_hour")
    if not activity_type.active:
        raise InvalidRequest(f"{activity_type.name} is switched off", field="type_id")
    if publish and starts_at <= datetime.now(UTC):
        raise NotNow("an activity is opened for sign-ups before it starts", field="starts_at")
    organizer = organizer_member_id or access.member_id
    if organizer is None:
        raise InvalidRequest("name the organizer (organizer_member_id)", field="organizer_member_id")
    await get_member(conn, access.community_id, organizer)
    async with ledger.transaction(conn):
        place = await place_id_for(conn, access.community_id, place_id)
        new_id = await conn.fetchval(
            "INSERT INTO points.activities (community_id, type_id, title, description, place_id, starts_at, ends_at,"
            " capacity, reward_points, per_hour, organizer_member_id, state, checkin_secret)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
            access.community_id,
            type_id,
            title.strip(),
            description,
            place,
            starts_at,
            ends_at,
            capacity,
            reward,
            per_hour,
            organizer,
            "open" if publish else "draft",
            secrets.token_bytes(32),
        )
        return await get_activity(conn, access.community_id, new_id)


async def _locked(conn: ledger.Connection, community_id: int, activity_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT id, state, starts_at, ends_at, capacity FROM points.activities"
        " WHERE id = $1 AND community_id = $2 FOR UPDATE",
        activity_id,
        community_id,
    )
    if row is None:
        raise NotFound(f"no activity {activity_id} in this community", activity_id=activity_id)
    return row


async def open_activity(conn: ledger.Connection, community_id: int, activity_id: int) -> Activity:
    async with ledger.transaction(conn):
        await ledger.enter(conn, community_id)
        row = await _locked(conn, community_id, activity_id)
        if row["state"] != "draft":
            raise WrongState(f"the activity is {row['state']}; only a draft is opened", state=row["state"])
        if row["starts_at"] <= datetime.now(UTC):
            raise NotNow("an activity is opened for sign-ups before it starts")
        async with translated():
            await conn.execute("UPDATE points.activities SET state = 'open' WHERE id = $1", activity_id)
        return await get_activity(conn, community_id, activity_id)


async def cancel_activity(conn: ledger.Connection, community_id: int, activity_id: int, reason: str) -> Activity:
    if not reason.strip() or len(reason) > 500:
        raise InvalidRequest("a cancellation needs a reason of 1 to 500 characters", field="reason")
    async with ledger.transaction(conn):
        await ledger.enter(conn, community_id)
        row = await _locked(conn, community_id, activity_id)
        if row["state"] in ("awarded", "cancelled"):
            raise WrongState(f"the activity is already {row['state']}", state=row["state"])
        async with translated():
            await conn.execute(
                "UPDATE points.activities SET state = 'cancelled', cancel_reason = $2 WHERE id = $1",
                activity_id,
                reason.strip(),
            )
        return await get_activity(conn, community_id, activity_id)


async def update_activity(
    conn: ledger.Connection,
    community_id: int,
    activity_id: int,
    *,
    title: str,
    description: str,
    place_id: int | None,
    starts_at: datetime,
    ends_at: datetime,
    capacity: int | None,
    reward_points: int,
) -> Activity:
    """Edit a draft or an open activity (an open one only before it starts: people signed up for that plan)."""
    check_schedule(starts_at, ends_at)
    check_fields(title, description, capacity, reward_points)
    async with ledger.transaction(conn):
        await ledger.enter(conn, community_id)
        row = await _locked(conn, community_id, activity_id)
        if row["state"] not in ("draft", "open"):
            raise WrongState(f"the activity is {row['state']}; it is no longer edited", state=row["state"])
        if row["state"] == "open" and row["starts_at"] <= datetime.now(UTC):
            raise NotNow("the activity has started; it is no longer edited")
        place = await place_id_for(conn, community_id, place_id)
        async with translated():
            await conn.execute(
                "UPDATE points.activities SET title = $2, description = $3, place_id = $4, starts_at = $5,"
                " ends_at = $6, capacity = $7, reward_points = $8 WHERE id = $1",
                activity_id,
                title.strip(),
                description,
                place,
                starts_at,
                ends_at,
                capacity,
                reward_points,
            )
        return await get_activity(conn, community_id, activity_id)


# --- sign-ups ----------------------------------------------------------------------------------------------------


async def _signup(conn: ledger.Connection, activity_id: int, member_id: int) -> Signup:
    row = await conn.fetchrow(
        "SELECT activity_id, member_id, status, signed_up_at,"
        " CASE WHEN status = 'waitlisted' THEN (SELECT count(*) FROM points.signups w WHERE w.activity_id ="
        " s.activity_id AND w.status = 'waitlisted' AND (w.signed_up_at, w.member_id) <= (s.signed_up_at,"
        " s.member_id)) END AS position FROM points.signups s WHERE activity_id = $1 AND member_id = $2",
        activity_id,
        member_id,
    )
    if row is None:
        raise NotFound("not signed up for this activity", activity_id=activity_id)
    return Signup(**dict(row))


async def sign_up(conn: ledger.Connection, access: Access, activity_id: int) -> Signup:
    """Register for an open activity before its start, or join its waiting list when it is full. Signing up
    again changes nothing (a cancelled sign-up comes back, at the end of the queue)."""
    member_id = _member(access)
    async with ledger.transaction(conn):
        await ledger.enter(conn, access.community_id)
        row = await _locked(conn, access.community_id, activity_id)
        if row["state"] != "open":
            raise WrongState(f"the activity is {row['state']}: it takes no sign-ups", state=row["state"])
        if row["starts_at"] <= datetime.now(UTC):
            raise NotNow("the activity has started: sign-ups are closed")
        current = await conn.fetchval(
            "SELECT status FROM points.signups WHERE activity_id = $1 AND member_id = $2", activity_id, member_id
        )
        if current in ("registered", "waitlisted"):
            return await _signup(conn, activity_id, member_id)
        taken = await conn.fetchval(
            "SELECT count(*) FROM points.signups WHERE activity_id = $1 AND status = 'registered'", activity_id
        )
        status = "waitlisted" if row["capacity"] is not None and taken >= row["capacity"] else "registered"
        async with translated():
            await conn.execute(
                "INSERT INTO points.signups (community_id, activity_id, member_id, status) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (activity_id, member_id) DO UPDATE SET status = EXCLUDED.status, signed_up_at = now(),"
                " cancelled_at = NULL",
                access.community_id,
                activity_id,
                member_id,
                status,
            )
        return await _signup(conn, activity_id, member_id)


async def cancel_sign_up(conn: ledger.Connection, access: Access, activity_id: int) -> Signup:
    """Give the place back before the start; the first on the waiting list gets it."""
    member_id = _member(access)
    async with ledger.transaction(conn):
        await ledger.enter(conn, access.community_id)
        row = await _locked(conn, access.community_id, activity_id)
        if row["starts_at"] <= datetime.now(UTC):
            raise NotNow("the activity has started: a sign-up is cancelled before the start")
        current = await conn.fetchval(
            "SELECT status FROM points.signups WHERE activity_id = $1 AND member_id = $2", activity_id, member_id
        )
        if current is None:
            raise NotFound("not signed up for this activity", activity_id=activity_id)
        if current != "cancelled":
            async with translated():
                await conn.execute(
                    "UPDATE points.signups SET status = 'cancelled', cancelled_at = now()"
                    " WHERE activity_id = $1 AND member_id = $2",
                    activity_id,
                    member_id,
                )
                if current == "registered":
                    await conn.execute(
                        "UPDATE points.signups SET status = 'registered' WHERE (activity_id, member_id) = ("
                        "SELECT activity_id, member_id FROM points.signups WHERE activity_id = $1 AND status ="
                        " 'waitlisted' ORDER BY signed_up_at, member_id LIMIT 1)",
                        activity_id,
                    )
        return await _signup(conn, activity_id, member_id)


async def signups_of(conn: ledger.Connection, community_id: int, activity_id: int) -> list[tuple[Signup, str]]:
    """Everyone signed up (registered first, then the waiting list in order), with their names."""
    await ledger.enter(conn, community_id)
    rows = await conn.fetch(
        "SELECT s.activity_id, s.member_id, s.status, s.signed_up_at, m.display_name,"
        " CASE WHEN s.status = 'waitlisted' THEN row_number() OVER (PARTITION BY s.status ORDER BY s.signed_up_at,"
        " s.member_id) END AS position FROM points.signups s JOIN points.members m ON m.id = s.member_id"
        " WHERE s.activity_id = $1 AND s.community_id = $2 AND s.status <> 'cancelled'"
        " ORDER BY s.status, s.signed_up_at, s.member_id",
        activity_id,
        community_id,
    )
    return [
        (Signup(r["activity_id"], r["member_id"], r["status"], r["position"], r["signed_up_at"]), r["display_name"])
        for r in rows
    ]


async def my_activities(conn: ledger.Connection, access: Access, limit: int = 50) -> list[tuple[Activity, str]]:
    """The caller's activities (signed up or attended), newest first, with how they took part."""
    member_id = _member(access)
    await ledger.enter(conn, access.community_id)
    rows = await conn.fetch(
        "SELECT * FROM (SELECT q.*, CASE WHEN EXISTS (SELECT 1 FROM points.attendance x WHERE x.activity_id = q.id"
        " AND x.member_id = $2) THEN 'attended' ELSE (SELECT status FROM points.signups s WHERE s.activity_id = q.id"
        " AND s.member_id = $2) END AS part FROM (" + _SELECT + " WHERE a.community_id = $1) q) r"
        " WHERE r.part IS NOT NULL ORDER BY r.starts_at DESC, r.id DESC LIMIT $3",
        access.community_id,
        member_id,
        limit,
    )
    return [(_activity(r), r["part"]) for r in rows]


def _member(access: Access) -> int:
    if access.member_id is None:
        raise InvalidRequest("only a member of the community signs up")
    return access.member_id
