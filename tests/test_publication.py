"""The 公示 window, end to end through the API: an award published, its points held on the budget and pending for
the member; neighbours' objections; the admin upholding (nothing posted, the budget and the caps restored) or
dismissing (it settles on time); the job settling awards whose window ended, once; the window switched off or
changed mid-way; the public page with masked names."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from points.jobs import tasks
from tests.earning_world import Person, World, make_world

pytestmark = pytest.mark.slow


@pytest.fixture
async def world(client: Any, owner_conn: asyncpg.Connection, conn: Any) -> World:
    w = await make_world(client, owner_conn, conn, budget=200)
    r = await client.put(f"{w.url}/publication-settings", json={"window_days": 7})
    assert (r.status_code, r.json()) == (200, {"window_days": 7}), r.text
    return w


async def adhoc(world: World, to: Person, points: int, *, by: Person | None = None, **kw: Any) -> Any:
    body = {"member_id": to.member_id, "type_id": world.types["mediation"]["id"], "points": points,
            "reason": kw.pop("reason", "调解3栋邻里噪音纠纷"), **kw}  # fmt: skip
    r = await world.call(by or world.organizer, "POST", "/awards", json=body,
                         headers={"Idempotency-Key": secrets.token_hex(8)})  # fmt: skip
    assert r.status_code == 201, r.text
    return r.json()


async def settle_at(world: World, at: datetime) -> list[int]:
    """The settle job at a moment of the test's choosing (the owner's function; the service's role runs at now)."""
    async with world.owner.transaction():
        await world.owner.execute("SELECT set_config('linli.community_id', $1, true)", str(world.community_id))
        rows = await world.owner.fetch("SELECT award_id FROM points.settle_awards_at($1, $2)", world.community_id, at)
    return [r["award_id"] for r in rows]


async def budget_available(world: World) -> int:
    r = await world.client.get(f"{world.url}/budgets")
    assert r.status_code == 200, r.text
    return sum(b["left"] for b in r.json())


async def state_of(world: World, award_id: int) -> str:
    value: str = await world.owner.fetchval("SELECT state FROM points.awards WHERE id = $1", award_id)
    return value


async def mine(world: World, who: Person) -> dict[str, Any]:
    r = await world.call(who, "GET", "/me/publication")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_an_award_is_published_then_settled_when_its_window_ends(world: World, engine: AsyncEngine) -> None:
    v = world.volunteers[0]
    award = await adhoc(world, v, 12)
    assert award["state"] == "published"
    ends = datetime.fromisoformat(award["window_ends_at"])
    assert timedelta(days=7) - timedelta(minutes=1) < ends - datetime.now(UTC) <= timedelta(days=7)
    # Held on the budget: nobody else can award those points; the member has them pending, not spendable.
    assert await world.balance(v) == 0
    assert await budget_available(world) == 188
    me = await mine(world, v)
    assert me["pending_points"] == 12
    assert [(a["award_id"], a["state"], a["points"]) for a in me["awards"]] == [(award["id"], "published", 12)]
    r = await world.call(v, "GET", "/me/wallet")
    assert (r.json()["balance"], r.json()["available"]) == (0, 0)

    # The job now settles nothing: the window is open.
    assert await tasks.settle_published_awards(engine) == 0
    assert await settle_at(world, ends - timedelta(seconds=1)) == []
    # At its end it settles, once: one ledger entry, the holds released, the points the member's.
    assert await settle_at(world, ends) == [award["id"]]
    assert await settle_at(world, ends + timedelta(days=1)) == []
    assert await state_of(world, award["id"]) == "posted"
    assert await world.balance(v) == 12
    assert await world.entries() == 1
    assert await budget_available(world) == 188
    assert (await mine(world, v))["pending_points"] == 0
    active = await world.owner.fetchval(
        "SELECT count(*) FROM points.award_holds ah JOIN ledger.holds h ON h.id = ah.hold_id"
        " WHERE ah.award_id = $1 AND h.status = 'active'",
        award["id"],
    )
    assert active == 0
    got = (await world.call(world.organizer, "GET", f"/awards/{award['id']}")).json()
    assert got["state"] == "posted"
    assert got["entry_id"] is not None


async def test_an_upheld_objection_voids_the_award_and_restores_the_budget(world: World) -> None:
    v, neighbour = world.volunteers[0], world.volunteers[1]
    award = await adhoc(world, v, 30)
    r = await world.call(neighbour, "POST", f"/awards/{award['id']}/objections", json={"reason": "那天他不在场"})
    assert r.status_code == 201, r.text
    objection = r.json()
    assert (objection["state"], objection["award_state"]) == ("open", "published")
    # Once per member per award.
    again = await world.call(neighbour, "POST", f"/awards/{award['id']}/objections", json={"reason": "再说一次"})
    assert (again.status_code, again.json()["code"]) == (409, "already_objected")
    # A second neighbour may object too; the admin sees both waiting.
    r = await world.call(world.volunteers[2], "POST", f"/awards/{award['id']}/objections", json={"reason": "不属实"})
    assert r.status_code == 201, r.text
    waiting = (await world.client.get(f"{world.url}/objections", params={"state": "open"})).json()
    assert [o["paid"] for o in waiting] == [[v.name], [v.name]]

    r = await world.client.post(f"{world.url}/objections/{objection['id']}/uphold", json={"reason": "经核实当天未参加"})
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["award_state"]) == ("upheld", "voided")
    assert await state_of(world, award["id"]) == "voided"
    assert await world.balance(v) == 0
    assert await world.entries() == 0
    assert await budget_available(world) == 200
    states = [o["state"] for o in (await world.client.get(f"{world.url}/objections")).json()]
    assert sorted(states) == ["closed", "upheld"]  # the other objection closed with the award
    # The member sees it voided, with the reason; the objections' reasons, not who made them.
    me = await mine(world, v)
    assert me["pending_points"] == 0
    (voided,) = me["awards"]
    assert (voided["state"], voided["decision_reason"]) == ("voided", "经核实当天未参加")
    assert {o["reason"] for o in voided["objections"]} == {"那天他不在场", "不属实"}
    assert "member_id" not in voided["objections"][0]
    # Nothing is settled later, and the caps it took are given back: the same points can be awarded again.
    assert await settle_at(world, datetime.now(UTC) + timedelta(days=30)) == []
    again_award = await adhoc(world, v, 30)
    assert again_award["lines"][0]["points"] == 30
    # The audit trail has the decision and its reason.
    audited = await world.owner.fetchval(
        "SELECT detail->>'reason' FROM points.audit_log WHERE community_id = $1 AND action = 'objection.upheld'",
        world.community_id,
    )
    assert audited == "经核实当天未参加"


async def test_a_dismissed_objection_lets_the_award_settle_on_time(world: World) -> None:
    v = world.volunteers[0]
    award = await adhoc(world, v, 8)
    ends = datetime.fromisoformat(award["window_ends_at"])
    r = await world.call(world.volunteers[1], "POST", f"/awards/{award['id']}/objections", json={"reason": "金额太高"})
    objection = r.json()
    # An open objection holds the award past its window: an objection of the last minute is not overtaken.
    assert await settle_at(world, ends + timedelta(hours=1)) == []
    r = await world.client.post(f"{world.url}/objections/{objection['id']}/dismiss", json={"reason": "调解属实"})
    assert (r.status_code, r.json()["state"]) == (200, "dismissed")
    assert await state_of(world, award["id"]) == "published"
    assert await settle_at(world, ends - timedelta(minutes=1)) == []
    assert await settle_at(world, ends) == [award["id"]]
    assert await world.balance(v) == 8
    # Decided once.
    r = await world.client.post(f"{world.url}/objections/{objection['id']}/uphold", json={"reason": "改主意"})
    assert (r.status_code, r.json()["code"]) == (409, "wrong_state")
    # A settled award takes no objection.
    r = await world.call(world.volunteers[2], "POST", f"/awards/{award['id']}/objections", json={"reason": "晚了"})
    assert (r.status_code, r.json()["code"]) == (409, "not_in_window")


async def test_the_window_switched_off_midway_keeps_published_awards_in_theirs(world: World) -> None:
    v = world.volunteers
    first = await adhoc(world, v[0], 5)
    r = await world.client.put(f"{world.url}/publication-settings", json={"window_days": None})
    assert (r.status_code, r.json()) == (200, {"window_days": None})
    second = await adhoc(world, v[1], 6)
    assert (second["state"], second["window_ends_at"]) == ("posted", None)
    assert await world.balance(v[1]) == 6
    assert await state_of(world, first["id"]) == "published"
    ends = datetime.fromisoformat(first["window_ends_at"])
    # Switched on again with another length: the first award keeps its own window.
    r = await world.client.put(f"{world.url}/publication-settings", json={"window_days": 2})
    third = await adhoc(world, v[2], 7)
    assert datetime.fromisoformat(third["window_ends_at"]) < ends
    assert await settle_at(world, ends - timedelta(days=1)) == [third["id"]]
    assert await settle_at(world, ends) == [first["id"]]
    assert [await world.balance(p) for p in v[:3]] == [5, 6, 7]


async def test_an_approved_award_is_published_with_its_approver(world: World) -> None:
    v = world.volunteers[0]
    r = await world.client.put(f"{world.url}/earning-settings", json={"approval_threshold": 20})
    assert r.status_code == 200
    big = await adhoc(world, v, 25)
    assert big["state"] == "pending_approval"
    assert await budget_available(world) == 200  # a pending award holds nothing yet
    r = await world.call(world.checker, "POST", f"/awards/{big['id']}/approve")
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["approved_by_member_id"]) == ("published", world.checker.member_id)
    assert await budget_available(world) == 175
    again = await world.call(world.checker, "POST", f"/awards/{big['id']}/approve")
    assert (again.status_code, again.json()["state"]) == (200, "published")  # a retry changes nothing
    assert await settle_at(world, datetime.fromisoformat(r.json()["window_ends_at"])) == [big["id"]]
    got = (await world.call(world.organizer, "GET", f"/awards/{big['id']}")).json()
    assert (got["state"], got["approved_by_member_id"]) == ("posted", world.checker.member_id)
    assert await world.balance(v) == 25


async def test_held_points_count_against_the_budget(world: World) -> None:
    v = world.volunteers
    await world.owner.execute(
        "UPDATE points.activity_types SET cap_per_day = NULL, cap_per_month = NULL WHERE id = $1",
        world.types["mediation"]["id"],
    )
    await adhoc(world, v[0], 150)
    body = {"member_id": v[1].member_id, "type_id": world.types["mediation"]["id"], "points": 60, "reason": "调解"}
    r = await world.call(world.organizer, "POST", "/awards", json=body, headers={"Idempotency-Key": "k-over"})
    assert (r.status_code, r.json()["code"], r.json()["left"]) == (422, "budget_exhausted", 50)


async def test_an_activity_award_is_published_for_every_attendee(world: World) -> None:
    v = world.volunteers
    activity_id = await world.activity(attendees=v[:3], reward_points=5)
    r = await world.call(world.organizer, "POST", f"/activities/{activity_id}/award")
    assert r.status_code == 201, r.text
    award = r.json()
    assert award["state"] == "published"
    holds = await world.owner.fetchval("SELECT count(*) FROM points.award_holds WHERE award_id = $1", award["id"])
    assert holds == 3
    assert [await world.balance(p) for p in v[:3]] == [0, 0, 0]
    assert [await world.minutes(p) for p in v[:3]] == [0, 0, 0]  # hours count when the points do
    assert await settle_at(world, datetime.fromisoformat(award["window_ends_at"])) == [award["id"]]
    assert [await world.balance(p) for p in v[:3]] == [5, 5, 5]
    assert [await world.minutes(p) for p in v[:3]] == [120, 120, 120]


async def test_the_public_page_lists_awards_with_masked_names(world: World, anonymous_client: Any) -> None:
    v = world.volunteers[0]
    await world.owner.execute("UPDATE points.members SET display_name = '张桂英' WHERE id = $1", v.member_id)
    award = await adhoc(world, v, 9)
    r = await anonymous_client.get(f"{world.url}/publication")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["window_days"] == 7
    assert "objections" in body["how_to_object"]
    (listed,) = body["awards"]
    assert (listed["award_id"], listed["total_points"], listed["waiting_for_decision"]) == (award["id"], 9, False)
    assert listed["lines"] == [{"name": "张*英", "points": 9, "minutes": 0}]
    assert "张桂英" not in r.text
    # Signing in is needed to object.
    r = await anonymous_client.post(f"{world.url}/awards/{award['id']}/objections", json={"reason": "x"})
    assert r.status_code == 401


async def test_the_scheduled_job_settles_an_award_whose_window_has_ended(world: World, engine: AsyncEngine) -> None:
    """The job as the service runs it (the app role, at now()): an award whose window ended a minute ago (moved
    there by the owner, past the trigger that keeps windows) settles on the first run, once."""
    v = world.volunteers[0]
    award = await adhoc(world, v, 11)
    async with world.owner.transaction():
        await world.owner.execute("SET LOCAL session_replication_role = replica")
        await world.owner.execute(
            "UPDATE points.awards SET window_ends_at = now() - interval '1 minute' WHERE id = $1", award["id"]
        )
    assert await tasks.settle_published_awards(engine) >= 1  # (other tests' communities may have one due too)
    assert await state_of(world, award["id"]) == "posted"
    assert await tasks.settle_published_awards(engine) == 0
    assert await world.balance(v) == 11
