"""The admin's earning settings page, /c/{slug}/settings/earning: activity types with their points and caps (edit,
add), budgets per period (allot; allotted, spent and left), the approval threshold.

Each write is one call to the service the API calls (points/earning/types.py, budgets.py, awards.py), the form read
first by the API's own Struct (points/earning/web.py); a refused write renders the page again with what was typed
and the API's problem code in words, next to the form it came from.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from points.auth.errors import InvalidRequest
from points.earning import awards, budgets, types
from points.earning.periods import community_day
from points.earning.web import ActivityTypeIn, ActivityTypeUpdate, BudgetIn, SettingsIn
from points.fields import PathId
from points.pages.organize import LABELS, Problems, Typed, new_key, read_form, refused
from points.pages.web import PAGE_EXCEPTION_HANDLERS, render
from points.wiring import Conn, CurrentAccess, CurrentCommunity


def _settings_url(slug: str, anchor: str = "") -> str:
    return f"/c/{slug}/settings/earning{anchor}"


class EarningSettingsPages(Controller):
    path = "/"
    include_in_schema = False
    exception_handlers = PAGE_EXCEPTION_HANDLERS

    async def _page(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        *,
        typed: Typed | None = None,
        failed: dict[str, Any] | None = None,
    ) -> Template:
        failed = failed or {}
        return render(
            request,
            "organize/settings.html",
            status=failed.get("status", 200),
            community=community,
            kinds=await types.list_types(conn, community.id),
            budgets=await budgets.list_budgets(conn, community.id),
            threshold=await awards.approval_threshold(conn, community.id),
            this_month=community_day(datetime.now(UTC)).isoformat()[:7],
            key=new_key(),
            typed=typed or Typed(),
            failed=failed,
            labels=LABELS,
        )

    @get("/c/{slug:str}/settings/earning", operation_id="pageEarningSettings")
    async def settings(self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity) -> Template:
        return await self._page(request, conn, community)

    @post("/c/{slug:str}/settings/earning/types/{type_id:int}", operation_id="pageActivityTypeUpdate")
    async def update_type(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, type_id: PathId
    ) -> Response[Any]:
        """The API's updateActivityType: points, per hour and caps (new caps count from now on)."""
        typed = await read_form(request)
        typed["form"] = f"type-{type_id}"
        try:
            problems = Problems()
            numbers = {k: problems.number(typed, k, required=k == "default_points")
                       for k in ("default_points", "points_per_hour", "cap_per_day", "cap_per_month")}  # fmt: skip
            problems.check()
            data = msgspec.convert(
                {"name": typed["name"], "active": typed["active"] == "on", **numbers}, ActivityTypeUpdate, strict=True
            )
            await types.update_type(
                conn,
                community.id,
                type_id,
                name=data.name,
                default_points=data.default_points,
                points_per_hour=data.points_per_hour,
                cap_per_day=data.cap_per_day,
                cap_per_month=data.cap_per_month,
                active=data.active,
            )
        except Exception as exc:
            return await self._page(request, conn, community, typed=typed, failed=refused(exc, typed["form"]))
        return Redirect(_settings_url(community.slug, f"#type-{type_id}"), status_code=303)

    @post("/c/{slug:str}/settings/earning/types", operation_id="pageActivityTypeCreate")
    async def create_type(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity
    ) -> Response[Any]:
        """The API's createActivityType."""
        typed = await read_form(request)
        typed["form"] = "type-new"
        try:
            problems = Problems()
            numbers = {k: problems.number(typed, k, required=k == "default_points")
                       for k in ("default_points", "points_per_hour", "cap_per_day", "cap_per_month")}  # fmt: skip
            problems.check()
            data = msgspec.convert(
                {"code": str(typed["code"]).strip(), "name": typed["name"], **numbers}, ActivityTypeIn, strict=True
            )
            created = await types.create_type(
                conn,
                community.id,
                code=data.code,
                name=data.name,
                default_points=data.default_points,
                points_per_hour=data.points_per_hour,
                cap_per_day=data.cap_per_day,
                cap_per_month=data.cap_per_month,
            )
        except Exception as exc:
            return await self._page(request, conn, community, typed=typed, failed=refused(exc, "type-new"))
        return Redirect(_settings_url(community.slug, f"#type-{created.id}"), status_code=303)

    @post("/c/{slug:str}/settings/earning/budgets", operation_id="pageBudgetAllot")
    async def allot(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess
    ) -> Response[Any]:
        """The API's allotBudget, with the form's idempotency key: sent twice, it adds once."""
        typed = await read_form(request)
        typed["form"] = "budget"
        try:
            problems = Problems()
            points = problems.number(typed, "points", required=True)
            problems.check()
            key = str(typed["key"])
            if not key.startswith("page:") or len(key) > 64:
                raise InvalidRequest("the form has lost its key: open it again")
            data = msgspec.convert({"period": str(typed["period"]).strip(), "points": points}, BudgetIn, strict=True)
            await budgets.allot(conn, community.id, data.period, data.points, idempotency_key=key, actor=access.actor)
        except Exception as exc:
            return await self._page(request, conn, community, typed=typed, failed=refused(exc, "budget"))
        return Redirect(_settings_url(community.slug, "#budgets"), status_code=303)

    @post("/c/{slug:str}/settings/earning/threshold", operation_id="pageApprovalThreshold")
    async def threshold(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity
    ) -> Response[Any]:
        """The API's updateEarningSettings: empty means no approvals."""
        typed = await read_form(request)
        typed["form"] = "threshold"
        try:
            problems = Problems()
            value = problems.number(typed, "approval_threshold")
            problems.check()
            data = msgspec.convert({"approval_threshold": value}, SettingsIn, strict=True)
            await awards.set_approval_threshold(conn, community.id, data.approval_threshold)
        except Exception as exc:
            return await self._page(request, conn, community, typed=typed, failed=refused(exc, "threshold"))
        return Redirect(_settings_url(community.slug, "#threshold"), status_code=303)
