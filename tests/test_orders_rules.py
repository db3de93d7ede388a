"""What PostgreSQL refuses beneath the service orders (migrations 0020 and 0021, SQLSTATE class LO), as the app
role with the Python checks bypassed: a jump in the state graph, a rewritten need, a dispatch or an acceptance or a
confirmation by the wrong person, a return or an auto-confirmation before its time, a worker who was not
dispatched, 代办 by a volunteer, a history written or edited by hand, another community's orders out of sight; a
photo consent changed by someone else or with something more, a completion's photos not the taker's or too many,
a unit's order by a non-member or dispatched to itself, one key twice, and back-dating by anyone but the owner."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

import ledger
from tests.earning_world import World, make_world
from tests.test_earning_guards import sqlstate_of
from tests.test_orders import act, backdate, due, order


@pytest.fixture
async def world(client: Any, owner_conn: asyncpg.Connection, conn: Any) -> World:
    return await make_world(client, owner_conn, conn, budget=200)


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


async def state(world: World, order_id: int) -> str:
    found: str = await world.owner.fetchval("SELECT state FROM points.service_orders WHERE id = $1", order_id)
    return found


async def dispatched(world: World, volunteer: int = 1) -> int:
    made = await order(world, world.volunteers[0])
    body = {"due_at": due(), "volunteer_ids": [world.volunteers[volunteer].member_id]}
    await act(world, world.organizer, made["id"], "dispatch", body)
    found: int = made["id"]
    return found


async def test_the_state_graph_and_the_need_hold(world: World, app: Any) -> None:
    made = await order(world, world.volunteers[0])
    me = world.volunteers[0].member_id
    sql = (
        "UPDATE points.service_orders SET state = 'confirmed', confirmed_at = now(), actor_member_id = $2 WHERE id = $1"
    )
    assert await refused_with(app, sql, made["id"], me) == "LO001"
    sql = "UPDATE points.service_orders SET description = '别的', actor_member_id = $2 WHERE id = $1"
    assert await refused_with(app, sql, made["id"], me) == "42501"  # no grant on the need
    with pytest.raises(asyncpg.PostgresError) as rewritten:  # and not even the owner rewrites it
        await world.owner.execute(sql, made["id"], me)
    assert sqlstate_of(rewritten.value) == "LO002"
    sql = "UPDATE points.service_orders SET change_note = '悄悄改' WHERE id = $1"  # same state: never rewritten
    assert await refused_with(app, sql, made["id"]) == "LO002"
    assert await state(world, made["id"]) == "ordered"


async def test_only_staff_dispatch_and_only_the_dispatched_accept(world: World, app: Any) -> None:
    made = await order(world, world.volunteers[0])
    v = world.volunteers[1].member_id
    sql = (
        "UPDATE points.service_orders SET state = 'dispatched', dispatch_round = 1, dispatched_by_member_id = $2,"
        " dispatched_at = now(), due_at = now() + interval '1 day', points = 4, actor_member_id = $2 WHERE id = $1"
    )
    assert await refused_with(app, sql, made["id"], v) == "LO003"
    order_id = await dispatched(world, volunteer=1)
    other = world.volunteers[2].member_id
    sql = ("UPDATE points.service_orders SET state = 'accepted', accepted_by_member_id = $2, accepted_at = now(),"
           " actor_member_id = $2 WHERE id = $1")  # fmt: skip
    assert await refused_with(app, sql, order_id, other) == "LO003"
    assert await state(world, order_id) == "dispatched"


async def test_no_return_nor_auto_confirmation_before_its_time(world: World, app: Any) -> None:
    order_id = await dispatched(world)
    sql = "UPDATE points.service_orders SET state = 'ordered', due_at = NULL, actor_member_id = NULL WHERE id = $1"
    assert await refused_with(app, sql, order_id) == "LO004"
    await backdate(world.owner, order_id, "dispatched_at", 49)
    await app.execute(sql, order_id)  # past the 48 hours: the job's return goes through
    assert await state(world, order_id) == "ordered"

    order_id = await dispatched(world)
    await act(world, world.volunteers[1], order_id, "accept")
    await act(world, world.volunteers[1], order_id, "done", {"note": "好了"})
    confirming = "UPDATE points.service_orders SET state = 'confirmed', confirmed_at = now(), actor_member_id = {}"
    sql = confirming.format("NULL") + " WHERE id = $1"
    assert await refused_with(app, sql, order_id) == "LO004"
    sql = confirming.format("$2") + " WHERE id = $1"
    assert (
        await refused_with(app, sql, order_id, world.volunteers[1].member_id) == "LO003"
    )  # the taker, not the resident
    assert await state(world, order_id) == "done"


async def test_workers_are_those_dispatched_named_when_it_is_done(world: World, app: Any) -> None:
    order_id = await dispatched(world)
    await act(world, world.volunteers[1], order_id, "accept")
    sql = "INSERT INTO points.service_order_workers (order_id, round, member_id, community_id) VALUES ($1, 1, $2, $3)"
    # Not done yet; and once done (in another transaction), too late to add anyone.
    assert await refused_with(app, sql, order_id, world.volunteers[1].member_id, world.community_id) == "LO005"
    await act(world, world.volunteers[1], order_id, "done", {"note": "好了", "volunteer_ids": []})
    assert await refused_with(app, sql, order_id, world.volunteers[2].member_id, world.community_id) == "LO005"


async def test_proxy_orders_by_staff_only_and_the_history_is_the_triggers(world: World, app: Any) -> None:
    v, neighbour = world.volunteers[0].member_id, world.volunteers[1].member_id
    sql = ("INSERT INTO points.service_orders (community_id, type_id, description, ordered_by_member_id, for_member_id,"
           " actor_member_id) VALUES ($1, $2, '换灯泡', $3, $4, $3)")  # fmt: skip
    assert await refused_with(app, sql, world.community_id, world.types["cleanup"]["id"], v, neighbour) == "LO003"
    made = await order(world, world.volunteers[0])
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app.execute(
            "INSERT INTO points.service_order_events (community_id, order_id, kind, to_state, round)"
            " VALUES ($1, $2, 'confirmed', 'confirmed', 0)",
            world.community_id,
            made["id"],
        )
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app.execute("DELETE FROM points.service_order_events WHERE order_id = $1", made["id"])
    with pytest.raises(asyncpg.PostgresError):  # not even the owner edits it
        await world.owner.execute("UPDATE points.service_order_events SET note = 'x' WHERE order_id = $1", made["id"])


async def test_another_communitys_orders_are_out_of_sight(world: World, app: Any, conn: Any) -> None:
    made = await order(world, world.volunteers[0])
    other = await world.owner.fetchval("SELECT id FROM ledger.communities WHERE id <> $1 LIMIT 1", world.community_id)
    await ledger.enter(conn, other)
    assert await conn.fetchval("SELECT count(*) FROM points.service_orders WHERE id = $1", made["id"]) == 0
    assert await conn.fetchval("SELECT count(*) FROM points.service_order_events WHERE order_id = $1", made["id"]) == 0


# --- migration 0021: keys, photo consent, completion photos, a unit's own order, back-dating ---------------------


async def photo_of(world: World, who: int) -> int:
    found: int = await world.owner.fetchval(
        "INSERT INTO points.photos (community_id, uploaded_by_member_id, media_type, width, height, data)"
        " VALUES ($1, $2, 'image/png', 1, 1, '\\x00') RETURNING id",
        world.community_id,
        world.volunteers[who].member_id,
    )
    return found


async def test_the_photo_consent_is_the_residents_and_changes_alone(world: World, app: Any) -> None:
    order_id = await dispatched(world)
    resident, taker = world.volunteers[0].member_id, world.volunteers[1].member_id
    consent = "UPDATE points.service_orders SET photos_public = true, actor_member_id = $2 WHERE id = $1"
    assert await refused_with(app, consent, order_id, taker) == "LO002"  # the taker's word is not the consent
    sql = "UPDATE points.service_orders SET photos_public = true, points = 9, actor_member_id = $2 WHERE id = $1"
    assert await refused_with(app, sql, order_id, resident) == "LO002"  # the consent and something else
    sql = ("UPDATE points.service_orders SET state = 'accepted', accepted_by_member_id = $2, accepted_at = now(),"
           " photos_public = true, actor_member_id = $2 WHERE id = $1")  # fmt: skip
    assert await refused_with(app, sql, order_id, taker) == "LO002"  # nor flipped with a change of state
    await app.execute(consent, order_id, resident)
    kind, note = await world.owner.fetchrow(
        "SELECT kind, note FROM points.service_order_events WHERE order_id = $1 ORDER BY id DESC LIMIT 1", order_id
    )
    assert (kind, note) == ("photo_consent", "public")
    sql = "UPDATE points.service_orders SET idempotency_key = 'k', actor_member_id = $2 WHERE id = $1"
    assert await refused_with(app, sql, order_id, resident) == "42501"  # the key is the need's: no grant


async def test_a_completions_photos_are_the_takers_at_most_four_each_once(world: World, app: Any) -> None:
    order_id = await dispatched(world)
    taker = world.volunteers[1].member_id
    await act(world, world.volunteers[1], order_id, "accept")
    mine = [await photo_of(world, 1) for _ in range(5)]
    theirs = await photo_of(world, 0)
    done = ("UPDATE points.service_orders SET state = 'done', done_by_member_id = $2, done_at = now(),"
            " done_note = '好了', done_photo_ids = $3::bigint[], actor_member_id = $2 WHERE id = $1")  # fmt: skip
    assert await refused_with(app, done, order_id, taker, [theirs]) == "LO005"
    assert await refused_with(app, done, order_id, taker, [mine[0], mine[0]]) == "LO005"
    assert await refused_with(app, done, order_id, taker, mine) == "23514"  # CHECK service_orders_done_photos
    sql = "UPDATE points.service_orders SET done_photo_ids = $2::bigint[] WHERE id = $1"
    assert await refused_with(app, sql, order_id, mine[:1]) == "LO002"  # photos only with the completion
    await app.execute(done, order_id, taker, mine[:4])
    sql = "UPDATE points.service_orders SET state = 'confirmed', confirmed_at = now(), done_photo_ids = '{}',"
    sql += " actor_member_id = $2 WHERE id = $1"
    assert await refused_with(app, sql, order_id, world.volunteers[0].member_id) == "LO002"
    assert await state(world, order_id) == "done"


async def test_a_units_own_order_by_its_members_never_dispatched_to_it(world: World, app: Any) -> None:
    v0, v1 = world.volunteers[0].member_id, world.volunteers[1].member_id
    unit_id = await world.owner.fetchval(
        "INSERT INTO points.service_units (community_id, name, kind) VALUES ($1, '实验小学', 'school') RETURNING id",
        world.community_id,
    )
    await world.owner.execute(
        "INSERT INTO points.service_unit_members (unit_id, member_id, community_id) VALUES ($1, $2, $3)",
        unit_id,
        v0,
        world.community_id,
    )
    sql = ("INSERT INTO points.service_orders (community_id, type_id, description, ordered_by_member_id, for_member_id,"
           " actor_member_id, ordered_for_unit_id) VALUES ($1, $2, '扫落叶', $3, $3, $3, $4)")  # fmt: skip
    cleanup = world.types["cleanup"]["id"]
    assert await refused_with(app, sql, world.community_id, cleanup, v1, unit_id) == "LO005"  # not of the unit
    await app.execute(sql, world.community_id, cleanup, v0, unit_id)
    order_id = await world.owner.fetchval(
        "SELECT id FROM points.service_orders WHERE ordered_for_unit_id = $1", unit_id
    )
    sql = (
        "UPDATE points.service_orders SET state = 'dispatched', dispatch_round = 1, dispatched_by_member_id = $2,"
        " dispatched_at = now(), due_at = now() + interval '1 day', points = 4, unit_id = $3, actor_member_id = $2"
        " WHERE id = $1"
    )
    assert await refused_with(app, sql, order_id, world.organizer.member_id, unit_id) == "LO005"
    assert await state(world, order_id) == "ordered"


async def test_one_key_one_order_per_orderer_and_only_the_owner_back_dates(world: World, app: Any) -> None:
    v0 = world.volunteers[0].member_id
    sql = ("INSERT INTO points.service_orders (community_id, type_id, description, ordered_by_member_id, for_member_id,"
           " actor_member_id, idempotency_key) VALUES ($1, $2, '换灯泡', $3, $3, $3, 'k-1')")  # fmt: skip
    await app.execute(sql, world.community_id, world.types["cleanup"]["id"], v0)
    assert await refused_with(app, sql, world.community_id, world.types["cleanup"]["id"], v0) == "23505"
    made = await order(world, world.volunteers[0])
    sql = "SELECT points.backdate_service_order($1, now() - interval '2 days', now() - interval '1 day')"
    assert await refused_with(app, sql, made["id"]) == "42501"
    with pytest.raises(asyncpg.PostgresError) as refused:  # the owner too, for an order not confirmed
        await world.owner.execute(sql, made["id"])
    assert sqlstate_of(refused.value) == "LO001"
