"""Service orders (点单-派单-接单-晒单), end to end through the API: the stairwell cleaned by the property company
and two volunteers paid, a declined order dispatched again, an order nobody accepts returned by the job, a disputed
completion, an order placed by an organizer for an elderly resident; the job's auto-confirmation; the public 晒单
list with masked names; and the two races on real connections (two dispatchers; the job against an acceptance)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from points.auth.errors import NotFound
from points.jobs import tasks
from points.orders import service
from points.orders.errors import OrderWrongState
from tests.earning_world import Person, World, make_world
from tests.racing import entered_as, race, split

pytestmark = pytest.mark.slow


@pytest.fixture
async def world(client: Any, owner_conn: asyncpg.Connection, conn: Any) -> World:
    return await make_world(client, owner_conn, conn, volunteers=5, budget=1000)


def due(hours: int = 24) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


async def ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


async def unit(world: World, name: str, kind: str, members: list[Person], **kw: Any) -> dict[str, Any]:
    body = {"name": name, "kind": kind, "contact": "物业办 0851-1234567",
            "member_ids": [m.member_id for m in members], **kw}  # fmt: skip
    return await ok(await world.call(None, "POST", "/service-units", json=body), 201)


async def order(world: World, who: Person, *, type_code: str = "cleanup", **kw: Any) -> dict[str, Any]:
    body = {"type_id": world.types[type_code]["id"], "description": kw.pop("description", "3栋楼道多年没人打扫"), **kw}
    return await ok(await world.call(who, "POST", "/service-orders", json=body), 201)


async def act(world: World, who: Person | None, order_id: int, verb: str, body: Any = None, status: int = 200) -> Any:
    r = await world.call(who, "POST", f"/service-orders/{order_id}/{verb}", json=body)
    assert r.status_code == status, r.text
    return r.json()


async def backdate(owner: asyncpg.Connection, order_id: int, column: str, hours: int) -> None:
    """Move a time of the order into the past, as the owner with the triggers off for this one statement (an order
    is never rewritten by the service; the test plays the clock)."""
    async with owner.transaction():
        await owner.execute("SET LOCAL session_replication_role = replica")
        await owner.execute(
            f"UPDATE points.service_orders SET {column} = {column} - make_interval(hours => $2) WHERE id = $1",
            order_id,
            hours,
        )


async def test_stairwell_cleaned_by_the_property_company_and_two_volunteers_paid(
    world: World, anonymous_client: Any
) -> None:
    resident, a, b = world.volunteers[0], world.volunteers[1], world.volunteers[2]
    company = await unit(world, "金牛物业", "property", [a, b], type_ids=[world.types["cleanup"]["id"]])
    made = await order(world, resident)
    assert made["state"] == "ordered"
    assert not made["proxy"]
    assert [e["kind"] for e in made["events"]] == ["ordered"]

    # The resident cannot dispatch; the organizer does, to the property company.
    await act(world, resident, made["id"], "dispatch", {"due_at": due(), "unit_id": company["id"]}, 403)
    sent = await act(world, world.organizer, made["id"], "dispatch", {"due_at": due(), "unit_id": company["id"]})
    assert (sent["state"], sent["unit_name"], sent["points"]) == ("dispatched", "金牛物业", 4)

    # Someone not of the unit does not see it; the unit's member does, and accepts.
    r = await world.call(world.volunteers[3], "GET", f"/service-orders/{made['id']}")
    assert r.status_code == 404
    taken = await ok(await world.call(a, "GET", "/me/taken-service-orders"))
    assert [o["id"] for o in taken] == [made["id"]]
    accepted = await act(world, a, made["id"], "accept")
    assert accepted["accepted_by_member_id"] == a.member_id

    done = await act(world, b, made["id"], "done",
                     {"note": "楼道已清扫，杂物清运", "volunteer_ids": [a.member_id, b.member_id]})  # fmt: skip
    assert done["state"] == "done"
    assert {w["member_id"] for w in done["workers"]} == {a.member_id, b.member_id}
    assert await world.balance(a) == 0  # nothing before the resident confirms

    await act(world, a, made["id"], "confirm", status=403)  # the taker does not confirm their own work
    confirmed = await act(world, resident, made["id"], "confirm")
    assert confirmed["state"] == "confirmed"
    assert [(w["points"], w["award_refusal"]) for w in confirmed["workers"]] == [(4, None), (4, None)]
    assert await world.balance(a) == 4
    assert await world.balance(b) == 4
    assert await world.balance(resident) == 0
    assert [e["kind"] for e in confirmed["events"]] == ["ordered", "dispatched", "accepted", "done", "confirmed"]
    assert [e["member_id"] for e in confirmed["events"]] == [
        resident.member_id, world.organizer.member_id, a.member_id, b.member_id, resident.member_id,
    ]  # fmt: skip
    # The award is the dispatcher's: made by the organizer, an ad-hoc award of the order's category.
    award = await ok(await world.call(None, "GET", f"/awards/{confirmed['workers'][0]['award_id']}"))
    assert (award["made_by_member_id"], award["kind"], award["state"]) == (world.organizer.member_id, "adhoc", "posted")

    # The unit's record and the public 晒单 list, with no sign-in and masked names.
    record = await ok(await world.call(None, "GET", f"/service-units/{company['id']}"))
    assert (record["taken"], record["completed"], record["on_time"]) == (1, 1, 1)
    shown = await ok(await anonymous_client.get(f"{world.url}/shaidan"))
    assert [(o["order_id"], o["unit_name"], o["type_name"], o["days_to_done"]) for o in shown["orders"]] == [
        (made["id"], "金牛物业", world.types["cleanup"]["name"], 0)
    ]
    assert shown["orders"][0]["resident"] == "志**0"  # 志愿者0, masked
    assert resident.name not in str(shown)
    assert shown["per_unit"][0]["by"] == "金牛物业"
    assert shown["per_unit"][0]["orders"] == 1


async def test_declined_and_dispatched_again_to_volunteers(world: World) -> None:
    resident, a, v1, v2 = world.volunteers[0], world.volunteers[1], world.volunteers[2], world.volunteers[3]
    school = await unit(world, "实验小学", "school", [a])
    made = await order(world, resident, type_code="elder_help", description="周四陪老人去医院")
    body = {"due_at": due(), "unit_id": school["id"]}
    # elder_help pays per hour: its default points are 0, so the dispatcher says how many.
    await act(world, world.organizer, made["id"], "dispatch", body, 400)
    await act(world, world.organizer, made["id"], "dispatch", {**body, "points": 6})
    await act(world, a, made["id"], "decline", {"reason": "  "}, 400)
    back = await act(world, a, made["id"], "decline", {"reason": "周四学校有活动，抽不出人"})
    assert (back["state"], back["unit_id"]) == ("ordered", None)
    assert back["events"][-1]["kind"] == "declined"
    assert back["events"][-1]["unit_id"] == school["id"]
    listed = await ok(await world.call(world.organizer, "GET", "/service-orders", params={"state": "ordered"}))
    assert made["id"] in [o["id"] for o in listed]

    again = await act(world, world.organizer, made["id"], "dispatch",
                      {"due_at": due(), "volunteer_ids": [v1.member_id, v2.member_id], "points": 6})  # fmt: skip
    assert again["dispatch_round"] == 2
    assert {x["member_id"] for x in again["assignees"]} == {v1.member_id, v2.member_id}
    await act(world, a, made["id"], "accept", status=404)  # the school no longer has it
    await act(world, v1, made["id"], "accept")
    await act(world, v2, made["id"], "done", {"note": "已陪同就医"})  # both dispatched did it
    await act(world, resident, made["id"], "confirm")
    assert await world.balance(v1) == 6
    assert await world.balance(v2) == 6


async def test_nobody_accepts_and_the_job_returns_it(world: World, engine: AsyncEngine) -> None:
    resident, a = world.volunteers[0], world.volunteers[1]
    company = await unit(world, "金牛物业", "property", [a])
    made = await order(world, resident)
    await act(world, world.organizer, made["id"], "dispatch", {"due_at": due(72), "unit_id": company["id"]})
    assert await tasks.time_out_service_orders(engine) == 0  # not yet: 48 hours by default
    await backdate(world.owner, made["id"], "dispatched_at", 49)
    assert await tasks.time_out_service_orders(engine) == 1
    assert await tasks.time_out_service_orders(engine) == 0  # a second run finds nothing
    found = await ok(await world.call(None, "GET", f"/service-orders/{made['id']}"))
    assert found["state"] == "ordered"
    assert (found["events"][-1]["kind"], found["events"][-1]["member_id"]) == ("expired", None)
    await act(world, a, made["id"], "accept", status=404)  # back with the dispatcher, no longer the unit's


async def test_a_disputed_completion_goes_back_to_the_dispatcher(world: World, engine: AsyncEngine) -> None:
    resident, v = world.volunteers[0], world.volunteers[1]
    made = await order(world, resident)
    await act(world, world.organizer, made["id"], "dispatch", {"due_at": due(), "volunteer_ids": [v.member_id]})
    await act(world, v, made["id"], "accept")
    await act(world, v, made["id"], "done", {"note": "已打扫"})
    disputed = await act(world, resident, made["id"], "dispute", {"reason": "只扫了一层"})
    assert disputed["state"] == "disputed"
    assert disputed["events"][-1]["note"] == "只扫了一层"
    await act(world, resident, made["id"], "confirm", status=409)
    assert await world.balance(v) == 0
    # Dispatched again, done again, and this time nobody confirms: the job counts it as confirmed after 72 h.
    await act(world, world.organizer, made["id"], "dispatch", {"due_at": due(), "volunteer_ids": [v.member_id]})
    await act(world, v, made["id"], "accept")
    await act(world, v, made["id"], "done", {"note": "六层都扫完了"})
    assert await tasks.time_out_service_orders(engine) == 0
    await backdate(world.owner, made["id"], "done_at", 73)
    assert await tasks.time_out_service_orders(engine) == 1
    found = await ok(await world.call(None, "GET", f"/service-orders/{made['id']}"))
    assert (found["state"], found["events"][-1]["kind"]) == ("confirmed", "auto_confirmed")
    assert await world.balance(v) == 4  # paid once, for the round that was done


async def test_an_organizer_orders_for_an_elderly_resident(world: World) -> None:
    elder = world.volunteers[4]
    await world.owner.execute("UPDATE points.members SET display_name = '赵玉梅' WHERE id = $1", elder.member_id)
    # A resident cannot order for a neighbour; the organizer can (代办).
    body = {"type_id": world.types["elder_help"]["id"], "description": "换灯泡", "for_member_id": elder.member_id}
    r = await world.call(world.volunteers[0], "POST", "/service-orders", json=body)
    assert r.status_code == 403, r.text
    made = await ok(await world.call(world.organizer, "POST", "/service-orders", json=body), 201)
    assert (made["proxy"], made["for_name"], made["ordered_by_member_id"]) == (
        True,
        "赵玉梅",
        world.organizer.member_id,
    )
    mine = await ok(await world.call(elder, "GET", "/me/service-orders"))
    assert [o["id"] for o in mine] == [made["id"]]
    v = world.volunteers[1]
    await act(world, world.checker, made["id"], "dispatch",
              {"due_at": due(), "volunteer_ids": [v.member_id], "points": 3})  # fmt: skip
    await act(world, v, made["id"], "accept")
    await act(world, v, made["id"], "done", {"note": "灯泡已换"})
    # The organizer who ordered for her confirms on her behalf.
    await act(world, world.organizer, made["id"], "confirm")
    assert await world.balance(v) == 3


async def test_cancel_and_the_resident_cannot_cancel_a_taken_order(world: World) -> None:
    resident, v = world.volunteers[0], world.volunteers[1]
    made = await order(world, resident)
    await act(world, world.organizer, made["id"], "dispatch", {"due_at": due(), "volunteer_ids": [v.member_id]})
    await act(world, v, made["id"], "accept")
    await act(world, resident, made["id"], "cancel", {"reason": "不需要了"}, 409)
    cancelled = await act(world, world.organizer, made["id"], "cancel", {"reason": "居民已自行处理"})
    assert cancelled["state"] == "cancelled"
    await act(world, v, made["id"], "done", {"note": "x"}, 409)


async def test_two_dispatchers_at_once_one_wins(world: World, engine: AsyncEngine) -> None:
    """Both dispatchers wait on the order's row before either writes; once it is let go, exactly one dispatch
    goes through and the other finds the order dispatched (409). Without the row lock both would read it ordered."""
    a, b = world.volunteers[1], world.volunteers[2]
    made = await order(world, world.volunteers[0])
    when = datetime.now(UTC) + timedelta(hours=24)

    def dispatcher(to: Person) -> Any:
        return lambda c, acc: service.dispatch(c, acc, made["id"], due_at=when, volunteer_ids=[to.member_id])

    racers = [
        await entered_as(world.owner, world.community_id, world.organizer.member_id, dispatcher(a)),
        await entered_as(world.owner, world.community_id, world.checker.member_id, dispatcher(b)),
    ]
    results = await race(
        engine, world.owner, "SELECT 1 FROM points.service_orders WHERE id = $1 FOR UPDATE", [made["id"]], racers
    )
    won, lost = split(results)
    assert (len(won), len(lost)) == (1, 1), results
    assert isinstance(lost[0], OrderWrongState)
    rounds = await world.owner.fetchval("SELECT dispatch_round FROM points.service_orders WHERE id = $1", made["id"])
    dispatched = await world.owner.fetchval(
        "SELECT count(*) FROM points.service_order_events WHERE order_id = $1 AND kind = 'dispatched'", made["id"]
    )
    assert (rounds, dispatched) == (1, 1)


async def test_the_job_racing_an_acceptance_never_does_both(world: World, engine: AsyncEngine) -> None:
    """The job's return and the unit's acceptance both lock the order's row and look again once they have it: in
    either order one of them happens, never both (four rounds, whichever the scheduler lets go first)."""
    a = world.volunteers[1]
    company = await unit(world, "金牛物业", "property", [a])
    for _ in range(4):
        made = await order(world, world.volunteers[0])
        await act(world, world.organizer, made["id"], "dispatch", {"due_at": due(72), "unit_id": company["id"]})
        await backdate(world.owner, made["id"], "dispatched_at", 49)

        results = await _job_against_accept(world, engine, a, made["id"])
        state = await world.owner.fetchval("SELECT state FROM points.service_orders WHERE id = $1", made["id"])
        kinds = [
            r["kind"]
            for r in await world.owner.fetch(
                "SELECT kind FROM points.service_order_events WHERE order_id = $1 ORDER BY id", made["id"]
            )
        ]
        if state == "accepted":
            assert results[0] == 0, results
            assert kinds == ["ordered", "dispatched", "accepted"], (results, kinds)
        else:
            assert state == "ordered", state
            assert results[0] == 1, results
            assert isinstance(results[1], NotFound), results  # back with the dispatcher: no longer the unit's
            assert kinds == ["ordered", "dispatched", "expired"]


async def _job_against_accept(world: World, engine: AsyncEngine, taker: Person, order_id: int) -> list[Any]:
    async def job(c: Any) -> int:
        return await service.return_unaccepted(c, world.community_id)

    accepting = await entered_as(
        world.owner, world.community_id, taker.member_id, lambda c, acc: service.accept(c, acc, order_id)
    )
    hold = "SELECT 1 FROM points.service_orders WHERE id = $1 FOR UPDATE"
    return list(await race(engine, world.owner, hold, [order_id], [job, accepting]))
