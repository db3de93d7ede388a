"""Activities and sign-ups through the API: the waiting list, cancelling before the start, states that only move
forward, capacity under concurrent sign-ups; bad input for every earning write changes nothing; and a property:
whatever the order and size of awards, no member ever gets above a cap."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.earning_world import World, make_world
from tests.test_awards import adhoc, key


@pytest.fixture
async def world(client: Any, owner_conn: asyncpg.Connection, conn: Any) -> World:
    return await make_world(client, owner_conn, conn, volunteers=5)


def _when(days: float = 2, hours: float = 2) -> dict[str, str]:
    start = datetime.now(UTC) + timedelta(days=days)
    return {"starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=hours)).isoformat()}


async def _post(world: World, **body: Any) -> Any:
    payload = {"type_id": world.types["patrol"]["id"], "title": "治安巡逻 夜巡", "open": True, **_when(), **body}
    return await world.call(world.organizer, "POST", "/activities", json=payload)


async def test_a_full_activity_keeps_a_waiting_list_in_order(world: World) -> None:
    v = world.volunteers
    activity = (await _post(world, capacity=2)).json()
    statuses = []
    for p in v[:4]:
        r = await world.call(p, "POST", f"/activities/{activity['id']}/signup")
        assert r.status_code == 200, r.text
        statuses.append((r.json()["status"], r.json()["position"]))
    assert statuses == [("registered", None), ("registered", None), ("waitlisted", 1), ("waitlisted", 2)]
    again = await world.call(v[0], "POST", f"/activities/{activity['id']}/signup")
    assert again.json()["status"] == "registered"  # signing up again changes nothing
    listed = (await world.call(world.organizer, "GET", f"/activities/{activity['id']}")).json()
    assert (listed["registered"], listed["waitlisted"], listed["places_left"]) == (2, 2, 0)

    r = await world.call(v[0], "DELETE", f"/activities/{activity['id']}/signup")
    assert r.json()["status"] == "cancelled"
    signups = (await world.call(world.organizer, "GET", f"/activities/{activity['id']}/signups")).json()
    assert [(s["member_id"], s["status"]) for s in signups] == [
        (v[1].member_id, "registered"), (v[2].member_id, "registered"), (v[3].member_id, "waitlisted"),
    ]  # fmt: skip
    mine = (await world.call(v[2], "GET", "/me/activities")).json()
    assert [(m["activity"]["id"], m["part"]) for m in mine] == [(activity["id"], "registered")]


async def test_many_sign_ups_at_once_never_exceed_the_capacity(world: World) -> None:
    activity = (await _post(world, capacity=3)).json()
    answers = await asyncio.gather(
        *[world.call(p, "POST", f"/activities/{activity['id']}/signup") for p in world.volunteers]
    )
    assert sorted(a.json()["status"] for a in answers) == ["registered"] * 3 + ["waitlisted"] * 2
    registered = await world.owner.fetchval(
        "SELECT count(*) FROM points.signups WHERE activity_id = $1 AND status = 'registered'", activity["id"]
    )
    assert registered == 3


async def test_sign_ups_only_while_open_and_before_the_start(world: World) -> None:
    draft = (await _post(world, open=False)).json()
    r = await world.call(world.volunteers[0], "POST", f"/activities/{draft['id']}/signup")
    assert (r.status_code, r.json()["code"]) == (409, "wrong_state")
    assert (await world.call(world.organizer, "POST", f"/activities/{draft['id']}/open")).json()["state"] == "open"
    r = await world.call(world.volunteers[0], "POST", f"/activities/{draft['id']}/signup")
    assert r.status_code == 200
    await world.owner.execute(
        "UPDATE points.activities SET starts_at = now() - interval '1 minute', ends_at = now() + interval '1 hour'"
        " WHERE id = $1",
        draft["id"],
    )
    r = await world.call(world.volunteers[1], "POST", f"/activities/{draft['id']}/signup")
    assert (r.status_code, r.json()["code"]) == (409, "not_now")
    r = await world.call(world.volunteers[0], "DELETE", f"/activities/{draft['id']}/signup")
    assert (r.status_code, r.json()["code"]) == (409, "not_now")
    # the trigger says the same to anyone who skips the service
    with pytest.raises(asyncpg.PostgresError, match="takes no sign-ups now"):
        await world.owner.execute(
            "INSERT INTO points.signups (community_id, activity_id, member_id, status) VALUES ($1, $2, $3,"
            " 'registered')",
            world.community_id,
            draft["id"],
            world.volunteers[2].member_id,
        )


async def test_states_only_move_forward(world: World) -> None:
    activity = (await _post(world)).json()
    r = await world.call(world.organizer, "POST", f"/activities/{activity['id']}/cancel", json={"reason": "暴雨"})
    assert (r.json()["state"], r.json()["cancel_reason"]) == ("cancelled", "暴雨")
    r = await world.call(world.organizer, "POST", f"/activities/{activity['id']}/open")
    assert (r.status_code, r.json()["code"]) == (409, "wrong_state")
    with pytest.raises(asyncpg.PostgresError, match="cannot become open"):
        await world.owner.execute(
            "UPDATE points.activities SET state = 'open', cancel_reason = NULL WHERE id = $1", activity["id"]
        )


BAD = [
    ("/activities", {"type_id": 1, "title": "", **_when()}),
    ("/activities", {"type_id": 1, "title": "x", "starts_at": "2030-01-01T10:00:00", "ends_at": "2030-01-01T11:00:00"}),
    ("/activities", {"type_id": 1, "title": "x", **_when(hours=30)}),
    ("/activities", {"type_id": 1, "title": "x", "capacity": 0, **_when()}),
    ("/activities", {"type_id": 999999, "title": "x", **_when()}),
    ("/activities", {"type_id": 1, "title": "x", "reward_points": -1, **_when()}),
    ("/activity-types", {"code": "Bad Code", "name": "x", "default_points": 1}),
    ("/activity-types", {"code": "ok_code", "name": "x", "default_points": 1, "cap_per_day": 9, "cap_per_month": 5}),
    ("/budgets", {"period": "2026-13", "points": 10}),
    ("/budgets", {"period": "2026-12", "points": 0}),
    ("/awards", {"member_id": 1, "type_id": 1, "points": 5, "reason": ""}),
    ("/awards", {"member_id": 1, "type_id": 1, "points": 0, "reason": "x"}),
    ("/awards", {"member_id": 999999, "type_id": 1, "points": 5, "reason": "x"}),
    ("/awards", {"member_id": 1, "type_id": 1, "points": 5, "reason": "x", "minutes": 5000}),
    ("/earning-settings", {"approval_threshold": 0}),
]


@pytest.mark.parametrize(("path", "body"), BAD)
async def test_bad_input_is_refused_and_changes_nothing(
    world: World, no_change_on_4xx: None, path: str, body: dict[str, Any]
) -> None:
    body = {k: (world.volunteers[0].member_id if k == "member_id" and v == 1 else v) for k, v in body.items()}
    body = {k: (world.types["patrol"]["id"] if k == "type_id" and v == 1 else v) for k, v in body.items()}
    method = "PUT" if path == "/earning-settings" else "POST"
    caller = None if path in ("/activity-types", "/budgets", "/earning-settings") else world.organizer
    r = await world.call(caller, method, path, json=body, headers=key())
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["code"] in {"invalid_request", "not_found"}, r.text


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amounts=st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=6))
async def test_no_member_is_ever_above_a_cap(world: World, amounts: list[int]) -> None:
    """Patrol's caps are 10 a day and 100 a month: whatever awards come, in whatever sizes, a member's patrol
    points today never pass 10, and each award pays exactly what was left."""
    member = world.volunteers[amounts[0] % len(world.volunteers)]
    got_before = await world.owner.fetchval(
        "SELECT coalesce(sum(l.points), 0) FROM points.award_lines l JOIN points.awards w ON w.id = l.award_id"
        " WHERE l.member_id = $1 AND w.type_id = $2 AND w.state = 'posted'",
        member.member_id,
        world.types["patrol"]["id"],
    )
    total = got_before
    for amount in amounts:
        r = await adhoc(world, world.organizer, member, amount, type_code="patrol", reason="巡逻")
        assert r.status_code == 201, r.text
        paid = r.json()["lines"][0]["points"]
        assert paid == min(amount, 10 - total)
        total += paid
        assert total <= 10
    used = await world.owner.fetchval(
        "SELECT points FROM points.cap_usage WHERE member_id = $1 AND type_id = $2 AND length(period) = 10",
        member.member_id,
        world.types["patrol"]["id"],
    )
    assert used == total
