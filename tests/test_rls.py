"""Row-level security: a query that forgets its community filter sees nothing of other communities.

The service logs in as linli_app, which is subject to the tenant policies of
migration 0002; the tenant is the session variable linli.community_id, set
per request by the guard (and by every ledger read from its own argument).
"""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

import ledger
from ledger import db as ledger_db
from ledger import errors
from points import db
from tests.conftest import fund, new_slug

TENANT_TABLES = [
    "ledger.units",
    "ledger.accounts",
    "ledger.account_stripes",
    "ledger.entries",
    "ledger.postings",
    "ledger.holds",
    "points.community_profiles",
    "points.places",
    "points.households",
    "points.members",
    "points.role_grants",
]


@pytest.fixture
async def two_communities(conn: Any) -> tuple[ledger.Community, ledger.Community]:
    """Two communities, each with an award posted and a member."""
    made = []
    for name in ("东区", "西区"):
        community = await ledger.create_community(conn, new_slug(), name)
        issuance = await ledger.open_account(conn, community.id, "issuance", lower_bound=None)
        wallet = await ledger.open_account(conn, community.id, "volunteer:x")
        await fund(conn, community, issuance, wallet, 10)
        await ledger.place_hold(
            conn,
            community.id,
            account_id=wallet.id,
            counter_account_id=issuance.id,
            amount=1,
            kind="swap",
            timeout_s=3600,
            idempotency_key="h",
        )
        await ledger_db.enter(conn, community.id)
        place = await conn.fetchval(
            "INSERT INTO points.places (community_id, level, name) VALUES ($1, 'building', '1栋') RETURNING id",
            community.id,
        )
        await conn.execute(
            "INSERT INTO points.households (community_id, label, place_id) VALUES ($1, '1-101', $2)",
            community.id,
            place,
        )
        member = await conn.fetchrow("SELECT * FROM points.add_member($1, '居民', NULL, NULL, NULL)", community.id)
        await conn.execute(
            "INSERT INTO points.role_grants (community_id, member_id, role) VALUES ($1, $2, 'volunteer')",
            community.id,
            member["id"],
        )
        made.append(community)
    return made[0], made[1]


@pytest.mark.parametrize("table", TENANT_TABLES)
async def test_with_no_community_set_tenant_tables_are_empty(
    engine: AsyncEngine, owner_conn: asyncpg.Connection, two_communities: Any, table: str
) -> None:
    assert await owner_conn.fetchval(f"SELECT count(*) FROM {table}") > 0  # the owner sees rows: they exist
    async with db.connection(engine) as fresh:
        await ledger_db.leave(fresh)
        assert await fresh.fetchval(f"SELECT count(*) FROM {table}") == 0


@pytest.mark.parametrize("table", TENANT_TABLES)
async def test_a_session_sees_only_its_own_community(engine: AsyncEngine, two_communities: Any, table: str) -> None:
    east, _ = two_communities
    async with db.connection(engine) as c:
        await ledger_db.enter(c, east.id)
        communities = {r[0] for r in await c.fetch(f"SELECT DISTINCT community_id FROM {table}")}
        assert communities == {east.id}
        await ledger_db.leave(c)


async def test_rows_cannot_be_written_into_another_community(conn: Any, two_communities: Any) -> None:
    east, west = two_communities
    await ledger_db.enter(conn, east.id)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        await conn.execute(
            "INSERT INTO ledger.accounts (community_id, unit, code, normal_side) "
            "VALUES ($1, 'points', 'sneaky', 'credit')",
            west.id,
        )
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        await conn.execute(
            "INSERT INTO points.households (community_id, label) VALUES ($1, '3-201')",
            west.id,
        )


async def test_ledger_reads_still_answer_for_the_community_they_are_asked_about(
    conn: Any, two_communities: Any
) -> None:
    """The ledger enters the community it is asked about, so its reads work whatever the session held before."""
    east, west = two_communities
    await ledger_db.enter(conn, east.id)
    wallet = await ledger.accounts.find_account(conn, west.id, "volunteer:x")
    assert wallet is not None
    assert (await ledger.balance(conn, west.id, wallet.id)).balance == 10


async def test_posting_works_from_a_session_in_no_community(engine: AsyncEngine, conn: Any) -> None:
    """The commit-time balance check must see the entry's postings whatever tenant the session holds
    (it once ran under row-level security and saw none, refusing every entry posted outside a tenant)."""
    community = await ledger.create_community(conn, new_slug(), "南区")
    issuance = await ledger.open_account(conn, community.id, "issuance", lower_bound=None)
    wallet = await ledger.open_account(conn, community.id, "volunteer:x")
    async with db.connection(engine) as fresh:
        await ledger_db.leave(fresh)
        posted = await fund(fresh, community, issuance, wallet, 7)
        assert len(posted.postings) == 2
    assert (await ledger.balance(conn, community.id, wallet.id)).balance == 7


async def test_ledger_writes_refuse_a_community_other_than_the_one_entered(
    conn: Any, owner_conn: asyncpg.Connection, two_communities: tuple[ledger.Community, ledger.Community]
) -> None:
    """A caller entered in the east community (whose access the guard checked) cannot post, reverse or hold in
    the west one by naming it: the ledger refuses in Python, and the database refuses the same SQL underneath."""
    east, west = two_communities
    west_accounts = [r["id"] for r in await owner_conn.fetch(
        "SELECT id FROM ledger.accounts WHERE community_id = $1 ORDER BY id", west.id
    )]  # fmt: skip
    west_entry = await owner_conn.fetchval("SELECT max(id) FROM ledger.entries WHERE community_id = $1", west.id)
    west_hold = await owner_conn.fetchval("SELECT max(id) FROM ledger.holds WHERE community_id = $1", west.id)
    counts = "SELECT (SELECT count(*) FROM ledger.entries WHERE community_id = $1), " \
             "(SELECT count(*) FROM ledger.holds WHERE community_id = $1 AND status = 'active')"  # fmt: skip
    before = await owner_conn.fetchrow(counts, west.id)
    await ledger_db.enter(conn, east.id)
    entry = ledger.NewEntry("transfer", (ledger.Line(west_accounts[0], 1), ledger.Line(west_accounts[1], -1)), "x")
    attempts = [
        ledger.post_entry(conn, west.id, entry),
        ledger.reverse_entry(conn, west.id, west_entry, reason="跨社区", idempotency_key="x"),
        ledger.void_hold(conn, west.id, west_hold),
        ledger.place_hold(
            conn, west.id, account_id=west_accounts[1], counter_account_id=west_accounts[0], amount=1, kind="swap",
            timeout_s=60, idempotency_key="x",
        ),
    ]  # fmt: skip
    for attempt in attempts:
        with pytest.raises(errors.CommunityMismatch):
            await attempt
    raw = [
        ("SELECT * FROM ledger.post_entry($1, 'transfer', '', '{}', NULL, NULL, 'raw', $2, $3)",
         (west.id, west_accounts[:2], [1, -1])),
        ("SELECT * FROM ledger.reverse_entry($1, $2, 'raw', NULL, 'raw-r', NULL)", (west.id, west_entry)),
        ("SELECT * FROM ledger.void_hold($1, $2)", (west.id, west_hold)),
    ]  # fmt: skip
    for sql, args in raw:
        with pytest.raises(asyncpg.PostgresError) as refused:
            await conn.fetch(sql, *args)
        assert refused.value.sqlstate == "LE013"
    assert await owner_conn.fetchrow(counts, west.id) == before
    await ledger_db.enter(conn, west.id)  # entered there, the same hold is voided as usual
    assert (await ledger.void_hold(conn, west.id, west_hold)).status == "voided"
