"""The public 晒单 page (no sign-in): what the API's listShownServiceOrders answers, as a page for a phone or a
notice board. Read only; its words are in its template (points/pages/templates/orders/), so the catalogues find
them. The resident's, the dispatcher's and the unit's pages are still to come (docs/ORDERS.md)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from points.orders import service
from points.pages.web import PAGE_EXCEPTION_HANDLERS, render
from points.wiring import Conn, CurrentCommunity


class OrderPages(Controller):
    path = "/"
    include_in_schema = False
    exception_handlers = PAGE_EXCEPTION_HANDLERS

    @get("/c/{slug:str}/shaidan", operation_id="pageShaidan")
    async def shaidan(self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity) -> Template:
        """晒单: the community's completed service orders, names masked, and the months' counts."""
        units, types = await service.monthly_counts(conn, community.id)
        return render(
            request,
            "orders/shaidan.html",
            community=community,
            orders=await service.shown(conn, community.id),
            per_unit=units,
            per_category=types,
        )
