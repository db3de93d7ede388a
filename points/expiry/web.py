"""HTTP handlers of points expiry: the admin's setting, and what a member has expiring and has had expire."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, get, put
from litestar.params import FromPath, JSONBody, Parameter

from points import wallet
from points.auth.errors import NotFound
from points.expiry import service
from points.expiry.model import MAX_MONTHS
from points.openapi import problems
from points.wiring import Conn, CurrentAccess, CurrentCommunity, Here

Mode = Annotated[str, msgspec.Meta(pattern=r"^(off|months|yearly)$", description="off, months or yearly")]
Months = Annotated[int, msgspec.Meta(ge=1, le=MAX_MONTHS, description="points expire this many months after earned")]
ResetOn = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$",
        description="MM-DD, community time (Asia/Shanghai): points earned up to this day expire at its end; "
        "a day every year has (not 02-29)",
    ),
]


class ExpirySettingsIn(msgspec.Struct, forbid_unknown_fields=True):
    mode: Mode
    months: Months | None = None
    reset_on: ResetOn | None = None


class ExpirySettingsOut(msgspec.Struct):
    mode: str
    months: int | None
    reset_on: str | None
    since: datetime | None  # earnings before this count as earned then (null while off and never switched on)


class UpcomingOut(msgspec.Struct):
    points: int
    expires_at: datetime


class MonthOut(msgspec.Struct):
    month: str
    points: int


class MyExpiriesOut(msgspec.Struct):
    setting: ExpirySettingsOut
    weeks: int
    upcoming: list[UpcomingOut]
    expired_by_month: list[MonthOut]


def settings_out(s: service.Settings) -> ExpirySettingsOut:
    return ExpirySettingsOut(s.mode, s.months, s.reset_on, s.since)


class ExpiryController(Controller):
    path = "/api/v1/communities/{slug:str}"
    tags = ["expiry"]  # noqa: RUF012

    @get("/expiry-settings", operation_id="getExpirySettings", responses=problems(400, 401, 403, 404))
    async def get_settings(self, conn: Conn, community: CurrentCommunity) -> ExpirySettingsOut:
        """Whether and when this community's points expire."""
        return settings_out(await service.get_settings(conn, community.id))

    @put("/expiry-settings", operation_id="updateExpirySettings", responses=problems(400, 401, 403, 404, 413, 415))
    async def put_settings(self, here: Here, data: JSONBody[ExpirySettingsIn]) -> ExpirySettingsOut:
        """mode off: nothing expires. months: an award's points expire `months` after they were earned. yearly:
        points earned up to `reset_on` (MM-DD) expire at the end of that day. First in, first out; spent and held
        points never expire. Switching expiry on counts earlier earnings as earned now."""
        found = await service.set_settings(here.conn, here.community_id, data.mode, data.months, data.reset_on)
        return settings_out(found)

    @get("/me/expiries", operation_id="getMyExpiries", responses=problems(400, 401, 403, 404))
    async def mine(
        self,
        conn: Conn,
        access: CurrentAccess,
        slug: FromPath[str],
        weeks: Annotated[int, Parameter(ge=1, le=service.MAX_WEEKS)] = service.UPCOMING_WEEKS,
    ) -> MyExpiriesOut:
        """Your points that expire within `weeks` (amount and time, soonest first: at most what is then available
        expires), and your statement's line: points expired per month, newest first."""
        wallet_id = wallet.own_wallet_id(access)
        if access.member_id is None:  # a wallet is a membership's: never reached
            raise NotFound("you have no membership in this community")
        setting = await service.get_settings(conn, access.community_id)
        coming = await service.upcoming(conn, access.community_id, wallet_id, weeks=weeks)
        months = await service.expired_by_month(conn, access.community_id, access.member_id)
        return MyExpiriesOut(
            settings_out(setting),
            weeks,
            [UpcomingOut(u.points, u.expires_at) for u in coming],
            [MonthOut(m.month, m.points) for m in months],
        )
