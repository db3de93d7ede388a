"""The pages: server-rendered HTML from the same app, guarded by the same policy table as the API.

Handlers stay thin: they call the service functions the API calls (points/auth/identity.py and sessions.py for
signing in, points/wallet.py for the wallet) and render a template. Errors render a page in the reader's language,
worded from the same problem codes as the API (points/errors.py's titles, translated in the catalogues).
Every page handler is left out of the OpenAPI document (``include_in_schema=False``); tests/test_pages.py holds
each of their operation ids to points/auth/policy.py.
"""

from __future__ import annotations

import time
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import msgspec
import structlog
from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotAuthorizedException
from litestar.params import Body, Parameter, QueryParameter
from litestar.plugins.htmx import HTMXRequest
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.router import Router
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

import ledger
from catalog import reads_shop
from points import wallet
from points.audit import audit
from points.auth import errors as ae
from points.auth import identity
from points.auth.access import SESSION_IDLE_S
from points.auth.identity import Principal
from points.auth.policy import ADMIN, CLERK, ORGANIZER, VOLUNTEER
from points.auth.sessions import end_session, start_session
from points.auth.web import LOGIN_LIMIT
from points.errors import PROBLEMS, problem_catalog, problem_for
from points.expiry import service as expiry
from points.pages.field_words import field_words
from points.pages.i18n import HTML_LANG, LANG_COOKIE, LOCALES, Formats, choose_locale, gettext, ngettext, translations
from points.publication import service as publication
from points.wiring import Conn, CurrentAccess, CurrentCommunity

log = structlog.get_logger("points.pages")

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
HISTORY_PAGE = 20
LANG_COOKIE_DAYS = 365


def _(message: str) -> str:
    """Marks a message for extraction (``python3 dev.py i18n``); the page translates it when it renders."""
    return message


# Words for kinds of entry, for an entry that has no memo of its own.
KIND_WORDS = {
    "award": _("Award"),
    "redemption": _("Redemption"),
    "return": _("Return"),
    "swap": _("Swap"),
    "transfer": _("Transfer"),
    "expiry": _("Expiry"),
    "reversal": _("Correction"),
    "budget": _("Budget"),
}


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """Jinja2 with its i18n extension; translations come from each page's own context, never a global."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals["field_words"] = field_words
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(env))


def static_router() -> Router:
    """The pages' CSS and htmx, served by the app itself (no CDN: a community office's connection is poor)."""
    router = create_static_files_router(
        path="/static", directories=[STATIC], cache_control=None, include_in_schema=False, name="static"
    )
    # The app's one guard looks every handler up in the policy table by operation id; these have none of their own.
    for route in router.routes:
        for handler in route.route_handlers:  # type: ignore[union-attr]
            handler.operation_id = "pageStatic"
    return router


def _local(path: str) -> str | None:
    """A path on this site to go back to, or None: never another site (//evil.example, https://…)."""
    if path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return None


def _back_on_this_site(request: Request[Any, Any, Any], url: str) -> str:
    """The path and query of ``url`` when it is a page of this site (a Referer, htmx's current URL), else the home
    page: never another site."""
    parts = urlsplit(url)
    back = _local(parts.path) if parts.netloc == request.url.netloc else None
    return (back + (f"?{parts.query}" if parts.query else "")) if back else "/"


def _here(request: Request[Any, Any, Any]) -> str:
    """The page being read, to come back to (after the language switch, after signing in). A form's POST address is
    no page (its GET answers 405): a refused form re-rendered by a POST comes back to the page the form was on, its
    Referer when that is on this site, else the home page."""
    if request.method in ("GET", "HEAD"):
        query = request.url.query
        return request.url.path + (f"?{query}" if query else "")
    return _back_on_this_site(request, request.headers.get("referer", ""))


# The sections of a community's pages (the nav of base.html): (path under /c/{slug}, words, roles that see it
# (none: every member), further paths under which the section is the current one).
OBJECTION_WORDS = {
    "open": _("waiting for the admin"),
    "upheld": _("upheld"),
    "dismissed": _("dismissed"),
    "closed": _("closed"),
}

NAV: tuple[tuple[str, str, frozenset[str], tuple[str, ...]], ...] = (
    ("/me", _("My points"), frozenset(), ()),
    ("/activities", _("Activities"), frozenset(), ()),
    ("/checkin", _("Check in"), frozenset(), ()),
    ("/me/activities", _("My activities"), frozenset(), ()),
    ("/me/reports", _("Reports"), frozenset(), ("/reports",)),
    # the supermarket (points/pages/shop.py, counter.py): a wallet holder pays and shops, clerks and admins serve
    ("/pay", _("Payment code"), frozenset({VOLUNTEER, ORGANIZER, CLERK, ADMIN}), ()),
    ("/shop", _("Points shop"), frozenset({VOLUNTEER, ORGANIZER, CLERK, ADMIN}), ("/me/receipts",)),
    ("/counter", _("Counter"), frozenset({CLERK, ADMIN}), ("/receipts",)),
    ("/stock", _("Stock"), frozenset({CLERK, ADMIN}), ()),
    ("/organize", _("Organize"), frozenset({ORGANIZER, ADMIN}), ()),
    ("/members", _("Members"), frozenset({ADMIN}), ()),
    ("/settings/earning", _("Points settings"), frozenset({ADMIN}), ()),
    # the swap table (points/pages/swap.py): wallet holders swap; its staff (clerks and admins) work the table
    ("/swap", _("Swap table"), frozenset({VOLUNTEER, ORGANIZER, CLERK, ADMIN}), ()),
    ("/swap/table", _("Table staff"), frozenset({CLERK, ADMIN}), ()),
    # the 公示 window (points/pages/publication.py): the public page for everyone, objections for the admin
    ("/gongshi", _("Public notice"), frozenset(), ()),
    ("/objections", _("Objections"), frozenset({ADMIN}), ()),
    # service orders (points/orders/pages.py): wallet holders order and take them, staff dispatch, 晒单 is public
    ("/services", _("Services"), frozenset({VOLUNTEER, ORGANIZER, CLERK, ADMIN}), ()),
    ("/services/dispatch", _("Dispatch"), frozenset({ORGANIZER, ADMIN}), ("/services/units",)),
    ("/shaidan", _("Services done"), frozenset(), ()),
)


def _nav(request: Request[Any, Any, Any], community: Any) -> list[dict[str, Any]]:
    """The sections the reader may open in this community (by their roles here), the current one marked: the
    longest section path the page's path lies under."""
    slug = getattr(community, "slug", None)
    access = request.scope.get("state", {}).get("access")
    if slug is None or request.scope.get("user") is None or access is None:
        return []
    base = f"/c/{slug}"
    path = request.url.path
    items, best = [], (0, -1)
    for n, (tail, words, who, also) in enumerate(NAV):
        if who and not who & access.roles:
            continue
        for prefix in (tail, *also):
            full = base + prefix
            if (path == full or path.startswith(full + "/")) and len(full) > best[0]:
                best = (len(full), n)
        items.append({"href": base + tail, "words": words, "n": n})
    for item in items:
        item["current"] = item.pop("n") == best[1]
    return items


def render(request: Request[Any, Any, Any], name: str, *, status: int = 200, **context: Any) -> Template:
    """A page in the reader's language, with what every page needs (the signed-in person, the language switch,
    and on a community's pages the nav of its sections)."""
    locale = choose_locale(request.cookies.get(LANG_COOKIE))
    return Template(
        template_name=name,
        status_code=status,
        context={
            "translations": translations(locale),
            "fmt": Formats(locale),
            "locale": locale,
            "html_lang": HTML_LANG[locale],
            "other_locales": [(other, Formats(other).display_name) for other in LOCALES if other != locale],
            "signed_in": request.scope.get("user") is not None,
            "here": _here(request),
            "nav": _nav(request, context.get("community")),
            **context,
        },
    )


# ---- errors as pages ------------------------------------------------------------------------------


@cache
def _catalog() -> dict[str, dict[str, Any]]:
    return problem_catalog()


def describe(exc: Exception) -> tuple[int, str, str]:
    """(status, code, title) of an error, exactly as points/errors.py answers the API; the page translates the
    title."""
    status, code = problem_for(exc)
    known = _catalog().get(code) or _catalog()["internal_error"]
    return status, code, str(known["title"])


def page_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Errors on pages: not signed in goes to the sign-in page (and back after it); anything else is a page
    saying what went wrong, in words, with the status the API would answer."""
    if isinstance(exc, NotAuthorizedException | ae.NotSignedIn):
        if request.headers.get("hx-request") == "true":
            # htmx would follow a redirect inside its own request and swap the sign-in page into a fragment (the
            # payment code's poll, after a sign-out elsewhere): send the whole page there, and back to it after
            page = _back_on_this_site(request, request.headers.get("hx-current-url", ""))
            return Response(b"", status_code=401, headers={"HX-Redirect": f"/login?next={quote(page, safe='/')}"})
        return Redirect(f"/login?next={quote(_here(request), safe='/')}", status_code=303)
    status, code, title = describe(exc)
    if status >= 500:
        log.exception("unhandled_error", path=request.url.path, error_type=type(exc).__name__)
    if request.url.path == "/login":  # e.g. 429 from the login limit: the form again, with the reason
        return render(request, "login.html", status=status, phone="", next="", error=title, code=code)
    return render(request, "error.html", status=status, title=title, code=code)


# Every exception class the app maps to problem+json (and the rest), so that those handlers, more specific than
# Exception, do not win for page routes: a page answers with a page.
PAGE_EXCEPTION_HANDLERS: dict[Any, Any] = {cls: page_error for cls in (Exception, *PROBLEMS)}


# ---- forms ----------------------------------------------------------------------------------------


class LoginForm(msgspec.Struct):
    phone: str = ""
    password: str = ""
    next: str = ""


class LanguageForm(msgspec.Struct):
    lang: str = ""
    next: str = "/"


Form = Body(media_type=RequestEncodingType.URL_ENCODED)


def _client(request: Request[Any, Any, Any]) -> str | None:
    return request.client.host if request.client else None


def _lang_cookie(locale: str) -> Cookie:
    return Cookie(
        key=LANG_COOKIE, value=locale, max_age=LANG_COOKIE_DAYS * 86400, samesite="lax", httponly=True, path="/"
    )


def _landing(person: identity.Person, wanted: str) -> str:
    """After signing in: where the person was going, else their one community (its member register for an admin,
    the organizer's dashboard for an organizer, the counter for a clerk, 我的积分 for everyone else), else the home
    page."""
    local = _local(wanted)
    if local and local not in ("/login", "/logout"):
        return local
    active = [m for m in person.memberships if m.status == "active"]
    if len(active) != 1:
        return "/"
    # An admin's work is the member register, an organizer's the activities they run, a clerk's the counter;
    # everyone else comes for their points.
    roles = active[0].roles
    work = "members" if ADMIN in roles else "organize" if ORGANIZER in roles else "counter" if CLERK in roles else "me"
    return f"/c/{active[0].slug}/{work}"


def _history_line(fmt: Formats, line: ledger.HistoryLine, receipt: int | None = None) -> dict[str, Any]:
    return {
        "receipt": receipt,  # the supermarket receipt this line paid or got back from, linked on the page
        "what": line.memo or KIND_WORDS.get(line.kind, line.kind),
        "translate": not line.memo,
        "day": fmt.day(line.effective_at),
        "when": line.effective_at.isoformat(),
        "amount": fmt.signed(line.amount),
        "incoming": line.amount > 0,
        "balance_after": fmt.number(line.balance_after),
    }


class PageController(Controller):
    path = "/"
    include_in_schema = False
    request_class = HTMXRequest  # request.htmx: the next history page comes as rows, not a whole page
    exception_handlers = PAGE_EXCEPTION_HANDLERS

    @get("/", operation_id="pageHome")
    async def home(self, request: Request[Any, Any, Any], conn: Conn) -> Template:
        principal: Principal | None = request.scope.get("user")
        memberships: list[identity.Membership] = []
        if principal is not None:
            person = await identity.person(conn, principal)
            memberships = [m for m in person.memberships if m.status == "active"]
        return render(request, "home.html", memberships=memberships)

    @get("/login", operation_id="pageLogin")
    async def login_form(
        self, request: Request[Any, Any, Any], next_: Annotated[str, QueryParameter(name="next", max_length=500)] = ""
    ) -> Template:
        return render(request, "login.html", phone="", next=_local(next_) or "", error=None, code=None)

    @post("/login", operation_id="pageLoginSubmit", middleware=[LOGIN_LIMIT.middleware])
    async def login(
        self, request: Request[Any, Any, Any], conn: Conn, data: Annotated[LoginForm, Form]
    ) -> Response[Any]:
        """The API's sign-in (points/auth/web.py login), from a form: the same checks, the same one transaction."""
        next_ = _local(data.next) or ""
        if not data.phone.strip() or not data.password:
            words = _("Enter your phone number and password")
            return render(request, "login.html", status=400, phone=data.phone, next=next_, error=words, code="empty")
        client = _client(request)
        try:
            principal = await identity.check_login(conn, data.phone, data.password, client)
        except (ae.LoginFailed, ae.AccountLocked) as exc:
            status, code, title = describe(exc)
            until = exc.data.get("locked_until")
            locked_until = datetime.fromisoformat(until) if isinstance(until, str) else None
            return render(
                request,
                "login.html",
                status=status,
                phone=data.phone,
                next=next_,
                error=title,
                code=code,
                locked_until=locked_until,
            )
        async with ledger.transaction(conn):
            await identity.record_login(conn, principal.person_id, client)
            session = {"person_id": principal.person_id, "started_at": int(time.time())}
            await start_session(request, conn, session, max_age_s=SESSION_IDLE_S)
            person = await identity.person(conn, principal)
        # The language the person chose before, on whatever phone or computer, comes back with the sign-in.
        cookies = [] if person.locale is None else [_lang_cookie(choose_locale(person.locale))]
        return Redirect(_landing(person, data.next), status_code=303, cookies=cookies)

    @post("/logout", operation_id="pageLogout")
    async def logout(self, request: Request[Any, Any, Any], conn: Conn) -> Response[Any]:
        """The API's sign-out: the session row and the audit row in one transaction."""
        principal: Principal = request.user
        async with ledger.transaction(conn):
            await end_session(request, conn)
            await audit(conn, "logout", community_id=None, actor_person_id=principal.person_id)
        return Redirect("/", status_code=303)

    @post("/lang", operation_id="pageLanguage")
    async def language(
        self, request: Request[Any, Any, Any], conn: Conn, data: Annotated[LanguageForm, Form]
    ) -> Response[Any]:
        """Switch the pages' language: this browser keeps it in a cookie, and a signed-in person keeps it too, so
        that it comes back at their next sign-in elsewhere."""
        locale = choose_locale(data.lang)
        principal: Principal | None = request.scope.get("user")
        if principal is not None:
            await identity.remember_locale(conn, principal.person_id, locale)
        return Redirect(_local(data.next) or "/", status_code=303, cookies=[_lang_cookie(locale)])

    @get("/c/{slug:str}/me", operation_id="pageMyPoints")
    async def my_points(
        self,
        request: HTMXRequest,
        conn: Conn,
        access: CurrentAccess,
        community: CurrentCommunity,
        cursor: Annotated[str | None, Parameter(max_length=64)] = None,
    ) -> Template:
        """我的积分: balance, held and available, and the history newest first with the running balance."""
        found = await wallet.own_balance(conn, access)
        page = await wallet.own_history(conn, access, cursor=cursor, limit=HISTORY_PAGE)
        fmt = Formats(choose_locale(request.cookies.get(LANG_COOKIE)))
        receipts = await reads_shop.receipts_of_entries(
            conn, access.community_id, access.member_id or 0, [ln.entry_id for ln in page.lines]
        )
        lines = [_history_line(fmt, ln, receipts.get(ln.entry_id)) for ln in page.lines]
        more = f"/c/{community.slug}/me?cursor={quote(page.next_cursor)}" if page.next_cursor else None
        if request.htmx:  # "more" pressed with JavaScript on: the next rows only, appended in place
            return render(request, "_history_rows.html", community=community, lines=lines, more=more)
        principal: Principal = request.user
        person = await identity.person(conn, principal)
        return render(
            request,
            "my_points.html",
            community=community,
            balance=found,
            lines=lines,
            more=more,
            later_page=cursor is not None,
            memberships=[m for m in person.memberships if m.status == "active"],
            # points expiry (points/expiry/): what expires within 8 weeks, and the statement's monthly line
            expiries=await expiry.upcoming(conn, access.community_id, found.account.id),
            expired_months=await expiry.expired_by_month(conn, access.community_id, access.member_id or 0),
            # the 公示 window (points/publication/): awards pending in their window, and voided ones with the reason
            publication=await publication.mine(conn, access),
            objection_words=OBJECTION_WORDS,
        )
