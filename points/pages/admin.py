"""Pages for community admins (the member register and its CSV import) and the change-password page.

Thin like the rest of points/pages/: each write is one call to the service the API calls
(points/members/service.py, points/members/importer.py, points/auth/identity.py), which opens its own transaction;
a failed write renders the form again with what was typed and the API's problem code in words.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import QueryParameter
from litestar.response import Redirect, Template

from points.auth import identity
from points.auth.errors import InvalidRequest
from points.auth.identity import Principal
from points.auth.policy import COMMUNITY_ROLES
from points.auth.sessions import SESSION_COOKIE
from points.errors import coded_problem, field_problems_of
from points.fields import PathId
from points.members import importer, service
from points.members.web import MemberIn, _out
from points.pages.web import PAGE_EXCEPTION_HANDLERS, _, describe, render
from points.strict_input import msgspec_problem
from points.wiring import Conn, CurrentAccess, CurrentCommunity

MEMBERS_PAGE = 50
MAX_QUERY_CHARS = 100

ROLE_WORDS = {"volunteer": _("Volunteer"), "organizer": _("Organizer"), "clerk": _("Clerk"), "admin": _("Admin")}
STATUS_WORDS = {"active": _("Active"), "suspended": _("Suspended"), "left": _("Left")}
# Which field of the add-member form a problem code is about, and what to say: the API's title is general
# ("Already taken"); the form knows which of its fields could be taken.
ADD_FIELD_WORDS = {"conflict": ("phone", _("This phone number is already a member of this community."))}
PASSWORD_FIELD_WORDS = {
    "login_failed": ("current_password", _("The current password is wrong.")),
    "invalid_request": ("new_password", _("Choose another new password.")),
}


def _person(request: Request[Any, Any, Any]) -> int:
    principal: Principal = request.user
    return principal.person_id


async def _form(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The posted form as a plain dict (the CSRF middleware has read it already; Litestar keeps it)."""
    form = await request.form()
    return {"_roles": form.getall("roles") if "roles" in form else [], **dict(form.items())}


def _text(form: dict[str, Any], name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def _members_url(slug: str, q: str = "", anchor: str = "") -> str:
    query = f"?{urlencode({'q': q})}" if q else ""
    return f"/c/{slug}/members{query}{anchor}"


def _error(exc: Exception, field_words: dict[str, tuple[str, str]] | None = None) -> dict[str, Any]:
    """The words of a failed write: the API's title (translated on the page), the field it names and, for a
    request the service found invalid, its field problems as the API codes them (worded on the page in the
    reader's language by points/pages/field_words.py; the service's English sentence only when it has none)."""
    if isinstance(exc, msgspec.ValidationError):  # the form, decoded by the API's own Struct
        fields = [coded_problem(msgspec_problem(exc))]
        return {"status": 400, "error": describe(InvalidRequest(""))[2], "code": "invalid_request", "fields": fields,
                "field": fields[0]["key"], "words": None, "detail": None}  # fmt: skip
    status, code, title = describe(exc)
    field, words = (field_words or {}).get(code, (None, None))
    fields = field_problems_of(exc)
    if fields and field is None:
        field = fields[0]["key"]
    detail = str(exc) if code == "invalid_request" and not fields else None
    return {"status": status, "error": title, "code": code, "field": field, "words": words, "detail": detail,
            "fields": fields}  # fmt: skip


class AdminPages(Controller):
    path = "/"
    include_in_schema = False
    exception_handlers = PAGE_EXCEPTION_HANDLERS

    async def _members_page(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        *,
        q: str = "",
        after: int = 0,
        status: int = 200,
        typed: dict[str, Any] | None = None,
        failed: dict[str, Any] | None = None,
        failed_member: int | None = None,
    ) -> Template:
        found = await service.list_members(conn, community.id, after_id=after, limit=MEMBERS_PAGE + 1, search=q)
        shown = found[:MEMBERS_PAGE]
        labels = await service.household_labels(conn, community.id, [m.household_id for m in shown if m.household_id])
        members = [{"out": _out(m, access), "household": labels.get(m.household_id or 0, "")} for m in shown]
        more = None
        if len(found) > MEMBERS_PAGE:
            more = f"/c/{community.slug}/members?{urlencode({'q': q, 'after': shown[-1].id})}"
        failed = failed or {}
        return render(
            request,
            "members.html",
            status=failed.get("status", status),
            community=community,
            members=members,
            q=q,
            more=more,
            later_page=after > 0,
            role_words=ROLE_WORDS,
            status_words=STATUS_WORDS,
            roles=COMMUNITY_ROLES,
            typed=typed or {"roles": ["volunteer"]},
            failed=failed if failed_member is None else {},
            row_failed=failed if failed_member is not None else {},
            failed_member=failed_member,
        )

    @get("/c/{slug:str}/members", operation_id="pageMembers")
    async def members(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        q: Annotated[str, QueryParameter(max_length=MAX_QUERY_CHARS)] = "",
        after: Annotated[int, QueryParameter(ge=0)] = 0,
    ) -> Template:
        """The member register: search by name or phone (full or masked), add, change status and roles."""
        return await self._members_page(request, conn, community, access, q=q, after=after)

    @post("/c/{slug:str}/members", operation_id="pageMemberAdd")
    async def add_member(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess
    ) -> Response[Any]:
        """The API's createMember from a form."""
        form = await _form(request)
        name, phone, household = (_text(form, n) for n in ("display_name", "phone", "household"))
        roles = [r for r in form["_roles"] if isinstance(r, str)]
        typed = {"display_name": name, "phone": phone, "household": household, "roles": roles}
        try:
            # The API's own Struct reads the form first: the same limits, refused with the same field problems.
            msgspec.convert(
                {"display_name": name, "phone": phone.strip() or None, "household": household.strip() or None,
                 "password": _text(form, "password") or None, "roles": roles or ["volunteer"]},
                MemberIn,
                strict=True,
            )  # fmt: skip
            member = await service.create_member(
                conn,
                community.id,
                actor_person_id=_person(request),
                display_name=name,
                phone=phone.strip() or None,
                password=_text(form, "password") or None,
                household=household.strip() or None,
                roles=tuple(roles) or ("volunteer",),
            )
        except Exception as exc:  # worded as the API words it; a 500 goes on to the error page
            failed = _error(exc, ADD_FIELD_WORDS)
            if failed["status"] >= 500:
                raise
            return await self._members_page(request, conn, community, access, typed=typed, failed=failed)
        return Redirect(_members_url(community.slug, member.display_name, f"#m{member.id}"), status_code=303)

    async def _member_write(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        member_id: PathId,
        what: str,
    ) -> Response[Any]:
        form = await _form(request)
        q = _text(form, "q")[:MAX_QUERY_CHARS]
        value = _text(form, "status" if what == "status" else "role")
        actor = _person(request)
        try:
            if what == "status":
                await service.set_status(conn, community.id, member_id, value, actor_person_id=actor)
            elif what == "grant":
                await service.grant_role(conn, community.id, member_id, value, place_id=None, actor_person_id=actor)
            else:
                await service.revoke_role(conn, community.id, member_id, value, actor_person_id=actor)
        except Exception as exc:  # worded as the API words it; a 500 goes on to the error page
            failed = _error(exc)
            if failed["status"] >= 500:
                raise
            return await self._members_page(
                request, conn, community, access, q=q, failed=failed, failed_member=member_id
            )
        return Redirect(_members_url(community.slug, q, f"#m{member_id}"), status_code=303)

    @post("/c/{slug:str}/members/{member_id:int}/status", operation_id="pageMemberStatus")
    async def set_status(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        member_id: PathId,
    ) -> Response[Any]:
        """The API's updateMember from a form: active, suspended or left."""
        return await self._member_write(request, conn, community, access, member_id, "status")

    @post("/c/{slug:str}/members/{member_id:int}/roles", operation_id="pageMemberGrantRole")
    async def grant_role(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        member_id: PathId,
    ) -> Response[Any]:
        """The API's grantRole from a form (community-wide; an organizer scoped to a grid is for the API)."""
        return await self._member_write(request, conn, community, access, member_id, "grant")

    @post("/c/{slug:str}/members/{member_id:int}/roles/revoke", operation_id="pageMemberRevokeRole")
    async def revoke_role(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        member_id: PathId,
    ) -> Response[Any]:
        """The API's revokeRole from a form."""
        return await self._member_write(request, conn, community, access, member_id, "revoke")

    # ---- CSV import ----------------------------------------------------------------------------------

    @get("/c/{slug:str}/members/import", operation_id="pageMembersImport")
    async def import_form(self, request: Request[Any, Any, Any], community: CurrentCommunity) -> Template:
        return render(request, "members_import.html", community=community, text="", report=None, failed={})

    @post("/c/{slug:str}/members/import", operation_id="pageMembersImportSubmit")
    async def import_members(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity
    ) -> Template:
        """The API's importMembers from a form: a pasted CSV or an uploaded file. "Check" is the dry run; "Import"
        imports, and the importer imports nothing while any row is bad."""
        form = await request.form()
        upload = form.get("file")
        text = form.get("csv") if isinstance(form.get("csv"), str) else ""
        dry_run = form.get("action") != "import"
        try:
            if isinstance(upload, UploadFile) and upload.filename:
                raw = await upload.read()
                if raw:
                    text = importer.decode(raw)
            if not str(text).strip():
                failed: dict[str, Any] = {"status": 400, "error": _("Paste the CSV or choose a file"), "code": "empty"}
                return render(
                    request, "members_import.html", status=400, community=community, text="", report=None, failed=failed
                )
            report = await importer.import_members(
                conn, community.id, str(text), dry_run=dry_run, actor_person_id=_person(request)
            )
        except Exception as exc:  # worded as the API words it; a 500 goes on to the error page
            failed = _error(exc)
            if failed["status"] >= 500:
                raise
            return render(
                request,
                "members_import.html",
                status=failed["status"],
                community=community,
                text=text,
                report=None,
                failed=failed,
            )
        return render(request, "members_import.html", community=community, text=text, report=report, failed={})

    # ---- change password -----------------------------------------------------------------------------

    @get("/password", operation_id="pagePassword")
    async def password_form(
        self, request: Request[Any, Any, Any], done: Annotated[bool, QueryParameter()] = False
    ) -> Template:
        return render(request, "password.html", done=done, failed={})

    @post("/password", operation_id="pagePasswordSubmit")
    async def change_password(self, request: Request[Any, Any, Any], conn: Conn) -> Response[Any]:
        """The API's changePassword from a form: every other session and token of the person ends."""
        form = await _form(request)
        current, new, again = (_text(form, n) for n in ("current_password", "new_password", "new_password_again"))
        if not current or not new:
            words = _("Enter the current password and a new one")
            failed: dict[str, Any] = {"status": 400, "error": words, "code": "empty"}
            return render(request, "password.html", status=400, done=False, failed=failed)
        if new != again:  # a typing slip, caught before the service counts anything
            failed = {
                "status": 400,
                "error": _("The two new passwords differ"),
                "code": "mismatch",
                "field": "new_password_again",
            }
            return render(request, "password.html", status=400, done=False, failed=failed)
        try:
            await identity.change_password(
                conn,
                request.user,
                current,
                new,
                session_id=request.cookies.get(SESSION_COOKIE),
                remote_addr=request.client.host if request.client else None,
            )
        except Exception as exc:  # worded as the API words it; a 500 goes on to the error page
            failed = _error(exc, PASSWORD_FIELD_WORDS)
            if failed["status"] >= 500:
                raise
            return render(request, "password.html", status=failed["status"], done=False, failed=failed)
        return Redirect("/password?done=true", status_code=303)
