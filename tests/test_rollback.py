"""All or nothing: every HTTP operation that writes either commits all of its statements or none.

For every operation in the OpenAPI document that writes (every POST, PUT, PATCH and DELETE), a valid request
is sent again and again, with the request's database connection made to fail at its first statement, then at
its second, and so on, until the request gets through without reaching the fault. After each failed attempt
every row of every table in every schema must be as it was before: a half-done write (a community without its
admin, a person without a membership) shows up as a changed table. An operation added later without a valid
request here fails ``test_every_write_operation_has_a_request``, so none is forgotten.

The one difference allowed: ``api_tokens.last_used_at``, which the authentication step touches (at most once
a minute, in the same statement that checks the token) before the operation itself runs.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from points import db
from points.app import create_app
from points.auth import recent
from points.migrate import upgrade
from points.settings import asyncpg_url
from tests.conftest import bearer_token, make_person, new_slug, plain_url
from tests.conftest import test_settings as app_settings
from tests.snapshots import changed, snapshot

Client = AsyncTestClient[Any]
API = "/api/v1"
WRITE_METHODS = ("post", "put", "patch", "delete")
MAX_STATEMENTS = 80  # no operation here runs more; a loop past this means the fault never fires

_serial = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_serial)}-{uuid.uuid4().hex[:6]}"


def new_phone() -> str:
    return f"139{uuid.uuid4().int % 10**8:08d}"


# ---- a database of its own, so that every snapshot reads a few small tables ---------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fresh_url(database_url: str) -> AsyncIterator[str]:
    name = f"linli_rollback_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(plain_url(database_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = make_url(asyncpg_url(database_url)).set(database=name).render_as_string(hide_password=False)
    await asyncio.to_thread(upgrade, url)
    yield url
    admin = await asyncpg.connect(plain_url(database_url))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def owner(fresh_url: str) -> AsyncIterator[asyncpg.Connection]:
    c = await asyncpg.connect(plain_url(fresh_url))
    yield c
    await c.close()


# ---- a request connection that fails at its n-th statement ----------------------------------------------


class InjectedFault(Exception):
    """The database 'failed' here (raised instead of running the statement)."""


class FaultPlan:
    """Counts the statements the app's connections run while armed, and fails the n-th."""

    def __init__(self) -> None:
        self.fail_at: int | None = None
        self.count = 0
        self.fired = False

    def arm(self, n: int) -> None:
        self.fail_at, self.count, self.fired = n, 0, False

    def disarm(self) -> None:
        self.fail_at = None

    def tick(self) -> None:
        if self.fail_at is None:
            return
        self.count += 1
        if self.count == self.fail_at:
            self.fired = True
            raise InjectedFault(f"statement {self.count}")


class FaultyConnection:
    """Passes everything to the asyncpg connection; the statement methods first ask the plan."""

    def __init__(self, raw: Any, plan: FaultPlan) -> None:
        self._raw = raw
        self._plan = plan

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        self._plan.tick()
        return await self._raw.execute(*args, **kwargs)

    async def executemany(self, *args: Any, **kwargs: Any) -> Any:
        self._plan.tick()
        return await self._raw.executemany(*args, **kwargs)

    async def fetch(self, *args: Any, **kwargs: Any) -> Any:
        self._plan.tick()
        return await self._raw.fetch(*args, **kwargs)

    async def fetchrow(self, *args: Any, **kwargs: Any) -> Any:
        self._plan.tick()
        return await self._raw.fetchrow(*args, **kwargs)

    async def fetchval(self, *args: Any, **kwargs: Any) -> Any:
        self._plan.tick()
        return await self._raw.fetchval(*args, **kwargs)


@pytest.fixture(scope="module")
def plan() -> FaultPlan:
    return FaultPlan()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app_client(fresh_url: str, plan: FaultPlan) -> AsyncIterator[Client]:
    """The app on the fresh database, every connection it takes wrapped in the fault plan."""
    real = db.connection

    @asynccontextmanager
    async def faulty(engine: AsyncEngine) -> AsyncIterator[Any]:
        async with real(engine) as raw:
            yield FaultyConnection(raw, plan)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(db, "connection", faulty)
        async with AsyncTestClient(app=create_app(app_settings(), database_url=fresh_url)) as c:
            yield c


# ---- the world the requests work in ---------------------------------------------------------------------


@dataclass
class World:
    slug: str
    operator: dict[str, str]  # headers
    admin: dict[str, str]
    admin_person: int
    issuance: int
    sink: int
    wallet: int
    member: int
    street: int


async def _ok(r: httpx.Response, status: int = 201) -> Any:
    assert r.status_code == status, r.text
    return r.json()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(fresh_url: str, owner: asyncpg.Connection, app_client: Client) -> World:
    c = app_client
    operator_person = await make_person(owner, new_phone(), "operator-password-1", operator=True)
    operator = {"Authorization": f"Bearer {await bearer_token(owner, operator_person)}"}
    slug, admin_phone = new_slug(), new_phone()
    admin_body = {"display_name": "管理员", "phone": admin_phone, "password": "admin-password-1"}
    await _ok(await c.post(f"{API}/communities", json={"slug": slug, "name": "回滚社区", "admin": admin_body},
                           headers=operator))  # fmt: skip
    admin_person = await owner.fetchval("SELECT id FROM points.people WHERE phone = $1", admin_phone)
    admin = {"Authorization": f"Bearer {await bearer_token(owner, admin_person)}"}
    base = f"{API}/communities/{slug}"
    account = {"code": "issuance", "normal_side": "debit", "lower_bound": None}
    issuance = (await _ok(await c.post(f"{base}/accounts", json=account, headers=admin)))["id"]
    sink = (await _ok(await c.post(f"{base}/accounts", json={"code": "sink", "lower_bound": None}, headers=admin)))[
        "id"
    ]
    member = await _ok(await c.post(f"{base}/members", json={"display_name": "志愿者"}, headers=admin))
    award = {"kind": "award", "postings": [{"account_id": issuance, "amount": -500},
                                           {"account_id": member["wallet_account_id"], "amount": 500}]}  # fmt: skip
    await _ok(await c.post(f"{base}/entries", json=award, headers={**admin, "Idempotency-Key": unique("fund")}))
    city = await _ok(await c.post(f"{API}/regions", json={"level": "city", "name": unique("市")}, headers=operator))
    street = await _ok(await c.post(f"{API}/regions", json={"level": "street", "name": unique("街道"),
                                                             "parent_id": city["id"]}, headers=operator))  # fmt: skip
    return World(slug, operator, admin, admin_person, issuance, sink, member["wallet_account_id"], member["id"],
                 street["id"])  # fmt: skip


# ---- one valid request per write operation -------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    headers: dict[str, str]
    json: Any = None
    content: str | bytes | None = None
    params: dict[str, str] | None = None


Recipe = Callable[[World, Client, asyncpg.Connection], Awaitable[Call]]
RECIPES: dict[str, Recipe] = {}


def recipe(operation_id: str) -> Callable[[Recipe], Recipe]:
    def register(fn: Recipe) -> Recipe:
        RECIPES[operation_id] = fn
        return fn

    return register


def _idem(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "Idempotency-Key": unique("k")}


@recipe("createCommunity")
async def _create_community(w: World, c: Client, o: asyncpg.Connection) -> Call:
    admin = {"display_name": "新管理员", "phone": new_phone(), "password": "new-admin-password-1"}
    body = {"slug": new_slug(), "name": "新社区", "admin": admin}
    return Call("post", f"{API}/communities", w.operator, json=body)


@recipe("addUnit")
async def _add_unit(w: World, c: Client, o: asyncpg.Connection) -> Call:
    return Call(
        "post", f"{API}/communities/{w.slug}/units", w.admin, json={"code": f"u{next(_serial)}", "name": "分钟"}
    )


@recipe("openAccount")
async def _open_account(w: World, c: Client, o: asyncpg.Connection) -> Call:
    return Call("post", f"{API}/communities/{w.slug}/accounts", w.admin, json={"code": unique("pool:")})


@recipe("postEntry")
async def _post_entry(w: World, c: Client, o: asyncpg.Connection) -> Call:
    body = {
        "kind": "transfer",
        "postings": [{"account_id": w.wallet, "amount": -1}, {"account_id": w.sink, "amount": 1}],
    }
    return Call("post", f"{API}/communities/{w.slug}/entries", _idem(w.admin), json=body)


async def _an_entry(w: World, c: Client) -> int:
    body = {
        "kind": "award",
        "postings": [{"account_id": w.issuance, "amount": -3}, {"account_id": w.wallet, "amount": 3}],
    }
    r = await c.post(f"{API}/communities/{w.slug}/entries", json=body, headers=_idem(w.admin))
    entry_id: int = (await _ok(r))["id"]
    return entry_id


@recipe("reverseEntry")
async def _reverse_entry(w: World, c: Client, o: asyncpg.Connection) -> Call:
    entry = await _an_entry(w, c)
    return Call("post", f"{API}/communities/{w.slug}/entries/{entry}/reversal", _idem(w.admin), json={"reason": "录错"})


async def _a_hold(w: World, c: Client) -> int:
    body = {"account_id": w.wallet, "counter_account_id": w.sink, "amount": 2, "timeout_s": 3600}
    hold_id: int = (await _ok(await c.post(f"{API}/communities/{w.slug}/holds", json=body, headers=_idem(w.admin))))[
        "id"
    ]
    return hold_id


@recipe("placeHold")
async def _place_hold(w: World, c: Client, o: asyncpg.Connection) -> Call:
    body = {"account_id": w.wallet, "counter_account_id": w.sink, "amount": 2, "timeout_s": 3600}
    return Call("post", f"{API}/communities/{w.slug}/holds", _idem(w.admin), json=body)


@recipe("postHold")
async def _post_hold(w: World, c: Client, o: asyncpg.Connection) -> Call:
    hold = await _a_hold(w, c)
    return Call("post", f"{API}/communities/{w.slug}/holds/{hold}/post", _idem(w.admin), json={})


@recipe("voidHold")
async def _void_hold(w: World, c: Client, o: asyncpg.Connection) -> Call:
    hold = await _a_hold(w, c)
    return Call("post", f"{API}/communities/{w.slug}/holds/{hold}/void", w.admin)


@recipe("createMember")
async def _create_member(w: World, c: Client, o: asyncpg.Connection) -> Call:
    place = await _ok(await c.post(f"{API}/communities/{w.slug}/places", json={"level": "building",
                                   "name": unique("楼")}, headers=w.admin))  # fmt: skip
    body = {"display_name": "新居民", "phone": new_phone(), "password": "resident-password-1",
            "household": unique("户"), "place_id": place["id"], "roles": ["volunteer", "organizer"]}  # fmt: skip
    return Call("post", f"{API}/communities/{w.slug}/members", w.admin, json=body)


async def _a_member(w: World, c: Client) -> int:
    m = await _ok(await c.post(f"{API}/communities/{w.slug}/members", json={"display_name": unique("成员")},
                               headers=w.admin))  # fmt: skip
    member_id: int = m["id"]
    return member_id


@recipe("updateMember")
async def _update_member(w: World, c: Client, o: asyncpg.Connection) -> Call:
    member = await _a_member(w, c)
    return Call("post", f"{API}/communities/{w.slug}/members/{member}/status", w.admin, json={"status": "suspended"})


@recipe("grantRole")
async def _grant_role(w: World, c: Client, o: asyncpg.Connection) -> Call:
    member = await _a_member(w, c)
    return Call("post", f"{API}/communities/{w.slug}/members/{member}/roles", w.admin, json={"role": "clerk"})


@recipe("revokeRole")
async def _revoke_role(w: World, c: Client, o: asyncpg.Connection) -> Call:
    member = await _a_member(w, c)
    return Call("post", f"{API}/communities/{w.slug}/members/{member}/roles/volunteer/revoke", w.admin)


@recipe("importMembers")
async def _import_members(w: World, c: Client, o: asyncpg.Connection) -> Call:
    csv = f"name,phone,household,roles\n{unique('甲')},{new_phone()},{unique('户')},volunteer\n{unique('乙')},,,\n"
    return Call("post", f"{API}/communities/{w.slug}/members/import", {**w.admin, "Content-Type": "text/csv"},
                content=csv, params={"dry_run": "false"})  # fmt: skip


@recipe("createPlace")
async def _create_place(w: World, c: Client, o: asyncpg.Connection) -> Call:
    return Call(
        "post", f"{API}/communities/{w.slug}/places", w.admin, json={"level": "compound", "name": unique("小区")}
    )


@recipe("createHousehold")
async def _create_household(w: World, c: Client, o: asyncpg.Connection) -> Call:
    return Call("post", f"{API}/communities/{w.slug}/households", w.admin, json={"label": unique("户")})


@recipe("createRegion")
async def _create_region(w: World, c: Client, o: asyncpg.Connection) -> Call:
    return Call("post", f"{API}/regions", w.operator, json={"level": "city", "name": unique("市")})


@recipe("grantStreetAdmin")
async def _grant_street_admin(w: World, c: Client, o: asyncpg.Connection) -> Call:
    phone = new_phone()
    await make_person(o, phone, "street-password-1")
    return Call("post", f"{API}/regions/{w.street}/admins", w.operator, json={"phone": phone})


@recipe("setCommunityStreet")
async def _set_street(w: World, c: Client, o: asyncpg.Connection) -> Call:
    slug = new_slug()
    await _ok(await c.post(f"{API}/communities", json={"slug": slug, "name": "街道下的社区"}, headers=w.operator))
    return Call("post", f"{API}/communities/{slug}/street", w.operator, json={"street_id": w.street})


@recipe("login")
async def _login(w: World, c: Client, o: asyncpg.Connection) -> Call:
    phone = new_phone()
    await make_person(o, phone, "login-password-1")
    return Call("post", f"{API}/login", {}, json={"phone": phone, "password": "login-password-1"})


@recipe("logout")
async def _logout(w: World, c: Client, o: asyncpg.Connection) -> Call:
    return Call("post", f"{API}/logout", w.admin)


@recipe("changePassword")
async def _change_password(w: World, c: Client, o: asyncpg.Connection) -> Call:
    person = await make_person(o, new_phone(), "old-password-1")
    token = await bearer_token(o, person)
    body = {"current_password": "old-password-1", "new_password": "new-password-2"}
    return Call("post", f"{API}/me/password", {"Authorization": f"Bearer {token}"}, json=body)


@recipe("createToken")
async def _create_token(w: World, c: Client, o: asyncpg.Connection) -> Call:
    return Call(
        "post", f"{API}/me/tokens", w.admin, json={"name": unique("终端"), "kind": "device", "community": w.slug}
    )


@recipe("revokeToken")
async def _revoke_token(w: World, c: Client, o: asyncpg.Connection) -> Call:
    made = await _ok(await c.post(f"{API}/me/tokens", json={"name": unique("旧")}, headers=w.admin))
    return Call("post", f"{API}/me/tokens/{made['details']['id']}/revoke", w.admin)


# ---- the tests ----------------------------------------------------------------------------------------------


async def write_operations(c: Client) -> dict[str, tuple[str, str]]:
    document = (await _ok(await c.get("/schema/openapi.json"), 200))["paths"]
    return {
        item[method]["operationId"]: (method, path)
        for path, item in document.items()
        for method in WRITE_METHODS
        if method in item
    }


async def test_every_write_operation_has_a_request(app_client: Client) -> None:
    """A new write operation must get a valid request in RECIPES, or the all-or-nothing proof skips it."""
    missing = sorted(set(await write_operations(app_client)) - set(RECIPES))
    assert missing == [], f"add a recipe to tests/test_rollback.py for: {missing}"
    stale = sorted(set(RECIPES) - set(await write_operations(app_client)))
    assert stale == [], f"recipes for operations that no longer exist: {stale}"


def _forget_caches(client: Client) -> None:
    """Every attempt runs the same statements: nothing remembered from the attempt before."""
    recent.forget_everyone()
    client.app.state.communities = type(client.app.state.communities)()


async def _send(c: Client, call: Call) -> httpx.Response:
    c.cookies.clear()
    return await c.request(
        call.method.upper(), call.path, headers=call.headers, json=call.json, content=call.content, params=call.params
    )


# The earning domain's recipes live beside its tests; importing them here registers them before the walk below.
import tests.rollback_attendance  # noqa: E402
import tests.rollback_catalog  # noqa: E402
import tests.rollback_earning  # noqa: E402
import tests.rollback_expiry  # noqa: E402
import tests.rollback_orders  # noqa: E402
import tests.rollback_publication  # noqa: E402
import tests.rollback_swap  # noqa: E402, F401


@pytest.mark.parametrize("operation_id", sorted(RECIPES))
async def test_a_write_that_fails_at_any_statement_changes_nothing(
    operation_id: str, app_client: Client, world: World, owner: asyncpg.Connection, plan: FaultPlan
) -> None:
    call = await RECIPES[operation_id](world, app_client, owner)
    for n in range(1, MAX_STATEMENTS + 1):
        _forget_caches(app_client)
        before = await snapshot(owner)
        plan.arm(n)
        try:
            response = await _send(app_client, call)
        finally:
            plan.disarm()
        if not plan.fired:
            assert response.status_code < 300, f"{operation_id}: the request itself fails: {response.text}"
            assert n > 1, f"{operation_id} ran no statement at all"
            return
        assert response.status_code == 500, f"{operation_id}, fault at statement {n}: {response.text}"
        assert changed(before, await snapshot(owner)) == [], f"{operation_id}: a fault at statement {n} left rows"
    pytest.fail(f"{operation_id} ran more than {MAX_STATEMENTS} statements")


async def test_the_4xx_watch_notices_a_change(
    no_change_on_4xx: list[str], client: Client, owner_conn: asyncpg.Connection
) -> None:
    """The watch the bad-input modules run under (conftest.no_change_on_4xx) fails when a refused request leaves
    a row behind: here a row slipped in between its snapshot and the 404."""

    async def slip_a_row_in(request: httpx.Request) -> None:
        await owner_conn.execute("INSERT INTO points.audit_log (action) VALUES ('test.slipped_in')")

    client.event_hooks["request"].append(slip_a_row_in)
    try:
        with pytest.raises(AssertionError, match=r"answered 404 but changed \['points.audit_log'\]"):
            await client.get(f"{API}/communities/{new_slug()}")
    finally:
        client.event_hooks["request"].remove(slip_a_row_in)
    assert (await client.get(f"{API}/communities/{new_slug()}")).status_code == 404
    assert len(no_change_on_4xx) == 1  # the second 404 was watched and passed
