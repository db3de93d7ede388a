"""The co-building units' pages (共建单位) and the orders' timeouts: organizers and admins read each unit's record
(taken, completed, on time); admins add a unit (its name, kind, contact, the categories it offers, the members who
act for it, found by name or phone) and change one, and set the accept and auto-confirm timeouts. Each form calls
the service function the API's operation calls (points/orders/service.py); a refusal shows the form again with what
was typed."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import QueryParameter
from litestar.response import Redirect, Template

from points.auth.access import Access
from points.auth.policy import ADMIN
from points.earning import types
from points.fields import PathId
from points.orders import service
from points.orders.page_words import DONE_WORDS, KIND_WORDS, LABELS
from points.orders.pages import Search, _ids, _matches, _worded, services_url
from points.pages.organize import Problems, Typed, read_form
from points.pages.web import PAGE_EXCEPTION_HANDLERS, render
from points.wiring import Conn, CurrentAccess, CurrentCommunity

Done = Annotated[str, QueryParameter(max_length=20)]
UNIT_LISTS = ("type_ids", "member_ids")


def _unit_typed(u: service.Unit) -> Typed:
    return Typed(
        name=u.name, kind=u.kind, contact=u.contact, active="on" if u.active else "",
        type_ids=[str(t) for t in u.type_ids], member_ids=[str(m.member_id) for m in u.members],
    )  # fmt: skip


class UnitPages(Controller):
    path = "/"
    include_in_schema = False
    exception_handlers = PAGE_EXCEPTION_HANDLERS

    async def _units_page(
        self, request: Request[Any, Any, Any], conn: Conn, community: Any, access: Access, *, q: str = "",
        done: str = "", typed: Typed | None = None, hours: Typed | None = None, failed: dict[str, Any] | None = None,
    ) -> Template:  # fmt: skip
        found = await service.get_settings(conn, community.id)
        admin = ADMIN in access.roles
        return render(
            request,
            "orders/units.html",
            status=(failed or {}).get("status", 200),
            community=community,
            units=await service.list_units(conn, community.id),
            kinds=KIND_WORDS,
            categories=await types.list_types(conn, community.id, active_only=True),
            admin=admin,
            q=q,
            found=await _matches(conn, community.id, q) if admin else [],
            typed=typed or Typed({"kind": "property", "type_ids": [], "member_ids": []}),
            hours=hours or Typed({"accept_hours": str(found.accept_hours), "confirm_hours": str(found.confirm_hours)}),
            failed=failed,
            done=DONE_WORDS.get(done),
            labels=LABELS,
        )

    @get("/c/{slug:str}/services/units", operation_id="pageServiceUnits")
    async def units(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess,
        q: Search = "", done: Done = "",
    ) -> Template:  # fmt: skip
        """共建单位: each unit with who acts for it and its record; for admins, a new unit's form and the timeouts."""
        return await self._units_page(request, conn, community, access, q=q, done=done)

    @post("/c/{slug:str}/services/units", operation_id="pageServiceUnitCreate")
    async def create(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess
    ) -> Response[Any]:
        """The API's createServiceUnit from the form."""
        typed = await read_form(request, *UNIT_LISTS)
        try:
            await service.create_unit(
                conn, access, name=str(typed["name"]), kind=str(typed["kind"]), contact=str(typed["contact"]),
                type_ids=_ids(typed["type_ids"], "type_ids"), member_ids=_ids(typed["member_ids"], "member_ids"),
            )  # fmt: skip
        except Exception as exc:
            return await self._units_page(request, conn, community, access, q=str(typed["q"]), typed=typed,
                                          failed=_worded(exc, "unit"))  # fmt: skip
        return Redirect(services_url(community.slug, "/units?done=saved"), status_code=303)

    @post("/c/{slug:str}/services/settings", operation_id="pageServiceSettingsSave")
    async def save_settings(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess
    ) -> Response[Any]:
        """The API's updateOrderSettings: the accept timeout and the auto-confirm time, in hours."""
        hours = await read_form(request)
        try:
            problems = Problems()
            accept = problems.number(hours, "accept_hours", required=True)
            confirm = problems.number(hours, "confirm_hours", required=True)
            problems.check()
            await service.set_settings(conn, community.id, accept or 0, confirm or 0)
        except Exception as exc:
            return await self._units_page(request, conn, community, access, hours=hours,
                                          failed=_worded(exc, "hours"))  # fmt: skip
        return Redirect(services_url(community.slug, "/units?done=saved#hours"), status_code=303)

    async def _unit_page(
        self, request: Request[Any, Any, Any], conn: Conn, community: Any, access: Access, unit_id: int, *,
        q: str = "", typed: Typed | None = None, failed: dict[str, Any] | None = None,
    ) -> Template:  # fmt: skip
        unit = await service.get_unit(conn, community.id, unit_id)
        admin = ADMIN in access.roles
        return render(
            request,
            "orders/unit.html",
            status=(failed or {}).get("status", 200),
            community=community,
            u=unit,
            kinds=KIND_WORDS,
            categories=await types.list_types(conn, community.id, active_only=True),
            admin=admin,
            q=q,
            found=await _matches(conn, community.id, q) if admin else [],
            typed=typed or _unit_typed(unit),
            failed=failed,
            labels=LABELS,
        )

    @get("/c/{slug:str}/services/units/{unit_id:int}", operation_id="pageServiceUnit")
    async def unit(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess,
        unit_id: PathId, q: Search = "",
    ) -> Template:  # fmt: skip
        """One unit: its record and who acts for it; for admins, the form that changes it (or stops its orders)."""
        return await self._unit_page(request, conn, community, access, unit_id, q=q)

    @post("/c/{slug:str}/services/units/{unit_id:int}", operation_id="pageServiceUnitUpdate")
    async def update(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess,
        unit_id: PathId,
    ) -> Response[Any]:  # fmt: skip
        """The API's updateServiceUnit: the whole unit from the form (its members as ticked)."""
        typed = await read_form(request, *UNIT_LISTS)
        try:
            await service.update_unit(
                conn, access, unit_id, name=str(typed["name"]), kind=str(typed["kind"]),
                contact=str(typed["contact"]), type_ids=_ids(typed["type_ids"], "type_ids"),
                member_ids=_ids(typed["member_ids"], "member_ids"), active=typed["active"] == "on",
            )  # fmt: skip
        except Exception as exc:
            return await self._unit_page(request, conn, community, access, unit_id, q=str(typed["q"]), typed=typed,
                                         failed=_worded(exc, "unit"))  # fmt: skip
        return Redirect(services_url(community.slug, "/units?done=saved"), status_code=303)
