"""Pages for organizers (and admins): the dashboard, posting an activity, managing it (open, cancel, attendance,
confirmation, award), the full-screen rotating check-in code, ad-hoc awards, reports to verify and approvals.

Thin like points/pages/admin.py: each write is one call to the service the API calls (points/earning/*.py), which
opens its own transaction; the form is read first by the API's own Struct (points/earning/web.py), so the same
limits are refused with the same field problems; a refused write renders the form again with what was typed and
the API's problem code in words. Times are typed and shown in the community's time (Asia/Shanghai).
"""

from __future__ import annotations

import contextlib
import io
import secrets
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
import segno
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import CacheControlHeader
from litestar.params import QueryParameter
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template
from markupsafe import Markup

from points.auth.access import Access
from points.auth.errors import InvalidRequest, NotFound
from points.auth.identity import mask_phone
from points.auth.policy import ADMIN
from points.earning import activities, attendance, awards, reads_organize, reports, types
from points.earning.errors import EarningError
from points.earning.periods import COMMUNITY_TZ
from points.earning.web import ActivityIn, AdhocAwardIn, CancelIn, DecisionIn
from points.earning.web_attendance import ConfirmIn, MarkIn
from points.earning.web_reports import RejectIn, VerifyIn
from points.field_problems import field_problem
from points.fields import PathId
from points.members import service
from points.pages.admin import _error
from points.pages.i18n import LANG_COOKIE, choose_locale, translations
from points.pages.web import PAGE_EXCEPTION_HANDLERS, _, render
from points.wiring import Conn, CurrentAccess, CurrentCommunity

NO_STORE = CacheControlHeader(no_store=True)  # the code page: a code is good for seconds, no cache keeps one
POLL_S = 3  # the code page asks for its fragment this often (sooner when the code is about to change)
MEMBER_CHOICES = 500  # members offered in the mark-by-hand list
SEARCH_RESULTS = 20
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"  # <input type="datetime-local">, in the community's time
SCAN_WORDS = _("Scan to check in")

# What each form field is called on the page; field problems are worded by these labels (zh_CN translated).
LABELS = {
    "type_id": _("Type"),
    "title": _("Title"),
    "description": _("Description"),
    "place_id": _("Place"),
    "starts_at": _("Start"),
    "ends_at": _("End"),
    "capacity": _("Places"),
    "reward_points": _("Points each"),
    "per_hour": _("Per hour"),
    "reason": _("Reason"),
    "member_id": _("Member"),
    "member_ids": _("Who came"),
    "note": _("Note"),
    "checked_in_at": _("Checked in at"),
    "checked_out_at": _("Checked out at"),
    "points": _("Points"),
    "minutes": _("Minutes"),
    "code": _("Code"),
    "name": _("Type name"),
    "default_points": _("Points"),
    "points_per_hour": _("Points per hour"),
    "cap_per_day": _("Cap a day"),
    "cap_per_month": _("Cap a month"),
    "period": _("Period"),
    "approval_threshold": _("Approval threshold"),
}
STATE_WORDS = {
    "draft": _("Draft"),
    "open": _("Open"),
    "closed": _("Attendance confirmed"),
    "awarded": _("Awarded"),
    "cancelled": _("Cancelled"),
}
AWARD_STATE_WORDS = {
    "pending_approval": _("Waiting for a second organizer"),
    "posted": _("Paid"),
    "rejected": _("Rejected"),
    "published": _("On the public notice (公示)"),
    "voided": _("Voided after an objection"),
}
METHOD_WORDS = {"code": _("by code"), "proxy": _("代办"), "manual": _("by hand")}
# A refusal the service states about one field, in words a page can put next to it: (code, field) -> words.
FIELD_REFUSALS = {
    ("invalid_request", "ends_at"): _("The end must be after the start, and at most 24 hours later."),
    ("invalid_request", "starts_at"): _("Enter the start as a date and time."),
    ("not_now", "starts_at"): _(
        "An activity opens for sign-ups before it starts: choose a later start, or save a draft."
    ),
    ("not_found", "place_id"): _("That place is not one of this community's places."),
    ("not_found", "type_id"): _("That type is not one of this community's activity types."),
    ("invalid_request", "per_hour"): _("This type pays no points per hour: set them in the earning settings."),
    ("invalid_request", "type_id"): _("This type is switched off."),
    ("invalid_request", "reason"): _("Give a reason."),
    ("invalid_request", "note"): _("Write a note saying why."),
    ("invalid_request", "cap_per_day"): _("The cap a day cannot be above the cap a month."),
    ("conflict", "code"): _("This community has an activity type of that code already."),
}


# ---- reading forms ----------------------------------------------------------------------------------------------


class Typed(dict[str, Any]):
    """What was typed into a form, kept to show it again; a missing field reads as empty."""

    def __missing__(self, key: str) -> str:
        return ""


async def read_form(request: Request[Any, Any, Any], *lists: str) -> Typed:
    """The posted form (the CSRF middleware has read it already; Litestar keeps it): text fields as text, and
    the named fields that repeat (checkboxes) as lists."""
    form = await request.form()
    typed = Typed({k: v for k, v in form.items() if isinstance(v, str) and k != "_csrf_token"})
    for name in lists:
        typed[name] = [v for v in form.getall(name) if isinstance(v, str)] if name in form else []
    return typed


class Problems:
    """Field problems found while reading a form, before the API's Struct sees it (text that is no number …)."""

    def __init__(self) -> None:
        self.found: list[dict[str, Any]] = []

    def number(self, typed: Typed, key: str, *, required: bool = False) -> int | None:
        text = str(typed[key]).strip()
        if not text:
            if required:
                self.found.append(field_problem(key, "required"))
            return None
        if not text.isascii() or not text.isdigit() or len(text) > 18:
            self.found.append(field_problem(key, "not_digits"))
            return None
        return int(text)

    def moment(self, typed: Typed, key: str, *, required: bool = False) -> datetime | None:
        """A datetime-local value, in the community's time."""
        text = str(typed[key]).strip()
        if not text:
            if required:
                self.found.append(field_problem(key, "required"))
            return None
        try:
            found = datetime.fromisoformat(text)
        except ValueError:
            self.found.append(field_problem(key, "not_a_time"))
            return None
        return found.replace(tzinfo=COMMUNITY_TZ) if found.tzinfo is None else found

    def check(self) -> None:
        if self.found:
            raise InvalidRequest("the form is not valid", errors=self.found)


def local_input(moment: datetime | None) -> str:
    """A moment as a datetime-local field shows it, in the community's time."""
    return "" if moment is None else moment.astimezone(COMMUNITY_TZ).strftime(LOCAL_FORMAT)


def refusal(exc: Exception, form: str = "") -> dict[str, Any]:
    """The words of a refused write (points/pages/admin.py ``_error``), with the field the service named and,
    for a refusal about one field, what to do about it; ``form`` says which form on the page it belongs to."""
    failed = _error(exc)
    data = getattr(exc, "data", {}) or {}
    field = data.get("field") if isinstance(data.get("field"), str) else None
    if field is None and failed["code"] == "not_found":
        field = next((k for k in ("place_id", "type_id", "member_id") if k in data), None)
    if field is not None:
        failed["field"] = field
        words = FIELD_REFUSALS.get((failed["code"], field))
        if words:
            failed["words"], failed["detail"] = words, None
    failed["form"] = form
    return failed


def refused(exc: Exception, form: str = "") -> dict[str, Any]:
    """``refusal``, or the exception again for a 5xx (the error page, and the all-or-nothing walk, take it)."""
    failed = refusal(exc, form)
    if failed["status"] >= 500:
        raise exc
    return failed


def person_of(access: Access) -> int | None:
    return access.member_id


def is_admin(access: Access) -> bool:
    return ADMIN in access.roles


def new_key() -> str:
    """A form's idempotency key: the service posts a retried form (a double tap, a browser's retry) once."""
    return f"page:{secrets.token_urlsafe(18)}"


def organize_url(slug: str, rest: str = "") -> str:
    return f"/c/{slug}/organize{rest}"


def qr_markup(text: str, title: str) -> Markup:
    """The QR of ``text`` as inline SVG that scales to its box (a viewBox, no fixed size): big on a projector.
    The same segno QR as points/earning/web_attendance.py's qr_svg, which has a fixed size for the API."""
    buffer = io.BytesIO()
    segno.make(text, error="m").save(
        buffer, kind="svg", border=2, xmldecl=False, omitsize=True, svgclass="qr", title=title, nl=False
    )
    return Markup(buffer.getvalue().decode())  # noqa: S704 - segno's own SVG of our own text, nothing typed


# ---- the pages ---------------------------------------------------------------------------------------------------


class OrganizePages(Controller):
    path = "/"
    include_in_schema = False
    request_class = HTMXRequest  # request.htmx: the code page's fragment alone
    exception_handlers = PAGE_EXCEPTION_HANDLERS

    # ---- dashboard ---------------------------------------------------------------------------------------------

    @get("/c/{slug:str}/organize", operation_id="pageOrganize")
    async def dashboard(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        award: Annotated[int | None, QueryParameter(ge=1, le=2**63 - 1)] = None,
    ) -> Template:
        """My activities by state (an admin sees everyone's), the reports and approvals waiting."""
        mine = None if is_admin(access) else person_of(access)
        groups = []
        for states, newest_first, limit in (
            (("draft",), False, 20),
            (("open",), False, 20),
            (("closed",), True, 20),
            (("awarded", "cancelled"), True, 10),
        ):
            found = await reads_organize.activities_of(
                conn, community.id, states=states, organizer_member_id=mine, newest_first=newest_first, limit=limit
            )
            groups.append({"state": states[0], "activities": found})
        waiting_reports = await reports.list_reports(conn, community.id, state="submitted", limit=100)
        pending = await awards.list_awards(conn, community.id, state="pending_approval", limit=100)
        made = None
        if award is not None:
            made = await awards.get_award(conn, community.id, award)
        return render(
            request,
            "organize/dashboard.html",
            community=community,
            groups=groups,
            state_words=STATE_WORDS,
            award_state_words=AWARD_STATE_WORDS,
            reports_waiting=len(waiting_reports),
            approvals_waiting=await reads_organize.approvable_count(conn, community.id, person_of(access)),
            mine_waiting=len([a for a in pending if a.made_by_member_id == person_of(access)]),
            made=made,
            admin=is_admin(access),
        )

    # ---- posting an activity ------------------------------------------------------------------------------------

    async def _new_page(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        *,
        typed: Typed | None = None,
        failed: dict[str, Any] | None = None,
    ) -> Template:
        kinds = await types.list_types(conn, community.id, active_only=True)
        places = await service.list_places(conn, community.id)
        failed = failed or {}
        return render(
            request,
            "organize/activity_new.html",
            status=failed.get("status", 200),
            community=community,
            kinds=kinds,
            places=places,
            typed=typed or Typed({"reward": "fixed"}),
            failed=failed,
            labels=LABELS,
        )

    @get("/c/{slug:str}/organize/activities/new", operation_id="pageActivityNew")
    async def new_activity(self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity) -> Template:
        return await self._new_page(request, conn, community)

    @post("/c/{slug:str}/organize/activities", operation_id="pageActivityCreate")
    async def create_activity(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess
    ) -> Response[Any]:
        """The API's createActivity from a form: a draft, or open for sign-ups at once."""
        typed = await read_form(request)
        try:
            problems = Problems()
            type_id = problems.number(typed, "type_id", required=True)
            place_id = problems.number(typed, "place_id")
            capacity = problems.number(typed, "capacity")
            reward_points = problems.number(typed, "reward_points")
            starts_at = problems.moment(typed, "starts_at", required=True)
            ends_at = problems.moment(typed, "ends_at", required=True)
            problems.check()
            per_hour = typed["reward"] == "per_hour"
            data = msgspec.convert(
                {"type_id": type_id, "title": typed["title"], "description": typed["description"],
                 "place_id": place_id, "capacity": capacity, "starts_at": starts_at, "ends_at": ends_at,
                 "reward_points": None if per_hour else reward_points, "per_hour": per_hour,
                 "open": typed["action"] == "open"},
                ActivityIn,
                strict=True,
            )  # fmt: skip
            created = await activities.create_activity(
                conn,
                access,
                type_id=data.type_id,
                title=data.title,
                description=data.description,
                place_id=data.place_id,
                starts_at=data.starts_at,
                ends_at=data.ends_at,
                capacity=data.capacity,
                reward_points=data.reward_points,
                per_hour=data.per_hour,
                publish=data.open,
            )
        except Exception as exc:  # worded as the API words it; a 500 goes on to the error page
            return await self._new_page(request, conn, community, typed=typed, failed=refused(exc, "new"))
        return Redirect(organize_url(community.slug, f"/activities/{created.id}"), status_code=303)

    # ---- managing one activity ----------------------------------------------------------------------------------

    async def _manage_page(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        activity_id: int,
        *,
        typed: Typed | None = None,
        failed: dict[str, Any] | None = None,
    ) -> Template:
        activity = await activities.get_activity(conn, community.id, activity_id)
        kind = await types.get_type(conn, community.id, activity.type_id)
        places = {p.id: p.name for p in await service.list_places(conn, community.id)}
        listed = await attendance.list_attendance(conn, community.id, activity_id)
        award = await reads_organize.award_of_activity(conn, community.id, activity_id)
        present = {r.member_id for r in listed.rows if r.present}
        members = [
            m
            for m in await service.list_members(conn, community.id, after_id=0, limit=MEMBER_CHOICES)
            if m.status == "active" and m.id not in present
        ]
        now = datetime.now(UTC)
        started = activity.starts_at <= now
        in_window = (
            activity.starts_at - activities.EARLIEST_CHECKIN <= now <= activity.ends_at + attendance.LATEST_CHECKOUT
        )
        failed = failed or {}
        return render(
            request,
            "organize/activity.html",
            status=failed.get("status", 200),
            community=community,
            activity=activity,
            kind=kind,
            place=places.get(activity.place_id or 0),
            rows=listed.rows,
            award=award,
            members=members,
            started=started,
            code_shown=activity.state == "open" and in_window,
            can_mark=activity.state == "open" and listed.attendance_confirmed_at is None,
            can_confirm=activity.state == "open" and started and listed.attendance_confirmed_at is None,
            can_award=activity.state == "closed" and (award is None or award.state == "rejected"),
            threshold=await awards.approval_threshold(conn, community.id),
            state_words=STATE_WORDS,
            award_state_words=AWARD_STATE_WORDS,
            method_words=METHOD_WORDS,
            typed=typed or Typed(),
            failed=failed,
            labels=LABELS,
            me=person_of(access),
        )

    @get("/c/{slug:str}/organize/activities/{activity_id:int}", operation_id="pageActivityManage")
    async def manage(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        activity_id: PathId,
    ) -> Template:
        """One activity: open or cancel it, its attendance (how, by whom, when, missing check-outs), marks by
        hand, the confirmation of who came, and its award with each line's requested, paid and capped points."""
        return await self._manage_page(request, conn, community, access, activity_id)

    def _manage_url(self, slug: str, activity_id: int, anchor: str = "") -> str:
        return organize_url(slug, f"/activities/{activity_id}{anchor}")

    @post("/c/{slug:str}/organize/activities/{activity_id:int}/open", operation_id="pageActivityOpen")
    async def open_activity(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        activity_id: PathId,
    ) -> Response[Any]:
        """The API's openActivity: a draft opens for sign-ups (before its start)."""
        try:
            await activities.open_activity(conn, community.id, activity_id)
        except Exception as exc:
            failed = refused(exc, "open")
            return await self._manage_page(request, conn, community, access, activity_id, failed=failed)
        return Redirect(self._manage_url(community.slug, activity_id), status_code=303)

    @post("/c/{slug:str}/organize/activities/{activity_id:int}/cancel", operation_id="pageActivityCancel")
    async def cancel_activity(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        activity_id: PathId,
    ) -> Response[Any]:
        """The API's cancelActivity, with the reason the volunteers see."""
        typed = await read_form(request)
        try:
            data = msgspec.convert({"reason": typed["reason"]}, CancelIn, strict=True)
            await activities.cancel_activity(conn, community.id, activity_id, data.reason)
        except Exception as exc:
            failed = refused(exc, "cancel")
            return await self._manage_page(request, conn, community, access, activity_id, typed=typed, failed=failed)
        return Redirect(self._manage_url(community.slug, activity_id), status_code=303)

    @post("/c/{slug:str}/organize/activities/{activity_id:int}/attendance", operation_id="pageAttendanceMark")
    async def mark(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        activity_id: PathId,
    ) -> Response[Any]:
        """The API's markAttendance: someone present by hand with a note (or a check-out set or corrected)."""
        typed = await read_form(request)
        try:
            problems = Problems()
            member_id = problems.number(typed, "member_id", required=True)
            checked_in_at = problems.moment(typed, "checked_in_at")
            checked_out_at = problems.moment(typed, "checked_out_at")
            problems.check()
            data = msgspec.convert(
                {"member_id": member_id, "note": typed["note"], "checked_in_at": checked_in_at,
                 "checked_out_at": checked_out_at},
                MarkIn,
                strict=True,
            )  # fmt: skip
            await attendance.mark_attendance(
                conn,
                access,
                activity_id,
                data.member_id,
                data.note,
                checked_in_at=data.checked_in_at,
                checked_out_at=data.checked_out_at,
            )
        except Exception as exc:
            failed = refused(exc, typed["form"] or "mark")
            return await self._manage_page(request, conn, community, access, activity_id, typed=typed, failed=failed)
        return Redirect(self._manage_url(community.slug, activity_id, "#attendance"), status_code=303)

    @post("/c/{slug:str}/organize/activities/{activity_id:int}/confirm", operation_id="pageAttendanceConfirm")
    async def confirm(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        activity_id: PathId,
    ) -> Response[Any]:
        """The API's confirmAttendance: exactly those ticked came; the activity closes."""
        typed = await read_form(request, "member_ids")
        try:
            problems = Problems()
            ids = []
            for text in typed["member_ids"]:
                found = problems.number(Typed({"member_ids": text}), "member_ids")
                if found is not None:
                    ids.append(found)
            problems.check()
            data = msgspec.convert({"member_ids": ids}, ConfirmIn, strict=True)
            await attendance.confirm_attendance(conn, access, activity_id, data.member_ids)
        except Exception as exc:
            failed = refused(exc, "confirm")
            return await self._manage_page(request, conn, community, access, activity_id, typed=typed, failed=failed)
        return Redirect(self._manage_url(community.slug, activity_id, "#award"), status_code=303)

    @post("/c/{slug:str}/organize/activities/{activity_id:int}/award", operation_id="pageActivityAward")
    async def award(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        activity_id: PathId,
    ) -> Response[Any]:
        """The API's awardActivity. A retried POST (a double tap, the browser resending) pays once: the service
        answers an activity's live award instead of making a second one, under the activity row's lock. The form
        also says which award it was shown after (``after``: the latest, a rejected one, or 0): a form older than
        the activity's latest award is a retry of one already sent, which a rejection since must not turn into a
        second payment; it shows that award instead."""
        typed = await read_form(request)
        try:
            problems = Problems()
            after = problems.number(typed, "after") or 0
            problems.check()
            latest = await reads_organize.award_of_activity(conn, community.id, activity_id)
            if latest is None or latest.id <= after or latest.state != "rejected":
                await awards.award_activity(conn, access, activity_id)
        except Exception as exc:
            failed = refused(exc, "award")
            return await self._manage_page(request, conn, community, access, activity_id, failed=failed)
        return Redirect(self._manage_url(community.slug, activity_id, "#award"), status_code=303)

    # ---- the check-in code, full screen --------------------------------------------------------------------------

    @get(
        "/c/{slug:str}/organize/activities/{activity_id:int}/code",
        operation_id="pageCheckinCode",
        cache_control=NO_STORE,
    )
    async def code(
        self,
        request: HTMXRequest,
        conn: Conn,
        community: CurrentCommunity,
        activity_id: PathId,
    ) -> Template:
        """The rotating code, big, with its QR and the live list of check-ins: for a projector or a tablet facing
        the room. With JavaScript, htmx fetches the fragment again before the code changes; without it, the page
        refreshes itself when the code changes."""
        activity = await activities.get_activity(conn, community.id, activity_id)
        shown: dict[str, Any] | None = None
        unavailable = None
        try:
            found = await attendance.get_checkin_code(conn, community.id, activity_id)
        except EarningError as exc:  # not open, or outside the window: say so, and keep asking
            unavailable = refusal(exc)
        else:
            url = str(request.base_url).rstrip("/") + attendance.checkin_path(community.slug, activity_id, found.code)
            shown = {
                "code": found.code,
                "seconds_left": found.seconds_left,
                "step_ends_at": found.step_ends_at,
                "url": url,
                "qr": qr_markup(url, request_words(request, SCAN_WORDS)),
            }
        listed = await attendance.list_attendance(conn, community.id, activity_id)
        checked_in = sorted((r for r in listed.rows if r.present), key=lambda r: r.checked_in_at or activity.starts_at)
        delay = POLL_S if shown is None else max(1, min(POLL_S, shown["seconds_left"]))
        context: dict[str, Any] = {
            "community": community,
            "activity": activity,
            "shown": shown,
            "unavailable": unavailable,
            "checked_in": checked_in,
            "delay": delay,
            "refresh": shown["seconds_left"] if shown else 30,
            "fragment_url": organize_url(community.slug, f"/activities/{activity_id}/code"),
            "method_words": METHOD_WORDS,
        }
        if request.htmx:
            return render(request, "organize/_code.html", **context)
        return render(request, "organize/code.html", **context)

    # ---- ad-hoc awards ---------------------------------------------------------------------------------------------

    async def _adhoc_page(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        *,
        q: str = "",
        typed: Typed | None = None,
        failed: dict[str, Any] | None = None,
    ) -> Template:
        typed = typed or Typed({"key": new_key(), "minutes": "0"})
        q = q or str(typed["q"])
        found = []
        if q.strip():
            found = await service.list_members(conn, community.id, after_id=0, limit=SEARCH_RESULTS, search=q)
        picked = str(typed["member_id"])
        if picked.isdigit() and all(str(m.id) != picked for m in found):
            with contextlib.suppress(NotFound):  # the member picked before a refused form stays picked
                found.insert(0, await service.get_member(conn, community.id, int(picked)))
        failed = failed or {}
        return render(
            request,
            "organize/award_new.html",
            status=failed.get("status", 200),
            community=community,
            q=q,
            found=[
                {"id": m.id, "display_name": m.display_name, "phone": mask_phone(m.phone) if m.phone else ""}
                for m in found
                if m.status == "active"
            ],
            kinds=await types.list_types(conn, community.id, active_only=True),
            threshold=await awards.approval_threshold(conn, community.id),
            typed=typed,
            failed=failed,
            labels=LABELS,
        )

    @get("/c/{slug:str}/organize/awards/new", operation_id="pageAwardNew")
    async def new_award(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        q: Annotated[str, QueryParameter(max_length=100)] = "",
    ) -> Template:
        """An ad-hoc award: find the member by name or phone, pick them, say what for."""
        return await self._adhoc_page(request, conn, community, q=q)

    @post("/c/{slug:str}/organize/awards", operation_id="pageAwardCreate")
    async def create_award(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess
    ) -> Response[Any]:
        """The API's createAward from a form, with the form's own idempotency key: sent twice, it pays once."""
        typed = await read_form(request)
        try:
            problems = Problems()
            member_id = problems.number(typed, "member_id", required=True)
            type_id = problems.number(typed, "type_id", required=True)
            points = problems.number(typed, "points", required=True)
            minutes = problems.number(typed, "minutes") or 0
            problems.check()
            key = str(typed["key"])
            if not key.startswith("page:") or len(key) > 64:
                raise InvalidRequest("the form has lost its key: open it again")
            data = msgspec.convert(
                {"member_id": member_id, "type_id": type_id, "points": points, "reason": typed["reason"],
                 "minutes": minutes},
                AdhocAwardIn,
                strict=True,
            )  # fmt: skip
            made = await awards.award_adhoc(
                conn,
                access,
                member_id=data.member_id,
                type_id=data.type_id,
                points=data.points,
                reason=data.reason,
                minutes=data.minutes,
                idempotency_key=key,
            )
        except Exception as exc:
            return await self._adhoc_page(request, conn, community, typed=typed, failed=refused(exc, "award"))
        return Redirect(organize_url(community.slug, f"?{urlencode({'award': made.id})}"), status_code=303)

    # ---- reports ----------------------------------------------------------------------------------------------------

    async def _reports_page(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        *,
        typed: Typed | None = None,
        failed: dict[str, Any] | None = None,
        failed_report: int | None = None,
    ) -> Template:
        waiting = await reports.list_reports(conn, community.id, state="submitted", limit=100)
        decided = [r for r in await reports.list_reports(conn, community.id, limit=20) if r.state != "submitted"][:10]
        places = {p.id: p.name for p in await service.list_places(conn, community.id)}
        failed = failed or {}
        return render(
            request,
            "organize/reports.html",
            status=failed.get("status", 200),
            community=community,
            waiting=waiting,
            decided=decided,
            places=places,
            me=person_of(access),
            keys={r.id: new_key() for r in waiting},
            typed=typed or Typed(),
            failed=failed,
            failed_report=failed_report,
            award_state_words=AWARD_STATE_WORDS,
            labels=LABELS,
        )

    @get("/c/{slug:str}/organize/reports", operation_id="pageReports")
    async def list_reports(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess
    ) -> Template:
        """Reports (随手拍) waiting: photo, text, place; verify with points, or reject with a reason."""
        return await self._reports_page(request, conn, community, access)

    @post("/c/{slug:str}/organize/reports/{report_id:int}/verify", operation_id="pageReportVerify")
    async def verify_report(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        report_id: PathId,
    ) -> Response[Any]:
        """The API's verifyReport, with the form's idempotency key."""
        typed = await read_form(request)
        try:
            problems = Problems()
            points = problems.number(typed, "points")
            problems.check()
            key = str(typed["key"])
            if not key.startswith("page:") or len(key) > 64:
                raise InvalidRequest("the form has lost its key: open it again")
            data = msgspec.convert({"points": points}, VerifyIn, strict=True)
            await reports.verify_report(conn, access, report_id, points=data.points, idempotency_key=key)
        except Exception as exc:
            failed = refused(exc, "verify")
            return await self._reports_page(
                request, conn, community, access, typed=typed, failed=failed, failed_report=report_id
            )
        return Redirect(organize_url(community.slug, "/reports"), status_code=303)

    @post("/c/{slug:str}/organize/reports/{report_id:int}/reject", operation_id="pageReportReject")
    async def reject_report(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        report_id: PathId,
    ) -> Response[Any]:
        """The API's rejectReport, with the reason the reporter sees."""
        typed = await read_form(request)
        try:
            data = msgspec.convert({"reason": typed["reason"]}, RejectIn, strict=True)
            await reports.reject_report(conn, access, report_id, data.reason)
        except Exception as exc:
            failed = refused(exc, "reject")
            return await self._reports_page(
                request, conn, community, access, typed=typed, failed=failed, failed_report=report_id
            )
        return Redirect(organize_url(community.slug, "/reports"), status_code=303)

    # ---- approvals --------------------------------------------------------------------------------------------------

    async def _approvals_page(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        *,
        typed: Typed | None = None,
        failed: dict[str, Any] | None = None,
        failed_award: int | None = None,
    ) -> Template:
        waiting = await awards.list_awards(conn, community.id, state="pending_approval", limit=100, with_lines=True)
        failed = failed or {}
        return render(
            request,
            "organize/approvals.html",
            status=failed.get("status", 200),
            community=community,
            waiting=waiting,
            me=person_of(access),
            threshold=await awards.approval_threshold(conn, community.id),
            typed=typed or Typed(),
            failed=failed,
            failed_award=failed_award,
            labels=LABELS,
        )

    @get("/c/{slug:str}/organize/approvals", operation_id="pageApprovals")
    async def approvals(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess
    ) -> Template:
        """Awards above the threshold, waiting for a second organizer: theirs to approve or reject; one's own
        shown as waiting for someone else (its maker may withdraw it)."""
        return await self._approvals_page(request, conn, community, access)

    @post("/c/{slug:str}/organize/awards/{award_id:int}/approve", operation_id="pageAwardApprove")
    async def approve(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        award_id: PathId,
    ) -> Response[Any]:
        """The API's approveAward: a second organizer approves, and the award posts."""
        try:
            await awards.approve(conn, access, award_id)
        except Exception as exc:
            failed = refused(exc, "approve")
            return await self._approvals_page(request, conn, community, access, failed=failed, failed_award=award_id)
        return Redirect(organize_url(community.slug, "/approvals"), status_code=303)

    @post("/c/{slug:str}/organize/awards/{award_id:int}/reject", operation_id="pageAwardReject")
    async def reject(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        award_id: PathId,
    ) -> Response[Any]:
        """The API's rejectAward, with a reason (by its maker: a withdrawal)."""
        typed = await read_form(request)
        try:
            data = msgspec.convert({"reason": typed["reason"]}, DecisionIn, strict=True)
            await awards.reject(conn, access, award_id, data.reason)
        except Exception as exc:
            failed = refused(exc, "reject")
            return await self._approvals_page(
                request, conn, community, access, typed=typed, failed=failed, failed_award=award_id
            )
        return Redirect(organize_url(community.slug, "/approvals"), status_code=303)


def request_words(request: Request[Any, Any, Any], message: str) -> str:
    """A message in the reader's language, for text made outside a template (the QR's title)."""
    return translations(choose_locale(request.cookies.get(LANG_COOKIE))).gettext(message)
