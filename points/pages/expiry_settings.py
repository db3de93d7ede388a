"""The admin's points-expiry page, /c/{slug}/settings/expiry: off, N months after earning, or a yearly reset day.

The write is one call to the service the API calls (points/expiry/service.py), the form read first by the API's own
Struct (points/expiry/web.py); a refused write renders the page again with what was typed and the problem in words.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from points.expiry import service
from points.expiry.web import ExpirySettingsIn
from points.pages.organize import LABELS, Problems, Typed, read_form, refused
from points.pages.web import PAGE_EXCEPTION_HANDLERS, _, render
from points.wiring import Conn, CurrentCommunity

# The form's fields by name, for a refusal's list of field problems.
EXPIRY_LABELS = {**LABELS, "mode": _("Expiry"), "months": _("Months (1 to 120)"), "reset_on": _("Reset day")}


class ExpirySettingsPages(Controller):
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
            "organize/expiry_settings.html",
            status=failed.get("status", 200),
            community=community,
            setting=await service.get_settings(conn, community.id),
            typed=typed or Typed(),
            failed=failed,
            labels=EXPIRY_LABELS,
        )

    @get("/c/{slug:str}/settings/expiry", operation_id="pageExpirySettings")
    async def settings(self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity) -> Template:
        return await self._page(request, conn, community)

    @post("/c/{slug:str}/settings/expiry", operation_id="pageExpirySettingsSave")
    async def save(self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity) -> Response[Any]:
        """The API's updateExpirySettings: the months only for mode months, the day only for a yearly reset."""
        typed = await read_form(request)
        typed["form"] = "expiry"
        try:
            mode = str(typed["mode"]).strip()
            problems = Problems()
            months = problems.number(typed, "months", required=mode == "months") if mode == "months" else None
            problems.check()
            reset_on = str(typed["reset_on"]).strip() or None if mode == "yearly" else None
            body: dict[str, Any] = {"mode": mode, "months": months, "reset_on": reset_on}
            data = msgspec.convert(body, ExpirySettingsIn, strict=True)
            await service.set_settings(conn, community.id, data.mode, data.months, data.reset_on)
        except Exception as exc:
            return await self._page(request, conn, community, typed=typed, failed=refused(exc, "expiry"))
        return Redirect(f"/c/{community.slug}/settings/expiry", status_code=303)
