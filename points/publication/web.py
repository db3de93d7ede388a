"""HTTP handlers of the 公示 window: the setting, the public list, objections, the admin's decisions, one's own
pending awards. Thin: every rule is in points/publication/service.py."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import msgspec
from litestar import Controller, get, post, put
from litestar.params import FromPath, JSONBody, Parameter, QueryParameter
from litestar.status_codes import HTTP_201_CREATED

from points.fields import BeforeId, PathId, Reason
from points.openapi import PUBLIC, problems
from points.publication import service
from points.wiring import Conn, CurrentAccess, CurrentCommunity, Here

WindowDays = Annotated[
    int, msgspec.Meta(ge=service.MIN_DAYS, le=service.MAX_DAYS, description="the 公示 window's length in days")
]
ObjectionState = Annotated[
    str | None, QueryParameter(name="state", pattern=r"^(open|upheld|dismissed|closed)$")
]  # fmt: skip


class PublicationSettingsIn(msgspec.Struct, forbid_unknown_fields=True):
    window_days: WindowDays | None  # null: no window, awards count at once


class PublicationSettingsOut(msgspec.Struct):
    window_days: int | None


class PublishedLineOut(msgspec.Struct):
    name: str  # masked: 张*英
    points: int
    minutes: int


class PublishedOut(msgspec.Struct):
    award_id: int
    kind: str
    type_name: str
    reason: str
    award_on: date
    total_points: int
    published_at: datetime
    window_ends_at: datetime
    waiting_for_decision: bool  # an objection is open: it settles once an admin has decided
    lines: list[PublishedLineOut]


class PublicationOut(msgspec.Struct):
    community: str
    window_days: int | None
    how_to_object: str
    awards: list[PublishedOut]


class ObjectionIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason


class DecisionIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason


class ObjectionOut(msgspec.Struct):
    id: int
    award_id: int
    member_id: int
    member_name: str
    reason: str
    state: str
    created_at: datetime
    decided_by_member_id: int | None
    decided_by_name: str | None
    decided_at: datetime | None
    decision_reason: str | None
    award_state: str
    award_type_name: str
    award_reason: str
    award_points: int
    window_ends_at: datetime | None
    paid: list[str]


class MyObjectionOut(msgspec.Struct):
    reason: str
    state: str
    created_at: datetime
    decided_at: datetime | None
    decision_reason: str | None


class MyAwardOut(msgspec.Struct):
    award_id: int
    state: str  # published: pending, not spendable until it settles; voided: an objection was upheld
    type_name: str
    reason: str
    points: int
    minutes: int
    window_ends_at: datetime
    decision_reason: str | None
    objections: list[MyObjectionOut]


class MyPublicationOut(msgspec.Struct):
    pending_points: int
    awards: list[MyAwardOut]


HOW_TO_OBJECT = (
    "Any member of the community may object to an award once, with a reason, until its window ends: sign in and "
    "POST /api/v1/communities/{slug}/awards/{award_id}/objections, or use the form on /c/{slug}/gongshi. Members "
    "who opted out of the public leaderboard are listed too, masked: the programme requires every award to be "
    "published."
)


def objection_out(o: service.Objection) -> ObjectionOut:
    return ObjectionOut(
        o.id, o.award_id, o.member_id, o.member_name, o.reason, o.state, o.created_at, o.decided_by_member_id,
        o.decided_by_name, o.decided_at, o.decision_reason, o.award_state, o.award_type_name, o.award_reason,
        o.award_points, o.window_ends_at, list(o.paid),
    )  # fmt: skip


def published_out(p: service.Published) -> PublishedOut:
    return PublishedOut(
        p.award_id, p.kind, p.type_name, p.reason, p.award_on, p.total_points, p.published_at, p.window_ends_at,
        p.waiting_for_decision, [PublishedLineOut(x.masked_name, x.points, x.minutes) for x in p.lines],
    )  # fmt: skip


class PublicationController(Controller):
    path = "/api/v1/communities/{slug:str}"
    tags = ["publication"]  # noqa: RUF012

    @get("/publication-settings", operation_id="getPublicationSettings", responses=problems(400, 401, 403, 404))
    async def get_settings(self, conn: Conn, community: CurrentCommunity) -> PublicationSettingsOut:
        """The 公示 window: awards are published this many days before they count (null: they count at once)."""
        return PublicationSettingsOut(await service.window_days(conn, community.id))

    @put(
        "/publication-settings",
        operation_id="updatePublicationSettings",
        responses=problems(400, 401, 403, 404, 413, 415),
    )
    async def put_settings(self, here: Here, data: JSONBody[PublicationSettingsIn]) -> PublicationSettingsOut:
        """Switch the window on (1 to 14 days), change its length, or off (null). Awards already published keep
        the window they were published with."""
        return PublicationSettingsOut(await service.set_window_days(here.conn, here.community_id, data.window_days))

    @get("/publication", operation_id="listPublishedAwards", responses=problems(400, 401, 404), security=PUBLIC)
    async def public_list(self, conn: Conn, community: CurrentCommunity, slug: FromPath[str]) -> PublicationOut:
        """Public, no sign-in: the awards in their 公示 window, soonest to settle first, with masked names."""
        found = await service.published(conn, community.id)
        return PublicationOut(
            community.name,
            await service.window_days(conn, community.id),
            HOW_TO_OBJECT.replace("{slug}", slug),
            [published_out(p) for p in found],
        )

    @post(
        "/awards/{award_id:int}/objections",
        operation_id="objectToAward",
        status_code=HTTP_201_CREATED,
        responses=problems(400, 401, 403, 404, 409, 413, 415),
    )
    async def object_to(self, here: Here, award_id: PathId, data: JSONBody[ObjectionIn]) -> ObjectionOut:
        """Object to a published award, with a reason, while its window is open; once per member per award. The
        award then waits for an admin's decision before it settles."""
        return objection_out(await service.object_to(here.conn, here.access, award_id, data.reason))

    @get("/objections", operation_id="listObjections", responses=problems(400, 401, 403, 404))
    async def list_objections(
        self,
        conn: Conn,
        community: CurrentCommunity,
        in_state: ObjectionState = None,
        before: BeforeId = None,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    ) -> list[ObjectionOut]:
        """Newest first; `state=open`: the objections waiting for an admin."""
        found = await service.list_objections(conn, community.id, state=in_state, before_id=before, limit=limit)
        return [objection_out(o) for o in found]

    @post(
        "/objections/{objection_id:int}/uphold",
        operation_id="upholdObjection",
        status_code=200,
        responses=problems(400, 401, 403, 404, 409, 413, 415),
    )
    async def uphold(self, here: Here, objection_id: PathId, data: JSONBody[DecisionIn]) -> ObjectionOut:
        """Uphold it: the award is voided — its held points go back to the budget, nothing is posted, and the
        member sees the reason."""
        found = await service.decide(here.conn, here.access, objection_id, uphold=True, reason=data.reason)
        return objection_out(found)

    @post(
        "/objections/{objection_id:int}/dismiss",
        operation_id="dismissObjection",
        status_code=200,
        responses=problems(400, 401, 403, 404, 409, 413, 415),
    )
    async def dismiss(self, here: Here, objection_id: PathId, data: JSONBody[DecisionIn]) -> ObjectionOut:
        """Dismiss it: the award settles at the end of its window as usual (within a minute, if it has ended)."""
        found = await service.decide(here.conn, here.access, objection_id, uphold=False, reason=data.reason)
        return objection_out(found)

    @get("/me/publication", operation_id="getMyPublication", responses=problems(400, 401, 403, 404))
    async def mine(self, conn: Conn, access: CurrentAccess, slug: FromPath[str]) -> MyPublicationOut:
        """Your awards in their 公示 window (pending: not spendable until they settle) and your voided ones with
        the reason, each with the objections to it and their outcome."""
        found = await service.mine(conn, access)
        return MyPublicationOut(
            service.pending_points(found),
            [
                MyAwardOut(
                    a.award_id,
                    a.state,
                    a.type_name,
                    a.reason,
                    a.points,
                    a.minutes,
                    a.window_ends_at,
                    a.decision_reason,
                    [
                        MyObjectionOut(o.reason, o.state, o.created_at, o.decided_at, o.decision_reason)
                        for o in a.objections
                    ],
                )
                for a in found
            ],
        )
