"""Sign-in and tenancy in depth, tried the way a careless or hostile caller would (issue 7, section 4).

- Changing a password ends every other session and token of that person; a refused change writes nothing.
- A device token stays in its community: it lists only that one and cannot manage tokens or the password.
- The login rate limit and the audit trail count the real client address, not a made-up X-Forwarded-For;
  only a configured trusted proxy may name the client. Tried through `points serve` itself, since uvicorn's
  own proxy handling (on by default for local peers) is part of what is tested.
- A CSRF token works only with the session it was issued for.
"""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from points.auth.access import SESSION_IDLE_S
from points.auth.session_store import PostgresSessionStore
from points.auth.sessions import SESSION_COOKIE, RotatingSessionBackend, SessionConfig
from points.auth.web import SESSION_STORE
from points.settings import Settings, SettingsError
from tests.conftest import bearer_token, plain_url
from tests.test_api import API, assert_problem, create_community
from tests.test_auth_flows import (
    PASSWORD,
    Client,
    add_member,
    attempt,
    bearer_token_for,
    csrf_token,
    new_phone,
    person_id,
    signed_up,
    use_cookie,
)
from tests.test_auth_flows import fresh as fresh  # a fixture (an app of the test's own), re-exported
from tests.test_cli import POINTS, free_port, points_env, wait_for_health

NEW_PASSWORD = "a-new-password-2"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def change_password(c: Client, new: str, *, current: str = PASSWORD, **headers: str) -> httpx.Response:
    body = {"current_password": current, "new_password": new}
    return await c.post("/api/v1/me/password", json=body, headers=headers)


async def audit_rows(owner: asyncpg.Connection, who: int) -> list[Any]:
    rows: list[Any] = await owner.fetch(
        "SELECT action, detail, remote_addr FROM points.audit_log WHERE actor_person_id = $1 ORDER BY id", who
    )
    return rows


# --- a password change ends the other sign-ins -------------------------------------------------------


async def test_a_password_change_ends_every_other_session_and_token(
    client: Client, fresh: Client, owner_conn: asyncpg.Connection
) -> None:
    _, phone, _ = await signed_up(client)
    who = await person_id(owner_conn, phone)
    assert (await attempt(fresh, phone)).status_code == 200
    laptop = fresh.cookies["session"]
    script = await bearer_token_for(client, fresh, phone)  # signs in once more (a third session) to make it
    assert (await fresh.get("/api/v1/me", headers=bearer(script))).status_code == 200  # checked: remembered 5 s

    assert (await attempt(fresh, phone)).status_code == 200
    phone_session = fresh.cookies["session"]
    r = await change_password(fresh, NEW_PASSWORD, **{"x-csrftoken": await csrf_token(fresh)})
    assert r.status_code == 200, r.text

    assert (await fresh.get("/api/v1/me")).status_code == 200, "the session that changed it stays signed in"
    use_cookie(fresh, "session", laptop)
    await assert_problem(fresh, await fresh.get("/api/v1/me"), 401, "unauthorized")
    fresh.cookies.clear()
    await assert_problem(fresh, await fresh.get("/api/v1/me", headers=bearer(script)), 401, "unauthorized")
    use_cookie(fresh, "session", phone_session)
    assert (await fresh.get("/api/v1/me")).status_code == 200

    sessions = await owner_conn.fetch("SELECT key_hash FROM points.sessions WHERE person_id = $1", who)
    assert [s["key_hash"] for s in sessions] == [hashlib.sha256(phone_session.encode()).digest()]
    changed = [row for row in await audit_rows(owner_conn, who) if row["action"] == "password.changed"]
    assert len(changed) == 1
    assert '"sessions_ended": 2' in changed[0]["detail"]
    assert '"tokens_revoked": 1' in changed[0]["detail"]


async def test_a_request_under_way_does_not_bring_an_ended_session_back(
    client: Client, fresh: Client, engine: AsyncEngine
) -> None:
    """Litestar writes a request's session back when its response starts. A request of the laptop's session
    that was under way while the password changed elsewhere finishes after the change: that write must not
    sign the laptop in again."""
    _, phone, _ = await signed_up(client)
    assert (await attempt(fresh, phone)).status_code == 200
    laptop = fresh.cookies["session"]
    store = PostgresSessionStore(engine)  # the app's store, on this test's own pool
    data = await store.get(laptop)
    assert data is not None
    assert (await attempt(fresh, phone)).status_code == 200
    r = await change_password(fresh, NEW_PASSWORD, **{"x-csrftoken": await csrf_token(fresh)})
    assert r.status_code == 200, r.text

    backend = RotatingSessionBackend(SessionConfig(store=SESSION_STORE, key=SESSION_COOKIE, max_age=SESSION_IDLE_S))
    await backend.set(laptop, data, store)  # what the laptop's late response does
    use_cookie(fresh, "session", laptop)
    await assert_problem(fresh, await fresh.get("/api/v1/me"), 401, "unauthorized")


async def test_a_password_changed_with_a_token_keeps_that_token_only(
    client: Client, fresh: Client, conn: Any, owner_conn: asyncpg.Connection
) -> None:
    _, phone, _ = await signed_up(client)
    who = await person_id(owner_conn, phone)
    assert (await attempt(fresh, phone)).status_code == 200
    browser = fresh.cookies["session"]
    fresh.cookies.clear()
    mine, other = await bearer_token(conn, who), await bearer_token(conn, who)

    r = await change_password(fresh, NEW_PASSWORD, **bearer(mine))
    assert r.status_code == 200, r.text
    assert (await fresh.get("/api/v1/me", headers=bearer(mine))).status_code == 200
    await assert_problem(fresh, await fresh.get("/api/v1/me", headers=bearer(other)), 401, "unauthorized")
    use_cookie(fresh, "session", browser)
    await assert_problem(fresh, await fresh.get("/api/v1/me"), 401, "unauthorized")
    fresh.cookies.clear()
    assert (await attempt(fresh, phone, NEW_PASSWORD)).status_code == 200


async def test_a_refused_password_change_writes_nothing(
    client: Client, fresh: Client, owner_conn: asyncpg.Connection
) -> None:
    """A too-short new password is refused before anything is written: no audit row, the failure counter, the
    password and every session as they were. (A wrong current password still counts as a failed login.)"""
    _, phone, _ = await signed_up(client)
    who = await person_id(owner_conn, phone)
    assert (await attempt(fresh, phone)).status_code == 200
    elsewhere = fresh.cookies["session"]
    assert (await attempt(fresh, phone)).status_code == 200
    csrf = {"x-csrftoken": await csrf_token(fresh)}
    await owner_conn.execute("UPDATE points.people SET failed_logins = 2 WHERE id = $1", who)

    def state() -> Any:
        return owner_conn.fetchrow(
            "SELECT p.password_hash, p.failed_logins, p.locked_until, "
            "(SELECT count(*) FROM points.audit_log WHERE actor_person_id = p.id) AS audit_rows, "
            "(SELECT count(*) FROM points.sessions WHERE person_id = p.id) AS sessions "
            "FROM points.people p WHERE p.id = $1",
            who,
        )

    before = await state()
    await assert_problem(fresh, await change_password(fresh, "short", **csrf), 400, "invalid_request")
    await assert_problem(fresh, await change_password(fresh, "", current="wrong", **csrf), 400, "invalid_request")
    assert await state() == before
    assert before["failed_logins"] == 2
    assert before["sessions"] == 2

    wrong = await change_password(fresh, NEW_PASSWORD, current="not-the-password", **csrf)
    await assert_problem(fresh, wrong, 401, "login_failed")
    after = await state()
    assert after["failed_logins"] == 3
    assert after["password_hash"] == before["password_hash"]
    use_cookie(fresh, "session", elsewhere)
    assert (await fresh.get("/api/v1/me")).status_code == 200, "a refused change ends no session"


# --- a device token stays in its community ---------------------------------------------------------


async def test_a_device_token_sees_only_its_community_and_manages_no_tokens(
    client: Client, fresh: Client, conn: Any, owner_conn: asyncpg.Connection
) -> None:
    slug_a, phone, _ = await signed_up(client, roles=["clerk"])
    slug_b = await create_community(client)
    await add_member(client, slug_b, roles=["clerk"], phone=phone)
    who = await person_id(owner_conn, phone)
    personal = bearer(await bearer_token(conn, who))
    community_a = await owner_conn.fetchval("SELECT id FROM ledger.communities WHERE slug = $1", slug_a)
    device = bearer(await bearer_token(conn, who, community_id=community_a))

    listed = await fresh.get(API, headers=personal)
    assert sorted(c["slug"] for c in listed.json()) == sorted([slug_a, slug_b])
    listed = await fresh.get(API, headers=device)
    assert listed.status_code == 200, listed.text
    assert [c["slug"] for c in listed.json()] == [slug_a]

    tokens = (await fresh.get("/api/v1/me/tokens", headers=personal)).json()
    refused = {
        "list": await fresh.get("/api/v1/me/tokens", headers=device),
        "create": await fresh.post("/api/v1/me/tokens", json={"name": "escalate"}, headers=device),
        "revoke": await fresh.post(f"/api/v1/me/tokens/{tokens[0]['id']}/revoke", headers=device),
        "password": await fresh.post(
            "/api/v1/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}, headers=device
        ),
    }
    for r in refused.values():
        await assert_problem(fresh, r, 403, "device_token_not_allowed")
    assert (await fresh.get("/api/v1/me/tokens", headers=personal)).json() == tokens, "nothing made or revoked"
    assert (await attempt(fresh, phone)).status_code == 200, "the password is unchanged"


async def test_an_operators_device_token_lists_one_community_too(
    client: Client, fresh: Client, conn: Any, owner_conn: asyncpg.Connection
) -> None:
    slug = await create_community(client)
    community_id = await owner_conn.fetchval("SELECT id FROM ledger.communities WHERE slug = $1", slug)
    operator = await owner_conn.fetchval("SELECT id FROM points.people WHERE is_operator ORDER BY id LIMIT 1")
    device = bearer(await bearer_token(conn, operator, community_id=community_id))
    listed = await fresh.get(API, headers=device)
    assert [c["slug"] for c in listed.json()] == [slug]


# --- the real client address -----------------------------------------------------------------------


def test_trusted_proxies_are_addresses_or_networks() -> None:
    settings = Settings.from_env({"POINTS_TRUSTED_PROXIES": " 10.0.0.0/8, 127.0.0.1 ,::1"})
    assert settings.trusted_proxies == ("10.0.0.0/8", "127.0.0.1", "::1")
    assert Settings.from_env({}).trusted_proxies == ()
    with pytest.raises(SettingsError, match="POINTS_TRUSTED_PROXIES"):
        Settings.from_env({"POINTS_TRUSTED_PROXIES": "proxy.internal"})


@contextlib.contextmanager
def points_serve(database_url: str, tmp_path: Path, **env: str) -> Iterator[str]:
    """`points serve` on the test database, as an operator runs it; yields its base URL."""
    port = free_port()
    log = tmp_path / f"serve-{port}.log"
    environment = points_env(DATABASE_URL=plain_url(database_url), POINTS_REQUEST_LOG="0", **env)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(POINTS), "serve", "--port", str(port)], env=environment, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for_health(proc, f"{base}/health", log)
            yield base
        finally:
            proc.terminate()
            proc.wait(20)


def login_from(base: str, phone: str, forwarded_for: str) -> int:
    body = {"phone": phone, "password": "wrong-password"}
    r = httpx.post(f"{base}/api/v1/login", json=body, headers={"X-Forwarded-For": forwarded_for}, timeout=10)
    return r.status_code


async def test_made_up_forwarded_addresses_neither_escape_the_limit_nor_reach_the_audit_trail(
    client: Client, database_url: str, owner_conn: asyncpg.Connection, tmp_path: Path
) -> None:
    from points.auth.web import LOGIN_ATTEMPTS_PER_MINUTE as LIMIT

    _, phone, _ = await signed_up(client)
    who = await person_id(owner_conn, phone)
    made_up = [f"198.51.100.{n}" for n in range(1, LIMIT + 6)]
    with points_serve(database_url, tmp_path) as base:
        statuses = [login_from(base, phone, address) for address in made_up]
    assert set(statuses[:LIMIT]) <= {401, 423}, statuses  # wrong password, then locked after five
    assert statuses[LIMIT:] == [429] * 5, statuses
    addresses = [row["remote_addr"] for row in await audit_rows(owner_conn, who)]
    assert len(addresses) == LIMIT
    assert set(addresses) == {"127.0.0.1"}, "the audit trail names the real peer"


async def test_behind_a_trusted_proxy_the_forwarded_address_counts(
    client: Client, database_url: str, owner_conn: asyncpg.Connection, tmp_path: Path
) -> None:
    from points.auth.web import LOGIN_ATTEMPTS_PER_MINUTE as LIMIT

    _, phone, _ = await signed_up(client)
    who = await person_id(owner_conn, phone)
    with points_serve(database_url, tmp_path, POINTS_TRUSTED_PROXIES="127.0.0.1") as base:
        # the proxy appends the address it saw; a made-up value the client sent comes before it
        statuses = [login_from(base, phone, "6.6.6.6, 203.0.113.9") for _ in range(LIMIT + 1)]
        neighbour = login_from(base, new_phone(), "203.0.113.10")
    assert set(statuses[:LIMIT]) <= {401, 423}, statuses
    assert statuses[LIMIT] == 429, "one client behind the proxy meets its limit"
    assert neighbour == 401, "another client behind the same proxy is not throttled with it"
    addresses = {row["remote_addr"] for row in await audit_rows(owner_conn, who)}
    assert addresses == {"203.0.113.9"}


# --- CSRF tokens belong to their session -----------------------------------------------------------


async def test_a_csrf_token_works_only_with_the_session_it_was_issued_for(client: Client, fresh: Client) -> None:
    _, phone, _ = await signed_up(client)
    assert (await attempt(fresh, phone)).status_code == 200
    token_a = await csrf_token(fresh)
    assert (await attempt(fresh, phone)).status_code == 200
    session_b = fresh.cookies["session"]
    token_b = await csrf_token(fresh)
    assert token_b != token_a

    # session B's cookie with A's token as cookie and header: all that someone planting a cookie could send
    fresh.cookies.clear()
    fresh.cookies.set("session", session_b)
    fresh.cookies.set("csrftoken", token_a)
    r = await fresh.post("/api/v1/me/tokens", json={"name": "forged"}, headers={"x-csrftoken": token_a})
    await assert_problem(fresh, r, 403, "forbidden")

    fresh.cookies.clear()  # (the problem's GET above was handed a fresh token for B: start from the pair again)
    fresh.cookies.set("session", session_b)
    fresh.cookies.set("csrftoken", token_b)
    r = await fresh.post("/api/v1/me/tokens", json={"name": "mine"}, headers={"x-csrftoken": token_b})
    assert r.status_code == 201, r.text


async def test_a_new_session_gets_a_new_csrf_token_on_its_next_get(client: Client, fresh: Client) -> None:
    """A browser still holding the token of its previous session (signed in again) is handed a fresh one."""
    _, phone, _ = await signed_up(client)
    assert (await attempt(fresh, phone)).status_code == 200
    old = await csrf_token(fresh)
    r = await fresh.post("/api/v1/login", json={"phone": phone, "password": PASSWORD}, headers={"x-csrftoken": old})
    assert r.status_code == 200, r.text
    assert fresh.cookies["csrftoken"] == old  # the browser still holds the previous session's token
    r = await fresh.post("/api/v1/me/tokens", json={"name": "stale"}, headers={"x-csrftoken": old})
    await assert_problem(fresh, r, 403, "forbidden")
    new = await csrf_token(fresh)
    assert new != old
    r = await fresh.post("/api/v1/me/tokens", json={"name": "fresh"}, headers={"x-csrftoken": new})
    assert r.status_code == 201, r.text
