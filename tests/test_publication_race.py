"""The settle job racing people, on real connections (the test client serves one request at a time, so these call
the services on connections of their own): an admin upholding an objection while the job runs, an objection in
the window's last moment while the job settles, and a hypothesis property over any order of objections, decisions
and settle runs — some of them at the same moment — that a voided award is never posted, a posted one never
voided, and the budget, the holds and the wallet always agree."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

import ledger
import tests.hypothesis_profiles  # noqa: F401  (the suite's profiles)
from points import db
from points.auth.access import Access, enter_community
from points.earning.errors import NotInWindow, WrongState
from points.publication import service
from tests.conftest import OPERATOR_PHONE, plain_url
from tests.earning_world import Person, World, make_world
from tests.racing import TIMEOUT_S, waiting_on_locks
from tests.test_publication import adhoc, state_of

pytestmark = pytest.mark.slow
POINTS = 10


@pytest.fixture
async def world(client: Any, owner_conn: asyncpg.Connection, conn: Any) -> World:
    w = await make_world(client, owner_conn, conn, budget=100_000)
    r = await client.put(f"{w.url}/publication-settings", json={"window_days": 7})
    assert r.status_code == 200, r.text
    await owner_conn.execute(  # many awards to one member: no cap in the way
        "UPDATE points.activity_types SET cap_per_day = NULL, cap_per_month = NULL WHERE id = $1",
        w.types["mediation"]["id"],
    )
    return w


@contextlib.asynccontextmanager
async def as_person(engine: AsyncEngine, world: World, person_id: int) -> AsyncIterator[tuple[Any, Access]]:
    async with db.connection(engine) as c:
        try:
            yield c, await enter_community(c, person_id, world.community_id)
        finally:
            await ledger.leave(c)


async def person_of(world: World, who: Person | None) -> int:
    if who is None:  # the world's admin: the operator who opened the community
        found: int = await world.owner.fetchval("SELECT id FROM points.people WHERE phone = $1", OPERATOR_PHONE)
        return found
    found = await world.owner.fetchval("SELECT person_id FROM points.members WHERE id = $1", who.member_id)
    return found


async def settle(engine_owner: asyncpg.Connection, world: World, at: datetime) -> list[int]:
    async with engine_owner.transaction():
        await engine_owner.execute("SELECT set_config('linli.community_id', $1, true)", str(world.community_id))
        rows = await engine_owner.fetch("SELECT award_id FROM points.settle_awards_at($1, $2)", world.community_id, at)
    return [r["award_id"] for r in rows]


async def test_the_job_skips_an_award_an_admin_is_upholding(
    world: World, engine: AsyncEngine, database_url: str
) -> None:
    """The admin's decision holds the award's row lock (taken first, as the job takes it); the job, meanwhile, skips
    the award (FOR UPDATE SKIP LOCKED) instead of waiting or settling it, and the award ends voided, never posted.
    Without the lock — the job reading the award unlocked — the job would settle what the admin then voids."""
    v = world.volunteers[0]
    award = await adhoc(world, v, POINTS)
    ends = datetime.fromisoformat(award["window_ends_at"])
    r = await world.call(world.volunteers[1], "POST", f"/awards/{award['id']}/objections", json={"reason": "不在场"})
    objection_id = r.json()["id"]
    job = await asyncpg.connect(plain_url(database_url))
    try:
        async with as_person(engine, world, await person_of(world, None)) as (c, admin):
            # Hold the objection's row: the admin's decide locks the award, then waits here to update it.
            async with world.owner.transaction():
                await world.owner.execute("SELECT 1 FROM points.objections WHERE id = $1 FOR UPDATE", objection_id)
                deciding = asyncio.create_task(service.decide(c, admin, objection_id, uphold=True, reason="核实属实"))
                await waiting_on_locks(world.owner, 1)
                # The window has ended as far as the job is concerned; it must not wait, nor settle.
                assert await asyncio.wait_for(settle(job, world, ends + timedelta(minutes=1)), TIMEOUT_S) == []
            decided = await deciding
    finally:
        await job.close()
    assert decided.award_state == "voided"
    assert await state_of(world, award["id"]) == "voided"
    assert await settle(world.owner, world, ends + timedelta(days=1)) == []
    assert await world.balance(v) == 0
    assert await world.entries() == 0


async def test_an_objection_in_the_last_moment_and_the_job_never_both(
    world: World, engine: AsyncEngine, database_url: str
) -> None:
    """Objection first: its insert share-locks the award, the job skips it, and the award then waits for the admin.
    Job first: the objection waits for the job's lock, then finds the award settled and is refused."""
    v = world.volunteers[0]
    first = await adhoc(world, v, POINTS)
    second = await adhoc(world, world.volunteers[1], POINTS)
    ends = datetime.fromisoformat(second["window_ends_at"])
    neighbour = await person_of(world, world.volunteers[2])
    job = await asyncpg.connect(plain_url(database_url))
    try:
        # The objection's transaction open, its row written: the job settles the other award only.
        async with as_person(engine, world, neighbour) as (c, _):
            async with c.transaction():
                await c.execute(
                    "INSERT INTO points.objections (community_id, award_id, member_id, reason) VALUES ($1, $2, $3, $4)",
                    world.community_id,
                    first["id"],
                    world.volunteers[2].member_id,
                    "不属实",
                )
                settled = await asyncio.wait_for(settle(job, world, ends), TIMEOUT_S)
            assert settled == [second["id"]]
        assert await state_of(world, first["id"]) == "published"
        assert await settle(job, world, ends + timedelta(days=1)) == []  # waits for the admin now

        # The job first: settling a third award, its transaction open; the objection waits, then is refused.
        third = await adhoc(world, world.volunteers[3], POINTS)
        async with as_person(engine, world, neighbour) as (c, access):
            async with job.transaction():
                await job.execute("SELECT set_config('linli.community_id', $1, true)", str(world.community_id))
                rows = await job.fetch(
                    "SELECT award_id FROM points.settle_awards_at($1, $2)", world.community_id, ends + timedelta(days=1)
                )
                assert [r["award_id"] for r in rows] == [third["id"]]
                objecting = asyncio.create_task(service.object_to(c, access, third["id"], "晚了一步"))
                await waiting_on_locks(world.owner, 1)
            with pytest.raises(NotInWindow):
                await objecting
    finally:
        await job.close()
    assert await state_of(world, third["id"]) == "posted"
    assert await world.balance(world.volunteers[3]) == POINTS


# ---- the property ------------------------------------------------------------------------------------------------

STEPS = st.lists(
    st.sampled_from(
        ["object", "uphold", "dismiss", "settle", "end", "uphold+settle", "dismiss+settle", "object+settle"]
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
async def test_settling_never_posts_a_voided_award_in_any_order(
    world: World, engine: AsyncEngine, database_url: str, steps: list[str]
) -> None:
    v = world.volunteers[0]
    total = await world.budget_left() + await world.balance(v)
    award = await adhoc(world, v, POINTS)
    ends = datetime.fromisoformat(award["window_ends_at"])
    now = ends - timedelta(days=1)  # the job's clock; objections use the database's, before `ends`
    neighbours = iter([*world.volunteers[1:], world.organizer, world.checker])
    admin = await person_of(world, None)
    job = await asyncpg.connect(plain_url(database_url))

    async def object_() -> None:
        who = next(neighbours, None)
        if who is None:
            return
        async with as_person(engine, world, await person_of(world, who)) as (c, access):
            with contextlib.suppress(NotInWindow):
                await service.object_to(c, access, award["id"], "有疑问")

    async def decide(uphold: bool) -> None:
        open_ = await world.owner.fetchval(
            "SELECT id FROM points.objections WHERE award_id = $1 AND state = 'open' ORDER BY id LIMIT 1", award["id"]
        )
        if open_ is None:
            return
        async with as_person(engine, world, admin) as (c, access):
            with contextlib.suppress(WrongState):
                await service.decide(c, access, open_, uphold=uphold, reason="核实")

    async def settle_() -> None:
        await settle(job, world, now)

    try:
        for step in steps:
            if step == "end":
                now = ends + timedelta(minutes=1)
            elif step == "object":
                await object_()
            elif step in ("uphold", "dismiss"):
                await decide(step == "uphold")
            elif step == "settle":
                await settle_()
            else:  # two at once, on connections of their own
                first = object_() if step.startswith("object") else decide(step.startswith("uphold"))
                await asyncio.gather(first, settle_())
            await agree(world, award["id"], v, total)
    finally:
        await job.close()


async def agree(world: World, award_id: int, v: Person, total: int) -> None:
    """The award's state and the ledger agree: posted once with its points, or voided with nothing, or published
    with its points held on the budget; and across every award of the world, the budget and the wallet together
    hold what the budget was given, the budget's held amount being exactly the published awards' active holds."""
    state = await state_of(world, award_id)
    entry = await world.owner.fetchval("SELECT entry_id FROM points.awards WHERE id = $1", award_id)
    held = await world.owner.fetchval(
        "SELECT coalesce(sum(h.amount), 0) FROM points.award_holds ah JOIN ledger.holds h ON h.id = ah.hold_id"
        " WHERE ah.award_id = $1 AND h.status = 'active'",
        award_id,
    )
    upheld = await world.owner.fetchval(
        "SELECT count(*) FROM points.objections WHERE award_id = $1 AND state = 'upheld'", award_id
    )
    opened = await world.owner.fetchval(
        "SELECT count(*) FROM points.objections WHERE award_id = $1 AND state = 'open'", award_id
    )
    paid = await world.owner.fetchval(
        "SELECT coalesce(sum(p.amount), 0) FROM ledger.postings p JOIN points.members m"
        " ON m.wallet_account_id = p.account_id WHERE p.entry_id = $1 AND m.id = $2",
        entry,
        v.member_id,
    )
    if state == "posted":
        assert (entry is not None, held, upheld, opened, paid) == (True, 0, 0, 0, POINTS)
    elif state == "voided":
        assert (entry, held, upheld, opened) == (None, 0, 1, 0)
    else:
        assert state == "published"
        assert (entry, held, upheld) == (None, POINTS, 0)
    budget = await world.owner.fetchrow(
        "SELECT a.balance, a.held FROM points.budgets b JOIN ledger.accounts a ON a.id = b.account_id"
        " WHERE b.community_id = $1",
        world.community_id,
    )
    all_held = await world.owner.fetchval(
        "SELECT coalesce(sum(h.amount), 0) FROM points.award_holds ah JOIN ledger.holds h ON h.id = ah.hold_id"
        " JOIN points.awards w ON w.id = ah.award_id WHERE w.community_id = $1 AND h.status = 'active'"
        " AND w.state = 'published'",
        world.community_id,
    )
    assert budget["balance"] + await world.balance(v) == total
    assert budget["held"] == all_held
