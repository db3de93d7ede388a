"""HTTP handlers for attendance: the rotating check-in code (digits and QR), check-in and check-out by it (and
代办 for one's household), the organizer's list, marks by hand and corrections, and the confirmed list.
Rules live in points/earning/attendance.py; the codes in points/earning/checkin.py."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Annotated

import msgspec
import segno
from litestar import Controller, Response, get, post
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from ledger.model import check_time
from points.earning import attendance, checkin
from points.earning.activities import MAX_CAPACITY
from points.earning.web import from_domain
from points.fields import NO_NUL_PATTERN, Id, PathId, Timestamp
from points.openapi import problems
from points.wiring import Conn, CurrentAccess, CurrentCommunity

SVG_MEDIA_TYPE = "image/svg+xml"
NO_STORE = CacheControlHeader(no_store=True)  # a code is good for seconds: no cache keeps one

CheckinCodeText = Annotated[
    str,
    msgspec.Meta(
        min_length=checkin.CODE_DIGITS,
        max_length=checkin.CODE_DIGITS,
        pattern=f"^[0-9]{{{checkin.CODE_DIGITS}}}$",
        description="the six digits on the organizer's screen (or in the QR's link)",
        examples=["042917"],
    ),
]
Note = Annotated[str, msgspec.Meta(min_length=1, max_length=attendance.MAX_NOTE_CHARS, pattern=NO_NUL_PATTERN)]


class CheckInIn(msgspec.Struct, forbid_unknown_fields=True):
    code: CheckinCodeText
    for_member_id: Id | None = None  # 代办: a member of your household who has no phone sign-in


class CheckOutIn(msgspec.Struct, forbid_unknown_fields=True):
    code: CheckinCodeText
    for_member_id: Id | None = None  # 代办, as at check-in


class MarkIn(msgspec.Struct, forbid_unknown_fields=True):
    member_id: Id
    note: Note
    checked_in_at: Timestamp | None = None
    checked_out_at: Timestamp | None = None

    def __post_init__(self) -> None:
        problems = check_time("checked_in_at", self.checked_in_at) + check_time("checked_out_at", self.checked_out_at)
        if problems:
            raise ValueError(problems[0])


class ConfirmIn(msgspec.Struct, forbid_unknown_fields=True):
    member_ids: Annotated[list[Id], msgspec.Meta(max_length=MAX_CAPACITY)]


class CheckinCodeOut(msgspec.Struct):
    code: str
    step_ends_at: datetime
    seconds_left: int
    checkin_url: str  # the page a phone's camera opens: /c/{slug}/activities/{id}/checkin?code=NNNNNN


class AttendanceRowOut(msgspec.Struct):
    member_id: int
    member_name: str
    present: bool
    signup: str | None
    method: str | None
    recorded_by_member_id: int | None
    recorded_by_name: str | None
    note: str
    checked_in_at: datetime | None
    checked_out_at: datetime | None
    served_minutes: int | None
    minutes: int | None
    confirmed: bool
    checkout_missing: bool


class AttendanceOut(msgspec.Struct):
    activity_id: int
    state: str
    starts_at: datetime
    ends_at: datetime
    per_hour: bool
    attendance_confirmed_at: datetime | None
    confirmed_by_member_id: int | None
    rows: list[AttendanceRowOut]


def _row(row: attendance.AttendanceRow) -> AttendanceRowOut:
    return from_domain(AttendanceRowOut, row)


def _list(found: attendance.Attendance) -> AttendanceOut:
    return from_domain(AttendanceOut, found, rows=[_row(r) for r in found.rows])


def qr_svg(text: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="svg", scale=8, border=2, xmldecl=False)
    return buffer.getvalue()


class AttendanceController(Controller):
    path = "/api/v1/communities/{slug:str}/activities/{activity_id:int}"
    tags = ["attendance"]  # noqa: RUF012

    @get(
        "/checkin-code",
        operation_id="getCheckinCode",
        cache_control=NO_STORE,
        responses=problems(400, 401, 403, 404, 409),
    )
    async def checkin_code(
        self, conn: Conn, community: CurrentCommunity, activity_id: PathId, slug: FromPath[str]
    ) -> CheckinCodeOut:
        """The code to show now (a new one every 30 s; the previous one is still taken for 10 s), while the
        activity is open, from 30 minutes before its start until 30 minutes after its end (for check-outs)."""
        found = await attendance.get_checkin_code(conn, community.id, activity_id)
        url = attendance.checkin_path(community.slug, activity_id, found.code)
        return CheckinCodeOut(found.code, found.step_ends_at, found.seconds_left, url)

    @get(
        "/checkin-code.svg",
        operation_id="getCheckinQr",
        media_type=SVG_MEDIA_TYPE,
        cache_control=NO_STORE,
        responses=problems(400, 401, 403, 404, 409),
    )
    async def checkin_qr(
        self, conn: Conn, community: CurrentCommunity, activity_id: PathId, slug: FromPath[str]
    ) -> Response[bytes]:
        """The QR of the current code's check-in link, as SVG: a phone's camera opens the check-in page."""
        found = await attendance.get_checkin_code(conn, community.id, activity_id)
        svg = qr_svg(attendance.checkin_path(community.slug, activity_id, found.code))
        return Response(svg, media_type=SVG_MEDIA_TYPE)

    @post(
        "/checkin",
        operation_id="checkIn",
        status_code=HTTP_201_CREATED,
        responses=problems(400, 401, 403, 404, 409, 413, 415, 422),
    )
    async def check_in(
        self, conn: Conn, access: CurrentAccess, activity_id: PathId, slug: FromPath[str], data: JSONBody[CheckInIn]
    ) -> AttendanceRowOut:
        """Check in by the code on the organizer's screen: yourself, or with ``for_member_id`` someone of your
        household who has no phone sign-in (代办, recorded as by you for them). A walk-in gets a place while
        one is free. Refused: a wrong or expired code (422, ``reason``), twice (409 already_checked_in), outside
        the window (409 not_now), an activity not open (409 wrong_state), no place left (409 activity_full)."""
        row = await attendance.check_in(conn, access, activity_id, data.code, for_member_id=data.for_member_id)
        return _row(row)

    @post(
        "/checkout",
        operation_id="checkOut",
        status_code=HTTP_200_OK,
        responses=problems(400, 401, 403, 404, 409, 413, 415, 422),
    )
    async def check_out(
        self, conn: Conn, access: CurrentAccess, activity_id: PathId, slug: FromPath[str], data: JSONBody[CheckOutIn]
    ) -> AttendanceRowOut:
        """Check out by a current code, from your check-in until 30 minutes after the end; once (the organizer
        corrects a time with markAttendance). With ``for_member_id``, someone of your household who has no phone
        sign-in (代办), as at check-in."""
        row = await attendance.check_out(conn, access, activity_id, data.code, for_member_id=data.for_member_id)
        return _row(row)

    @get("/attendance", operation_id="listAttendance", responses=problems(400, 401, 403, 404))
    async def list_attendance(
        self, conn: Conn, community: CurrentCommunity, activity_id: PathId, slug: FromPath[str]
    ) -> AttendanceOut:
        """Everyone checked in (how, recorded by whom, times, minutes served so far, a missing check-out
        flagged), then everyone signed up who has not come."""
        return _list(await attendance.list_attendance(conn, community.id, activity_id))

    @post(
        "/attendance",
        operation_id="markAttendance",
        status_code=HTTP_200_OK,
        responses=problems(400, 401, 403, 404, 409, 413, 415),
    )
    async def mark_attendance(
        self, conn: Conn, access: CurrentAccess, activity_id: PathId, slug: FromPath[str], data: JSONBody[MarkIn]
    ) -> AttendanceRowOut:
        """Mark a member present by hand (method manual, recorded as by you; ``note`` says why; the check-in
        time defaults to the start, or now before it). For someone already on the list, send
        ``checked_out_at`` to set or correct their check-out (the check-in is never rewritten; the note replaces
        theirs). Until the list is confirmed; on the audit trail."""
        row = await attendance.mark_attendance(
            conn,
            access,
            activity_id,
            data.member_id,
            data.note,
            checked_in_at=data.checked_in_at,
            checked_out_at=data.checked_out_at,
        )
        return _row(row)

    @post(
        "/attendance/confirm",
        operation_id="confirmAttendance",
        status_code=HTTP_200_OK,
        responses=problems(400, 401, 403, 404, 409, 413, 415),
    )
    async def confirm_attendance(
        self, conn: Conn, access: CurrentAccess, activity_id: PathId, slug: FromPath[str], data: JSONBody[ConfirmIn]
    ) -> AttendanceOut:
        """Confirm exactly who attended (members on the list; the rest stay unconfirmed and are not awarded):
        each gets the minutes served within the scheduled window, a missing check-out counted up to the end and
        flagged. Once the activity has started; the activity is then closed and the list no longer changes."""
        return _list(await attendance.confirm_attendance(conn, access, activity_id, data.member_ids))
