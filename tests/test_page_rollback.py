"""All or nothing for the pages: every page form that writes commits all of its statements or none.

The same walk as tests/test_rollback.py (whose database, fault plan and faulty app this module imports): for every
page route that takes a POST, a valid form is sent again and again, as a browser sends it (signed in by the sign-in
form, with the page's CSRF field), with the request's database connection made to fail at its first statement,
then at its second, and so on, until the form gets through. After each failed attempt the page answers 500 and
every row of every table must be as it was, but for one column: ``sessions.expires_at``, the idle timeout of the
session the form came with, which every request of that session moves on (as ``api_tokens.last_used_at`` for a
token, tests/snapshots.py). A page POST added later without a form in ``PAGE_RECIPES`` fails
``test_every_page_write_has_a_form``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest

from points.auth.session_store import PostgresSessionStore
from tests import snapshots
from tests.conftest import make_person
from tests.snapshots import changed, snapshot
from tests.test_pages import csrf_of, text_of
from tests.test_rollback import (
    API,
    MAX_STATEMENTS,
    Client,
    FaultPlan,
    World,
    _forget_caches,
    _ok,
    app_client,
    fresh_url,
    new_phone,
    owner,
    plan,
    unique,
    world,
)

# The fixtures above, used by name here; imported, not copied.
__all__ = ["app_client", "fresh_url", "owner", "plan", "world"]

PASSWORD = "page-password-1"


@pytest.fixture(autouse=True)
def _sessions_idle_timeout_moves_on(plan: FaultPlan) -> Iterator[None]:
    """The session's idle timeout is moved on by every request of it, when the response starts, after the form's
    own transaction has committed (or rolled back): not part of the form's write, so neither compared nor failed."""
    rewrite = PostgresSessionStore.rewrite

    async def unfaulted(self: PostgresSessionStore, *args: Any, **kwargs: Any) -> None:
        fail_at, plan.fail_at = plan.fail_at, None
        try:
            await rewrite(self, *args, **kwargs)
        finally:
            plan.fail_at = fail_at

    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(snapshots.EXCLUDED_COLUMNS, "points.sessions", ("expires_at",))
        mp.setattr(PostgresSessionStore, "rewrite", unfaulted)
        yield


ADMIN_PASSWORD = "admin-password-1"  # tests/test_rollback.py's world admin


@dataclass(frozen=True)
class PageCall:
    action: str  # where the form posts
    page: str  # the page the form is on (its CSRF field comes from there)
    form: dict[str, Any]
    phone: str | None = None  # signed in as this person first (None: signed out)
    password: str = PASSWORD
    done: Callable[[httpx.Response], bool] = field(default=lambda r: r.status_code == 303)
    files: dict[str, tuple[str, bytes, str]] = field(default_factory=dict)  # a form's photos, sent multipart


PageRecipe = Callable[[World, Client, asyncpg.Connection], Awaitable[PageCall]]
PAGE_RECIPES: dict[str, PageRecipe] = {}


def page_recipe(operation_id: str) -> Callable[[PageRecipe], PageRecipe]:
    def register(fn: PageRecipe) -> PageRecipe:
        PAGE_RECIPES[operation_id] = fn
        return fn

    return register


async def _admin_phone(w: World, o: asyncpg.Connection) -> str:
    phone: str = await o.fetchval("SELECT phone FROM points.people WHERE id = $1", w.admin_person)
    return phone


async def _a_member(w: World, c: Client) -> int:
    r = await c.post(f"{API}/communities/{w.slug}/members", json={"display_name": unique("成员")}, headers=w.admin)
    member_id: int = (await _ok(r))["id"]
    return member_id


@page_recipe("pageLoginSubmit")
async def _login(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    phone = new_phone()
    await make_person(o, phone, PASSWORD)
    return PageCall("/login", "/login", {"phone": phone, "password": PASSWORD, "next": ""})


@page_recipe("pageLogout")
async def _logout(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    phone = new_phone()
    await make_person(o, phone, PASSWORD)
    return PageCall("/logout", "/", {}, phone=phone)


@page_recipe("pageLanguage")
async def _language(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    phone = new_phone()
    await make_person(o, phone, PASSWORD)  # signed in, the switch also remembers the language for the person
    return PageCall("/lang", "/", {"lang": "en", "next": "/"}, phone=phone)


@page_recipe("pagePasswordSubmit")
async def _password(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    phone = new_phone()
    await make_person(o, phone, PASSWORD)
    new = "a-new-password-2"
    form = {"current_password": PASSWORD, "new_password": new, "new_password_again": new}
    return PageCall("/password", "/password", form, phone=phone)


@page_recipe("pageMemberAdd")
async def _member_add(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    form = {"display_name": "新居民", "phone": new_phone(), "password": "resident-password-1",
            "household": unique("户"), "roles": ["volunteer", "organizer"]}  # fmt: skip
    members = f"/c/{w.slug}/members"
    return PageCall(members, members, form, phone=await _admin_phone(w, o), password=ADMIN_PASSWORD)


@page_recipe("pageMemberStatus")
async def _member_status(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    members = f"/c/{w.slug}/members"
    action = f"{members}/{await _a_member(w, c)}/status"
    return PageCall(action, members, {"status": "suspended"}, phone=await _admin_phone(w, o), password=ADMIN_PASSWORD)


@page_recipe("pageMemberGrantRole")
async def _member_grant(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    members = f"/c/{w.slug}/members"
    action = f"{members}/{await _a_member(w, c)}/roles"
    return PageCall(action, members, {"role": "clerk"}, phone=await _admin_phone(w, o), password=ADMIN_PASSWORD)


@page_recipe("pageMemberRevokeRole")
async def _member_revoke(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    members = f"/c/{w.slug}/members"
    action = f"{members}/{await _a_member(w, c)}/roles/revoke"
    return PageCall(action, members, {"role": "volunteer"}, phone=await _admin_phone(w, o), password=ADMIN_PASSWORD)


@page_recipe("pageMembersImportSubmit")
async def _members_import(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    page = f"/c/{w.slug}/members/import"
    csv = f"name,phone,household,roles\n{unique('甲')},{new_phone()},{unique('户')},volunteer\n{unique('乙')},,,\n"
    return PageCall(
        page,
        page,
        {"csv": csv, "action": "import"},
        phone=await _admin_phone(w, o),
        password=ADMIN_PASSWORD,
        done=lambda r: r.status_code == 200 and "已导入成员：2" in text_of(r.text),
    )


# The earning pages' recipes live beside their tests; importing them here registers them before the walk below.
import tests.page_rollback_counter  # noqa: E402
import tests.page_rollback_expiry  # noqa: E402
import tests.page_rollback_orders  # noqa: E402
import tests.page_rollback_organize  # noqa: E402
import tests.page_rollback_publication  # noqa: E402
import tests.page_rollback_swap  # noqa: E402
import tests.page_rollback_volunteer  # noqa: E402, F401

# ---- the tests ----------------------------------------------------------------------------------------------


def page_writes(c: Client) -> set[str]:
    """The operation id of every page route that takes a POST (pages are the handlers left out of the OpenAPI)."""
    return {
        h.operation_id
        for route in c.app.routes
        for h in getattr(route, "route_handlers", [])
        if not h.resolve_include_in_schema() and "POST" in getattr(h, "http_methods", ())
    }


async def test_every_page_write_has_a_form(app_client: Client) -> None:
    """A new page POST must get a valid form in PAGE_RECIPES, or the all-or-nothing proof skips it."""
    writes = page_writes(app_client)
    assert "pageMemberAdd" in writes  # the enumeration finds the pages at all
    assert sorted(writes - set(PAGE_RECIPES)) == [], "add a form to PAGE_RECIPES in tests/test_page_rollback.py"
    assert sorted(set(PAGE_RECIPES) - writes) == [], "forms for page routes that no longer exist"


async def _forget(c: Client) -> None:
    """As tests/test_rollback.py forgets its caches between attempts; and the sign-in limit (20 a minute from one
    address), which the many sign-ins of this walk would reach and which is not what is under test."""
    _forget_caches(c)
    await c.app.stores.get("rate_limit").delete_all()


async def _sign_in(c: Client, phone: str, password: str) -> None:
    c.cookies.clear()
    form = await c.get("/login")
    r = await c.post("/login", data={"phone": phone, "password": password, "_csrf_token": csrf_of(form.text)})
    assert r.status_code == 303, r.text


@pytest.mark.parametrize("operation_id", sorted(PAGE_RECIPES))
async def test_a_page_form_that_fails_at_any_statement_changes_nothing(
    operation_id: str, app_client: Client, world: World, owner: asyncpg.Connection, plan: FaultPlan
) -> None:
    c = app_client
    c.follow_redirects = False  # a redirect is the form's answer; following it would be another request
    call = await PAGE_RECIPES[operation_id](world, c, owner)
    await _forget(c)
    if call.phone is not None:
        await _sign_in(c, call.phone, call.password)  # once: a failed form leaves the session as it was
    else:
        c.cookies.clear()
    for n in range(1, MAX_STATEMENTS + 1):
        await _forget(c)
        token = csrf_of((await c.get(call.page)).text)
        before = await snapshot(owner)
        plan.arm(n)
        try:
            response = await c.post(call.action, data={**call.form, "_csrf_token": token}, files=call.files or None)
        finally:
            plan.disarm()
        if not plan.fired:
            assert call.done(response), f"{operation_id}: the form itself fails: {response.status_code} {response.text}"
            assert n > 1, f"{operation_id} ran no statement at all"
            return
        assert response.status_code == 500, f"{operation_id}, fault at statement {n}: {response.text}"
        assert "text/html" in response.headers["content-type"], "a page answers a fault with a page"
        assert changed(before, await snapshot(owner)) == [], f"{operation_id}: a fault at statement {n} left rows"
    pytest.fail(f"{operation_id} ran more than {MAX_STATEMENTS} statements")
