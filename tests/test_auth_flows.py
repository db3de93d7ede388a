"""Signing in and staying signed in, through HTTP: sessions, CSRF, lockout, rate limits, tokens, audit, proxy.

Tests that depend on cookies or on the in-memory login rate limiter use an app of their own
(``fresh``), so that neither leaks between tests. People and communities are made through the
operator's ``client``, exactly as a community admin would.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

import points.auth.access
from points.app import create_app
from points.auth import recent
from points.auth.web import LOGIN_ATTEMPTS_PER_MINUTE
from points.settings import Settings
from tests.conftest import OPERATOR_PHONE, bearer_token
from tests.conftest import test_settings as quiet_settings
from tests.test_api import API, assert_problem, create_community, key, open_account

Client = AsyncTestClient[Any]
PASSWORD = "secret-password-1"


def new_phone() -> str:
    return "137" + str(uuid.uuid4().int)[:8]


@pytest.fixture
async def fresh(database_url: str) -> AsyncIterator[Client]:
    """An app of this test's own: its own cookie jar and its own login rate limiter."""
    async with AsyncTestClient(app=create_app(quiet_settings(), database_url=database_url)) as c:
        yield c


async def add_member(
    client: Client, slug: str, *, roles: list[str] | None = None, phone: str | None = None, password: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"display_name": "居民", "roles": roles or ["volunteer"]}
    if phone is not None:
        body["phone"] = phone
    if password is not None:
        body["password"] = password
    r = await client.post(f"{API}/{slug}/members", json=body)
    assert r.status_code == 201, r.text
    member: dict[str, Any] = r.json()
    return member


async def signed_up(client: Client, roles: list[str] | None = None) -> tuple[str, str, dict[str, Any]]:
    """A community and a member of it who can sign in: (slug, phone, member)."""
    slug = await create_community(client)
    phone = new_phone()
    member = await add_member(client, slug, roles=roles, phone=phone, password=PASSWORD)
    return slug, phone, member


async def login(c: Client, phone: str, password: str = PASSWORD, **kw: Any) -> Any:
    return await c.post("/api/v1/login", json={"phone": phone, "password": password}, **kw)


async def attempt(c: Client, phone: str, password: str = PASSWORD) -> Any:
    """A login from a client holding no cookies (like curl, or a terminal app): no CSRF token needed."""
    c.cookies.clear()
    return await login(c, phone, password)


def use_cookie(c: Client, name: str, value: str) -> None:
    """Make the client hold exactly this cookie (e.g. replaying an old session id)."""
    c.cookies.clear()
    c.cookies.set(name, value)


async def csrf_token(c: Client) -> str:
    r = await c.get("/api/v1/me")
    assert r.status_code == 200, r.text
    token = c.cookies.get("csrftoken")
    assert token
    return token


async def person_id(owner: asyncpg.Connection, phone: str) -> int:
    found: int = await owner.fetchval("SELECT id FROM points.people WHERE phone = $1", phone)
    return found


# --- sessions ------------------------------------------------------------------------------------


async def test_login_sets_an_httponly_session_cookie_and_me_answers_masked(client: Client, fresh: Client) -> None:
    slug, phone, member = await signed_up(client, roles=["volunteer", "organizer"])
    r = await login(fresh, phone)
    assert r.status_code == 200, r.text
    cookies = [h for h in r.headers.get_list("set-cookie") if h.startswith("session=")]
    assert len(cookies) == 1
    assert "httponly" in cookies[0].lower()
    assert "samesite=lax" in cookies[0].lower()
    assert phone not in r.text

    me = await fresh.get("/api/v1/me")
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["phone"] == phone[:3] + "****" + phone[-4:]
    assert phone not in me.text
    assert body["signed_in_by"] == "session"
    assert body["is_operator"] is False
    [membership] = body["memberships"]
    assert membership["slug"] == slug
    assert membership["member_id"] == member["id"]
    assert sorted(membership["roles"]) == ["organizer", "volunteer"]


async def test_anonymous_me_is_401(fresh: Client) -> None:
    r = await fresh.get("/api/v1/me")
    assert r.status_code == 401, r.text


async def test_session_id_changes_at_login_and_the_old_one_dies(client: Client, fresh: Client) -> None:
    _, phone, _ = await signed_up(client)
    assert (await login(fresh, phone)).status_code == 200
    first = fresh.cookies["session"]
    token = await csrf_token(fresh)
    r = await login(fresh, phone, headers={"x-csrftoken": token})  # logging in again, holding the first cookie
    assert r.status_code == 200, r.text
    second = fresh.cookies["session"]
    assert second != first
    assert (await fresh.get("/api/v1/me")).status_code == 200

    use_cookie(fresh, "session", first)
    assert (await fresh.get("/api/v1/me")).status_code == 401
    use_cookie(fresh, "session", second)
    assert (await fresh.get("/api/v1/me")).status_code == 200


async def test_logout_revokes_the_session_even_if_the_cookie_is_replayed(client: Client, fresh: Client) -> None:
    _, phone, _ = await signed_up(client)
    assert (await login(fresh, phone)).status_code == 200
    cookie = fresh.cookies["session"]
    token = await csrf_token(fresh)
    r = await fresh.post("/api/v1/logout", headers={"x-csrftoken": token})
    assert r.status_code == 200, r.text
    assert (await fresh.get("/api/v1/me")).status_code == 401

    use_cookie(fresh, "session", cookie)
    assert (await fresh.get("/api/v1/me")).status_code == 401


async def test_session_writes_need_the_csrf_header_bearer_writes_do_not(client: Client, fresh: Client) -> None:
    _, phone, _ = await signed_up(client)
    assert (await login(fresh, phone)).status_code == 200
    token = await csrf_token(fresh)

    refused = await fresh.post("/api/v1/me/tokens", json={"name": "no csrf"})
    assert refused.status_code == 403, refused.text
    wrong = await fresh.post("/api/v1/me/tokens", json={"name": "bad csrf"}, headers={"x-csrftoken": "forged"})
    assert wrong.status_code == 403, wrong.text
    listed = await fresh.get("/api/v1/me/tokens")
    assert listed.json() == []

    ok = await fresh.post("/api/v1/me/tokens", json={"name": "with csrf"}, headers={"x-csrftoken": token})
    assert ok.status_code == 201, ok.text
    secret = ok.json()["token"]

    fresh.cookies.clear()
    by_bearer = await fresh.post(
        "/api/v1/me/tokens", json={"name": "by bearer"}, headers={"Authorization": f"Bearer {secret}"}
    )
    assert by_bearer.status_code == 201, by_bearer.text


async def test_absolute_timeout_ends_a_session(client: Client, fresh: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    _, phone, _ = await signed_up(client)
    assert (await login(fresh, phone)).status_code == 200
    assert (await fresh.get("/api/v1/me")).status_code == 200
    monkeypatch.setattr(points.auth.access, "SESSION_ABSOLUTE_S", 0)
    assert (await fresh.get("/api/v1/me")).status_code == 401
    monkeypatch.setattr(points.auth.access, "SESSION_ABSOLUTE_S", 12 * 3600)
    # signed out for good: the store forgot it, so restoring the limit does not bring it back
    assert (await fresh.get("/api/v1/me")).status_code == 401


async def test_idle_timeout_the_store_forgets_an_expired_session(
    client: Client, fresh: Client, owner_conn: asyncpg.Connection
) -> None:
    _, phone, _ = await signed_up(client)
    assert (await login(fresh, phone)).status_code == 200
    cookie = fresh.cookies["session"]
    assert (await fresh.get("/api/v1/me")).status_code == 200
    status = await owner_conn.execute(
        "UPDATE points.sessions SET expires_at = now() - interval '1 second' WHERE key_hash = $1",
        hashlib.sha256(cookie.encode()).digest(),
    )
    assert status == "UPDATE 1"
    assert (await fresh.get("/api/v1/me")).status_code == 401


# --- login failures, lockout, rate limit -----------------------------------------------------------


async def test_wrong_password_and_unknown_phone_look_the_same(client: Client, fresh: Client) -> None:
    _, phone, _ = await signed_up(client)
    wrong_password = await attempt(fresh, phone, "not-the-password")
    unknown_phone = await attempt(fresh, new_phone(), PASSWORD)
    for r in (wrong_password, unknown_phone):
        problem = await assert_problem(fresh, r, 401, "login_failed")
        assert "session" not in r.cookies
    assert wrong_password.json()["detail"] == unknown_phone.json()["detail"]
    assert (await fresh.get("/api/v1/me")).status_code == 401
    assert phone not in problem["detail"]


async def test_five_failures_lock_the_account_until_cleared(
    client: Client, fresh: Client, owner_conn: asyncpg.Connection
) -> None:
    _, phone, _ = await signed_up(client)
    for _ in range(4):
        await assert_problem(fresh, await attempt(fresh, phone, "wrong-password"), 401, "login_failed")
    fifth = await attempt(fresh, phone, "wrong-password")
    await assert_problem(fresh, fifth, 423, "account_locked")
    locked = await attempt(fresh, phone)  # the right password does not help now
    problem = await assert_problem(fresh, locked, 423, "account_locked")
    assert problem["locked_until"]
    assert (await fresh.get("/api/v1/me")).status_code == 401

    await owner_conn.execute("UPDATE points.people SET locked_until = NULL WHERE phone = $1", phone)
    r = await attempt(fresh, phone)
    assert r.status_code == 200, r.text
    assert await owner_conn.fetchval("SELECT failed_logins FROM points.people WHERE phone = $1", phone) == 0
    # the counter started over: one more mistake is just a mistake
    await assert_problem(fresh, await attempt(fresh, phone, "wrong-password"), 401, "login_failed")


async def test_login_attempts_per_address_are_rate_limited(fresh: Client) -> None:
    limit = LOGIN_ATTEMPTS_PER_MINUTE
    for _ in range(limit):
        r = await attempt(fresh, new_phone(), "whatever-password")
        assert r.status_code == 401, r.text
    r = await attempt(fresh, new_phone(), "whatever-password")
    assert r.status_code == 429, r.text
    assert r.json()["code"] == "too_many_requests"
    # other operations are not throttled
    assert (await fresh.get("/health")).status_code == 200


# --- tokens --------------------------------------------------------------------------------------


async def test_token_lifecycle(client: Client, fresh: Client, owner_conn: asyncpg.Connection) -> None:
    _, phone, _ = await signed_up(client)
    assert (await login(fresh, phone)).status_code == 200
    csrf = {"x-csrftoken": await csrf_token(fresh)}
    r = await fresh.post("/api/v1/me/tokens", json={"name": "我的脚本", "days": 30}, headers=csrf)
    assert r.status_code == 201, r.text
    secret = r.json()["token"]
    details = r.json()["details"]
    assert details["kind"] == "personal"
    assert details["revoked_at"] is None

    listed = await fresh.get("/api/v1/me/tokens")
    assert listed.status_code == 200
    assert [t["id"] for t in listed.json()] == [details["id"]]
    assert secret not in listed.text
    assert "token" not in listed.json()[0]

    bearer = {"Authorization": f"Bearer {secret}"}
    fresh.cookies.clear()
    me = await fresh.get("/api/v1/me", headers=bearer)
    assert me.status_code == 200, me.text
    assert me.json()["signed_in_by"] == "token"

    revoked = await fresh.post(f"/api/v1/me/tokens/{details['id']}/revoke", headers=bearer)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None
    assert (await fresh.get("/api/v1/me", headers=bearer)).status_code == 401

    # an expired token (expired before this process ever saw it: recently checked tokens are cached briefly)
    other = await bearer_token_for(client, fresh, phone)
    status = await owner_conn.execute(
        "UPDATE points.api_tokens SET created_at = now() - interval '2 days', expires_at = now() - interval '1 day' "
        "WHERE secret_hash = $1",
        hashlib.sha256(other.encode()).digest(),
    )
    assert status == "UPDATE 1"
    assert (await fresh.get("/api/v1/me", headers={"Authorization": f"Bearer {other}"})).status_code == 401

    # made-up tokens and other schemes
    assert (await fresh.get("/api/v1/me", headers={"Authorization": "Bearer lp_" + "x" * 43})).status_code == 401
    assert (await fresh.get("/api/v1/me", headers={"Authorization": "Basic abc"})).status_code == 401


async def bearer_token_for(client: Client, fresh: Client, phone: str) -> str:
    """A new personal token, made by signing in (the caller's cookies are left cleared)."""
    fresh.cookies.clear()
    assert (await login(fresh, phone)).status_code == 200
    r = await fresh.post(
        "/api/v1/me/tokens", json={"name": "another"}, headers={"x-csrftoken": await csrf_token(fresh)}
    )
    assert r.status_code == 201, r.text
    fresh.cookies.clear()
    secret: str = r.json()["token"]
    return secret


async def test_a_device_token_works_only_in_its_community_and_cannot_make_tokens(
    client: Client, fresh: Client, conn: Any, owner_conn: asyncpg.Connection
) -> None:
    slug_a, phone, _ = await signed_up(client, roles=["clerk"])
    slug_b = await create_community(client)
    await add_member(client, slug_b, roles=["clerk"], phone=phone)
    personal = await bearer_token(conn, await person_id(owner_conn, phone))
    r = await fresh.post(
        "/api/v1/me/tokens",
        json={"name": "柜台终端", "kind": "device", "community": slug_a},
        headers={"Authorization": f"Bearer {personal}"},
    )
    assert r.status_code == 201, r.text
    device = {"Authorization": f"Bearer {r.json()['token']}"}
    assert r.json()["details"]["kind"] == "device"

    assert (await fresh.get(f"{API}/{slug_a}", headers=device)).status_code == 200
    assert (await fresh.get(f"{API}/{slug_b}", headers={"Authorization": f"Bearer {personal}"})).status_code == 200
    await assert_problem(fresh, await fresh.get(f"{API}/{slug_b}", headers=device), 404, "community_not_found")
    me = await fresh.get("/api/v1/me", headers=device)
    assert [m["slug"] for m in me.json()["memberships"]] == [slug_a]

    made = await fresh.post("/api/v1/me/tokens", json={"name": "escalate"}, headers=device)
    await assert_problem(fresh, made, 403, "device_token_not_allowed")
    listed = await fresh.get("/api/v1/me/tokens", headers={"Authorization": f"Bearer {personal}"})
    assert len(listed.json()) == 2  # the personal token and the device token, nothing more

    # a device token names a community of the caller's
    other = await create_community(client)
    r = await fresh.post(
        "/api/v1/me/tokens",
        json={"name": "x", "kind": "device", "community": other},
        headers={"Authorization": f"Bearer {personal}"},
    )
    await assert_problem(fresh, r, 404, "community_not_found")


async def test_change_password(client: Client, fresh: Client) -> None:
    _, phone, _ = await signed_up(client)
    assert (await login(fresh, phone)).status_code == 200
    csrf = {"x-csrftoken": await csrf_token(fresh)}
    wrong = await fresh.post(
        "/api/v1/me/password",
        json={"current_password": "not-it-at-all", "new_password": "new-password-2"},
        headers=csrf,
    )
    await assert_problem(fresh, wrong, 401, "login_failed")
    short = await fresh.post(
        "/api/v1/me/password", json={"current_password": PASSWORD, "new_password": "short"}, headers=csrf
    )
    await assert_problem(fresh, short, 400, "invalid_request")
    ok = await fresh.post(
        "/api/v1/me/password", json={"current_password": PASSWORD, "new_password": "new-password-2"}, headers=csrf
    )
    assert ok.status_code == 200, ok.text

    await assert_problem(fresh, await attempt(fresh, phone, PASSWORD), 401, "login_failed")
    assert (await attempt(fresh, phone, "new-password-2")).status_code == 200


# --- audit trail and personal data ----------------------------------------------------------------


async def test_audit_trail_records_logins_without_phone_numbers_and_role_grants(
    client: Client, fresh: Client, owner_conn: asyncpg.Connection
) -> None:
    slug, phone, member = await signed_up(client)
    who = await person_id(owner_conn, phone)
    assert (await attempt(fresh, phone, "wrong-password")).status_code == 401
    assert (await attempt(fresh, phone)).status_code == 200
    stranger = new_phone()
    assert (await attempt(fresh, stranger, "wrong-password")).status_code == 401

    rows = await owner_conn.fetch(
        "SELECT action, subject, detail::text AS detail, actor_person_id FROM points.audit_log "
        "WHERE action LIKE 'login.%' AND (actor_person_id = $1 OR detail->>'phone' = $2) ORDER BY id",
        who,
        stranger[:3] + "****" + stranger[-4:],
    )
    assert [(r["action"], r["actor_person_id"]) for r in rows] == [
        ("login.failed", who),
        ("login.succeeded", who),
        ("login.failed", None),
    ]
    for r in rows:
        assert phone not in r["detail"] + r["subject"]
        assert stranger not in r["detail"] + r["subject"]
    assert json.loads(rows[0]["detail"])["phone"] == phone[:3] + "****" + phone[-4:]

    r = await client.post(f"{API}/{slug}/members/{member['id']}/roles", json={"role": "organizer"})
    assert r.status_code == 200, r.text
    assert "organizer" in r.json()["roles"]
    granted = await owner_conn.fetchrow(
        "SELECT a.actor_person_id, a.detail->>'role' AS role FROM points.audit_log a "
        "JOIN ledger.communities c ON c.id = a.community_id "
        "WHERE c.slug = $1 AND a.action = 'role.granted' AND a.subject = $2",
        slug,
        f"member {member['id']}",
    )
    assert granted is not None
    assert granted["role"] == "organizer"
    assert granted["actor_person_id"] == await person_id(owner_conn, OPERATOR_PHONE)

    # and the admin reads it through the API
    trail = await client.get(f"{API}/{slug}/audit")
    assert trail.status_code == 200, trail.text
    assert "role.granted" in [a["action"] for a in trail.json()]


async def test_the_app_role_cannot_edit_or_delete_the_audit_trail(
    conn: Any, owner_conn: asyncpg.Connection, client: Client, fresh: Client
) -> None:
    _, phone, _ = await signed_up(client)
    assert (await login(fresh, phone, "wrong-password")).status_code == 401
    who = await person_id(owner_conn, phone)
    row_id = await owner_conn.fetchval(
        "SELECT id FROM points.audit_log WHERE actor_person_id = $1 AND action = 'login.failed'", who
    )
    assert row_id is not None
    for sql in (
        "UPDATE points.audit_log SET action = 'login.succeeded' WHERE id = $1",
        "DELETE FROM points.audit_log WHERE id = $1",
    ):
        with pytest.raises(asyncpg.PostgresError) as caught:
            await conn.execute(sql, row_id)
        error = caught.value
        assert isinstance(error, asyncpg.InsufficientPrivilegeError) or error.sqlstate == "LE020", error
    assert await owner_conn.fetchval("SELECT action FROM points.audit_log WHERE id = $1", row_id) == "login.failed"


async def test_phone_numbers_never_reach_the_log(
    database_url: str, client: Client, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    _, phone, _ = await signed_up(client)
    settings = Settings.from_env({"POINTS_REQUEST_LOG": "1", "POINTS_LOG_LEVEL": "debug"})
    try:
        async with AsyncTestClient(app=create_app(settings, database_url=database_url)) as logged:
            capfd.readouterr()
            caplog.clear()
            with caplog.at_level("DEBUG"):
                assert (await attempt(logged, phone, "wrong-password")).status_code == 401
                assert (await attempt(logged, phone + "9", "wrong-password")).status_code == 401
                assert (await attempt(logged, phone)).status_code == 200
            out, err = capfd.readouterr()
    finally:
        create_app(quiet_settings(), database_url=database_url)  # back to the quiet logging of the other tests
    written = out + err + caplog.text
    assert "/api/v1/login" in written  # the requests were logged ...
    assert phone not in written  # ... without the phone number
    assert PASSWORD not in written


async def test_member_list_masks_phones_for_organizers_not_for_admins(
    client: Client, fresh: Client, conn: Any, owner_conn: asyncpg.Connection
) -> None:
    slug, organizer_phone, _ = await signed_up(client, roles=["organizer"])
    resident_phone = new_phone()
    resident = await add_member(client, slug, phone=resident_phone)
    organizer = {"Authorization": f"Bearer {await bearer_token(conn, await person_id(owner_conn, organizer_phone))}"}

    as_organizer = await fresh.get(f"{API}/{slug}/members", headers=organizer)
    assert as_organizer.status_code == 200, as_organizer.text
    seen = {m["id"]: m["phone"] for m in as_organizer.json()}
    assert seen[resident["id"]] == resident_phone[:3] + "****" + resident_phone[-4:]
    assert resident_phone not in as_organizer.text
    assert OPERATOR_PHONE not in as_organizer.text
    one = await fresh.get(f"{API}/{slug}/members/{resident['id']}", headers=organizer)
    assert one.json()["phone"] == seen[resident["id"]]

    as_admin = await client.get(f"{API}/{slug}/members")
    assert {m["id"]: m["phone"] for m in as_admin.json()}[resident["id"]] == resident_phone


# --- proxy (代办) ---------------------------------------------------------------------------------


async def test_an_admin_acting_for_a_phoneless_member_is_recorded_as_by_x_for_y(client: Client) -> None:
    slug = await create_community(client)
    elder = await add_member(client, slug)  # no phone: never signs in
    assert elder["phone"] is None
    admin_member = next(m for m in (await client.get(f"{API}/{slug}/members")).json() if "admin" in m["roles"])
    issuance = await open_account(client, slug, "issuance", normal_side="debit", lower_bound=None)
    body = {
        "kind": "award",
        "postings": [
            {"account_id": issuance["id"], "amount": -5},
            {"account_id": elder["wallet_account_id"], "amount": 5},
        ],
    }
    r = await client.post(
        f"{API}/{slug}/entries", json=body, headers={"Idempotency-Key": key(), "X-On-Behalf-Of": str(elder["id"])}
    )
    assert r.status_code == 201, r.text
    entry = await client.get(f"{API}/{slug}/entries/{r.json()['id']}")
    assert entry.json()["actor"] == f"member:{admin_member['id']} for member:{elder['id']}"

    plain = await client.post(f"{API}/{slug}/entries", json=body, headers={"Idempotency-Key": key()})
    assert plain.status_code == 201, plain.text
    entry = await client.get(f"{API}/{slug}/entries/{plain.json()['id']}")
    assert entry.json()["actor"] == f"member:{admin_member['id']}"

    # on behalf of someone who is not a member here, or of nonsense: refused, nothing posted
    other = await create_community(client)
    outsider = await add_member(client, other)
    before = (await client.get(f"{API}/{slug}/accounts/{elder['wallet_account_id']}")).json()["balance"]
    for header, status in ((str(outsider["id"]), 404), ("not-a-number", 400)):
        r = await client.post(
            f"{API}/{slug}/entries", json=body, headers={"Idempotency-Key": key(), "X-On-Behalf-Of": header}
        )
        assert r.status_code == status, r.text
    after = (await client.get(f"{API}/{slug}/accounts/{elder['wallet_account_id']}")).json()["balance"]
    assert after == before == 10


async def test_a_volunteer_cannot_act_on_behalf_of_anyone(
    client: Client, fresh: Client, conn: Any, owner_conn: asyncpg.Connection
) -> None:
    """Every operation that records an actor is admin-only today, so the policy guard refuses a volunteer before
    the X-On-Behalf-Of check in actor_of (points/ledger_web.py) is reached; this pins the user-visible outcome
    (403, nothing posted)."""
    slug, phone, volunteer = await signed_up(client)
    elder = await add_member(client, slug)
    issuance = await open_account(client, slug, "issuance", normal_side="debit", lower_bound=None)
    token = await bearer_token(conn, await person_id(owner_conn, phone))
    body = {
        "kind": "award",
        "postings": [
            {"account_id": issuance["id"], "amount": -5},
            {"account_id": elder["wallet_account_id"], "amount": 5},
        ],
    }
    r = await fresh.post(
        f"{API}/{slug}/entries",
        json=body,
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key(), "X-On-Behalf-Of": str(elder["id"])},
    )
    await assert_problem(fresh, r, 403, "forbidden")
    balance = await client.get(f"{API}/{slug}/accounts/{elder['wallet_account_id']}")
    assert balance.json()["balance"] == 0
    assert volunteer["roles"] == ["volunteer"]


# --- anonymous callers carry no session -----------------------------------------------------------


async def test_a_failed_login_can_be_retried_by_a_browser(client: Client, fresh: Client) -> None:
    """A browser keeps its cookie jar between attempts; a failed login must not leave it a session cookie
    that would make the retry need a CSRF token it was never given."""
    _, phone, _ = await signed_up(client)
    await assert_problem(fresh, await login(fresh, phone, "wrong-password"), 401, "login_failed")
    retry = await login(fresh, phone)  # same browser, same cookie jar
    assert retry.status_code == 200, retry.text


async def test_anonymous_requests_do_not_create_sessions(fresh: Client, owner_conn: asyncpg.Connection) -> None:
    before = await owner_conn.fetchval("SELECT count(*) FROM points.sessions")
    for path in ("/health", "/api/v1/me", "/problems/login_failed"):
        r = await fresh.get(path)
        assert "session" not in r.cookies, path
    assert await owner_conn.fetchval("SELECT count(*) FROM points.sessions") == before


# --- access remembered for a few seconds (points/auth/recent.py) ---------------------------------


async def test_a_revoked_role_is_refused_on_the_very_next_request(
    client: Client, conn: Any, owner_conn: asyncpg.Connection
) -> None:
    """Roles are remembered per person and community for a few seconds, but a change made through the API
    is seen at once by this process."""
    slug, phone, member = await signed_up(client, roles=["admin"])
    mine = {"Authorization": f"Bearer {await bearer_token(conn, await person_id(owner_conn, phone))}"}
    assert (await client.get(f"{API}/{slug}/trial-balance", headers=mine)).status_code == 200
    revoked = await client.post(f"{API}/{slug}/members/{member['id']}/roles/admin/revoke")
    assert revoked.status_code == 200, revoked.text
    await assert_problem(client, await client.get(f"{API}/{slug}/trial-balance", headers=mine), 403, "forbidden")
    # and a new grant works at once too
    granted = await client.post(f"{API}/{slug}/members/{member['id']}/roles", json={"role": "admin"})
    assert granted.status_code in (200, 201), granted.text
    assert (await client.get(f"{API}/{slug}/trial-balance", headers=mine)).status_code == 200


async def test_a_change_made_elsewhere_is_seen_within_seconds(
    client: Client, conn: Any, owner_conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another server process (here: SQL by hand) revokes a role: this process may keep the old roles for
    at most RECENT_S seconds, never longer."""
    slug, phone, member = await signed_up(client, roles=["admin"])
    mine = {"Authorization": f"Bearer {await bearer_token(conn, await person_id(owner_conn, phone))}"}
    assert (await client.get(f"{API}/{slug}/trial-balance", headers=mine)).status_code == 200
    await owner_conn.execute(
        "UPDATE points.role_grants SET revoked_at = now() WHERE member_id = $1 AND revoked_at IS NULL", member["id"]
    )
    assert (await client.get(f"{API}/{slug}/trial-balance", headers=mine)).status_code == 200  # remembered
    later = time.monotonic() + recent.RECENT_S + 0.1
    monkeypatch.setattr(recent.time, "monotonic", lambda: later)
    await assert_problem(client, await client.get(f"{API}/{slug}/trial-balance", headers=mine), 403, "forbidden")


async def test_remembered_access_still_puts_each_request_in_its_own_community(
    client: Client, conn: Any, owner_conn: asyncpg.Connection
) -> None:
    """One person, admin of two communities, alternating between them on one token: every answer holds only
    the rows of the community in its path (row-level security's tenant follows the request, not the cache)."""
    slug_a, phone, _ = await signed_up(client, roles=["admin"])
    slug_b = await create_community(client)
    await add_member(client, slug_b, roles=["admin"], phone=phone)
    await open_account(client, slug_a, "escrow:only-in-a", lower_bound=None)
    await open_account(client, slug_b, "escrow:only-in-b", lower_bound=None)
    mine = {"Authorization": f"Bearer {await bearer_token(conn, await person_id(owner_conn, phone))}"}
    for slug, own, other in [(slug_a, "a", "b"), (slug_b, "b", "a")] * 3:
        r = await client.get(f"{API}/{slug}/accounts", headers=mine)
        assert r.status_code == 200, r.text
        codes = {a["code"] for a in r.json()}
        assert f"escrow:only-in-{own}" in codes
        assert f"escrow:only-in-{other}" not in codes


async def test_a_suspended_member_is_refused_on_the_very_next_request(
    client: Client, conn: Any, owner_conn: asyncpg.Connection
) -> None:
    slug, phone, member = await signed_up(client, roles=["admin"])
    mine = {"Authorization": f"Bearer {await bearer_token(conn, await person_id(owner_conn, phone))}"}
    assert (await client.get(f"{API}/{slug}/trial-balance", headers=mine)).status_code == 200
    suspended = await client.post(f"{API}/{slug}/members/{member['id']}/status", json={"status": "suspended"})
    assert suspended.status_code == 200, suspended.text
    await assert_problem(client, await client.get(f"{API}/{slug}/trial-balance", headers=mine), 403, "forbidden")
