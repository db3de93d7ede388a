"""The volunteer's earning pages: open activities and signing up, check-in (by typing the code, scanning its QR,
or the QR's own link) and check-out, my activities with points and service hours, and reports (随手拍).

Thin like the rest of points/pages/: each write is one call to the service the API calls
(points/earning/activities.py, attendance.py, reports.py), which opens its own transaction; a refused write renders
its page again with what was typed and the API's problem code in words, in the reader's language. Reads the
services do not answer in one go are in points/earning/reads_volunteer.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import QueryParameter
from litestar.response import Redirect, Template

import ledger
from points import photos
from points.auth.access import Access
from points.auth.errors import NotFound
from points.earning import activities, attendance, checkin, hours, reads_volunteer, reports, types
from points.earning.activities import EARLIEST_CHECKIN
from points.earning.attendance import LATEST_CHECKOUT
from points.earning.errors import CheckinCodeRefused, NotNow
from points.earning.web_attendance import CheckInIn, CheckOutIn
from points.earning.web_reports import ReportIn
from points.fields import PathId
from points.members import service as members
from points.pages.admin import _error, _form, _text
from points.pages.i18n import LANG_COOKIE, Formats, choose_locale
from points.pages.web import PAGE_EXCEPTION_HANDLERS, _, render
from points.wiring import Conn, CurrentAccess, CurrentCommunity

LIST_LIMIT = 100
MINE_LIMIT = 100
CodeQuery = Annotated[str, QueryParameter(max_length=checkin.CODE_DIGITS, pattern=r"^[0-9]*$")]
# Where a check-in form was sent from, to show that page again when the check-in is refused.
BACK_PAGES = ("activity", "checkin", "link")

SIGNUP_WORDS = {
    "registered": _("You are signed up."),
    "waitlisted": _("You are on the waiting list."),
    "cancelled": _("You cancelled your sign-up."),
}
STATE_WORDS = {
    "draft": _("Draft"),
    "open": _("Open for sign-ups"),
    "closed": _("Closed"),
    "awarded": _("Awarded"),
    "cancelled": _("Cancelled"),
}
REPORT_STATE_WORDS = {"submitted": _("Waiting for an organizer"), "verified": _("Verified"), "rejected": _("Rejected")}
METHOD_WORDS = {"code": _("by code"), "proxy": _("by a household member (代办)"), "manual": _("by the organizer")}
# A refused write in the reader's words: what the API's title says in general, said for this page's form.
WRITE_WORDS: dict[str, tuple[str, str]] = {
    "already_checked_in": ("code", _("You have checked in to this activity already.")),
    "already_checked_out": ("code", _("You have checked out of this activity already.")),
    "activity_full": ("code", _("Every place of this activity is taken.")),
    "wrong_state": ("code", _("This activity is not open: it takes no sign-ups or check-ins now.")),
    "attendance_confirmed": ("code", _("The organizer has confirmed who came; the list no longer changes.")),
}
CODE_WORDS = {
    "expired": _("This code has expired. Type the code on the organizer's screen now."),
    "wrong": _("This is not the code of this activity. Check the six digits on the screen."),
}
NOT_NOW_WORDS = {
    "checkin": _("Check-ins are taken from %(earliest)s to %(latest)s."),
    "checkout": _("Check-outs are taken from %(earliest)s to %(latest)s."),
    "signup": _("The activity has started: sign-ups and cancellations end at its start."),
}


def _fmt(request: Request[Any, Any, Any]) -> Formats:
    return Formats(choose_locale(request.cookies.get(LANG_COOKIE)))


def _refused(exc: Exception, fmt: Formats, what: str) -> dict[str, Any]:
    """The page's words for a refused write (the API's problem code, worded for this form), or the exception again
    for a failure that is not the reader's (a 5xx goes on to the error page)."""
    failed = _error(exc, WRITE_WORDS)
    if failed["status"] >= 500:
        raise exc
    failed["params"] = {}
    if isinstance(exc, CheckinCodeRefused):
        failed["field"], failed["words"] = "code", CODE_WORDS.get(str(exc.data.get("reason")), CODE_WORDS["wrong"])
    elif isinstance(exc, NotNow):
        earliest, latest = exc.data.get("earliest"), exc.data.get("latest")
        if what in ("checkin", "checkout") and isinstance(earliest, str) and isinstance(latest, str):
            failed["words"] = NOT_NOW_WORDS[what]
            failed["params"] = {"earliest": _moment(fmt, datetime.fromisoformat(earliest)),
                                "latest": _moment(fmt, datetime.fromisoformat(latest))}  # fmt: skip
        else:
            failed["words"] = NOT_NOW_WORDS["signup"]
    return failed


def _moment(fmt: Formats, moment: datetime) -> str:
    return f"{fmt.day(moment)} {fmt.time(moment)}"


@dataclass(frozen=True, slots=True)
class Look:
    """What a page shows of an activity: its words and numbers in the reader's locale, and what the reader may do."""

    a: activities.Activity
    place: str
    when: str
    points: str
    per_hour_points: int | None
    places_left: int | None
    signup: reads_volunteer.MySignup | None
    can_sign_up: bool
    can_cancel: bool
    in_checkin_window: bool
    in_checkout_window: bool


def _when(fmt: Formats, a: activities.Activity) -> str:
    same_day = fmt.day(a.starts_at) == fmt.day(a.ends_at)
    end = fmt.time(a.ends_at) if same_day else _moment(fmt, a.ends_at)
    return f"{_moment(fmt, a.starts_at)}–{end}"


def _look(
    fmt: Formats,
    a: activities.Activity,
    places: dict[int, str],
    kinds: dict[int, types.ActivityType],
    signup: reads_volunteer.MySignup | None,
    now: datetime,
) -> Look:
    kind = kinds.get(a.type_id)
    per_hour = kind.points_per_hour if a.per_hour and kind is not None else None
    left = None if a.capacity is None else max(0, a.capacity - a.registered)
    live = signup is not None and signup.status in ("registered", "waitlisted")
    before_start = now < a.starts_at
    return Look(
        a=a,
        place=places.get(a.place_id or 0, ""),
        when=_when(fmt, a),
        points=fmt.number(per_hour if per_hour is not None else a.reward_points),
        per_hour_points=per_hour,
        places_left=left,
        signup=signup if live else None,
        can_sign_up=a.state == "open" and before_start and not live,
        can_cancel=live and before_start,
        in_checkin_window=a.state == "open" and a.starts_at - EARLIEST_CHECKIN <= now <= a.ends_at,
        in_checkout_window=a.state == "open" and a.starts_at - EARLIEST_CHECKIN <= now <= a.ends_at + LATEST_CHECKOUT,
    )


async def _lookups(conn: Conn, community_id: int) -> tuple[dict[int, str], dict[int, types.ActivityType]]:
    places = {p.id: p.name for p in await members.list_places(conn, community_id)}
    kinds = {t.id: t for t in await types.list_types(conn, community_id)}
    return places, kinds


async def _open_now(conn: Conn, access: Access) -> list[activities.Activity]:
    """Open activities not yet over, soonest first: what listActivities answers without a state."""
    now = datetime.now(UTC)
    return await activities.list_activities(conn, access.community_id, states=("open",), after=now, limit=LIST_LIMIT)


def _activity_url(slug: str, activity_id: int, **query: str) -> str:
    tail = f"?{urlencode(query)}" if query else ""
    return f"/c/{slug}/activities/{activity_id}{tail}"


class VolunteerPages(Controller):
    path = "/"
    include_in_schema = False
    exception_handlers = PAGE_EXCEPTION_HANDLERS

    # ---- activities and sign-ups ---------------------------------------------------------------------------

    @get("/c/{slug:str}/activities", operation_id="pageActivities")
    async def list_page(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess
    ) -> Template:
        """Open activities, soonest first, with my sign-up and the button to sign up or cancel."""
        return await self._list(request, conn, community, access)

    async def _list(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: ledger.Community,
        access: Access,
        *,
        failed: dict[str, Any] | None = None,
        failed_id: int | None = None,
    ) -> Template:
        fmt, now = _fmt(request), datetime.now(UTC)
        found = await _open_now(conn, access)
        places, kinds = await _lookups(conn, community.id)
        mine = await reads_volunteer.my_signups(conn, access, [a.id for a in found])
        looks = [_look(fmt, a, places, kinds, mine.get(a.id), now) for a in found]
        return render(
            request,
            "volunteer/activities.html",
            status=(failed or {}).get("status", 200),
            community=community,
            looks=looks,
            failed=failed or {},
            failed_id=failed_id,
            signup_words=SIGNUP_WORDS,
        )

    @get("/c/{slug:str}/activities/{activity_id:int}", operation_id="pageActivity")
    async def activity_page(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        activity_id: PathId,
        done: Annotated[str, QueryParameter(max_length=20, pattern=r"^[a-z_]*$")] = "",
    ) -> Template:
        """One activity: when and where, places left, my sign-up or my place on the waiting list, and in its window
        the check-in (and for a per-hour activity the check-out) by the code on the organizer's screen."""
        return await self._activity(request, conn, community, access, activity_id, done=done)

    async def _activity(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: ledger.Community,
        access: Access,
        activity_id: int,
        *,
        done: str = "",
        failed: dict[str, Any] | None = None,
        failed_form: str = "",
        typed: dict[str, Any] | None = None,
    ) -> Template:
        fmt, now = _fmt(request), datetime.now(UTC)
        a = await activities.get_activity(conn, community.id, activity_id)
        if a.state == "draft" and not access.roles & {"organizer", "admin"}:
            raise NotFound(f"no activity {activity_id} in this community", activity_id=activity_id)  # theirs yet
        places, kinds = await _lookups(conn, community.id)
        mine = await reads_volunteer.my_signups(conn, access, [a.id])
        look = _look(fmt, a, places, kinds, mine.get(a.id), now)
        mine_in = await reads_volunteer.my_checkin(conn, access, a.id)
        paid = (await reads_volunteer.paid_for(conn, access, [a.id])).get(a.id)
        housemates = await reads_volunteer.phoneless_housemates(conn, access) if look.in_checkin_window else []
        return render(
            request,
            "volunteer/activity.html",
            status=(failed or {}).get("status", 200),
            community=community,
            look=look,
            checked_in=mine_in,
            checked_in_at=_moment(fmt, mine_in.checked_in_at) if mine_in else "",
            checked_out_at=_moment(fmt, mine_in.checked_out_at) if mine_in and mine_in.checked_out_at else "",
            paid=paid,
            housemates=housemates,
            done=done,
            failed=failed or {},
            failed_form=failed_form,
            typed=typed or {},
            signup_words=SIGNUP_WORDS,
            state_words=STATE_WORDS,
            method_words=METHOD_WORDS,
        )

    async def _signup_write(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: ledger.Community,
        access: Access,
        activity_id: int,
        cancel: bool,
    ) -> Response[Any]:
        back = _text(await _form(request), "back")
        try:
            if cancel:
                await activities.cancel_sign_up(conn, access, activity_id)
            else:
                await activities.sign_up(conn, access, activity_id)
        except Exception as exc:  # worded as the API words it; a 500 goes on to the error page
            failed = _refused(exc, _fmt(request), "signup")
            if back == "list":
                return await self._list(request, conn, community, access, failed=failed, failed_id=activity_id)
            return await self._activity(
                request, conn, community, access, activity_id, failed=failed, failed_form="signup"
            )
        if back == "list":
            return Redirect(f"/c/{community.slug}/activities#a{activity_id}", status_code=303)
        return Redirect(_activity_url(community.slug, activity_id), status_code=303)

    @post("/c/{slug:str}/activities/{activity_id:int}/signup", operation_id="pageSignUp")
    async def sign_up(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        activity_id: PathId,
    ) -> Response[Any]:
        """The API's signUp from a form: registered, or on the waiting list when the activity is full."""
        return await self._signup_write(request, conn, community, access, activity_id, cancel=False)

    @post("/c/{slug:str}/activities/{activity_id:int}/signup/cancel", operation_id="pageCancelSignUp")
    async def cancel_sign_up(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        activity_id: PathId,
    ) -> Response[Any]:
        """The API's cancelSignUp from a form, before the start; the first one waiting gets the place."""
        return await self._signup_write(request, conn, community, access, activity_id, cancel=True)

    # ---- check-in and check-out ------------------------------------------------------------------------------

    @get("/c/{slug:str}/checkin", operation_id="pageCheckinStart")
    async def checkin_page(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess
    ) -> Template:
        """签到: the activities taking check-ins now, each with a box for the six digits; or scan the QR."""
        return await self._checkin_page(request, conn, community, access)

    async def _checkin_page(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: ledger.Community,
        access: Access,
        *,
        failed: dict[str, Any] | None = None,
        failed_id: int | None = None,
        typed: dict[str, Any] | None = None,
    ) -> Template:
        fmt, now = _fmt(request), datetime.now(UTC)
        places, kinds = await _lookups(conn, community.id)
        found = [a for a in await _open_now(conn, access) if a.starts_at - EARLIEST_CHECKIN <= now]
        mine = await reads_volunteer.my_signups(conn, access, [a.id for a in found])
        looks = [_look(fmt, a, places, kinds, mine.get(a.id), now) for a in found]
        return render(
            request,
            "volunteer/checkin.html",
            status=(failed or {}).get("status", 200),
            community=community,
            looks=[look for look in looks if look.in_checkin_window],
            failed=failed or {},
            failed_id=failed_id,
            typed=typed or {},
        )

    @get("/c/{slug:str}/activities/{activity_id:int}/checkin", operation_id="pageCheckinLink")
    async def checkin_link(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        activity_id: PathId,
        code: CodeQuery = "",
    ) -> Template:
        """The page the QR opens: the activity and one button that checks in with the code in the link (a GET
        never writes: a link preview or a reload must not check anybody in)."""
        return await self._link_page(request, conn, community, access, activity_id, code)

    async def _link_page(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: ledger.Community,
        access: Access,
        activity_id: int,
        code: str,
        *,
        failed: dict[str, Any] | None = None,
    ) -> Template:
        fmt, now = _fmt(request), datetime.now(UTC)
        a = await activities.get_activity(conn, community.id, activity_id)
        places, kinds = await _lookups(conn, community.id)
        mine = await reads_volunteer.my_signups(conn, access, [a.id])
        look = _look(fmt, a, places, kinds, mine.get(a.id), now)
        mine_in = await reads_volunteer.my_checkin(conn, access, a.id)
        return render(
            request,
            "volunteer/checkin_link.html",
            status=(failed or {}).get("status", 200),
            community=community,
            look=look,
            code=code,
            checked_in=mine_in,
            checked_in_at=_moment(fmt, mine_in.checked_in_at) if mine_in else "",
            housemates=await reads_volunteer.phoneless_housemates(conn, access),
            failed=failed or {},
        )

    async def _refused_checkin(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: ledger.Community,
        access: Access,
        activity_id: int,
        back: str,
        failed: dict[str, Any],
        typed: dict[str, Any],
        form_name: str,
    ) -> Template:
        if back == "checkin":
            return await self._checkin_page(
                request, conn, community, access, failed=failed, failed_id=activity_id, typed=typed
            )
        if back == "link":
            return await self._link_page(request, conn, community, access, activity_id, typed["code"], failed=failed)
        return await self._activity(
            request, conn, community, access, activity_id, failed=failed, failed_form=form_name, typed=typed
        )

    @post("/c/{slug:str}/activities/{activity_id:int}/checkin", operation_id="pageCheckIn")
    async def check_in(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        activity_id: PathId,
    ) -> Response[Any]:
        """The API's checkIn from a form: the six digits typed (or from the QR's link), for oneself or, with
        ``for_member_id``, for a phoneless member of one's household (代办)."""
        form = await _form(request)
        code, back, proxy = _text(form, "code").strip(), _text(form, "back"), _text(form, "for_member_id")
        typed = {"code": code, "for_member_id": proxy}
        try:
            # The API's own Struct reads the form first: the same six digits, refused with the same field problem.
            for_member = int(proxy) if proxy.isdigit() else proxy or None  # not digits: refused as the API would
            body = msgspec.convert({"code": code, "for_member_id": for_member}, CheckInIn, strict=True)
            await attendance.check_in(conn, access, activity_id, body.code, for_member_id=body.for_member_id)
        except Exception as exc:  # worded as the API words it; a 500 goes on to the error page
            failed = _refused(exc, _fmt(request), "checkin")
            return await self._refused_checkin(
                request, conn, community, access, activity_id, back, failed, typed, "checkin"
            )
        return Redirect(_activity_url(community.slug, activity_id, done="checkin"), status_code=303)

    @post("/c/{slug:str}/activities/{activity_id:int}/checkout", operation_id="pageCheckOut")
    async def check_out(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        activity_id: PathId,
    ) -> Response[Any]:
        """The API's checkOut from a form: a current code again, so that nobody checks out from home."""
        form = await _form(request)
        code = _text(form, "code").strip()
        try:
            body = msgspec.convert({"code": code}, CheckOutIn, strict=True)
            await attendance.check_out(conn, access, activity_id, body.code)
        except Exception as exc:  # worded as the API words it; a 500 goes on to the error page
            failed = _refused(exc, _fmt(request), "checkout")
            return await self._refused_checkin(
                request, conn, community, access, activity_id, "activity", failed, {"code": code}, "checkout"
            )
        return Redirect(_activity_url(community.slug, activity_id, done="checkout"), status_code=303)

    # ---- my activities -------------------------------------------------------------------------------------

    @get("/c/{slug:str}/me/activities", operation_id="pageMyActivities")
    async def my_activities(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess
    ) -> Template:
        """我的活动: what I signed up for, what I took part in with the points and minutes it paid, my service
        hours and star level (a record: hours are never spent)."""
        fmt, now = _fmt(request), datetime.now(UTC)
        found = await activities.my_activities(conn, access, MINE_LIMIT)
        places, kinds = await _lookups(conn, community.id)
        ids = [a.id for a, _part in found]
        mine = await reads_volunteer.my_signups(conn, access, ids)
        paid = await reads_volunteer.paid_for(conn, access, ids)
        upcoming = [
            {"look": _look(fmt, a, places, kinds, mine.get(a.id), now), "came": part == "attended"}
            for a, part in reversed(found)  # soonest first
            if a.ends_at > now and a.state == "open" and part in ("registered", "waitlisted", "attended")
        ]
        past = [
            {"look": _look(fmt, a, places, kinds, mine.get(a.id), now), "paid": paid.get(a.id)}
            for a, part in found
            if part == "attended" and not (a.ends_at > now and a.state == "open")
        ]
        served = hours.hours_of(0)
        if access.member_id is not None:
            served = await hours.member_hours(conn, community.id, access.member_id)
        whole, minutes = divmod(served.minutes, 60)
        to_next = None
        if served.next_star_hours is not None:
            to_next = fmt.number(max(0, served.next_star_hours * 60 - served.minutes + 59) // 60)
        return render(
            request,
            "volunteer/my_activities.html",
            community=community,
            upcoming=upcoming,
            past=past,
            hours=served,
            hours_whole=fmt.number(whole),
            hours_minutes=minutes,
            to_next=to_next,
            next_star=served.stars + 1,
            signup_words=SIGNUP_WORDS,
            state_words=STATE_WORDS,
        )

    # ---- reports (随手拍) --------------------------------------------------------------------------------------

    async def _report_form(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: ledger.Community,
        *,
        typed: dict[str, Any] | None = None,
        failed: dict[str, Any] | None = None,
    ) -> Template:
        kinds = await types.list_types(conn, community.id, active_only=True)
        places = await members.list_places(conn, community.id)
        default = next((t.id for t in kinds if t.code == "report"), kinds[0].id if kinds else 0)
        return render(
            request,
            "volunteer/report_new.html",
            status=(failed or {}).get("status", 200),
            community=community,
            kinds=kinds,
            places=places,
            typed=typed or {"type_id": str(default), "text": "", "place_id": ""},
            failed=failed or {},
            max_photo_mib=photos.MAX_UPLOAD_BYTES // (1024 * 1024),
        )

    @get("/c/{slug:str}/reports/new", operation_id="pageReportNew")
    async def report_new(self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity) -> Template:
        """随手拍: what and where, and a photo from the phone's camera (optional)."""
        return await self._report_form(request, conn, community)

    @post(
        "/c/{slug:str}/reports",
        operation_id="pageReportSubmit",
        request_max_body_size=photos.MAX_STORED_BYTES,  # the form's photo, as the API's uploadPhoto takes it
    )
    async def report_submit(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess
    ) -> Response[Any]:
        """The API's uploadPhoto and submitReport from one form, as one write: a report whose photo was taken is
        stored with it, and a refused report leaves no photo behind (the services' transactions nest in this one
        as savepoints)."""
        form = await request.form()
        typed = {k: _text(dict(form.items()), k) for k in ("type_id", "text", "place_id")}
        upload = form.get("photo")
        try:
            body = msgspec.convert(
                {"type_id": int(typed["type_id"]) if typed["type_id"].isdigit() else typed["type_id"],
                 "text": typed["text"],
                 "place_id": int(typed["place_id"]) if typed["place_id"].isdigit() else typed["place_id"] or None},
                ReportIn,
                strict=True,
            )  # fmt: skip
            raw = await upload.read() if isinstance(upload, UploadFile) and upload.filename else b""
            async with ledger.transaction(conn):
                photo_id = None
                if raw:
                    photo_id = (await reports.upload_photo(conn, access, raw)).id
                created = await reports.submit_report(
                    conn, access, type_id=body.type_id, text=body.text, place_id=body.place_id, photo_id=photo_id
                )
        except Exception as exc:  # worded as the API words it; a 500 goes on to the error page
            failed = _error(exc)
            if failed["status"] >= 500:
                raise
            return await self._report_form(request, conn, community, typed=typed, failed=failed)
        return Redirect(f"/c/{community.slug}/me/reports#r{created.id}", status_code=303)

    @get("/c/{slug:str}/me/reports", operation_id="pageMyReports")
    async def my_reports(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess
    ) -> Template:
        """My reports, newest first, with the outcome: waiting, verified with the points, or rejected with why."""
        fmt = _fmt(request)
        found = await reports.my_reports(conn, access, limit=MINE_LIMIT)
        places = {p.id: p.name for p in await members.list_places(conn, community.id)}
        rows = [
            {"r": r, "day": _moment(fmt, r.created_at), "place": places.get(r.place_id or 0, ""),
             "points": fmt.number(r.award_points) if r.award_points is not None else None}
            for r in found
        ]  # fmt: skip
        return render(
            request,
            "volunteer/my_reports.html",
            community=community,
            rows=rows,
            state_words=REPORT_STATE_WORDS,
        )
