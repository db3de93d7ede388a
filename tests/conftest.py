"""Every test runs against a real PostgreSQL.

With DATABASE_URL set, the suite creates a fresh database on that server
(and drops it afterwards); without it, it starts the embedded PostgreSQL 18 in
a temporary directory. Either way the migrations are applied first, and the
tests connect as the application role, exactly as the service does.

Ledger rows can never be deleted, so tests do not clean up: each test works
in a community of its own (the ``community`` fixture), which is also how the
service isolates tenants.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

import ledger
from points import db
from points.app import create_app
from points.auth.identity import Principal, create_token
from points.auth.passwords import hash_password
from points.embedded import EmbeddedPostgres
from points.migrate import upgrade
from points.settings import APP_ROLE, Settings, asyncpg_url


def plain_url(url: str) -> str:
    """postgresql:// form for asyncpg.connect()."""
    return asyncpg_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)


async def _create_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(plain_url(admin_url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(plain_url(admin_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """URL of a freshly migrated database, as its owner."""
    external = os.environ.get("DATABASE_URL")
    if external:
        name = f"linli_test_{uuid.uuid4().hex[:10]}"
        asyncio.run(_create_database(external, name))
        url = make_url(asyncpg_url(external)).set(database=name).render_as_string(hide_password=False)
        try:
            upgrade(url)
            yield url
        finally:
            asyncio.run(_drop_database(external, name))
        return
    data_dir = Path(tempfile.mkdtemp(prefix="linli-test-"))
    embedded = EmbeddedPostgres(data_dir)
    try:
        url = embedded.start()
        upgrade(url)
        yield url
    finally:
        embedded.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The service's engine: every connection runs as the application role."""
    eng = db.make_engine(database_url, pool_size=20)
    yield eng
    await eng.dispose()


@pytest.fixture
async def conn(engine: AsyncEngine) -> AsyncIterator[Any]:
    async with db.connection(engine) as c:
        assert await c.fetchval("SELECT current_user") == APP_ROLE
        yield c


@pytest.fixture
async def owner_conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection as the database owner (superuser here): for trying to break the rules by hand."""
    c = await asyncpg.connect(plain_url(database_url))
    yield c
    await c.close()


_slugs = itertools.count(1)


def new_slug() -> str:
    return f"t{os.getpid()}-{next(_slugs)}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
async def community(conn: Any) -> ledger.Community:
    return await ledger.create_community(conn, new_slug(), "测试社区")


@pytest.fixture
async def issuance(conn: Any, community: ledger.Community) -> ledger.Account:
    return await ledger.open_account(conn, community.id, "issuance", normal_side="debit", lower_bound=None)


async def fund(
    conn: Any, community: ledger.Community, source: ledger.Account, wallet: ledger.Account, amount: int
) -> ledger.PostedEntry:
    return await ledger.post_entry(
        conn,
        community.id,
        ledger.NewEntry(
            "award", (ledger.Line(source.id, -amount), ledger.Line(wallet.id, amount)), f"fund-{uuid.uuid4()}"
        ),
    )


OPERATOR_PHONE = "19900000000"
OPERATOR_PASSWORD = "operator-password-1"


async def make_person(owner: asyncpg.Connection, phone: str, password: str, *, operator: bool = False) -> int:
    """A person who can sign in, made as the owner (only the owner makes platform operators)."""
    person_id: int = await owner.fetchval(
        "INSERT INTO points.people (phone, password_hash, is_operator) VALUES ($1, $2, $3) "
        "ON CONFLICT (phone) DO UPDATE SET password_hash = EXCLUDED.password_hash, is_operator = EXCLUDED.is_operator "
        "RETURNING id",
        phone,
        hash_password(password),
        operator,
    )
    return person_id


async def bearer_token(conn: Any, person_id: int, *, community_id: int | None = None) -> str:
    kind = "personal" if community_id is None else "device"
    principal = Principal(person_id=person_id, is_operator=False, via="session")
    token, _ = await create_token(conn, principal, kind=kind, name="tests", days=1, community_id=community_id)
    return token


@pytest.fixture(scope="session")
async def operator_token(database_url: str, engine: AsyncEngine) -> str:
    owner = await asyncpg.connect(plain_url(database_url))
    try:
        person_id = await make_person(owner, OPERATOR_PHONE, OPERATOR_PASSWORD, operator=True)
    finally:
        await owner.close()
    async with db.connection(engine) as c:
        return await bearer_token(c, person_id)


def test_settings() -> Settings:
    return Settings.from_env({"POINTS_REQUEST_LOG": "0", "POINTS_LOG_LEVEL": "warning"})


@pytest.fixture(scope="session")
async def anonymous_client(database_url: str) -> AsyncIterator[AsyncTestClient[Any]]:
    """The app with nobody signed in."""
    async with AsyncTestClient(app=create_app(test_settings(), database_url=database_url)) as c:
        yield c


@pytest.fixture(scope="session")
async def client(database_url: str, operator_token: str) -> AsyncIterator[AsyncTestClient[Any]]:
    """The app, called with a platform operator's token. Communities it creates name the operator their
    first admin (see tests/test_api.py: create_community), so the same caller runs the ledger API."""
    async with AsyncTestClient(app=create_app(test_settings(), database_url=database_url)) as c:
        c.headers["Authorization"] = f"Bearer {operator_token}"
        yield c


# Failed sign-ins are recorded by design (the audit row and the failure count that locks an account).
SIGN_IN_PATHS = ("/api/v1/login", "/api/v1/me/password")


@pytest.fixture
async def no_change_on_4xx(
    owner_conn: asyncpg.Connection, client: AsyncTestClient[Any], anonymous_client: AsyncTestClient[Any]
) -> AsyncIterator[list[str]]:
    """While a test runs, every request through the shared clients that ends in a 4xx must leave every row of
    every table as it was (tests/snapshots.py). Yields the paths checked, so a test can see it was watched."""
    from tests.snapshots import changed, snapshot

    checked: list[str] = []
    before: list[Any] = []

    async def on_request(request: httpx.Request) -> None:
        before[:] = [await snapshot(owner_conn)]

    async def on_response(response: httpx.Response) -> None:
        if not 400 <= response.status_code < 500:
            return
        path = response.request.url.path
        if path in SIGN_IN_PATHS and response.status_code in (401, 423):
            return
        diff = changed(before[0], await snapshot(owner_conn))
        assert diff == [], f"{response.request.method} {path} answered {response.status_code} but changed {diff}"
        checked.append(path)

    hooked = (client, anonymous_client)
    for c in hooked:
        c.event_hooks["request"].append(on_request)
        c.event_hooks["response"].append(on_response)
    try:
        yield checked
    finally:
        for c in hooked:
            c.event_hooks["request"].remove(on_request)
            c.event_hooks["response"].remove(on_response)
