"""The authorization matrix: every HTTP operation in the OpenAPI document, tried through HTTP as every kind of
caller, against the policy table (points/auth/policy.py).

A request counts as *denied* when the guard turned it away: 401 ``unauthorized`` (nobody signed in), 403, or the
404 ``community_not_found`` a non-member gets. Anything else (200, or a 400/404/409/422 from the handler itself)
means the guard let it through, which is *allowed*.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest_asyncio
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from points import db
from points.app import create_app
from points.auth.policy import POLICY, Rule
from tests.conftest import bearer_token, make_person, new_slug, plain_url
from tests.conftest import test_settings as app_settings

Client = AsyncTestClient[Any]
API = "/api/v1/communities"
MISSING_ID = 999_999_999
METHODS = ("get", "post", "put", "patch", "delete")


def key() -> str:
    return f"k-{uuid.uuid4()}"


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def new_phone() -> str:
    return f"13{uuid.uuid4().int % 10**9:09d}"


def code_of(r: httpx.Response) -> str | None:
    if not r.headers.get("content-type", "").startswith(("application/json", "application/problem+json")):
        return None
    body = r.json()
    return body.get("code") if isinstance(body, dict) else None


def denied(r: httpx.Response) -> bool:
    """Did the guard turn the request away (as opposed to the handler answering)?"""
    if r.status_code == 401:
        return code_of(r) == "unauthorized"  # login_failed (wrong password) is the handler's answer
    if r.status_code == 403:
        return True
    return r.status_code == 404 and code_of(r) == "community_not_found"


# ---- 1. every operation has a policy --------------------------------------------------------------


async def openapi_operations(client: Client) -> list[tuple[str, str, dict[str, Any]]]:
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200, r.text
    ops = []
    for path, item in r.json()["paths"].items():
        for method in METHODS:
            if method in item:
                ops.append((path, method, item[method]))
    return ops


async def test_every_operation_has_a_policy(anonymous_client: Client) -> None:
    ops = await openapi_operations(anonymous_client)
    assert len(ops) > 20, "the OpenAPI document lists the API's operations"
    missing = [
        f"{m.upper()} {p} ({op.get('operationId')!r})" for p, m, op in ops if op.get("operationId") not in POLICY
    ]
    assert not missing, "operations without an access policy in points/auth/policy.py:\n" + "\n".join(missing)
    present = {op["operationId"] for _, _, op in ops}
    stale = sorted(set(POLICY) - present)
    if stale:  # information only: rules written ahead of their routes
        print(f"policy entries with no operation (yet): {', '.join(stale)}")


# ---- the world the matrix runs in ------------------------------------------------------------------


@dataclass
class Caller:
    name: str
    token: str | None = None
    roles: frozenset[str] = frozenset()  # community roles in A
    wallet: int | None = None  # own wallet in A
    is_operator: bool = False
    spare_token_id: int | None = None  # a token of the caller's own that may be revoked

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


@dataclass
class Tenant:
    slug: str
    issuance: int = 0
    sink: int = 0
    entry: int = 0
    hold: int = 0
    member: int = 0  # a throwaway member whose status and roles may be changed
    wallet: int = 0


@dataclass
class World:
    a: Tenant
    b: Tenant
    callers: list[Caller]
    admin_a: Caller
    street: int  # the street (街道) community A lies in
    bystander_phone: str  # a person who is nobody anywhere, to name in grantStreetAdmin
    wallets: dict[str, int] = field(default_factory=dict)  # caller name -> wallet in A


async def _ok(r: httpx.Response, status: int = 201) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    return body


async def _furnish(c: Client, headers: dict[str, str], slug: str) -> Tenant:
    """An issuance account, a sink, one entry, one open hold and a throwaway member, made by the admin."""
    t = Tenant(slug)
    base = f"{API}/{slug}"
    t.issuance = (
        await _ok(
            await c.post(
                f"{base}/accounts",
                json={"code": "issuance", "normal_side": "debit", "lower_bound": None},
                headers=headers,
            )
        )
    )["id"]
    t.sink = (await _ok(await c.post(f"{base}/accounts", json={"code": "sink"}, headers=headers)))["id"]
    throwaway = await _ok(await c.post(f"{base}/members", json={"display_name": unique("临时")}, headers=headers))
    t.member, t.wallet = throwaway["id"], throwaway["wallet_account_id"]
    body = {
        "kind": "award",
        "postings": [{"account_id": t.issuance, "amount": -50}, {"account_id": t.wallet, "amount": 50}],
    }
    t.entry = (await _ok(await c.post(f"{base}/entries", json=body, headers={**headers, "Idempotency-Key": key()})))[
        "id"
    ]
    hold = {"account_id": t.wallet, "counter_account_id": t.sink, "amount": 1, "timeout_s": 3600}
    t.hold = (await _ok(await c.post(f"{base}/holds", json=hold, headers={**headers, "Idempotency-Key": key()})))["id"]
    return t


async def _person_id(owner: asyncpg.Connection, phone: str) -> int:
    person_id: int | None = await owner.fetchval("SELECT id FROM points.people WHERE phone = $1", phone)
    assert person_id is not None, phone
    return person_id


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def matrix_client(database_url: str) -> AsyncIterator[Client]:
    """An app of its own, so that the matrix's login attempts do not use up the shared client's rate limit."""
    async with AsyncTestClient(app=create_app(app_settings(), database_url=database_url)) as c:
        yield c


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(database_url: str, engine: AsyncEngine, client: Client, matrix_client: Client) -> World:
    owner = await asyncpg.connect(plain_url(database_url))
    try:
        async with db.connection(engine) as conn:

            async def caller(name: str, phone: str, **kw: Any) -> Caller:
                person = await _person_id(owner, phone)
                token = await bearer_token(conn, person)
                await bearer_token(conn, person)  # a second one, for revokeToken
                spare = await owner.fetchval("SELECT max(id) FROM points.api_tokens WHERE person_id = $1", person)
                return Caller(name, token, spare_token_id=spare, **kw)

            # community A: opened by the operator, run by its own admin
            admin_phone = new_phone()
            slug_a = new_slug()
            admin = {"display_name": "管理员甲", "phone": admin_phone, "password": "admin-a-password-1"}
            await _ok(await client.post(API, json={"slug": slug_a, "name": "甲社区", "admin": admin}))
            admin_a = await caller("admin", admin_phone, roles=frozenset({"admin", "volunteer"}))
            a = await _furnish(matrix_client, admin_a.headers(), slug_a)

            callers = [Caller("anonymous")]
            for name, roles in (
                ("volunteer", ["volunteer"]),
                ("organizer", ["organizer", "volunteer"]),
                ("clerk", ["clerk", "volunteer"]),
            ):
                phone = new_phone()
                body = {"display_name": unique(name), "phone": phone, "password": f"{name}-password-1", "roles": roles}
                m = await _ok(await matrix_client.post(f"{API}/{slug_a}/members", json=body, headers=admin_a.headers()))
                callers.append(await caller(name, phone, roles=frozenset(roles), wallet=m["wallet_account_id"]))
            callers.append(admin_a)

            # community B: its own admin, a different person, who is nobody in A
            admin_b_phone = new_phone()
            await make_person(owner, admin_b_phone, "admin-b-password-1")
            slug_b = new_slug()
            admin = {"display_name": "管理员乙", "phone": admin_b_phone}
            await _ok(await client.post(API, json={"slug": slug_b, "name": "乙社区", "admin": admin}))
            admin_b = await caller("admin_of_other", admin_b_phone, roles=frozenset())
            b = await _furnish(matrix_client, admin_b.headers(), slug_b)
            callers.append(admin_b)

            # the street (街道) A lies in, and a person who administers it without being a member of A
            city = await _ok(await client.post("/api/v1/regions", json={"level": "city", "name": unique("市")}))
            street = await _ok(
                await client.post(
                    "/api/v1/regions", json={"level": "street", "name": unique("街道"), "parent_id": city["id"]}
                )
            )
            await _ok(
                await client.post(f"{API}/{slug_a}/street", json={"street_id": street["id"]}),
                200,
            )
            street_phone = new_phone()
            await make_person(owner, street_phone, "street-password-1")
            await _ok(await client.post(f"/api/v1/regions/{street['id']}/admins", json={"phone": street_phone}), 200)
            callers.append(await caller("street_admin", street_phone, roles=frozenset({"street_admin"})))
            bystander_phone = new_phone()
            await make_person(owner, bystander_phone, "bystander-password-1")

            # a platform operator who belongs to no community
            operator_phone = new_phone()
            await make_person(owner, operator_phone, "operator-password-2", operator=True)
            callers.append(await caller("operator", operator_phone, is_operator=True))
    finally:
        await owner.close()
    world = World(a, b, callers, admin_a, street["id"], bystander_phone)
    world.wallets = {c.name: c.wallet for c in callers if c.wallet is not None}
    return world


# ---- 2. the matrix ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    json: Any = None
    content: str | None = None
    params: dict[str, str] | None = None
    headers: dict[str, str] | None = None


def _bodies(w: World, c: Caller) -> dict[str, dict[str, Any]]:
    """A minimal valid request for each operation that needs more than its path, harmless to send repeatedly."""
    a = w.a
    idem = {"headers": {"Idempotency-Key": key()}}
    return {
        "login": {"json": {"phone": new_phone(), "password": "not-the-password"}},
        "changePassword": {"json": {"current_password": "not-the-password", "new_password": "whatever-new-1"}},
        "createToken": {"json": {"name": unique("t"), "days": 1}},
        "createCommunity": {"json": {"slug": new_slug(), "name": "矩阵社区"}},
        "addUnit": {"json": {"code": unique("u"), "name": "分钟"}},
        "createPlace": {"json": {"level": "compound", "name": unique("小区")}},
        "createHousehold": {"json": {"label": unique("户")}},
        "createMember": {"json": {"display_name": unique("新成员")}},
        "updateMember": {"json": {"status": "active"}},
        "importMembers": {
            "content": f"name,roles\n{unique('导入')},volunteer\n",
            "headers": {"Content-Type": "text/csv"},
        },
        "grantRole": {"json": {"role": "volunteer"}},
        "openAccount": {"json": {"code": unique("pool:")}},
        "createRegion": {"json": {"level": "city", "name": unique("市")}},
        "grantStreetAdmin": {"json": {"phone": w.bystander_phone}},
        "setCommunityStreet": {"json": {"street_id": w.street}},
        "getBalanceAsOf": {"params": {"at": datetime.now(UTC).isoformat()}},
        "postEntry": {
            "json": {
                "kind": "award",
                "postings": [{"account_id": a.issuance, "amount": -1}, {"account_id": a.sink, "amount": 1}],
            },
            **idem,
        },
        "reverseEntry": {"json": {"reason": "authorization matrix"}, **idem},
        "placeHold": {
            "json": {"account_id": a.issuance, "counter_account_id": a.sink, "amount": 1, "timeout_s": 60},
            **idem,
        },
        "postHold": {"json": {}, **idem},
        # the supermarket: a good named by a missing id answers 404, a code nobody issued 422, to those admitted
        "createGood": {"json": {"name": unique("肥皂"), "price": 15}},
        "updateGood": {"json": {"name": "肥皂", "price": 15}},
        "moveStock": {"json": {"kind": "restock", "quantity": 1, "reason": "matrix"}},
        "previewBasket": {"json": {"payment_code": "123456789012345678", "lines": [{"good_id": MISSING_ID}]}},
        "redeemBasket": {
            "json": {"payment_code": "123456789012345678", "lines": [{"good_id": MISSING_ID}]},
            **idem,
        },
        "returnGoods": {"json": {"reason": "matrix"}, **idem},
        "issueMemberCard": {"json": {"pin": "1234"}},
    }


def _fill(template: str, values: dict[str, Any]) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in values:
            raise KeyError(name)
        return str(values[name])

    return re.sub(r"\{([^}:]+)(?::[^}]*)?\}", one, template)


def _build(w: World, c: Caller, path: str, method: str, op_id: str, account_id: int) -> Call:
    values = {
        "slug": w.a.slug,
        "account_id": account_id,
        "entry_id": w.a.entry,
        "hold_id": w.a.hold,
        "member_id": w.a.member,
        "role": "volunteer",
        "token_id": c.spare_token_id if c.spare_token_id is not None else w.admin_a.spare_token_id,
        "code": "forbidden",
        "region_id": w.street,
        # earning: ids that exist nowhere; a caller the policy admits gets 404 (or 400 for its missing body)
        "type_id": 999_999_999,
        "activity_id": 999_999_999,
        "award_id": 999_999_999,
        "report_id": 999_999_999,
        "photo_id": 999_999_999,
        "good_id": 999_999_999,
        "number": 999_999_999,
        "listing_id": 999_999_999,  # the swap table's
        "proposal_id": 999_999_999,
        "objection_id": 999_999_999,  # the 公示 window's
        "order_id": 999_999_999,  # service orders'
        "unit_id": 999_999_999,
    }
    extra = _bodies(w, c).get(op_id, {})
    return Call(method, _fill(path, values), **extra)


async def send(client: Client, c: Caller, call: Call) -> httpx.Response:
    client.cookies.clear()  # every caller is who its token says, never a leftover session
    headers = {**c.headers(), **(call.headers or {})}
    return await client.request(
        call.method.upper(), call.path, json=call.json, content=call.content, params=call.params, headers=headers
    )


def expected(rule: Rule, c: Caller, in_community: bool, account_id: int | None) -> bool:
    if rule.public:
        return True
    if c.token is None:
        return False
    if rule.signed_in:
        return True
    if rule.operator and c.is_operator:
        return True
    if in_community and c.roles & rule.roles:
        return True
    return in_community and rule.own_account and account_id is not None and account_id == c.wallet


async def test_authorization_matrix(anonymous_client: Client, matrix_client: Client, world: World) -> None:
    w = world
    ops = await openapi_operations(anonymous_client)
    mismatches: list[str] = []
    cells = 0
    for path, method, op in ops:
        op_id = op.get("operationId")
        rule = POLICY.get(op_id)
        if rule is None:
            mismatches.append(f"{method.upper()} {path}: {op_id!r} has no policy")
            continue
        in_community = "{slug" in path
        for c in w.callers:
            accounts: list[tuple[str, int | None]] = [("", None)]
            if "{account_id" in path:
                own = c.wallet if c.wallet is not None else w.wallets["volunteer"]
                other = w.wallets["organizer"] if own == w.wallets["volunteer"] else w.wallets["volunteer"]
                accounts = [
                    ("own wallet" if c.wallet else "a member's wallet", own),
                    ("another member's wallet", other),
                ]
            for label, account_id in accounts:
                try:
                    call = _build(w, c, path, method, op_id, account_id or w.a.wallet)
                except KeyError as missing:
                    mismatches.append(f"{method.upper()} {path}: no value for path parameter {missing}")
                    break
                r = await send(matrix_client, c, call)
                cells += 1
                if r.status_code >= 500:
                    mismatches.append(f"{op_id} {method.upper()} {call.path} as {c.name}: {r.status_code} {r.text}")
                    continue
                allowed = not denied(r)
                want = expected(rule, c, in_community, account_id)
                if allowed != want:
                    where = f" ({label})" if label else ""
                    mismatches.append(
                        f"{op_id} {method.upper()} {call.path}{where} as {c.name}: policy says "
                        f"{'allowed' if want else 'denied'} [{rule.describe()}], got {r.status_code} {code_of(r)}"
                    )
    assert cells > 100, cells
    assert not mismatches, f"{len(mismatches)} of {cells} calls disagree with the policy:\n" + "\n".join(mismatches)


async def test_own_wallet_is_readable_and_another_members_is_not(matrix_client: Client, world: World) -> None:
    """The own_account rule, seen from a volunteer's phone: their wallet, not their neighbour's."""
    volunteer = next(c for c in world.callers if c.name == "volunteer")
    base = f"{API}/{world.a.slug}/accounts"
    mine = await send(matrix_client, volunteer, Call("get", f"{base}/{world.wallets['volunteer']}"))
    assert mine.status_code == 200, mine.text
    assert mine.json()["id"] == world.wallets["volunteer"]
    theirs = await send(matrix_client, volunteer, Call("get", f"{base}/{world.wallets['organizer']}/history"))
    assert theirs.status_code == 403, theirs.text


# ---- 3. cross-tenant ids ---------------------------------------------------------------------------


async def test_ids_from_another_community_answer_like_missing_ones(matrix_client: Client, world: World) -> None:
    a, b, admin = world.a, world.b, world.admin_a
    base = f"{API}/{a.slug}"
    at = {"at": datetime.now(UTC).isoformat()}

    def calls(account: int, entry: int, hold: int, member: int) -> dict[str, Call]:
        return {
            "getAccount": Call("get", f"{base}/accounts/{account}"),
            "getBalanceAsOf": Call("get", f"{base}/accounts/{account}/balance-as-of", params=at),
            "getAccountHistory": Call("get", f"{base}/accounts/{account}/history"),
            "getEntry": Call("get", f"{base}/entries/{entry}"),
            "reverseEntry": Call(
                "post", f"{base}/entries/{entry}/reversal", json={"reason": "x"}, headers={"Idempotency-Key": key()}
            ),
            "getHold": Call("get", f"{base}/holds/{hold}"),
            "postHold": Call("post", f"{base}/holds/{hold}/post", json={}, headers={"Idempotency-Key": key()}),
            "voidHold": Call("post", f"{base}/holds/{hold}/void"),
            "getMember": Call("get", f"{base}/members/{member}"),
            "updateMember": Call("post", f"{base}/members/{member}/status", json={"status": "suspended"}),
            "grantRole": Call("post", f"{base}/members/{member}/roles", json={"role": "organizer"}),
            "revokeRole": Call("post", f"{base}/members/{member}/roles/volunteer/revoke"),
            "postEntry (B's accounts)": Call(
                "post",
                f"{base}/entries",
                json={
                    "kind": "award",
                    "postings": [{"account_id": account, "amount": -1}, {"account_id": a.sink, "amount": 1}],
                },
                headers={"Idempotency-Key": key()},
            ),
            "placeHold (B's account)": Call(
                "post",
                f"{base}/holds",
                json={"account_id": account, "counter_account_id": a.sink, "amount": 1},
                headers={"Idempotency-Key": key()},
            ),
        }

    foreign = calls(b.wallet, b.entry, b.hold, b.member)
    missing = calls(MISSING_ID, MISSING_ID, MISSING_ID, MISSING_ID)
    differences = []
    for name, call in foreign.items():
        theirs = await send(matrix_client, admin, call)
        nothing = await send(matrix_client, admin, missing[name])
        assert nothing.status_code == 404, f"{name} with a missing id: {nothing.status_code} {nothing.text}"
        if (theirs.status_code, code_of(theirs)) != (nothing.status_code, code_of(nothing)):
            differences.append(
                f"{name}: B's id -> {theirs.status_code} {code_of(theirs)}, "
                f"missing id -> {nothing.status_code} {code_of(nothing)}"
            )
    assert not differences, "ids from another community are told apart from missing ones:\n" + "\n".join(differences)

    # and nothing in B moved: its entry is not reversed, its hold still open, its member untouched
    b_admin = next(c for c in world.callers if c.name == "admin_of_other")
    hold = await send(matrix_client, b_admin, Call("get", f"{API}/{b.slug}/holds/{b.hold}"))
    assert hold.status_code == 200, hold.text
    assert hold.json()["status"] == "active", hold.json()
    entry = await send(matrix_client, b_admin, Call("get", f"{API}/{b.slug}/entries/{b.entry}"))
    assert entry.json()["reversed_by_entry_id"] is None, entry.json()
    member = await send(matrix_client, b_admin, Call("get", f"{API}/{b.slug}/members/{b.member}"))
    assert member.json()["status"] == "active", member.json()
