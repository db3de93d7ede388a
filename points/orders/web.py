"""HTTP handlers of service orders (点单-派单-接单-晒单): settings, co-building units, orders and their moves, the
public 晒单 list. Thin: every rule is in points/orders/service.py."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, Response, get, post, put
from litestar.params import FromPath, HeaderParameter, JSONBody, Parameter, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from ledger.model import MAX_KEY_CHARS, check_time
from points.earning.web_reports import PhotoOperation
from points.fields import NO_NUL_PATTERN, BeforeId, Id, PathId, Reason, Timestamp
from points.openapi import PUBLIC, problems, replayed
from points.orders import service
from points.wiring import Conn, CurrentAccess, CurrentCommunity, Here

Hours = Annotated[int, msgspec.Meta(ge=1, le=service.MAX_HOURS)]
UnitName = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=NO_NUL_PATTERN)]
UnitKind = Annotated[str, msgspec.Meta(pattern=r"^(property|school|hospital|company|organisation|other)$")]
Contact = Annotated[str, msgspec.Meta(max_length=200, pattern=NO_NUL_PATTERN)]
Ids = Annotated[list[Id], msgspec.Meta(max_length=50)]
Volunteers = Annotated[list[Id], msgspec.Meta(max_length=service.MAX_VOLUNTEERS)]
Description = Annotated[
    str, msgspec.Meta(min_length=1, max_length=service.MAX_DESCRIPTION_CHARS, pattern=NO_NUL_PATTERN)
]
Note = Annotated[str, msgspec.Meta(min_length=1, max_length=service.MAX_NOTE_CHARS, pattern=NO_NUL_PATTERN)]
DispatchNote = Annotated[str, msgspec.Meta(max_length=service.MAX_REASON_CHARS, pattern=NO_NUL_PATTERN)]
OrderPoints = Annotated[int, msgspec.Meta(ge=1, le=service.MAX_POINTS)]
OrderState = Annotated[
    str | None,
    QueryParameter(name="state", pattern=r"^(ordered|dispatched|accepted|done|confirmed|disputed|cancelled)$"),
]
Limit = Annotated[int, Parameter(ge=1, le=200)]
Overdue = Annotated[bool, QueryParameter(name="overdue", description="only those past their due time")]
Month = Annotated[
    str | None,
    QueryParameter(name="month", pattern=service.MONTH_PATTERN, description="only those done in it: 2026-12"),
]
DonePhotos = Annotated[list[Id], msgspec.Meta(max_length=service.MAX_DONE_PHOTOS)]
# As points/ledger_web.py's IdempotencyKey, but optional: orders were placed without one before it came (a page or an
# app that sends one is never charged a double tap twice).
OrderKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        min_length=1,
        max_length=MAX_KEY_CHARS,
        required=False,
        description="Unique per orderer. A retry with the same key and need returns the order placed first (200, "
        '"replayed": true); the same key with another need is refused (409 idempotency_key_reused).',
    ),
]
# A photo on the public 晒单: anyone may keep it a while, but the resident may withdraw the consent.
SHOWN_PHOTO_CACHE = "public, max-age=300"


class SettingsIn(msgspec.Struct, forbid_unknown_fields=True):
    accept_hours: Hours  # a dispatched order not accepted within this goes back to the dispatcher
    confirm_hours: Hours  # an order done and not confirmed within this counts as confirmed


class SettingsOut(msgspec.Struct):
    accept_hours: int
    confirm_hours: int


class UnitIn(msgspec.Struct, forbid_unknown_fields=True):
    name: UnitName
    kind: UnitKind
    contact: Contact = ""
    type_ids: Ids = msgspec.field(default_factory=list)  # the categories offered; empty: any
    member_ids: Ids = msgspec.field(default_factory=list)  # the members who act for it
    active: bool = True


class UnitMemberOut(msgspec.Struct):
    member_id: int
    display_name: str


class UnitOut(msgspec.Struct):
    id: int
    name: str
    kind: str
    contact: str
    type_ids: list[int]
    active: bool
    members: list[UnitMemberOut]
    taken: int
    completed: int
    on_time: int


class OrderIn(msgspec.Struct, forbid_unknown_fields=True):
    type_id: Id  # the category: an activity type
    description: Description
    place_id: Id | None = None
    photo_id: Id | None = None  # from POST /photos, uploaded by the caller
    wished_at: Timestamp | None = None
    for_member_id: Id | None = None  # 代办: an organizer or admin ordering for a resident
    unit_id: Id | None = None  # a member unit's 点单: a unit the caller acts for orders it
    photos_public: bool = False  # the resident agrees its photos may be shown on the public 晒单

    def __post_init__(self) -> None:
        found = check_time("wished_at", self.wished_at)
        if found:
            raise ValueError(found[0])


class DispatchIn(msgspec.Struct, forbid_unknown_fields=True):
    due_at: Timestamp
    unit_id: Id | None = None
    volunteer_ids: Volunteers = msgspec.field(default_factory=list)
    points: OrderPoints | None = None  # each worker's, on confirmation; the category's default points when absent
    note: DispatchNote = ""

    def __post_init__(self) -> None:
        found = check_time("due_at", self.due_at)
        if found:
            raise ValueError(found[0])


class ReasonIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason


class DoneIn(msgspec.Struct, forbid_unknown_fields=True):
    note: Note
    # Who did it; for an order dispatched to volunteers, all of them when empty (a list with no null: a nullable
    # list would lose its items' bounds in the OpenAPI document).
    volunteer_ids: Volunteers = msgspec.field(default_factory=list)
    photo_ids: DonePhotos = msgspec.field(default_factory=list)  # from POST /photos, each uploaded by the caller


class ConsentIn(msgspec.Struct, forbid_unknown_fields=True):
    public: bool  # the order's photo and the completion's may be shown on the public 晒单


class EventOut(msgspec.Struct):
    kind: str
    from_state: str | None
    to_state: str
    member_id: int | None
    member_name: str | None  # null: the scheduled jobs
    unit_id: int | None
    round: int
    note: str | None
    at: datetime


class WorkerOut(msgspec.Struct):
    member_id: int
    display_name: str
    award_id: int | None
    award_state: str | None
    points: int | None
    award_refusal: str | None


class OrderOut(msgspec.Struct):
    id: int
    type_id: int
    type_name: str
    description: str
    place_id: int | None
    place_name: str | None
    photo_id: int | None
    wished_at: datetime | None
    ordered_by_member_id: int
    ordered_by_name: str
    for_member_id: int
    for_name: str
    proxy: bool  # 代办: ordered by an organizer for the resident
    state: str
    created_at: datetime
    dispatch_round: int
    dispatched_by_member_id: int | None
    dispatched_at: datetime | None
    due_at: datetime | None
    unit_id: int | None
    unit_name: str | None
    points: int | None
    accepted_by_member_id: int | None
    accepted_at: datetime | None
    done_by_member_id: int | None
    done_at: datetime | None
    done_note: str | None
    done_photo_ids: list[int]
    confirmed_at: datetime | None
    overdue: bool
    photos_public: bool
    ordering_unit_id: int | None  # a member unit's 点单: ordered for this unit by one of its members
    ordering_unit_name: str | None
    assignees: list[UnitMemberOut]
    workers: list[WorkerOut]
    events: list[EventOut]
    replayed: bool  # the order placed before with the same Idempotency-Key


class ShownOut(msgspec.Struct):
    order_id: int
    type_name: str
    place_name: str | None
    unit_name: str | None  # null: done by volunteers
    resident: str  # masked: 张*英
    workers: list[str]  # masked
    days_to_done: int
    done_at: datetime
    before_photo_ids: list[int]  # with the resident's consent only: …/shaidan/photos/{id}
    after_photo_ids: list[int]


class MonthCountOut(msgspec.Struct):
    month: str
    by: str
    orders: int


class ShaidanOut(msgspec.Struct):
    community: str
    orders: list[ShownOut]
    per_unit: list[MonthCountOut]
    per_category: list[MonthCountOut]


def unit_out(u: service.Unit) -> UnitOut:
    return UnitOut(
        u.id, u.name, u.kind, u.contact, list(u.type_ids), u.active,
        [UnitMemberOut(m.member_id, m.display_name) for m in u.members], u.taken, u.completed, u.on_time,
    )  # fmt: skip


def order_out(o: service.Order) -> OrderOut:
    return OrderOut(
        o.id, o.type_id, o.type_name, o.description, o.place_id, o.place_name, o.photo_id, o.wished_at,
        o.ordered_by_member_id, o.ordered_by_name, o.for_member_id, o.for_name, o.proxy, o.state, o.created_at,
        o.dispatch_round, o.dispatched_by_member_id, o.dispatched_at, o.due_at, o.unit_id, o.unit_name, o.points,
        o.accepted_by_member_id, o.accepted_at, o.done_by_member_id, o.done_at, o.done_note, list(o.done_photo_ids),
        o.confirmed_at, o.overdue, o.photos_public, o.ordering_unit_id, o.ordering_unit_name,
        [UnitMemberOut(a.member_id, a.display_name) for a in o.assignees],
        [WorkerOut(w.member_id, w.display_name, w.award_id, w.award_state, w.points, w.award_refusal)
         for w in o.workers],
        [EventOut(e.kind, e.from_state, e.to_state, e.member_id, e.member_name, e.unit_id, e.round, e.note, e.at)
         for e in o.events],
        o.replayed,
    )  # fmt: skip


WRITE = problems(400, 401, 403, 404, 409, 413, 415)


class OrdersController(Controller):
    path = "/api/v1/communities/{slug:str}"
    tags = ["service orders"]  # noqa: RUF012

    @get("/service-order-settings", operation_id="getOrderSettings", responses=problems(400, 401, 403, 404))
    async def get_settings(self, conn: Conn, community: CurrentCommunity) -> SettingsOut:
        """The accept timeout and the auto-confirm time, in hours (48 and 72 unless set)."""
        found = await service.get_settings(conn, community.id)
        return SettingsOut(found.accept_hours, found.confirm_hours)

    @put(
        "/service-order-settings", operation_id="updateOrderSettings", responses=problems(400, 401, 403, 404, 413, 415)
    )
    async def put_settings(self, here: Here, data: JSONBody[SettingsIn]) -> SettingsOut:
        """Set both timeouts (1 to 720 hours); orders already dispatched or done follow the new ones."""
        found = await service.set_settings(here.conn, here.community_id, data.accept_hours, data.confirm_hours)
        return SettingsOut(found.accept_hours, found.confirm_hours)

    @get("/service-units", operation_id="listServiceUnits", responses=problems(400, 401, 403, 404))
    async def list_units(self, conn: Conn, community: CurrentCommunity) -> list[UnitOut]:
        """The community's co-building units, with who acts for each and its record (taken, completed, on time)."""
        return [unit_out(u) for u in await service.list_units(conn, community.id)]

    @post("/service-units", operation_id="createServiceUnit", status_code=HTTP_201_CREATED, responses=WRITE)
    async def create_unit(self, here: Here, data: JSONBody[UnitIn]) -> UnitOut:
        """A co-building unit (共建单位): its name, kind, contact, the categories it offers, its members."""
        return unit_out(
            await service.create_unit(
                here.conn,
                here.access,
                name=data.name,
                kind=data.kind,
                contact=data.contact,
                type_ids=data.type_ids,
                member_ids=data.member_ids,
            )
        )

    @get("/service-units/{unit_id:int}", operation_id="getServiceUnit", responses=problems(400, 401, 403, 404))
    async def get_unit(self, conn: Conn, community: CurrentCommunity, unit_id: PathId) -> UnitOut:
        """One unit and its record."""
        return unit_out(await service.get_unit(conn, community.id, unit_id))

    @put("/service-units/{unit_id:int}", operation_id="updateServiceUnit", responses=WRITE)
    async def update_unit(self, here: Here, unit_id: PathId, data: JSONBody[UnitIn]) -> UnitOut:
        """The whole unit each time (its members replaced by those listed); ``active: false`` takes no orders."""
        return unit_out(
            await service.update_unit(
                here.conn,
                here.access,
                unit_id,
                name=data.name,
                kind=data.kind,
                contact=data.contact,
                type_ids=data.type_ids,
                member_ids=data.member_ids,
                active=data.active,
            )
        )

    @post("/service-orders", operation_id="createServiceOrder", status_code=HTTP_201_CREATED,
          responses=WRITE | replayed(OrderOut))  # fmt: skip
    async def create_order(
        self, here: Here, data: JSONBody[OrderIn], idempotency_key: OrderKey = None
    ) -> Response[OrderOut]:
        """Order a service (点单): a category, what is needed, where, a photo, when, and whether its photos may be
        shown on 晒单. An organizer or admin orders for a resident without a phone with ``for_member_id`` (代办); a
        member who acts for a co-building unit orders for it with ``unit_id``. With an Idempotency-Key a retry (a
        double tap) answers the same order (200, replayed) and places nothing."""
        placed = await service.post_order(
            here.conn,
            here.access,
            type_id=data.type_id,
            description=data.description,
            place_id=data.place_id,
            photo_id=data.photo_id,
            wished_at=data.wished_at,
            for_member_id=data.for_member_id,
            idempotency_key=idempotency_key,
            photos_public=data.photos_public,
            unit_id=data.unit_id,
        )
        return Response(order_out(placed), status_code=HTTP_200_OK if placed.replayed else HTTP_201_CREATED)

    @get("/service-orders", operation_id="listServiceOrders", responses=problems(400, 401, 403, 404))
    async def list_orders(
        self,
        conn: Conn,
        community: CurrentCommunity,
        in_state: OrderState = None,
        overdue: Overdue = False,
        before: BeforeId = None,
        limit: Limit = 50,
    ) -> list[OrderOut]:
        """Newest first; ``state=ordered``: waiting for a dispatcher (new, declined, not accepted in time);
        ``overdue=true``: dispatched or accepted past their due time."""
        found = await service.list_orders(
            conn, community.id, state=in_state, overdue=overdue, before_id=before, limit=limit
        )
        return [order_out(o) for o in found]

    @get("/service-orders/{order_id:int}", operation_id="getServiceOrder", responses=problems(400, 401, 403, 404))
    async def get_order(self, conn: Conn, access: CurrentAccess, slug: FromPath[str], order_id: PathId) -> OrderOut:
        """One order with its history: for staff, its resident and orderer, and whoever it was dispatched to."""
        return order_out(await service.read_order(conn, access, order_id))

    @get("/me/service-orders", operation_id="listMyServiceOrders", responses=problems(400, 401, 403, 404))
    async def mine(self, conn: Conn, access: CurrentAccess, slug: FromPath[str]) -> list[OrderOut]:
        """The orders you placed or that are for you, newest first."""
        return [order_out(o) for o in await service.my_orders(conn, access)]

    @get("/me/taken-service-orders", operation_id="listTakenServiceOrders", responses=problems(400, 401, 403, 404))
    async def taken(self, conn: Conn, access: CurrentAccess, slug: FromPath[str]) -> list[OrderOut]:
        """The orders dispatched to your units or to you by name, newest first (none if you act for no unit)."""
        return [order_out(o) for o in await service.taken_orders(conn, access)]

    @post("/service-orders/{order_id:int}/dispatch", operation_id="dispatchServiceOrder", status_code=200,
          responses=problems(400, 401, 403, 404, 409, 413, 415, 422))  # fmt: skip
    async def dispatch(self, here: Here, order_id: PathId, data: JSONBody[DispatchIn]) -> OrderOut:
        """Dispatch (派单) to a unit (``unit_id``) or to volunteers (``volunteer_ids``), with a due time and the
        points each worker gets when it is confirmed. Of two dispatchers at once one wins; the other gets 409."""
        return order_out(
            await service.dispatch(
                here.conn,
                here.access,
                order_id,
                due_at=data.due_at,
                unit_id=data.unit_id,
                volunteer_ids=data.volunteer_ids,
                points=data.points,
                note=data.note,
            )
        )

    @post("/service-orders/{order_id:int}/accept", operation_id="acceptServiceOrder", status_code=200,
          responses=problems(400, 401, 403, 404, 409))  # fmt: skip
    async def accept(self, here: Here, order_id: PathId) -> OrderOut:
        """Take it (接单): a member of the unit, or a volunteer it was dispatched to."""
        return order_out(await service.accept(here.conn, here.access, order_id))

    @post("/service-orders/{order_id:int}/decline", operation_id="declineServiceOrder", status_code=200,
          responses=WRITE)  # fmt: skip
    async def decline(self, here: Here, order_id: PathId, data: JSONBody[ReasonIn]) -> OrderOut:
        """Turn it down with a reason: it goes back to the dispatcher."""
        return order_out(await service.decline(here.conn, here.access, order_id, data.reason))

    @post("/service-orders/{order_id:int}/done", operation_id="completeServiceOrder", status_code=200,
          responses=WRITE)  # fmt: skip
    async def done(self, here: Here, order_id: PathId, data: JSONBody[DoneIn]) -> OrderOut:
        """Mark it done with a note (and a photo), naming who did it: they get the points once it is confirmed."""
        return order_out(
            await service.complete(
                here.conn,
                here.access,
                order_id,
                note=data.note,
                volunteer_ids=data.volunteer_ids or None,
                photo_ids=data.photo_ids,
            )
        )

    @post("/service-orders/{order_id:int}/confirm", operation_id="confirmServiceOrder", status_code=200,
          responses=problems(400, 401, 403, 404, 409))  # fmt: skip
    async def confirm(self, here: Here, order_id: PathId) -> OrderOut:
        """The resident confirms it was done: whoever did it is awarded the order's points (the awards' rules
        apply; a refused award is shown on the worker)."""
        return order_out(await service.confirm(here.conn, here.access, order_id))

    @post("/service-orders/{order_id:int}/dispute", operation_id="disputeServiceOrder", status_code=200,
          responses=WRITE)  # fmt: skip
    async def dispute(self, here: Here, order_id: PathId, data: JSONBody[ReasonIn]) -> OrderOut:
        """The resident disputes the completion, with a reason: it goes back to the dispatcher."""
        return order_out(await service.dispute(here.conn, here.access, order_id, data.reason))

    @put("/service-orders/{order_id:int}/photo-consent", operation_id="setServiceOrderPhotoConsent",
         responses=WRITE)  # fmt: skip
    async def photo_consent(self, here: Here, order_id: PathId, data: JSONBody[ConsentIn]) -> OrderOut:
        """The resident (or whoever ordered it for them) agrees, or no longer agrees, that the order's photo and
        the completion's are shown on the public 晒单; recorded in its history."""
        return order_out(await service.set_photo_consent(here.conn, here.access, order_id, data.public))

    @post("/service-orders/{order_id:int}/cancel", operation_id="cancelServiceOrder", status_code=200,
          responses=WRITE)  # fmt: skip
    async def cancel(self, here: Here, order_id: PathId, data: JSONBody[ReasonIn]) -> OrderOut:
        """Cancel it with a reason: the resident before it is taken, an organizer or admin until it is done."""
        return order_out(await service.cancel(here.conn, here.access, order_id, data.reason))

    # 401 too: no sign-in is needed, but a token that is sent is checked (an unknown one is refused).
    @get("/shaidan", operation_id="listShownServiceOrders", responses=problems(400, 401, 404), security=PUBLIC)
    async def shaidan(self, conn: Conn, community: CurrentCommunity, month: Month = None) -> ShaidanOut:
        """Public, no sign-in (晒单): completed orders — category, place, the unit, days from order to done, the
        before and after photos if the resident agreed — with names masked (``month=2026-12``: those done in
        it), and monthly counts per unit and per category for the last twelve months."""
        orders = await service.shown(conn, community.id, month=month)
        units, types = await service.monthly_counts(conn, community.id)
        return ShaidanOut(
            community.name,
            [ShownOut(s.order_id, s.type_name, s.place_name, s.unit_name, s.resident, list(s.workers),
                      s.days_to_done, s.done_at, list(s.before_photo_ids), list(s.after_photo_ids)) for s in orders],
            [MonthCountOut(m.month, m.by, m.orders) for m in units],
            [MonthCountOut(m.month, m.by, m.orders) for m in types],
        )  # fmt: skip

    @get(
        "/shaidan/photos/{photo_id:int}",
        operation_id="getShownServiceOrderPhoto",
        media_type="image/jpeg",
        operation_class=PhotoOperation,
        responses=problems(400, 401, 404),
        security=PUBLIC,
    )
    async def shaidan_photo(self, conn: Conn, community: CurrentCommunity, photo_id: PathId) -> Response[bytes]:
        """Public, no sign-in: a before or after photo of a confirmed order on 晒单 whose resident agreed to show
        it. Any other photo is 404, as one that does not exist."""
        found = await service.shown_photo(conn, community.id, photo_id)
        return Response(
            found.data,
            media_type=found.media_type,
            headers={"Cache-Control": SHOWN_PHOTO_CACHE, "X-Content-Type-Options": "nosniff"},
        )
