"""The 公示 window's pages: the public page per community (no sign-in; the objection form for members), the admin's
objections with uphold / dismiss, and the admin's window setting. The member's pending points and voided awards
are on 我的积分 (points/pages/web.py).

Each write is one call to the service the API calls (points/publication/service.py), the form read first by the
API's own Struct (points/publication/web.py); a refusal renders the page again with what was typed and the problem
in the reader's words.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import QueryParameter
from litestar.response import Redirect, Template

from points.fields import PathId
from points.pages.organize import LABELS, Problems, Typed, read_form, refused
from points.pages.web import PAGE_EXCEPTION_HANDLERS, _, render
from points.publication import service
from points.publication.web import DecisionIn, ObjectionIn, PublicationSettingsIn
from points.wiring import Conn, CurrentAccess, CurrentCommunity

PUBLICATION_LABELS = {**LABELS, "window_days": _("Window (days)"), "reason": _("Reason")}
KIND_WORDS = {"activity": _("Activity"), "adhoc": _("Deed"), "report": _("Report (随手拍)")}
OBJECTION_STATE_WORDS = {
    "open": _("Waiting for the admin"),
    "upheld": _("Upheld: the award was voided"),
    "dismissed": _("Dismissed: the award stands"),
    "closed": _("Closed: the award was voided after another objection"),
}


class PublicationPages(Controller):
    path = "/"
    include_in_schema = False
    exception_handlers = PAGE_EXCEPTION_HANDLERS

    # ---- the public page -----------------------------------------------------------------------------------------

    async def _public(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        *,
        objected: int | None = None,
        typed: Typed | None = None,
        failed: dict[str, Any] | None = None,
        failed_award: int | None = None,
    ) -> Template:
        failed = failed or {}
        return render(
            request,
            "publication/public.html",
            status=failed.get("status", 200),
            community=community,
            awards=await service.published(conn, community.id),
            window_days=await service.window_days(conn, community.id),
            kind_words=KIND_WORDS,
            objected=objected,
            typed=typed or Typed(),
            failed=failed,
            failed_award=failed_award,
            labels=PUBLICATION_LABELS,
        )

    @get("/c/{slug:str}/gongshi", operation_id="pagePublication")
    async def public(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        objected: Annotated[int | None, QueryParameter(ge=1, le=2**63 - 1)] = None,
    ) -> Template:
        """公示: the awards in their window, masked names, when each window ends, and how to object. No sign-in."""
        return await self._public(request, conn, community, objected=objected)

    @post("/c/{slug:str}/gongshi/{award_id:int}/object", operation_id="pageObjectToAward")
    async def object_to(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        award_id: PathId,
    ) -> Response[Any]:
        """The API's objectToAward: once per member per award, with a reason."""
        typed = await read_form(request)
        try:
            data = msgspec.convert({"reason": typed["reason"]}, ObjectionIn, strict=True)
            await service.object_to(conn, access, award_id, data.reason)
        except Exception as exc:
            failed = refused(exc, "object")
            return await self._public(request, conn, community, typed=typed, failed=failed, failed_award=award_id)
        return Redirect(f"/c/{community.slug}/gongshi?objected={award_id}#a{award_id}", status_code=303)

    # ---- the admin's objections ----------------------------------------------------------------------------------

    async def _objections(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        *,
        typed: Typed | None = None,
        failed: dict[str, Any] | None = None,
        failed_objection: int | None = None,
    ) -> Template:
        failed = failed or {}
        return render(
            request,
            "publication/objections.html",
            status=failed.get("status", 200),
            community=community,
            waiting=list(reversed(await service.list_objections(conn, community.id, state="open", limit=200))),
            decided=[o for o in await service.list_objections(conn, community.id, limit=30) if o.state != "open"],
            me=access.member_id,
            state_words=OBJECTION_STATE_WORDS,
            typed=typed or Typed(),
            failed=failed,
            failed_objection=failed_objection,
            labels=PUBLICATION_LABELS,
        )

    @get("/c/{slug:str}/objections", operation_id="pageObjections")
    async def objections(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess
    ) -> Template:
        """Objections waiting for the admin, oldest first, each with the award it is about; the latest decided."""
        return await self._objections(request, conn, community, access)

    async def _decide(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        objection_id: int,
        *,
        uphold: bool,
    ) -> Response[Any]:
        typed = await read_form(request)
        try:
            data = msgspec.convert({"reason": typed["reason"]}, DecisionIn, strict=True)
            await service.decide(conn, access, objection_id, uphold=uphold, reason=data.reason)
        except Exception as exc:
            failed = refused(exc, "decide")
            return await self._objections(
                request, conn, community, access, typed=typed, failed=failed, failed_objection=objection_id
            )
        return Redirect(f"/c/{community.slug}/objections", status_code=303)

    @post("/c/{slug:str}/objections/{objection_id:int}/uphold", operation_id="pageUpholdObjection")
    async def uphold(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        objection_id: PathId,
    ) -> Response[Any]:
        """The API's upholdObjection: the award is voided, with this reason for its member."""
        return await self._decide(request, conn, community, access, objection_id, uphold=True)

    @post("/c/{slug:str}/objections/{objection_id:int}/dismiss", operation_id="pageDismissObjection")
    async def dismiss(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        objection_id: PathId,
    ) -> Response[Any]:
        """The API's dismissObjection: the award settles at the end of its window."""
        return await self._decide(request, conn, community, access, objection_id, uphold=False)

    # ---- the admin's setting -------------------------------------------------------------------------------------

    async def _settings(
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
            "publication/settings.html",
            status=failed.get("status", 200),
            community=community,
            window_days=await service.window_days(conn, community.id),
            published=len(await service.published(conn, community.id)),
            typed=typed or Typed(),
            failed=failed,
            labels=PUBLICATION_LABELS,
            min_days=service.MIN_DAYS,
            max_days=service.MAX_DAYS,
        )

    @get("/c/{slug:str}/settings/publication", operation_id="pagePublicationSettings")
    async def settings(self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity) -> Template:
        return await self._settings(request, conn, community)

    @post("/c/{slug:str}/settings/publication", operation_id="pagePublicationSettingsSave")
    async def save(self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity) -> Response[Any]:
        """The API's updatePublicationSettings: on with a length in days, or off."""
        typed = await read_form(request)
        typed["form"] = "publication"
        try:
            problems = Problems()
            on = typed["on"] == "on"
            days = problems.number(typed, "window_days", required=True) if on else None
            problems.check()
            data = msgspec.convert({"window_days": days}, PublicationSettingsIn, strict=True)
            await service.set_window_days(conn, community.id, data.window_days)
        except Exception as exc:
            return await self._settings(request, conn, community, typed=typed, failed=refused(exc, "publication"))
        return Redirect(f"/c/{community.slug}/settings/publication", status_code=303)
