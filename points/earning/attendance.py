"""Attendance: check-in and check-out by the rotating code, 代办 for a household member without a phone, marks
and corrections by the organizer, and the confirmed list that awards are paid from.

Every write locks the activity row first (``FOR UPDATE``) and checks and writes under that lock, in one
transaction: two check-ins of one member, or the last free place taken twice, cannot both get through. The
trigger ``points.attendance_checks`` (migration 0008) is the second guard: check-ins by code or 代办 only while the
activity is open, from 30 minutes before its start to its end (LP006), nothing changes once the list is confirmed
(LP007), and a check-in is never rewritten, only its check-out, note, minutes and confirmation.

Places: someone registered always has theirs. Anyone else (a walk-in, someone on the waiting list) checks in only
while the places taken, by the registered and by everyone checked in, are fewer than the capacity; before the
start they are then registered too (the sign-ups' own trigger counts them), after it sign-ups are closed and the
attendance row is the place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

import ledger
from points.audit import audit
from points.auth.access import Access
from points.auth.errors import Forbidden, InvalidRequest, NotFound
from points.earning import checkin
from points.earning.activities import EARLIEST_CHECKIN, MAX_CAPACITY
from points.earning.errors import (
    ActivityFull,
    AlreadyCheckedIn,
    AlreadyCheckedOut,
    AttendanceConfirmed,
    CheckinCodeRefused,
    NotNow,
    WrongState,
    translated,
)
from points.field_problems import field_problem

LATEST_CHECKOUT = timedelta(minutes=30)  # check-outs (and the code they need) until this long after the end
MAX_NOTE_CHARS = 500  # points.attendance's CHECK says the same
MAX_MINUTES = 1440


@dataclass(frozen=True, slots=True)
class CheckinCode:
    activity_id: int
    code: str
    step_ends_at: datetime
    seconds_left: int


@dataclass(frozen=True, slots=True)
class AttendanceRow:
    member_id: int
    member_name: str
    present: bool  # checked in (by code, 代办 or by hand); False: signed up and not come (yet)
    signup: str | None  # registered, waitlisted, or None for a walk-in
    method: str | None  # code, proxy, manual
    recorded_by_member_id: int | None
    recorded_by_name: str | None
    note: str
    checked_in_at: datetime | None
    checked_out_at: datetime | None
    served_minutes: int | None  # within the scheduled window, so far (a missing check-out counts up to now)
    minutes: int | None  # as confirmed; None until then
    confirmed: bool
    checkout_missing: bool


@dataclass(frozen=True, slots=True)
class Attendance:
    activity_id: int
    state: str
    starts_at: datetime
    ends_at: datetime
    per_hour: bool
    attendance_confirmed_at: datetime | None
    confirmed_by_member_id: int | None
    rows: list[AttendanceRow]


def served_minutes(
    checked_in_at: datetime, checked_out_at: datetime | None, starts_at: datetime, ends_at: datetime, until: datetime
) -> int:
    """Whole minutes within the scheduled window: from the check-in, no earlier than the start, to the check-out,
    no later than the end. Without a check-out, up to ``until`` (now, for a list so far; the scheduled end, when
    the list is confirmed), and never past the end: a forgotten check-out is never worth 20 hours."""
    begin = max(checked_in_at, starts_at)
    finish = min(checked_out_at if checked_out_at is not None else until, ends_at)
    seconds = (finish - begin).total_seconds()
    return max(0, min(MAX_MINUTES, int(seconds // 60)))


def checkin_path(slug: str, activity_id: int, code: str) -> str:
    """The page a phone's camera opens from the QR (the page itself is points/pages/)."""
    return f"/c/{slug}/activities/{activity_id}/checkin?code={code}"


# --- reading ------------------------------------------------------------------------------------------------------

_ACTIVITY = (
    "SELECT id, state, starts_at, ends_at, capacity, per_hour, checkin_secret, attendance_confirmed_at,"
    " confirmed_by_member_id FROM points.activities WHERE id = $1 AND community_id = $2"
)


async def _activity(conn: ledger.Connection, community_id: int, activity_id: int, *, lock: bool) -> asyncpg.Record:
    row = await conn.fetchrow(_ACTIVITY + (" FOR UPDATE" if lock else ""), activity_id, community_id)
    if row is None:
        raise NotFound(f"no activity {activity_id} in this community", activity_id=activity_id)
    return row


def _require_open(activity: asyncpg.Record) -> None:
    if activity["attendance_confirmed_at"] is not None:
        raise AttendanceConfirmed("the attendance list is confirmed; it no longer changes", activity_id=activity["id"])
    if activity["state"] != "open":
        raise WrongState(f"the activity is {activity['state']}: it takes no check-ins", state=activity["state"])


def _require_between(now: datetime, earliest: datetime, latest: datetime, what: str) -> None:
    if not earliest <= now <= latest:
        raise NotNow(
            f"{what} from {earliest.isoformat()} to {latest.isoformat()}",
            earliest=earliest.isoformat(),
            latest=latest.isoformat(),
        )


def _require_code(activity: asyncpg.Record, code: str, now: datetime) -> None:
    refusal = checkin.check_code(bytes(activity["checkin_secret"]), code, now)
    if refusal == "expired":
        raise CheckinCodeRefused("the code has expired: type the one on the organizer's screen now", reason="expired")
    if refusal is not None:
        raise CheckinCodeRefused("the code is not this activity's: check the digits on the screen", reason="wrong")


async def get_checkin_code(
    conn: ledger.Connection, community_id: int, activity_id: int, *, now: datetime | None = None
) -> CheckinCode:
    """The code to show now, while the activity is open: from 30 minutes before its start (check-ins) until 30
    minutes after its end (check-outs)."""
    await ledger.enter(conn, community_id)
    activity = await _activity(conn, community_id, activity_id, lock=False)
    _require_open(activity)
    at = now or datetime.now(UTC)
    _require_between(
        at, activity["starts_at"] - EARLIEST_CHECKIN, activity["ends_at"] + LATEST_CHECKOUT, "the code is shown"
    )
    current = checkin.current_code(bytes(activity["checkin_secret"]), at)
    return CheckinCode(activity_id, current.code, current.step_ends_at, current.seconds_left)


_ROWS = """
SELECT coalesce(a.member_id, s.member_id) AS member_id, m.display_name AS member_name, s.status AS signup, a.method,
       a.recorded_by_member_id, r.display_name AS recorded_by_name, coalesce(a.note, '') AS note, a.checked_in_at,
       a.checked_out_at, coalesce(a.confirmed, false) AS confirmed, a.minutes,
       coalesce(a.checkout_missing, false) AS checkout_missing
  FROM (SELECT * FROM points.attendance WHERE activity_id = $1) a
  FULL JOIN (SELECT * FROM points.signups WHERE activity_id = $1 AND status <> 'cancelled') s
    ON s.member_id = a.member_id
  JOIN points.members m ON m.id = coalesce(a.member_id, s.member_id)
  LEFT JOIN points.members r ON r.id = a.recorded_by_member_id
 ORDER BY a.checked_in_at NULLS LAST, s.status, m.display_name, 1
"""


def _row(record: asyncpg.Record, activity: asyncpg.Record, now: datetime) -> AttendanceRow:
    checked_in_at, checked_out_at = record["checked_in_at"], record["checked_out_at"]
    present = checked_in_at is not None
    served = None
    missing = bool(record["checkout_missing"])
    if present:
        served = served_minutes(checked_in_at, checked_out_at, activity["starts_at"], activity["ends_at"], now)
        if not record["confirmed"]:
            missing = checked_out_at is None and (activity["per_hour"] or now > activity["ends_at"])
    return AttendanceRow(
        member_id=record["member_id"],
        member_name=record["member_name"],
        present=present,
        signup=record["signup"],
        method=record["method"],
        recorded_by_member_id=record["recorded_by_member_id"],
        recorded_by_name=record["recorded_by_name"],
        note=record["note"],
        checked_in_at=checked_in_at,
        checked_out_at=checked_out_at,
        served_minutes=served,
        minutes=record["minutes"],
        confirmed=bool(record["confirmed"]),
        checkout_missing=missing,
    )


async def list_attendance(conn: ledger.Connection, community_id: int, activity_id: int) -> Attendance:
    """Everyone checked in, in the order they came, then everyone signed up who did not come; the minutes served
    so far, and which check-outs are missing (per-hour activities, and any activity that has ended)."""
    await ledger.enter(conn, community_id)
    activity = await _activity(conn, community_id, activity_id, lock=False)
    records = await conn.fetch(_ROWS, activity_id)
    now = datetime.now(UTC)
    return Attendance(
        activity_id=activity_id,
        state=activity["state"],
        starts_at=activity["starts_at"],
        ends_at=activity["ends_at"],
        per_hour=activity["per_hour"],
        attendance_confirmed_at=activity["attendance_confirmed_at"],
        confirmed_by_member_id=activity["confirmed_by_member_id"],
        rows=[_row(r, activity, now) for r in records],
    )


async def _one(conn: ledger.Connection, activity: asyncpg.Record, member_id: int) -> AttendanceRow:
    for record in await conn.fetch(_ROWS, activity["id"]):
        if record["member_id"] == member_id:
            return _row(record, activity, datetime.now(UTC))
    raise NotFound(f"member {member_id} is not on this activity's list", member_id=member_id)


# --- check-in and check-out by code -------------------------------------------------------------------------------


def _caller(access: Access) -> int:
    if access.member_id is None:
        raise Forbidden("only a member of the community checks in")
    return access.member_id


async def _proxied(conn: ledger.Connection, access: Access, member_id: int) -> None:
    """代办: the caller checks in someone of their own household who has no phone sign-in of their own."""
    target = await conn.fetchrow(
        "SELECT m.display_name, m.household_id, m.status, p.password_hash IS NOT NULL AS signs_in"
        " FROM points.members m LEFT JOIN points.people p ON p.id = m.person_id"
        " WHERE m.id = $1 AND m.community_id = $2",
        member_id,
        access.community_id,
    )
    if target is None:
        raise NotFound(f"no member {member_id} in this community", member_id=member_id)
    if access.household_id is None or target["household_id"] != access.household_id:
        raise Forbidden(f"{target['display_name']} is not of your household: 代办 is for your own household only")
    if target["status"] != "active":
        message = f"for_member_id: {target['display_name']} is {target['status']}, not an active member"
        raise InvalidRequest(message, errors=[field_problem("for_member_id", "invalid", message=message)])
    if target["signs_in"]:
        message = f"for_member_id: {target['display_name']} signs in with their own phone and checks in themselves"
        raise InvalidRequest(message, errors=[field_problem("for_member_id", "invalid", message=message)])


async def _take_place(
    conn: ledger.Connection, community_id: int, activity: asyncpg.Record, member_id: int, now: datetime
) -> None:
    """A place for someone not registered (a walk-in, the waiting list), if one is free; under the lock."""
    signup = await conn.fetchval(
        "SELECT status FROM points.signups WHERE activity_id = $1 AND member_id = $2", activity["id"], member_id
    )
    if signup == "registered":
        return
    if activity["capacity"] is not None:
        taken = await conn.fetchval(
            "SELECT count(*) FROM (SELECT member_id FROM points.signups WHERE activity_id = $1 AND status ="
            " 'registered' UNION SELECT member_id FROM points.attendance WHERE activity_id = $1) taken",
            activity["id"],
        )
        if taken >= activity["capacity"]:
            raise ActivityFull(
                f"all {activity['capacity']} places are taken", capacity=activity["capacity"], taken=taken
            )
    if now < activity["starts_at"]:  # sign-ups are still taken: the place is theirs on the list too
        async with translated():
            await conn.execute(
                "INSERT INTO points.signups (community_id, activity_id, member_id, status) VALUES ($1, $2, $3,"
                " 'registered') ON CONFLICT (activity_id, member_id) DO UPDATE SET status = 'registered',"
                " cancelled_at = NULL",
                community_id,
                activity["id"],
                member_id,
            )


async def check_in(
    conn: ledger.Connection, access: Access, activity_id: int, code: str, *, for_member_id: int | None = None
) -> AttendanceRow:
    """Check in by the code on the organizer's screen: oneself (method code), or with ``for_member_id`` a member
    of one's household without a phone sign-in (代办, method proxy, recorded as by the caller for them)."""
    caller = _caller(access)
    async with ledger.transaction(conn):
        await ledger.enter(conn, access.community_id)
        activity = await _activity(conn, access.community_id, activity_id, lock=True)
        now = datetime.now(UTC)  # read under the lock: the moment this check-in is decided
        _require_open(activity)
        _require_between(now, activity["starts_at"] - EARLIEST_CHECKIN, activity["ends_at"], "check-ins are taken")
        _require_code(activity, code, now)
        member_id, method = caller, "code"
        if for_member_id is not None and for_member_id != caller:
            await _proxied(conn, access, for_member_id)
            member_id, method = for_member_id, "proxy"
        already = await conn.fetchval(
            "SELECT checked_in_at FROM points.attendance WHERE activity_id = $1 AND member_id = $2",
            activity_id,
            member_id,
        )
        if already is not None:
            raise AlreadyCheckedIn("checked in already", member_id=member_id, checked_in_at=already.isoformat())
        await _take_place(conn, access.community_id, activity, member_id, now)
        async with translated():
            try:
                await conn.execute(
                    "INSERT INTO points.attendance (community_id, activity_id, member_id, checked_in_at, method,"
                    " recorded_by_member_id) VALUES ($1, $2, $3, $4, $5, $6)",
                    access.community_id,
                    activity_id,
                    member_id,
                    now,
                    method,
                    caller,
                )
            except asyncpg.UniqueViolationError as exc:  # the primary key, beneath the lock
                raise AlreadyCheckedIn("checked in already", member_id=member_id) from exc
        return await _one(conn, activity, member_id)


async def check_out(
    conn: ledger.Connection, access: Access, activity_id: int, code: str, *, for_member_id: int | None = None
) -> AttendanceRow:
    """Check out by the code on the screen (a current one: nobody checks out from home hours later), from the
    check-in until 30 minutes after the end; once. With ``for_member_id``, 代办 as at check-in: a member of one's
    household without a phone sign-in."""
    member_id = _caller(access)
    async with ledger.transaction(conn):
        await ledger.enter(conn, access.community_id)
        activity = await _activity(conn, access.community_id, activity_id, lock=True)
        now = datetime.now(UTC)
        _require_open(activity)
        _require_between(
            now,
            activity["starts_at"] - EARLIEST_CHECKIN,
            activity["ends_at"] + LATEST_CHECKOUT,
            "check-outs are taken",
        )
        _require_code(activity, code, now)
        if for_member_id is not None and for_member_id != member_id:
            await _proxied(conn, access, for_member_id)
            member_id = for_member_id
        row = await conn.fetchrow(
            "SELECT checked_in_at, checked_out_at FROM points.attendance WHERE activity_id = $1 AND member_id = $2",
            activity_id,
            member_id,
        )
        if row is None:
            raise NotFound("not checked in to this activity", activity_id=activity_id)
        if row["checked_out_at"] is not None:
            raise AlreadyCheckedOut("checked out already", checked_out_at=row["checked_out_at"].isoformat())
        async with translated():
            await conn.execute(
                "UPDATE points.attendance SET checked_out_at = $3 WHERE activity_id = $1 AND member_id = $2",
                activity_id,
                member_id,
                max(now, row["checked_in_at"]),
            )
        return await _one(conn, activity, member_id)


# --- by the organizer ---------------------------------------------------------------------------------------------


def _time_between(field: str, value: datetime, earliest: datetime, latest: datetime) -> None:
    if not earliest <= value <= latest:
        message = f"{field} must be from {earliest.isoformat()} up to {latest.isoformat()}"
        raise InvalidRequest(
            message,
            errors=[
                field_problem(
                    field, "out_of_window", message=message, earliest=earliest.isoformat(), latest=latest.isoformat()
                )
            ],
        )


def _check_note(note: str) -> str:
    cleaned = note.strip()
    if not cleaned or len(note) > MAX_NOTE_CHARS or "\x00" in note:
        code = "required" if not cleaned else "contains_nul" if "\x00" in note else "too_long"
        raise InvalidRequest(
            f"note: say why, in 1 to {MAX_NOTE_CHARS} characters",
            errors=[field_problem("note", code, max=MAX_NOTE_CHARS, unit="characters")],
        )
    return cleaned


async def mark_attendance(
    conn: ledger.Connection,
    access: Access,
    activity_id: int,
    member_id: int,
    note: str,
    *,
    checked_in_at: datetime | None = None,
    checked_out_at: datetime | None = None,
) -> AttendanceRow:
    """The organizer marks someone present by hand (method manual, with a note, recorded as by the organizer),
    or, for someone already on the list, sets or corrects their check-out time (the check-in itself is never
    rewritten); both until the list is confirmed, and both on the audit trail."""
    organizer = _caller(access)
    cleaned = _check_note(note)
    async with ledger.transaction(conn):
        await ledger.enter(conn, access.community_id)
        activity = await _activity(conn, access.community_id, activity_id, lock=True)
        now = datetime.now(UTC)
        if activity["attendance_confirmed_at"] is not None:
            raise AttendanceConfirmed("the attendance list is confirmed; it no longer changes")
        if activity["state"] not in ("open", "closed"):
            raise WrongState(f"the activity is {activity['state']}: it takes no attendance", state=activity["state"])
        starts_at, ends_at = activity["starts_at"], activity["ends_at"]
        if now < starts_at - EARLIEST_CHECKIN:
            raise NotNow(f"attendance is marked from 30 minutes before the start ({starts_at.isoformat()})")
        exists = await conn.fetchval(
            "SELECT 1 FROM points.members WHERE id = $1 AND community_id = $2", member_id, access.community_id
        )
        if exists is None:
            raise NotFound(f"no member {member_id} in this community", member_id=member_id)
        current = await conn.fetchrow(
            "SELECT checked_in_at FROM points.attendance WHERE activity_id = $1 AND member_id = $2",
            activity_id,
            member_id,
        )
        if current is None:
            came = checked_in_at or min(now, starts_at)
            _time_between("checked_in_at", came, starts_at - EARLIEST_CHECKIN, min(ends_at, now))
        else:
            came = current["checked_in_at"]
            if checked_out_at is None:
                raise AlreadyCheckedIn("checked in already: send checked_out_at to correct the check-out")
            if checked_in_at is not None and checked_in_at != came:
                message = "checked_in_at: a check-in is not rewritten; only its check-out is corrected"
                raise InvalidRequest(message, errors=[field_problem("checked_in_at", "invalid", message=message)])
        if checked_out_at is not None:
            _time_between("checked_out_at", checked_out_at, came, ends_at + LATEST_CHECKOUT)
        async with translated():
            if current is None:
                await conn.execute(
                    "INSERT INTO points.attendance (community_id, activity_id, member_id, checked_in_at,"
                    " checked_out_at, method, recorded_by_member_id, note)"
                    " VALUES ($1, $2, $3, $4, $5, 'manual', $6, $7)",
                    access.community_id,
                    activity_id,
                    member_id,
                    came,
                    checked_out_at,
                    organizer,
                    cleaned,
                )
            else:
                await conn.execute(
                    "UPDATE points.attendance SET checked_out_at = $3, note = $4 WHERE activity_id = $1"
                    " AND member_id = $2",
                    activity_id,
                    member_id,
                    checked_out_at,
                    cleaned,
                )
        await audit(
            conn,
            "attendance.marked" if current is None else "attendance.checkout_corrected",
            community_id=access.community_id,
            actor_person_id=access.person_id,
            subject=f"activity:{activity_id} member:{member_id}",
            detail={
                "by_member_id": organizer,
                "note": cleaned,
                "checked_in_at": came.isoformat(),
                "checked_out_at": checked_out_at.isoformat() if checked_out_at else None,
            },
        )
        return await _one(conn, activity, member_id)


async def confirm_attendance(
    conn: ledger.Connection, access: Access, activity_id: int, member_ids: Sequence[int]
) -> Attendance:
    """The organizer confirms exactly who attended: those named get their minutes (served within the scheduled
    window; a missing check-out counts up to the end and is flagged) and are confirmed; the rest of the list
    stays unconfirmed, and is not awarded. The activity is then closed; the list no longer changes."""
    organizer = _caller(access)
    chosen = sorted(set(member_ids))
    if len(chosen) > MAX_CAPACITY:
        raise InvalidRequest(
            f"member_ids: at most {MAX_CAPACITY}",
            errors=[field_problem("member_ids", "too_long", max=MAX_CAPACITY, unit="items")],
        )
    async with ledger.transaction(conn):
        await ledger.enter(conn, access.community_id)
        activity = await _activity(conn, access.community_id, activity_id, lock=True)
        _require_open(activity)
        starts_at, ends_at = activity["starts_at"], activity["ends_at"]
        if datetime.now(UTC) < starts_at:
            raise NotNow(f"the list is confirmed once the activity has started ({starts_at.isoformat()})")
        rows = {
            r["member_id"]: r
            for r in await conn.fetch(
                "SELECT member_id, checked_in_at, checked_out_at FROM points.attendance WHERE activity_id = $1",
                activity_id,
            )
        }
        absent = [m for m in chosen if m not in rows]
        if absent:
            message = f"member_ids: not checked in, mark them first: {', '.join(map(str, absent))}"
            raise InvalidRequest(message, errors=[field_problem("member_ids", "invalid", message=message)])
        minutes = [
            served_minutes(rows[m]["checked_in_at"], rows[m]["checked_out_at"], starts_at, ends_at, ends_at)
            for m in chosen
        ]
        missing = [rows[m]["checked_out_at"] is None for m in chosen]
        async with translated():
            if chosen:
                await conn.execute(
                    "UPDATE points.attendance a SET confirmed = true, minutes = u.minutes,"
                    " checkout_missing = u.missing FROM unnest($2::bigint[], $3::int[], $4::bool[])"
                    " AS u(member_id, minutes, missing) WHERE a.activity_id = $1 AND a.member_id = u.member_id",
                    activity_id,
                    chosen,
                    minutes,
                    missing,
                )
            await conn.execute(
                "UPDATE points.activities SET attendance_confirmed_at = now(), confirmed_by_member_id = $2,"
                " state = 'closed' WHERE id = $1",
                activity_id,
                organizer,
            )
        await audit(
            conn,
            "attendance.confirmed",
            community_id=access.community_id,
            actor_person_id=access.person_id,
            subject=f"activity:{activity_id}",
            detail={"by_member_id": organizer, "member_ids": chosen, "left_out": sorted(set(rows) - set(chosen))},
        )
        return await list_attendance(conn, access.community_id, activity_id)
