"""What PostgreSQL refuses beneath the 公示 service (migration 0016, SQLSTATE class LG), as the app role with the
Python checks bypassed: settling before the window ends or while an objection is open, voiding without an upheld
objection, an upheld objection whose award stands, a published award whose holds were released, an objection to
an award outside its window, a decision by someone the award pays, an award's window edited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

import ledger
from tests.earning_world import World, make_world
from tests.test_earning_guards import sqlstate_of
from tests.test_publication import adhoc, state_of


@pytest.fixture
async def world(client: Any, owner_conn: asyncpg.Connection, conn: Any) -> World:
    w = await make_world(client, owner_conn, conn, budget=200)
    r = await client.put(f"{w.url}/publication-settings", json={"window_days": 7})
    assert r.status_code == 200, r.text
    return w


@pytest.fixture
async def app(conn: Any, world: World) -> AsyncIterator[Any]:
    """The app role's connection, entered in the world's community: the service's rights, none of its checks."""
    await ledger.enter(conn, world.community_id)
    yield conn
    await ledger.leave(conn)


async def refused_with(app: Any, sql: str, *args: Any) -> str | None:
    with pytest.raises(asyncpg.PostgresError) as refused:
        async with app.transaction():
            await app.execute(sql, *args)
    return sqlstate_of(refused.value)


async def objection(world: World, award_id: int, who: int = 1, reason: str = "有疑问") -> int:
    r = await world.call(world.volunteers[who], "POST", f"/awards/{award_id}/objections", json={"reason": reason})
    assert r.status_code == 201, r.text
    found: int = r.json()["id"]
    return found


async def test_the_app_cannot_settle_an_award_before_its_window_ends(world: World, app: Any) -> None:
    award = await adhoc(world, world.volunteers[0], 10)
    assert await refused_with(app, "SELECT points.post_award($1, NULL)", award["id"]) == "LG002"
    assert await refused_with(app, "UPDATE points.awards SET state = 'posted' WHERE id = $1", award["id"]) == "LG002"
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app.execute("SELECT * FROM points.settle_awards_at($1, now() + interval '30 days')", world.community_id)
    assert await state_of(world, award["id"]) == "published"
    assert await world.balance(world.volunteers[0]) == 0


async def test_an_award_with_an_open_objection_does_not_settle(world: World, app: Any) -> None:
    award = await adhoc(world, world.volunteers[0], 10)
    await objection(world, award["id"])
    async with world.owner.transaction():
        await world.owner.execute("SELECT set_config('linli.community_id', $1, true)", str(world.community_id))
        settled = await world.owner.fetch(
            "SELECT * FROM points.settle_awards_at($1, now() + interval '30 days')", world.community_id
        )
        assert settled == []
        with pytest.raises(asyncpg.PostgresError) as refused:
            async with world.owner.transaction():
                await world.owner.execute("SELECT points.post_award($1, NULL)", award["id"])
        assert sqlstate_of(refused.value) == "LG002"


async def test_an_award_is_voided_only_by_an_upheld_objection(world: World, app: Any) -> None:
    award = await adhoc(world, world.volunteers[0], 10)
    sql = "UPDATE points.awards SET state = 'voided', decision_reason = '不算' WHERE id = $1"
    assert await refused_with(app, sql, award["id"]) == "LG004"
    objection_id = await objection(world, award["id"])
    # Upheld, but the award left standing: refused at commit.
    upheld = (
        "UPDATE points.objections SET state = 'upheld', decided_by_member_id = $2, decided_at = now(),"
        " decision_reason = '属实' WHERE id = $1"
    )
    assert await refused_with(app, upheld, objection_id, world.checker.member_id) == "LG004"

    # Voided with its holds still active: refused at commit.
    async def voided_with_its_holds() -> None:
        async with app.transaction():  # a savepoint
            await app.execute(sql, award["id"])
            await app.execute("SET CONSTRAINTS ALL IMMEDIATE")

    async with app.transaction():
        await app.execute(upheld, objection_id, world.checker.member_id)
        with pytest.raises(asyncpg.PostgresError) as refused:
            await voided_with_its_holds()
        assert sqlstate_of(refused.value) == "LG003"
        await app.execute("SELECT points.release_award_holds($1)", award["id"])
        await app.execute(sql, award["id"])
    assert await state_of(world, award["id"]) == "voided"


async def test_a_published_awards_holds_are_released_only_with_it(world: World, app: Any) -> None:
    award = await adhoc(world, world.volunteers[0], 10)
    hold_id = await world.owner.fetchval("SELECT hold_id FROM points.award_holds WHERE award_id = $1", award["id"])
    assert await refused_with(app, "SELECT * FROM ledger.void_hold($1, $2)", world.community_id, hold_id) == "LG003"
    # Posting the hold itself would draw on the budget outside an award.
    sql = "SELECT * FROM ledger.post_hold($1, $2, NULL, NULL, NULL, 'sneak')"
    assert await refused_with(app, sql, world.community_id, hold_id) == "LP009"
    status = await world.owner.fetchval("SELECT status FROM ledger.holds WHERE id = $1", hold_id)
    assert status == "active"


async def test_an_objection_outside_the_window_is_refused(world: World, app: Any) -> None:
    published = await adhoc(world, world.volunteers[0], 10)
    r = await world.client.put(f"{world.url}/publication-settings", json={"window_days": None})
    posted = await adhoc(world, world.volunteers[1], 10)
    assert posted["state"] == "posted"
    insert = "INSERT INTO points.objections (community_id, award_id, member_id, reason) VALUES ($1, $2, $3, '不对')"
    args = (world.community_id, posted["id"], world.volunteers[2].member_id)
    assert await refused_with(app, insert, *args) == "LG001"
    # A published award whose window has ended (moved there by the owner, past the trigger that keeps windows).
    async with world.owner.transaction():
        await world.owner.execute("SET LOCAL session_replication_role = replica")
        await world.owner.execute(
            "UPDATE points.awards SET window_ends_at = now() - interval '1 minute' WHERE id = $1", published["id"]
        )
    args = (world.community_id, published["id"], world.volunteers[2].member_id)
    assert await refused_with(app, insert, *args) == "LG001"
    r = await world.call(world.volunteers[2], "POST", f"/awards/{published['id']}/objections", json={"reason": "x"})
    assert (r.status_code, r.json()["code"]) == (409, "not_in_window")


async def test_nobody_decides_an_objection_to_their_own_award(world: World, app: Any) -> None:
    v = world.volunteers[0]
    award = await adhoc(world, v, 10)
    objection_id = await objection(world, award["id"])
    sql = (
        "UPDATE points.objections SET state = 'dismissed', decided_by_member_id = $2, decided_at = now(),"
        " decision_reason = '没问题' WHERE id = $1"
    )
    assert await refused_with(app, sql, objection_id, v.member_id) == "LG005"
    # ... nor the objector (a CHECK), and an objection is decided once.
    with pytest.raises(asyncpg.CheckViolationError, match="objections_not_own"):
        await app.execute(sql, objection_id, world.volunteers[1].member_id)
    await app.execute(sql, objection_id, world.checker.member_id)
    again = "UPDATE points.objections SET state = 'upheld', decision_reason = '改' WHERE id = $1"
    assert await refused_with(app, again, objection_id) == "LP004"


async def test_an_award_keeps_the_window_it_was_published_with(world: World, app: Any) -> None:
    award = await adhoc(world, world.volunteers[0], 10)
    sql = "UPDATE points.awards SET window_ends_at = now() WHERE id = $1"
    assert await refused_with(app, sql, award["id"]) == "LP004"
    sql = "UPDATE points.awards SET state = 'pending_approval' WHERE id = $1"
    assert await refused_with(app, sql, award["id"]) == "LP004"
