"""HTTP handlers of the earning domain: activity types, budgets and the approval threshold, activities and their
sign-ups, awards (activity, ad hoc, approvals, corrections), and one's own activities and hours.

Attendance (check-in codes, check-in/out, the organizer's list) has its own module, points/earning/web_attendance.py.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Controller, Response, delete, get, post, put
from litestar.params import JSONBody, Parameter, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from ledger.model import check_time
from points.earning import activities, awards, budgets, hours, types
from points.fields import BeforeId, Id, Name, PathId, Reason, Timestamp
from points.ledger_web import IdempotencyKey
from points.openapi import problems, replayed
from points.wiring import Conn, CurrentAccess, CurrentCommunity, Here

Points = Annotated[int, msgspec.Meta(ge=0, le=types.MAX_POINTS)]
AwardPoints = Annotated[int, msgspec.Meta(ge=1, le=awards.MAX_AWARD_POINTS)]
Cap = Annotated[int, msgspec.Meta(ge=1, le=types.MAX_CAP)]
PerHour = Annotated[int, msgspec.Meta(ge=1, le=10_000)]
Minutes = Annotated[int, msgspec.Meta(ge=0, le=awards.MAX_MINUTES)]
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=activities.MAX_TITLE_CHARS, pattern=r"^[^\x00]*$")]
Description = Annotated[str, msgspec.Meta(max_length=activities.MAX_DESCRIPTION_CHARS, pattern=r"^[^\x00]*$")]
Capacity = Annotated[int, msgspec.Meta(ge=1, le=activities.MAX_CAPACITY)]
TypeCode = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
PeriodName = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4}(-(0[1-9]|1[0-2])|-Q[1-4])?$")]
Allotment = Annotated[int, msgspec.Meta(ge=1, le=budgets.MAX_ALLOTMENT)]
Threshold = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
ActivityState = Annotated[str | None, QueryParameter(name="state", pattern=r"^(draft|open|closed|awarded|cancelled)$")]
AwardState = Annotated[
    str | None, QueryParameter(name="state", pattern=r"^(pending_approval|published|posted|rejected|voided)$")
]
Limit = Annotated[int, Parameter(ge=1, le=200)]


# ---- bodies -----------------------------------------------------------------------------------------------------


class ActivityTypeIn(msgspec.Struct, forbid_unknown_fields=True):
    code: TypeCode
    name: Name
    default_points: Points
    points_per_hour: PerHour | None = None
    cap_per_day: Cap | None = None
    cap_per_month: Cap | None = None


class ActivityTypeUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    default_points: Points
    points_per_hour: PerHour | None = None
    cap_per_day: Cap | None = None
    cap_per_month: Cap | None = None
    active: bool = True


class BudgetIn(msgspec.Struct, forbid_unknown_fields=True):
    period: PeriodName
    points: Allotment


class SettingsIn(msgspec.Struct, forbid_unknown_fields=True):
    approval_threshold: Threshold | None


class _Schedule(msgspec.Struct, forbid_unknown_fields=True):
    starts_at: Timestamp
    ends_at: Timestamp

    def __post_init__(self) -> None:
        found = check_time("starts_at", self.starts_at) + check_time("ends_at", self.ends_at)
        if found:
            raise ValueError(found[0])


class ActivityIn(_Schedule, forbid_unknown_fields=True):
    type_id: Id
    title: Title
    description: Description = ""
    place_id: Id | None = None
    capacity: Capacity | None = None
    reward_points: Points | None = None  # the type's default points when absent
    per_hour: bool = False
    organizer_member_id: Id | None = None  # the caller when absent
    open: bool = False  # open for sign-ups at once instead of a draft


class ActivityUpdate(_Schedule, forbid_unknown_fields=True):
    title: Title
    reward_points: Points
    description: Description = ""
    place_id: Id | None = None
    capacity: Capacity | None = None


class CancelIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason


class AdhocAwardIn(msgspec.Struct, forbid_unknown_fields=True):
    member_id: Id
    type_id: Id
    points: AwardPoints
    reason: Reason
    minutes: Minutes = 0


class DecisionIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason


# ---- answers ----------------------------------------------------------------------------------------------------


class ActivityTypeOut(msgspec.Struct):
    id: int
    code: str
    name: str
    default_points: int
    points_per_hour: int | None
    cap_per_day: int | None
    cap_per_month: int | None
    active: bool


class BudgetOut(msgspec.Struct):
    id: int
    period: str
    starts_on: date
    ends_on: date  # the day after the last
    account_id: int
    allotted: int
    spent: int
    left: int  # what new awards may still take
    held: int  # held for awards in their 公示 window: spent when they settle, back in `left` if voided


class SettingsOut(msgspec.Struct):
    approval_threshold: int | None


class ActivityOut(msgspec.Struct):
    id: int
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
    places_left: int | None


class SignupOut(msgspec.Struct):
    activity_id: int
    member_id: int
    status: str
    position: int | None  # on the waiting list: 1 is next
    signed_up_at: datetime


class SignupListed(msgspec.Struct):
    member_id: int
    display_name: str
    status: str
    position: int | None
    signed_up_at: datetime


class MyActivityOut(msgspec.Struct):
    activity: ActivityOut
    part: str  # registered, waitlisted, cancelled, attended


class AwardLineOut(msgspec.Struct):
    member_id: int
    display_name: str
    requested_points: int
    points: int
    capped: int  # cut by the caps
    minutes: int


class AwardOut(msgspec.Struct):
    id: int
    kind: str
    state: str
    activity_id: int | None
    report_id: int | None
    type_id: int
    type_name: str
    reason: str
    award_on: date
    budget_period: str
    made_by_member_id: int
    made_by_name: str
    approved_by_member_id: int | None
    decided_at: datetime | None
    decision_reason: str | None
    entry_id: int | None
    total_points: int
    total_minutes: int
    created_at: datetime
    corrected: bool
    window_ends_at: datetime | None  # state published: its 公示 window ends then, and it settles within a minute
    lines: list[AwardLineOut]
    replayed: bool


class HoursOut(msgspec.Struct):
    minutes: int
    hours: float
    stars: int
    next_star_hours: int | None


Out = TypeVar("Out", bound=msgspec.Struct)


def from_domain(cls: type[Out], value: Any, **given: Any) -> Out:
    """An answer struct from a domain value, field by field by name (``given`` for the fields it computes): a
    field the struct declares and the value lacks fails at once, and a new field needs no copying by hand."""
    return cls(**{f: given[f] if f in given else getattr(value, f) for f in cls.__struct_fields__})


def type_out(t: types.ActivityType) -> ActivityTypeOut:
    return from_domain(ActivityTypeOut, t)


def budget_out(b: budgets.Budget) -> BudgetOut:
    return from_domain(BudgetOut, b)


def activity_out(a: activities.Activity) -> ActivityOut:
    left = None if a.capacity is None else max(0, a.capacity - a.registered)
    return from_domain(ActivityOut, a, places_left=left)


def signup_out(s: activities.Signup) -> SignupOut:
    return from_domain(SignupOut, s)


def award_out(a: awards.Award) -> AwardOut:
    return from_domain(AwardOut, a, lines=[from_domain(AwardLineOut, x) for x in a.lines])


def _created(award: awards.Award) -> Response[AwardOut]:
    return Response(award_out(award), status_code=HTTP_200_OK if award.replayed else HTTP_201_CREATED)


# ---- controllers ------------------------------------------------------------------------------------------------


class EarningSetupController(Controller):
    """What the admin sets up: activity types and caps, budgets, the approval threshold."""

    path = "/api/v1/communities/{slug:str}"
    tags = ["earning"]  # noqa: RUF012

    @get("/activity-types", operation_id="listActivityTypes", responses=problems(400, 401, 403, 404))
    async def list_types(self, conn: Conn, community: CurrentCommunity) -> list[ActivityTypeOut]:
        return [type_out(t) for t in await types.list_types(conn, community.id)]

    @post(
        "/activity-types",
        operation_id="createActivityType",
        status_code=HTTP_201_CREATED,
        responses=problems(400, 401, 403, 404, 409, 413, 415),
    )
    async def create_type(self, here: Here, data: JSONBody[ActivityTypeIn]) -> ActivityTypeOut:
        created = await types.create_type(
            here.conn,
            here.community_id,
            code=data.code,
            name=data.name,
            default_points=data.default_points,
            points_per_hour=data.points_per_hour,
            cap_per_day=data.cap_per_day,
            cap_per_month=data.cap_per_month,
        )
        return type_out(created)

    @put(
        "/activity-types/{type_id:int}",
        operation_id="updateActivityType",
        responses=problems(400, 401, 403, 404, 413, 415),
    )
    async def update_type(self, here: Here, type_id: PathId, data: JSONBody[ActivityTypeUpdate]) -> ActivityTypeOut:
        """Replace the type's points and caps. New caps count from now: points already awarded this day and month
        count against them, and nothing awarded is taken back."""
        updated = await types.update_type(
            here.conn,
            here.community_id,
            type_id,
            name=data.name,
            default_points=data.default_points,
            points_per_hour=data.points_per_hour,
            cap_per_day=data.cap_per_day,
            cap_per_month=data.cap_per_month,
            active=data.active,
        )
        return type_out(updated)

    @get("/budgets", operation_id="listBudgets", responses=problems(400, 401, 403, 404))
    async def list_budgets(self, conn: Conn, community: CurrentCommunity) -> list[BudgetOut]:
        """Every period's budget, newest first: allotted, spent by awards and left."""
        return [budget_out(b) for b in await budgets.list_budgets(conn, community.id)]

    @post(
        "/budgets",
        operation_id="allotBudget",
        status_code=HTTP_201_CREATED,
        responses=problems(400, 401, 403, 404, 409, 413, 415),
    )
    async def allot(self, here: Here, data: JSONBody[BudgetIn], idempotency_key: IdempotencyKey) -> BudgetOut:
        """Add points to a period's budget (a month 2026-12, a quarter 2026-Q4 or a year 2026), opening it on first
        use, by a ledger entry from the community's issuance account. Periods never overlap (409 budget_overlap).
        A retry with the same Idempotency-Key adds once."""
        found = await budgets.allot(
            here.conn,
            here.community_id,
            data.period,
            data.points,
            idempotency_key=idempotency_key,
            actor=here.actor,
        )
        return budget_out(found)

    @get("/earning-settings", operation_id="getEarningSettings", responses=problems(400, 401, 403, 404))
    async def get_settings(self, conn: Conn, community: CurrentCommunity) -> SettingsOut:
        return SettingsOut(await awards.approval_threshold(conn, community.id))

    @put("/earning-settings", operation_id="updateEarningSettings", responses=problems(400, 401, 403, 404, 413, 415))
    async def put_settings(self, here: Here, data: JSONBody[SettingsIn]) -> SettingsOut:
        """approval_threshold: an award paying any one member more points than this waits for a second organizer's
        approval; null: no approvals."""
        return SettingsOut(await awards.set_approval_threshold(here.conn, here.community_id, data.approval_threshold))


class ActivitiesController(Controller):
    path = "/api/v1/communities/{slug:str}"
    tags = ["earning"]  # noqa: RUF012

    @get("/activities", operation_id="listActivities", responses=problems(400, 401, 403, 404))
    async def list_activities(
        self,
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        in_state: ActivityState = None,
        limit: Limit = 50,
    ) -> list[ActivityOut]:
        """Soonest first. Without ``state``: the open ones not yet over (what a volunteer can sign up for); drafts are
        listed for organizers and admins only."""
        state = in_state  # "state" is a name Litestar keeps for the app's state
        if state is None:
            now = datetime.now().astimezone()
            found = await activities.list_activities(conn, community.id, states=("open",), after=now, limit=limit)
        else:
            if state == "draft" and not access.roles & {"organizer", "admin"}:
                return []
            found = await activities.list_activities(conn, community.id, states=(state,), limit=limit)
        return [activity_out(a) for a in found]

    @post(
        "/activities",
        operation_id="createActivity",
        status_code=HTTP_201_CREATED,
        responses=problems(400, 401, 403, 404, 409, 413, 415),
    )
    async def create(self, here: Here, data: JSONBody[ActivityIn]) -> ActivityOut:
        """A draft, or open for sign-ups at once with ``open: true``. The reward is the type's default points unless
        given; ``per_hour`` pays the type's points per hour of confirmed attendance instead."""
        created = await activities.create_activity(
            here.conn,
            here.access,
            type_id=data.type_id,
            title=data.title,
            description=data.description,
            place_id=data.place_id,
            starts_at=data.starts_at,
            ends_at=data.ends_at,
            capacity=data.capacity,
            reward_points=data.reward_points,
            per_hour=data.per_hour,
            organizer_member_id=data.organizer_member_id,
            publish=data.open,
        )
        return activity_out(created)

    @get("/activities/{activity_id:int}", operation_id="getActivity", responses=problems(400, 401, 403, 404))
    async def get_one(self, conn: Conn, community: CurrentCommunity, activity_id: PathId) -> ActivityOut:
        return activity_out(await activities.get_activity(conn, community.id, activity_id))

    @put(
        "/activities/{activity_id:int}",
        operation_id="updateActivity",
        responses=problems(400, 401, 403, 404, 409, 413, 415),
    )
    async def update(self, here: Here, activity_id: PathId, data: JSONBody[ActivityUpdate]) -> ActivityOut:
        """Edit a draft, or an open activity before it starts."""
        updated = await activities.update_activity(
            here.conn,
            here.community_id,
            activity_id,
            title=data.title,
            description=data.description,
            place_id=data.place_id,
            starts_at=data.starts_at,
            ends_at=data.ends_at,
            capacity=data.capacity,
            reward_points=data.reward_points,
        )
        return activity_out(updated)

    @post(
        "/activities/{activity_id:int}/open",
        operation_id="openActivity",
        status_code=HTTP_200_OK,
        responses=problems(400, 401, 403, 404, 409),
    )
    async def open(self, here: Here, activity_id: PathId) -> ActivityOut:
        return activity_out(await activities.open_activity(here.conn, here.community_id, activity_id))

    @post(
        "/activities/{activity_id:int}/cancel",
        operation_id="cancelActivity",
        status_code=HTTP_200_OK,
        responses=problems(400, 401, 403, 404, 409, 413, 415),
    )
    async def cancel(self, here: Here, activity_id: PathId, data: JSONBody[CancelIn]) -> ActivityOut:
        return activity_out(await activities.cancel_activity(here.conn, here.community_id, activity_id, data.reason))

    @get("/activities/{activity_id:int}/signups", operation_id="listSignups", responses=problems(400, 401, 403, 404))
    async def signups(self, conn: Conn, community: CurrentCommunity, activity_id: PathId) -> list[SignupListed]:
        """Registered first, then the waiting list in its order."""
        await activities.get_activity(conn, community.id, activity_id)
        return [
            SignupListed(s.member_id, name, s.status, s.position, s.signed_up_at)
            for s, name in await activities.signups_of(conn, community.id, activity_id)
        ]

    @post(
        "/activities/{activity_id:int}/signup",
        operation_id="signUp",
        status_code=HTTP_200_OK,
        responses=problems(400, 401, 403, 404, 409),
    )
    async def sign_up(self, here: Here, activity_id: PathId) -> SignupOut:
        """Sign up (registered, or waitlisted with a position when full). Signing up again changes nothing."""
        return signup_out(await activities.sign_up(here.conn, here.access, activity_id))

    @delete(
        "/activities/{activity_id:int}/signup",
        operation_id="cancelSignUp",
        status_code=HTTP_200_OK,
        responses=problems(400, 401, 403, 404, 409),
    )
    async def cancel_sign_up(self, here: Here, activity_id: PathId) -> SignupOut:
        """Give the place back before the start; the first on the waiting list gets it."""
        return signup_out(await activities.cancel_sign_up(here.conn, here.access, activity_id))

    @post(
        "/activities/{activity_id:int}/award",
        operation_id="awardActivity",
        status_code=HTTP_201_CREATED,
        responses=problems(400, 401, 403, 404, 409, 422) | replayed(AwardOut),
    )
    async def award(self, here: Here, activity_id: PathId) -> Response[AwardOut]:
        """Award the confirmed attendees from the budget of the activity's day: one ledger entry. Caps cut lines
        (shown as ``capped``); above the approval threshold the award waits for a second organizer. Awarding
        again returns the same award (200, ``replayed``), so a retry after a network error never pays twice."""
        return _created(await awards.award_activity(here.conn, here.access, activity_id))

    @get("/me/activities", operation_id="listMyActivities", responses=problems(400, 401, 403, 404))
    async def mine(
        self, conn: Conn, community: CurrentCommunity, access: CurrentAccess, limit: Limit = 50
    ) -> list[MyActivityOut]:
        """The caller's activities, newest first, with how they took part."""
        return [MyActivityOut(activity_out(a), part) for a, part in await activities.my_activities(conn, access, limit)]

    @get("/me/hours", operation_id="getMyHours", responses=problems(400, 401, 403, 404))
    async def my_hours(self, conn: Conn, community: CurrentCommunity, access: CurrentAccess) -> HoursOut:
        """Service hours (kept in minutes; never spendable) and the star level: 100, 300, 600, 1,000, 1,500 hours."""
        if access.member_id is None:
            return HoursOut(0, 0.0, 0, hours.STAR_HOURS[0])
        found = await hours.member_hours(conn, community.id, access.member_id)
        return HoursOut(found.minutes, round(found.hours, 2), found.stars, found.next_star_hours)


class AwardsController(Controller):
    path = "/api/v1/communities/{slug:str}"
    tags = ["earning"]  # noqa: RUF012

    @get("/awards", operation_id="listAwards", responses=problems(400, 401, 403, 404))
    async def list_awards(
        self,
        conn: Conn,
        community: CurrentCommunity,
        in_state: AwardState = None,
        before: BeforeId = None,
        limit: Limit = 50,
    ) -> list[AwardOut]:
        """Newest first (``state=pending_approval``: the approvals waiting). Lines are on GET /awards/{id}."""
        found = await awards.list_awards(conn, community.id, state=in_state, before_id=before, limit=limit)
        return [award_out(a) for a in found]

    @get("/awards/{award_id:int}", operation_id="getAward", responses=problems(400, 401, 403, 404))
    async def get_one(self, conn: Conn, community: CurrentCommunity, award_id: PathId) -> AwardOut:
        return award_out(await awards.get_award(conn, community.id, award_id))

    @post(
        "/awards",
        operation_id="createAward",
        status_code=HTTP_201_CREATED,
        responses=problems(400, 401, 403, 404, 409, 413, 415, 422) | replayed(AwardOut),
    )
    async def create(
        self, here: Here, data: JSONBody[AdhocAwardIn], idempotency_key: IdempotencyKey
    ) -> Response[AwardOut]:
        """An ad-hoc award (a mediation that settled a dispute): a reason and a category (type_id) are required;
        today's budget and the type's caps apply; above the approval threshold it waits for a second organizer."""
        award = await awards.award_adhoc(
            here.conn,
            here.access,
            member_id=data.member_id,
            type_id=data.type_id,
            points=data.points,
            reason=data.reason,
            minutes=data.minutes,
            idempotency_key=idempotency_key,
        )
        return _created(award)

    @post(
        "/awards/{award_id:int}/approve",
        operation_id="approveAward",
        status_code=HTTP_200_OK,
        responses=problems(400, 401, 403, 404, 409, 422),
    )
    async def approve(self, here: Here, award_id: PathId) -> AwardOut:
        """A second organizer approves a pending award, which posts now; its maker cannot (403)."""
        return award_out(await awards.approve(here.conn, here.access, award_id))

    @post(
        "/awards/{award_id:int}/reject",
        operation_id="rejectAward",
        status_code=HTTP_200_OK,
        responses=problems(400, 401, 403, 404, 409, 413, 415),
    )
    async def reject(self, here: Here, award_id: PathId, data: JSONBody[DecisionIn]) -> AwardOut:
        """Turn down (or, by its maker, withdraw) a pending award, with a reason; nothing is posted."""
        return award_out(await awards.reject(here.conn, here.access, award_id, data.reason))

    @post(
        "/awards/{award_id:int}/correct",
        operation_id="correctAward",
        status_code=HTTP_200_OK,
        responses=problems(400, 401, 403, 404, 409, 413, 415, 422),
    )
    async def correct(self, here: Here, award_id: PathId, data: JSONBody[DecisionIn]) -> AwardOut:
        """Correct a posted award by reversing its entry, with a reason (never an edit); the caps it used are given
        back. A second correction is refused (409 already_reversed)."""
        return award_out(await awards.correct(here.conn, here.access, award_id, data.reason))

    @get("/me/awards", operation_id="listMyAwards", responses=problems(400, 401, 403, 404))
    async def mine(
        self, conn: Conn, community: CurrentCommunity, access: CurrentAccess, before: BeforeId = None, limit: Limit = 50
    ) -> list[AwardOut]:
        """The awards that pay the caller (pending, posted or rejected), newest first."""
        if access.member_id is None:
            return []
        found = await awards.list_awards(conn, community.id, member_id=access.member_id, before_id=before, limit=limit)
        return [award_out(a) for a in found]
