"""Service orders' pages (点单-派单-接单-晒单), phone-first:

- a resident orders a service (what, where, when, a photo from the phone's camera) and follows their orders on
  我的点单, confirming or disputing a completion (an organizer orders for a resident without a phone: 代办);
- whoever it is sent to (a co-building unit's members, or the volunteers named) sees it on 接单, takes or
  declines it, and marks it done with a note, who did it and photos; the unit's record is there too;
- dispatchers (organizers, admins) see the new, returned and disputed orders and the overdue ones on 派单, and
  send each to a unit or to volunteers from the order's own page;
- anyone, signed out, reads the public 晒单.

One page per order shows its need, its photos, its history and the moves the reader may make now. Thin like the
rest of the pages: every form calls the service function the API's operation calls (points/orders/service.py), so
the rules are the same ones; a refusal re-renders the page with what was typed and the problem in the reader's
words; every move answers with a redirect (a reload never posts again). A form's photo and its write are one
transaction: a refused order leaves no photo behind.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import QueryParameter
from litestar.response import Redirect, Template

import ledger
from points import photos
from points.auth.access import Access
from points.auth.errors import InvalidRequest
from points.auth.identity import mask_phone
from points.auth.policy import ADMIN, ORGANIZER
from points.earning import reports, types
from points.errors import problem_catalog
from points.field_problems import field_problem
from points.fields import PathId
from points.members import service as members
from points.orders import service
from points.orders.page_words import (
    DONE_WORDS,
    EVENT_WORDS,
    FIELD_WORDS,
    KIND_WORDS,
    LABELS,
    REFUSAL_WORDS,
    STATE_WORDS,
)  # fmt: skip
from points.pages.organize import Problems, Typed, local_input, new_key, read_form, refused
from points.pages.web import PAGE_EXCEPTION_HANDLERS, render
from points.wiring import Conn, CurrentAccess, CurrentCommunity

KEY = re.compile(r"page:[A-Za-z0-9_-]{8,60}")  # a form's idempotency key, as points/pages/organize.py new_key makes
LIST_LIMIT = 100
MEMBER_MATCHES = 20
DEFAULT_DUE = timedelta(days=2)
Done = Annotated[str, QueryParameter(max_length=20)]
Search = Annotated[str, QueryParameter(name="q", max_length=100, pattern=r"^[^\x00]*$")]
Month = Annotated[str | None, QueryParameter(name="month", pattern=service.MONTH_PATTERN)]
STAFF = frozenset({ORGANIZER, ADMIN})


def services_url(slug: str, rest: str = "") -> str:
    return f"/c/{slug}/services{rest}"


def _worded(exc: Exception, form: str) -> dict[str, Any]:
    """The refusal as the API words it, for the form it came from; an order's own refusals in the page's words."""
    failed = refused(exc, form)
    words = REFUSAL_WORDS.get(str(failed["code"]))
    if words and not failed.get("fields"):
        failed["words"], failed["detail"] = words, None
    named = [p["key"] for p in failed.get("fields") or () if p.get("key") in FIELD_WORDS]
    if named:
        failed["words"], failed["detail"], failed["fields"], failed["field"] = (
            FIELD_WORDS[named[0]],
            None,
            None,
            named[0],
        )
    return failed


def _refusal_titles(order: service.Order) -> dict[str, str]:
    """A worker's refused award (its problem's code), in the words of the problem's title: the page translates it
    as it translates the API's errors."""
    titles = problem_catalog()
    return {w.award_refusal: str(titles.get(w.award_refusal, {}).get("title", w.award_refusal))
            for w in order.workers if w.award_refusal}  # fmt: skip


def _is_staff(access: Access) -> bool:
    return bool(access.roles & STAFF)


async def _uploaded(conn: Conn, access: Access, form: Any, name: str = "photo") -> list[int]:
    """The form's photos (the file field ``name``, one or several), each checked, cleaned and stored as the API's
    uploadPhoto stores it (points/photos.py), in the caller's transaction."""
    found = []
    for upload in form.getall(name) if name in form else []:
        if not isinstance(upload, UploadFile):
            continue
        try:
            raw = await upload.read() if upload.filename else b""
        finally:
            await upload.close()  # its spooled temporary file, now rather than whenever it is collected
        if raw:
            found.append((await reports.upload_photo(conn, access, raw)).id)
    return found


def _ids(values: list[str], key: str) -> list[int]:
    found = []
    for v in values:
        if not v.isascii() or not v.isdigit() or len(v) > 18:
            raise InvalidRequest("not a member", errors=[field_problem(key, "not_digits")])
        found.append(int(v))
    return found


async def _matches(conn: Conn, community_id: int, q: str) -> list[dict[str, Any]]:
    """Active members whose name contains ``q`` or whose phone it matches, to pick from (phones masked)."""
    if not q.strip():
        return []
    found = await members.list_members(conn, community_id, after_id=0, limit=MEMBER_MATCHES, search=q)
    return [
        {"id": m.id, "display_name": m.display_name, "phone": mask_phone(m.phone) if m.phone else ""}
        for m in found
        if m.status == "active"
    ]


class OrderPages(Controller):
    path = "/"
    include_in_schema = False
    exception_handlers = PAGE_EXCEPTION_HANDLERS

    # ---- 晒单, public ------------------------------------------------------------------------------------------

    @get("/c/{slug:str}/shaidan", operation_id="pageShaidan")
    async def shaidan(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, month: Month = None
    ) -> Template:
        """晒单: the community's completed service orders (of one month, when a month is chosen), names masked,
        the photos the residents agreed to show, and the months' counts."""
        units, kinds = await service.monthly_counts(conn, community.id)
        return render(
            request,
            "orders/shaidan.html",
            community=community,
            orders=await service.shown(conn, community.id, month=month),
            month=month,
            months=sorted({m.month for m in units}, reverse=True),
            per_unit=units,
            per_category=kinds,
        )

    # ---- the resident: my orders, a new order ------------------------------------------------------------------

    @get("/c/{slug:str}/services", operation_id="pageServices")
    async def mine(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess,
        done: Done = "",
    ) -> Template:  # fmt: skip
        """我的点单: the orders I placed or that are for me, newest first, each with where it stands."""
        found = await service.my_orders(conn, access, limit=LIST_LIMIT)
        return render(request, "orders/mine.html", community=community, orders=found, done=DONE_WORDS.get(done),
                      states=STATE_WORDS, taker=await self._takes_any(conn, access),
                      staff=_is_staff(access))  # fmt: skip

    async def _takes_any(self, conn: Conn, access: Access) -> bool:
        """Whether the reader acts for a unit or has been sent an order by name: their 接单 tab is worth showing."""
        if access.member_id is None:
            return False
        await ledger.enter(conn, access.community_id)
        return bool(
            await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM points.service_unit_members WHERE member_id = $1)"
                " OR EXISTS (SELECT 1 FROM points.service_order_assignees WHERE member_id = $1)",
                access.member_id,
            )
        )

    async def _new_page(
        self, request: Request[Any, Any, Any], conn: Conn, community: Any, access: Access, *, q: str = "",
        typed: Typed | None = None, failed: dict[str, Any] | None = None,
    ) -> Template:  # fmt: skip
        kinds = await types.list_types(conn, community.id, active_only=True)
        staff = _is_staff(access)
        mine = [u for u in await service.list_units(conn, community.id)
                if u.active and access.member_id in {m.member_id for m in u.members}]  # fmt: skip
        return render(
            request,
            "orders/new.html",
            status=(failed or {}).get("status", 200),
            community=community,
            kinds=kinds,
            places=await members.list_places(conn, community.id),
            staff=staff,
            my_units=mine,  # a member who acts for a unit may order for it (a member unit's 点单)
            q=q,
            found=await _matches(conn, community.id, q) if staff else [],
            typed=typed or Typed({"key": new_key(), "type_id": str(kinds[0].id) if kinds else ""}),
            failed=failed,
            labels=LABELS,
            max_photo_mib=photos.MAX_UPLOAD_BYTES // (1024 * 1024),
        )

    @get("/c/{slug:str}/services/new", operation_id="pageServiceNew")
    async def new(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess,
        q: Search = "",
    ) -> Template:  # fmt: skip
        """点单: what kind of help, what is needed, where and when, and a photo from the phone's camera; an
        organizer finds the resident it is for by name or phone (代办)."""
        return await self._new_page(request, conn, community, access, q=q)

    @post("/c/{slug:str}/services/orders", operation_id="pageServiceCreate",
          request_max_body_size=photos.MAX_STORED_BYTES)  # fmt: skip
    async def create(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess
    ) -> Response[Any]:
        """The API's uploadPhoto and createServiceOrder from one form, as one write, with the form's key (a double
        tap orders once)."""
        form = await request.form()
        typed = await read_form(request)
        try:
            problems = Problems()
            type_id = problems.number(typed, "type_id", required=True)
            place_id = problems.number(typed, "place_id")
            for_member = problems.number(typed, "member_id") if _is_staff(access) else None
            unit_id = problems.number(typed, "unit_id")
            wished = problems.moment(typed, "wished_at")
            problems.check()
            key = str(typed["key"])
            if not KEY.fullmatch(key):
                raise InvalidRequest("the form has lost its key: open it again")
            assert type_id is not None  # required above: check() raised otherwise
            async with ledger.transaction(conn):  # the photo and the order: both, or neither
                # A retried form (a double tap) keeps the photo of the order it placed first, instead of storing its
                # photo again: the retry then asks for the same need and answers that order.
                earlier = await service.placed_with_key(conn, access, key)
                if earlier is None:
                    found = await _uploaded(conn, access, form)
                else:
                    found = [earlier.photo_id] if earlier.photo_id else []
                made = await service.post_order(
                    conn, access, type_id=type_id, description=str(typed["description"]), place_id=place_id,
                    photo_id=found[0] if found else None, wished_at=wished, for_member_id=for_member,
                    idempotency_key=key, photos_public=typed["photos_public"] == "on", unit_id=unit_id,
                )  # fmt: skip
        except Exception as exc:
            return await self._new_page(request, conn, community, access, q=str(typed["q"]), typed=typed,
                                        failed=_worded(exc, "order"))  # fmt: skip
        return Redirect(services_url(community.slug, f"/orders/{made.id}?done=ordered"), status_code=303)

    # ---- one order: its need, photos, history, and the reader's moves ------------------------------------------

    async def _order_page(
        self, request: Request[Any, Any, Any], conn: Conn, community: Any, access: Access, order_id: int, *,
        done: str = "", q: str = "", typed: Typed | None = None, failed: dict[str, Any] | None = None,
    ) -> Template:  # fmt: skip
        order = await service.read_order(conn, access, order_id)
        me = access.member_id
        staff = _is_staff(access)
        units = await service.list_units(conn, community.id) if staff else []  # the dispatch form's choices
        unit = None if order.unit_id is None else await service.get_unit(conn, community.id, order.unit_id)
        resident = me is not None and me in (order.for_member_id, order.ordered_by_member_id)
        takers = {a.member_id for a in order.assignees} | {m.member_id for m in (unit.members if unit else ())}
        taker = me is not None and me in takers
        kind = await types.get_type(conn, community.id, order.type_id)
        # who may be named as having done it: the unit's people, or the volunteers it was sent to
        doers = list(unit.members) if unit is not None and order.unit_id else list(order.assignees)
        shown = typed or Typed({})
        if not typed:
            shown.update(key=new_key(), due_at=local_input(datetime.now(UTC) + DEFAULT_DUE),
                         points=str(order.points or kind.default_points or ""),
                         doers=[str(m.member_id) for m in doers])  # fmt: skip
        return render(
            request,
            "orders/order.html",
            status=(failed or {}).get("status", 200),
            community=community,
            o=order,
            resident=resident,
            taker=taker,
            staff=staff,
            me=me,
            units=[u for u in units if u.active],
            doers=doers,
            refusals=_refusal_titles(order),
            q=q,
            found=await _matches(conn, community.id, q) if staff and q else [],
            typed=shown,
            failed=failed,
            done=DONE_WORDS.get(done),
            states=STATE_WORDS,
            events=EVENT_WORDS,
            kinds=KIND_WORDS,
            labels=LABELS,
            max_photo_mib=photos.MAX_UPLOAD_BYTES // (1024 * 1024),
            max_photos=service.MAX_DONE_PHOTOS,
        )

    @get("/c/{slug:str}/services/orders/{order_id:int}", operation_id="pageServiceOrder")
    async def order(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess,
        order_id: PathId, done: Done = "", q: Search = "",
    ) -> Template:  # fmt: skip
        """One order: what was asked, where, its photos, where it stands and its history, and what the reader may
        do now (confirm or dispute it, take or decline it, mark it done, dispatch it, cancel it)."""
        return await self._order_page(request, conn, community, access, order_id, done=done, q=q)

    async def _move(
        self, request: Request[Any, Any, Any], conn: Conn, community: Any, access: Access, order_id: int,
        action: str, *lists: str,
    ) -> Response[Any]:  # fmt: skip
        """One move on an order from its page's form: the service's call, then back to the page saying it is done;
        refused, the page again with what was typed and why."""
        typed = await read_form(request, *lists)
        try:
            await self._call(request, conn, access, order_id, action, typed)
        except Exception as exc:
            return await self._order_page(request, conn, community, access, order_id, q=str(typed["q"]), typed=typed,
                                          failed=_worded(exc, action))  # fmt: skip
        return Redirect(services_url(community.slug, f"/orders/{order_id}?done={action}#state"), status_code=303)

    async def _call(
        self, request: Request[Any, Any, Any], conn: Conn, access: Access, order_id: int, action: str, typed: Typed
    ) -> None:
        reason = str(typed["reason"])
        if action == "confirmed":
            await service.confirm(conn, access, order_id)
        elif action == "disputed":
            await service.dispute(conn, access, order_id, reason)
        elif action == "cancelled":
            await service.cancel(conn, access, order_id, reason)
        elif action == "accepted":
            await service.accept(conn, access, order_id)
        elif action == "declined":
            await service.decline(conn, access, order_id, reason)
        elif action == "done":
            doers = _ids(typed["doers"], "volunteer_ids")
            async with ledger.transaction(conn):  # the photos and the completion: both, or neither
                found = await _uploaded(conn, access, await request.form())
                await service.complete(conn, access, order_id, note=str(typed["note"]), volunteer_ids=doers or None,
                                       photo_ids=found)  # fmt: skip
        elif action == "consent":
            await service.set_photo_consent(conn, access, order_id, typed["public"] == "on")
        else:  # dispatched
            problems = Problems()
            unit_id = problems.number(typed, "unit_id")
            points = problems.number(typed, "points")
            due_at = problems.moment(typed, "due_at", required=True)
            volunteers = [] if unit_id else _ids(typed["volunteer_ids"], "volunteer_ids")
            if unit_id is None and not volunteers:
                problems.found.append(field_problem("volunteer_ids", "required"))
            problems.check()
            assert due_at is not None  # required above: check() raised otherwise
            await service.dispatch(conn, access, order_id, due_at=due_at, unit_id=unit_id, volunteer_ids=volunteers,
                                   points=points, note=str(typed["note"]))  # fmt: skip

    @post("/c/{slug:str}/services/orders/{order_id:int}/confirm", operation_id="pageServiceConfirm")
    async def confirm(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess,
        order_id: PathId,
    ) -> Response[Any]:  # fmt: skip
        """The API's confirmServiceOrder: the resident says it was done; whoever did it gets their points."""
        return await self._move(request, conn, community, access, order_id, "confirmed")

    @post("/c/{slug:str}/services/orders/{order_id:int}/dispute", operation_id="pageServiceDispute")
    async def dispute(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess,
        order_id: PathId,
    ) -> Response[Any]:  # fmt: skip
        """The API's disputeServiceOrder, with the reason: back to the dispatcher."""
        return await self._move(request, conn, community, access, order_id, "disputed")

    @post("/c/{slug:str}/services/orders/{order_id:int}/cancel", operation_id="pageServiceCancel")
    async def cancel(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess,
        order_id: PathId,
    ) -> Response[Any]:  # fmt: skip
        """The API's cancelServiceOrder, with the reason."""
        return await self._move(request, conn, community, access, order_id, "cancelled")

    @post("/c/{slug:str}/services/orders/{order_id:int}/accept", operation_id="pageServiceAccept")
    async def accept(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess,
        order_id: PathId,
    ) -> Response[Any]:  # fmt: skip
        """The API's acceptServiceOrder: the unit's member or a volunteer sent it takes it (接单)."""
        return await self._move(request, conn, community, access, order_id, "accepted")

    @post("/c/{slug:str}/services/orders/{order_id:int}/decline", operation_id="pageServiceDecline")
    async def decline(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess,
        order_id: PathId,
    ) -> Response[Any]:  # fmt: skip
        """The API's declineServiceOrder, with the reason: back to the dispatcher."""
        return await self._move(request, conn, community, access, order_id, "declined")

    @post("/c/{slug:str}/services/orders/{order_id:int}/done", operation_id="pageServiceDone",
          request_max_body_size=photos.MAX_STORED_BYTES * service.MAX_DONE_PHOTOS)  # fmt: skip
    async def complete(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess,
        order_id: PathId,
    ) -> Response[Any]:  # fmt: skip
        """The API's uploadPhoto and completeServiceOrder from one form, as one write: the note, who did it, the
        photos of the result."""
        return await self._move(request, conn, community, access, order_id, "done", "doers")

    @post("/c/{slug:str}/services/orders/{order_id:int}/consent", operation_id="pageServiceConsent")
    async def consent(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess,
        order_id: PathId,
    ) -> Response[Any]:  # fmt: skip
        """The API's setServiceOrderPhotoConsent: the resident shows the order's photos on 晒单, or keeps them off."""
        return await self._move(request, conn, community, access, order_id, "consent")

    @post("/c/{slug:str}/services/orders/{order_id:int}/dispatch", operation_id="pageServiceDispatch")
    async def dispatch(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess,
        order_id: PathId,
    ) -> Response[Any]:  # fmt: skip
        """The API's dispatchServiceOrder (派单): to a unit, or to the volunteers ticked, by a due time, with the
        points each of them gets once it is confirmed."""
        return await self._move(request, conn, community, access, order_id, "dispatched", "volunteer_ids")

    # ---- 接单: the orders sent to my unit or to me -------------------------------------------------------------

    @get("/c/{slug:str}/services/taken", operation_id="pageServicesTaken")
    async def taken(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess
    ) -> Template:
        """接单: the orders sent to the units I act for or to me by name, the ones to take first; and each of my
        units' record (taken, completed, on time)."""
        found = await service.taken_orders(conn, access, limit=LIST_LIMIT)
        mine = [u for u in await service.list_units(conn, community.id)
                if access.member_id in {m.member_id for m in u.members}]  # fmt: skip
        return render(request, "orders/taken.html", community=community, orders=found, units=mine,
                      states=STATE_WORDS, kinds=KIND_WORDS, staff=_is_staff(access))  # fmt: skip

    # ---- 派单: the dispatcher's lists ---------------------------------------------------------------------------

    @get("/c/{slug:str}/services/dispatch", operation_id="pageServicesDispatch")
    async def dispatch_list(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess
    ) -> Template:
        """派单: the orders waiting for a dispatcher (new, declined, not taken in time, disputed), the overdue ones
        (past their due time, not done), and those under way; and the units with their record."""
        waiting = [
            *await service.list_orders(conn, community.id, state="disputed", limit=LIST_LIMIT),
            *await service.list_orders(conn, community.id, state="ordered", limit=LIST_LIMIT),
        ]
        under_way = [
            o
            for state in ("done", "accepted", "dispatched")
            for o in await service.list_orders(conn, community.id, state=state, limit=LIST_LIMIT)
        ]
        return render(
            request,
            "orders/dispatch.html",
            community=community,
            waiting=waiting,
            overdue=await service.list_orders(conn, community.id, overdue=True, limit=LIST_LIMIT),
            under_way=under_way,
            units=await service.list_units(conn, community.id),
            states=STATE_WORDS,
            kinds=KIND_WORDS,
            staff=_is_staff(access),
            admin=ADMIN in access.roles,
        )
