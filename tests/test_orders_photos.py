"""Service orders, second slice, end to end: a double tap on 点单 with one Idempotency-Key places one order (also
two requests at once, on real connections); the resident's consent puts the before/after photos on the public 晒单
and takes them off again; a completion with several photos; a unit's own 点单, never dispatched to itself; 晒单 by
month; and the demo's month of past orders (back-dated by the owner, their history with them), loaded twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger.errors import IdempotencyConflict
from points.demo import SLUG as DEMO_SLUG
from points.demo import load_demo
from points.orders import service
from tests.earning_world import Person, World, make_world
from tests.racing import entered_as, race, split
from tests.swap_world import png
from tests.test_orders import act, due, ok, order, unit

pytestmark = pytest.mark.slow


@pytest.fixture
async def world(client: Any, owner_conn: asyncpg.Connection, conn: Any) -> World:
    return await make_world(client, owner_conn, conn, volunteers=5, budget=1000)


async def photo(world: World, who: Person, color: str = "red") -> int:
    r = await world.call(who, "POST", "/photos", content=png(color), headers={"Content-Type": "image/png"})
    found: int = (await ok(r, 201))["id"]
    return found


async def orders_of(world: World, who: Person) -> int:
    found: int = await world.owner.fetchval(
        "SELECT count(*) FROM points.service_orders WHERE ordered_by_member_id = $1", who.member_id
    )
    return found


async def test_a_double_tap_with_one_key_places_one_order(world: World) -> None:
    resident, other = world.volunteers[0], world.volunteers[1]
    body = {"type_id": world.types["cleanup"]["id"], "description": "5栋楼道灯不亮"}
    key = {"Idempotency-Key": "tap-1"}
    first = await ok(await world.call(resident, "POST", "/service-orders", json=body, headers=key), 201)
    again = await ok(await world.call(resident, "POST", "/service-orders", json=body, headers=key), 200)
    assert (again["id"], again["replayed"], first["replayed"]) == (first["id"], True, False)
    assert [e["kind"] for e in again["events"]] == ["ordered"]  # nothing new, not even in the history
    assert await orders_of(world, resident) == 1

    # The same key with another need: refused, nothing placed.
    r = await world.call(resident, "POST", "/service-orders", json={**body, "description": "别的"}, headers=key)
    assert (r.status_code, r.json()["code"]) == (409, "idempotency_key_reused")
    assert await orders_of(world, resident) == 1
    # A key is the orderer's: a neighbour's same key is a new order of theirs; no key, a new order each time.
    await ok(await world.call(other, "POST", "/service-orders", json=body, headers=key), 201)
    await ok(await world.call(resident, "POST", "/service-orders", json=body), 201)
    await ok(await world.call(resident, "POST", "/service-orders", json=body), 201)
    assert await orders_of(world, resident) == 3
    # The consent is not part of the need: changed since, the retry still answers the order.
    await ok(await world.call(resident, "PUT", f"/service-orders/{first['id']}/photo-consent", json={"public": True}))
    again = await ok(await world.call(resident, "POST", "/service-orders", json=body, headers=key), 200)
    assert (again["id"], again["photos_public"]) == (first["id"], True)


async def test_two_requests_at_once_with_one_key_place_one_order(world: World, engine: AsyncEngine, conn: Any) -> None:
    """The first request's insert is in flight (the holder: the same order, not yet committed); two more with the
    same key wait for it on the unique key, then answer its order: one order, one history."""
    resident = world.volunteers[0]
    type_id = world.types["cleanup"]["id"]

    async def place(c: Any, access: Any) -> service.Order:
        return await service.post_order(
            c, access, type_id=type_id, description="楼道灯坏了", idempotency_key="same-key"
        )

    racers = [await entered_as(world.owner, world.community_id, resident.member_id, place) for _ in range(2)]
    hold = (
        "WITH placed AS (INSERT INTO points.service_orders (community_id, type_id, description, ordered_by_member_id,"
        " for_member_id, actor_member_id, idempotency_key) VALUES ($1, $2, '楼道灯坏了', $3, $3, $3, 'same-key')"
        " RETURNING id) SELECT id FROM placed"
    )
    results = await race(engine, world.owner, hold, [world.community_id, type_id, resident.member_id], racers)
    won, lost = split(results)
    assert not lost, results
    assert len({o.id for o in won}) == 1
    assert all(o.replayed for o in won)
    assert await orders_of(world, resident) == 1
    events = await world.owner.fetchval(
        "SELECT count(*) FROM points.service_order_events WHERE order_id = $1", won[0].id
    )
    assert events == 1

    async def other(c: Any, access: Any) -> service.Order:
        return await service.post_order(c, access, type_id=type_id, description="别的", idempotency_key="same-key")

    with pytest.raises(IdempotencyConflict):
        await (await entered_as(world.owner, world.community_id, resident.member_id, other))(conn)


async def test_photos_on_shaidan_only_with_the_residents_consent(world: World, anonymous_client: Any) -> None:
    resident, a, b = world.volunteers[0], world.volunteers[1], world.volunteers[2]
    before = await photo(world, resident, "orange")
    made = await order(world, resident, photo_id=before)
    assert (made["photos_public"], made["done_photo_ids"]) == (False, [])
    await act(world, world.organizer, made["id"], "dispatch", {"due_at": due(), "volunteer_ids": [a.member_id]})
    await act(world, a, made["id"], "accept")
    after = [await photo(world, a, "green"), await photo(world, a, "blue")]
    done = await act(world, a, made["id"], "done", {"note": "已清理", "photo_ids": after})
    assert done["done_photo_ids"] == after
    shaidan = f"{world.url}/shaidan"

    # Done, not confirmed: not on 晒单, its photos neither (even with consent).
    await ok(await world.call(resident, "PUT", f"/service-orders/{made['id']}/photo-consent", json={"public": True}))
    r = await anonymous_client.get(f"{shaidan}/photos/{before}")
    assert r.status_code == 404
    await ok(await world.call(resident, "PUT", f"/service-orders/{made['id']}/photo-consent", json={"public": False}))
    await act(world, resident, made["id"], "confirm")

    shown = (await ok(await anonymous_client.get(shaidan)))["orders"]
    assert [(o["order_id"], o["before_photo_ids"], o["after_photo_ids"]) for o in shown] == [(made["id"], [], [])]
    for each in (before, *after):
        assert (await anonymous_client.get(f"{shaidan}/photos/{each}")).status_code == 404

    # The taker does not decide it; the resident does, and it is recorded.
    r = await world.call(a, "PUT", f"/service-orders/{made['id']}/photo-consent", json={"public": True})
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    agreed = await ok(
        await world.call(resident, "PUT", f"/service-orders/{made['id']}/photo-consent", json={"public": True})
    )
    assert agreed["photos_public"]
    assert [(e["kind"], e["note"], e["member_id"]) for e in agreed["events"]][-1] == (
        "photo_consent", "public", resident.member_id,
    )  # fmt: skip
    same = await ok(
        await world.call(resident, "PUT", f"/service-orders/{made['id']}/photo-consent", json={"public": True})
    )
    assert len(same["events"]) == len(agreed["events"])  # the same answer again records nothing
    shown = (await ok(await anonymous_client.get(shaidan)))["orders"]
    assert (shown[0]["before_photo_ids"], shown[0]["after_photo_ids"]) == ([before], after)
    r = await anonymous_client.get(f"{shaidan}/photos/{after[1]}")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("image/")
    assert r.headers["cache-control"] == "public, max-age=300"
    assert r.content[:4] == b"\x89PNG"

    # Another photo of the community (a report's, say) is not on 晒单; nor is one in another community's 晒单.
    stray = await photo(world, b)
    assert (await anonymous_client.get(f"{shaidan}/photos/{stray}")).status_code == 404
    assert (await anonymous_client.get(f"/api/v1/communities/no-such/shaidan/photos/{before}")).status_code == 404

    # Withdrawn: off 晒单 again.
    await ok(await world.call(resident, "PUT", f"/service-orders/{made['id']}/photo-consent", json={"public": False}))
    assert (await anonymous_client.get(f"{shaidan}/photos/{before}")).status_code == 404
    shown = (await ok(await anonymous_client.get(shaidan)))["orders"]
    assert (shown[0]["before_photo_ids"], shown[0]["after_photo_ids"]) == ([], [])


async def test_consent_given_when_ordering_and_a_new_round_takes_new_photos(
    world: World, anonymous_client: Any
) -> None:
    resident, a = world.volunteers[0], world.volunteers[1]
    made = await order(world, resident, photos_public=True)
    assert made["photos_public"]
    await act(world, world.organizer, made["id"], "dispatch", {"due_at": due(), "volunteer_ids": [a.member_id]})
    await act(world, a, made["id"], "accept")
    first = await photo(world, a)
    await act(world, a, made["id"], "done", {"note": "好了", "photo_ids": [first]})
    await act(world, resident, made["id"], "dispute", {"reason": "没扫干净"})
    again = await act(world, world.organizer, made["id"], "dispatch", {"due_at": due(), "volunteer_ids": [a.member_id]})
    assert again["done_photo_ids"] == []  # a new round: its completion brings its own
    await act(world, a, made["id"], "accept")
    second = await photo(world, a)
    await act(world, a, made["id"], "done", {"note": "重新打扫了", "photo_ids": [second]})
    await act(world, resident, made["id"], "confirm")
    shown = (await ok(await anonymous_client.get(f"{world.url}/shaidan")))["orders"]
    assert (shown[0]["before_photo_ids"], shown[0]["after_photo_ids"]) == ([], [second])
    assert (await anonymous_client.get(f"{world.url}/shaidan/photos/{first}")).status_code == 404


async def test_a_unit_orders_for_itself_and_is_not_dispatched_its_own_order(world: World) -> None:
    teacher, cleaner, outsider = world.volunteers[0], world.volunteers[1], world.volunteers[2]
    school = await unit(world, "实验小学", "school", [teacher])
    company = await unit(world, "金牛物业", "property", [cleaner])
    made = await order(world, teacher, unit_id=school["id"], description="学校门口落叶清扫")
    assert (made["ordering_unit_id"], made["ordering_unit_name"], made["for_member_id"]) == (
        school["id"], "实验小学", teacher.member_id,
    )  # fmt: skip
    r = await world.call(
        outsider, "POST", "/service-orders",
        json={"type_id": world.types["cleanup"]["id"], "description": "冒名", "unit_id": school["id"]},
    )  # fmt: skip
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")

    r = await world.call(
        world.organizer,
        "POST",
        f"/service-orders/{made['id']}/dispatch",
        json={"due_at": due(), "unit_id": school["id"]},
    )
    assert (r.status_code, r.json()["code"]) == (422, "unit_does_not_offer")
    sent = await act(world, world.organizer, made["id"], "dispatch", {"due_at": due(), "unit_id": company["id"]})
    await act(world, cleaner, made["id"], "accept")
    await act(world, cleaner, made["id"], "done", {"note": "已清扫", "volunteer_ids": [cleaner.member_id]})
    confirmed = await act(world, teacher, made["id"], "confirm")  # the school's member who ordered it
    assert (sent["unit_name"], confirmed["state"], confirmed["ordering_unit_name"]) == (
        "金牛物业",
        "confirmed",
        "实验小学",
    )
    assert await world.balance(cleaner) == 4


async def test_shaidan_by_month(world: World, anonymous_client: Any) -> None:
    resident, a = world.volunteers[0], world.volunteers[1]
    made = await order(world, resident)
    await act(world, world.organizer, made["id"], "dispatch", {"due_at": due(), "volunteer_ids": [a.member_id]})
    await act(world, a, made["id"], "accept")
    await act(world, a, made["id"], "done", {"note": "好了"})
    await act(world, resident, made["id"], "confirm")
    month = (datetime.now(UTC) + timedelta(hours=8)).strftime("%Y-%m")  # 晒单's months are China's
    shown = await ok(await anonymous_client.get(f"{world.url}/shaidan", params={"month": month}))
    assert [o["order_id"] for o in shown["orders"]] == [made["id"]]
    shown = await ok(await anonymous_client.get(f"{world.url}/shaidan", params={"month": "2020-01"}))
    assert shown["orders"] == []
    r = await anonymous_client.get(f"{world.url}/shaidan", params={"month": "2020-13"})
    assert r.status_code == 400


async def test_the_demo_has_a_month_of_shaidan_and_loads_twice_the_same(
    database_url: str, owner_conn: asyncpg.Connection
) -> None:
    async def state() -> list[tuple[Any, ...]]:
        rows = await owner_conn.fetch(
            "SELECT o.id, o.state, o.created_at, o.done_at, o.confirmed_at, o.photos_public, o.done_photo_ids,"
            " o.ordered_for_unit_id, array_agg(e.kind ORDER BY e.id) AS kinds, array_agg(e.at ORDER BY e.id) AS times"
            " FROM points.service_orders o JOIN ledger.communities c ON c.id = o.community_id"
            " JOIN points.service_order_events e ON e.order_id = o.id WHERE c.slug = $1 GROUP BY o.id ORDER BY o.id",
            DEMO_SLUG,
        )
        return [tuple(r) for r in rows]

    await load_demo(database_url)
    first = await state()
    await load_demo(database_url)
    assert await state() == first
    now = datetime.now(UTC)
    past = [r for r in first if r[1] == "confirmed" and r[3] < now - timedelta(hours=12)]
    assert 15 <= len(past) <= 25
    assert min(r[3] for r in past) > now - timedelta(days=31)
    assert len({r[3].date() for r in past}) >= 15  # spread over the month
    assert any(r[5] and r[6] for r in past)
    assert any(r[7] is not None for r in past)
    for _id, _state, created, done, confirmed, *_rest, kinds, times in past:
        assert times == sorted(times)
        assert times[0] == created
        assert created < done <= confirmed
        assert kinds == ["ordered", "dispatched", "accepted", "done", "confirmed"]
        assert times[3] == done
        assert times[4] == confirmed
        assert done - created < timedelta(hours=48)  # within the accept timeout, as it would have been


async def test_a_units_colleague_reads_its_order_but_the_member_who_placed_it_confirms(world: World) -> None:
    teacher, colleague, outsider = world.volunteers[0], world.volunteers[1], world.volunteers[2]
    school = await unit(world, "实验小学", "school", [teacher, colleague])
    made = await order(world, teacher, unit_id=school["id"], description="学校门口落叶清扫")
    seen = await ok(await world.call(colleague, "GET", f"/service-orders/{made['id']}"))
    assert seen["ordering_unit_name"] == "实验小学"
    mine = await ok(await world.call(colleague, "GET", "/me/service-orders"))
    assert [o["id"] for o in mine] == [made["id"]]
    assert (await world.call(outsider, "GET", f"/service-orders/{made['id']}")).status_code == 404
    assert await ok(await world.call(outsider, "GET", "/me/service-orders")) == []
    await act(world, world.organizer, made["id"], "dispatch", {"due_at": due(), "volunteer_ids": [outsider.member_id]})
    await act(world, outsider, made["id"], "accept")
    await act(world, outsider, made["id"], "done", {"note": "已清扫"})
    r = await world.call(colleague, "POST", f"/service-orders/{made['id']}/confirm")
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")  # read only: the teacher who ordered confirms
    assert (await act(world, teacher, made["id"], "confirm"))["state"] == "confirmed"
