"""HTTP handlers of reports (随手拍) and their photos: a member uploads a photo and reports a hazard, an organizer
verifies (and awards) or rejects it, the reporter follows the outcome. The rules are in points/earning/reports.py
and points/photos.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, Operation, RequestBody, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import JSONBody, Parameter, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from points import photos
from points.earning import reports
from points.earning.web import AwardOut, AwardPoints, award_out, from_domain
from points.fields import BeforeId, Id, PathId
from points.ledger_web import IdempotencyKey
from points.openapi import problems, replayed
from points.wiring import Conn, CurrentAccess, CurrentCommunity, Here

ReportText = Annotated[str, msgspec.Meta(min_length=1, max_length=reports.MAX_TEXT_CHARS, pattern=r"^[^\x00]*$")]
DecisionReason = Annotated[str, msgspec.Meta(min_length=1, max_length=reports.MAX_REASON_CHARS, pattern=r"^[^\x00]*$")]
ReportState = Annotated[str | None, QueryParameter(name="state", pattern=r"^(submitted|verified|rejected)$")]
Limit = Annotated[int, Parameter(ge=1, le=200)]
PHOTO_CACHE = "private, max-age=86400"  # a stored photo never changes; only the member's own browser keeps it


class ReportIn(msgspec.Struct, forbid_unknown_fields=True):
    type_id: Id  # the category: an activity type such as report (随手拍) or patrol
    text: ReportText
    place_id: Id | None = None
    photo_id: Id | None = None  # from POST /photos, uploaded by the reporter


class VerifyIn(msgspec.Struct, forbid_unknown_fields=True):
    points: AwardPoints | None = None  # the category's default points when absent


class RejectIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: DecisionReason


class PhotoOut(msgspec.Struct):
    id: int
    media_type: str
    width: int
    height: int
    bytes: int
    created_at: datetime


class ReportOut(msgspec.Struct):
    id: int
    reporter_member_id: int
    reporter_name: str
    type_id: int
    type_name: str
    text: str
    place_id: int | None
    photo_id: int | None
    state: str  # submitted, verified, rejected
    decided_by_member_id: int | None
    decided_at: datetime | None
    decision_reason: str | None
    created_at: datetime
    award_id: int | None
    award_state: str | None  # pending_approval or posted
    award_points: int | None


def report_out(r: reports.Report) -> ReportOut:
    return from_domain(ReportOut, r)


@dataclass
class PhotoBodyOperation(Operation):
    """The upload reads its body itself (raw image bytes), which Litestar cannot describe."""

    def __post_init__(self) -> None:
        binary = Schema(type=OpenAPIType.STRING, format="binary")  # type: ignore[arg-type]
        self.request_body = RequestBody(
            content={media: OpenAPIMediaType(schema=binary) for media in photos.MEDIA_TYPES},
            description=f"A JPEG, PNG or WebP image of at most {photos.MAX_UPLOAD_BYTES} bytes.",
            required=True,
        )


@dataclass
class PhotoOperation(Operation):
    """A photo is served as what it is stored as (JPEG, PNG or WebP); Litestar documents one media type per
    handler, so the 200 names the three."""

    def __post_init__(self) -> None:
        binary = Schema(type=OpenAPIType.STRING, format="binary")  # type: ignore[arg-type]
        ok = (self.responses or {}).get("200")
        if isinstance(ok, OpenAPIResponse):
            ok.content = {media: OpenAPIMediaType(schema=binary) for media in photos.MEDIA_TYPES}


class ReportsController(Controller):
    path = "/api/v1/communities/{slug:str}"
    tags = ["earning"]  # noqa: RUF012

    @post(
        "/photos",
        operation_id="uploadPhoto",
        status_code=HTTP_201_CREATED,
        responses=problems(400, 401, 403, 404, 413, 415),
        operation_class=PhotoBodyOperation,
        request_max_body_size=photos.MAX_STORED_BYTES,
        opt={"body_media_types": photos.MEDIA_TYPES},
    )
    async def upload_photo(self, request: Request[Any, Any, Any], here: Here) -> PhotoOut:
        """Upload a photo for a report: the image's bytes as the body, Content-Type image/jpeg, image/png or
        image/webp. Only a real JPEG, PNG or WebP is taken; it is turned upright, downsized to 2048 pixels on its
        long side and re-encoded without any metadata (no EXIF, no GPS position)."""
        stored = await reports.upload_photo(here.conn, here.access, await request.body())
        return PhotoOut(stored.id, stored.media_type, stored.width, stored.height, len(stored.data), stored.created_at)

    @get(
        "/photos/{photo_id:int}",
        operation_id="getPhoto",
        media_type="image/jpeg",
        operation_class=PhotoOperation,
        responses=problems(400, 401, 403, 404),
    )
    async def get_photo(self, conn: Conn, community: CurrentCommunity, photo_id: PathId) -> Response[bytes]:
        """The photo's bytes (JPEG, PNG or WebP, as Content-Type says), for the community's members only."""
        found = await photos.get_photo(conn, community.id, photo_id)
        return Response(
            found.data,
            media_type=found.media_type,
            headers={"Cache-Control": PHOTO_CACHE, "X-Content-Type-Options": "nosniff"},
        )

    @post(
        "/reports",
        operation_id="submitReport",
        status_code=HTTP_201_CREATED,
        responses=problems(400, 401, 403, 404, 413, 415),
    )
    async def submit(self, here: Here, data: JSONBody[ReportIn]) -> ReportOut:
        """Report a hazard (a blocked fire exit, a broken lamp): a category (type_id), a text, optionally a place
        and a photo uploaded by the reporter. An organizer verifies and awards it, or rejects it with a reason."""
        created = await reports.submit_report(
            here.conn, here.access, type_id=data.type_id, text=data.text, place_id=data.place_id, photo_id=data.photo_id
        )
        return report_out(created)

    @get("/reports", operation_id="listReports", responses=problems(400, 401, 403, 404))
    async def list_reports(
        self,
        conn: Conn,
        community: CurrentCommunity,
        in_state: ReportState = None,
        before: BeforeId = None,
        limit: Limit = 50,
    ) -> list[ReportOut]:
        """Newest first (``state=submitted``: the reports waiting to be verified)."""
        found = await reports.list_reports(conn, community.id, state=in_state, before_id=before, limit=limit)
        return [report_out(r) for r in found]

    @get("/me/reports", operation_id="listMyReports", responses=problems(400, 401, 403, 404))
    async def mine(
        self, conn: Conn, community: CurrentCommunity, access: CurrentAccess, before: BeforeId = None, limit: Limit = 50
    ) -> list[ReportOut]:
        """The caller's reports, newest first, with the outcome: verified (and the award's state and points) or
        rejected (with the reason)."""
        return [report_out(r) for r in await reports.my_reports(conn, access, before_id=before, limit=limit)]

    @post(
        "/reports/{report_id:int}/verify",
        operation_id="verifyReport",
        status_code=HTTP_201_CREATED,
        responses=problems(400, 401, 403, 404, 409, 413, 415, 422) | replayed(AwardOut),
    )
    async def verify(
        self, here: Here, report_id: PathId, data: JSONBody[VerifyIn], idempotency_key: IdempotencyKey
    ) -> Response[AwardOut]:
        """Verify a submitted report and award its reporter from today's budget (the category's points unless
        ``points`` says otherwise; caps and the approval threshold apply). Nobody verifies their own report (403).
        A retry answers the same award (200, ``replayed``) and posts nothing again."""
        award = await reports.verify_report(
            here.conn, here.access, report_id, points=data.points, idempotency_key=idempotency_key
        )
        return Response(award_out(award), status_code=HTTP_200_OK if award.replayed else HTTP_201_CREATED)

    @post(
        "/reports/{report_id:int}/reject",
        operation_id="rejectReport",
        status_code=HTTP_200_OK,
        responses=problems(400, 401, 403, 404, 409, 413, 415),
    )
    async def reject(self, here: Here, report_id: PathId, data: JSONBody[RejectIn]) -> ReportOut:
        """Reject a submitted report with a reason the reporter sees; nothing is paid."""
        return report_out(await reports.reject_report(here.conn, here.access, report_id, data.reason))
