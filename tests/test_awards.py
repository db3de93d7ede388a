"""Awards, end to end through the API: an activity's attendees paid once from the budget, with hours; caps cut
and shown; approvals above the threshold by a second organizer; a budget that runs out; corrections by
reversal; nobody paid by themselves or their household; two organizers on one budget at once (the races on real
connections, decided in PostgreSQL: tests/racing.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import pytest

import ledger
from points import db
from points.auth.access import Access, enter_community
from points.earning import activities, attendance, awards, budgets, reports, types, web, web_attendance, web_reports
from points.earning.errors import BudgetExhausted
from points.errors import problem_for
from tests.earning_world import Person, World, make_world
from tests.racing import entered_as, race, split, sqlstate_behind, waiting_on_locks

T = TypeVar("T")


def key() -> dict[str, str]:
    return {"Idempotency-Key": secrets.token_hex(8)}


@pytest.fixture
async def world(client: Any, owner_conn: asyncpg.Connection, conn: Any) -> World:
    return await make_world(client, owner_conn, conn)


async def adhoc(world: World, who: Person, to: Person, points: int, type_code: str = "mediation", **kw: Any) -> Any:
    body = {"member_id": to.member_id, "type_id": world.types[type_code]["id"], "points": points,
            "reason": kw.pop("reason", "调解3栋邻里噪音纠纷"), **kw}  # fmt: skip
    return await world.call(who, "POST", "/awards", json=body, headers=key())


async def as_(world: World, who: Person, work: Callable[[Any, Access], Awaitable[T]]) -> Callable[[Any], Awaitable[T]]:
    return await entered_as(world.owner, world.community_id, who.member_id, work)


async def test_an_activity_is_awarded_once_with_points_and_hours(world: World) -> None:
    v = world.volunteers
    activity_id = await world.activity(attendees=v[:3], reward_points=5)
    budget_before = await world.budget_left()

    r = await world.call(world.organizer, "POST", f"/activities/{activity_id}/award")
    assert r.status_code == 201, r.text
    award = r.json()
    assert (award["state"], award["total_points"], award["total_minutes"]) == ("posted", 15, 360)
    assert [line["points"] for line in award["lines"]] == [5, 5, 5]
    assert [await world.balance(p) for p in v[:4]] == [5, 5, 5, 0]
    assert [await world.minutes(p) for p in v[:3]] == [120, 120, 120]
    assert await world.budget_left() == budget_before - 15

    # The organizer's browser retries after a network error: the same award, nothing posted again.
    again = await world.call(world.organizer, "POST", f"/activities/{activity_id}/award")
    assert again.status_code == 200, again.text
    assert (again.json()["id"], again.json()["replayed"]) == (award["id"], True)
    assert await world.entries() == 1
    assert [await world.balance(p) for p in v[:3]] == [5, 5, 5]
    r = await world.call(world.organizer, "GET", f"/activities/{activity_id}")
    assert r.json()["state"] == "awarded"

    # The volunteer sees it: their awards and their hours.
    mine = await world.call(v[0], "GET", "/me/awards")
    assert [a["id"] for a in mine.json()] == [award["id"]]
    hours = (await world.call(v[0], "GET", "/me/hours")).json()
    assert (hours["minutes"], hours["hours"], hours["stars"], hours["next_star_hours"]) == (120, 2.0, 0, 100)


async def test_two_award_requests_at_once_post_once(world: World, engine: Any) -> None:
    """Four "award this activity" requests at once (a double tap and retries), on four connections, all of them
    started while the activity's row is locked, so none has planned yet. What decides the race in PostgreSQL:
    points.award_plan locks the activity's row (FOR UPDATE) before it reads whether the activity has an award, so
    the later ones plan after the first committed, find its award and answer it, replayed; underneath, the partial
    unique index awards_one_per_activity would refuse a second live award."""
    activity_id = await world.activity(attendees=world.volunteers[:2], reward_points=5)
    award = await as_(world, world.organizer, lambda c, a: awards.award_activity(c, a, activity_id))
    made = await race(
        engine, world.owner, "SELECT id FROM points.activities WHERE id = $1 FOR UPDATE", [activity_id], [award] * 4
    )
    ok, failed = split(made)
    assert failed == []
    assert len({a.id for a in ok}) == 1
    assert sorted(a.replayed for a in ok) == [False, True, True, True]
    assert await world.entries() == 1
    assert [await world.balance(p) for p in world.volunteers[:3]] == [5, 5, 0]
    # Through the API the same tap once more: 200, the same award, replayed.
    again = await world.call(world.organizer, "POST", f"/activities/{activity_id}/award")
    assert (again.status_code, again.json()["id"], again.json()["replayed"]) == (200, ok[0].id, True)


async def test_an_activity_is_awarded_only_once_its_attendance_is_confirmed(world: World) -> None:
    body = {"type_id": world.types["cleanup"]["id"], "title": "小区大扫除", "open": True,
            "starts_at": "2030-01-05T09:00:00+08:00", "ends_at": "2030-01-05T11:00:00+08:00"}  # fmt: skip
    r = await world.call(world.organizer, "POST", "/activities", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["reward_points"] == world.types["cleanup"]["default_points"]
    r = await world.call(world.organizer, "POST", f"/activities/{r.json()['id']}/award")
    assert (r.status_code, r.json()["code"]) == (409, "wrong_state")
    assert await world.entries() == 0


async def test_caps_cut_an_award_and_say_by_how_much(world: World) -> None:
    v = world.volunteers
    patrol = world.types["patrol"]
    r = await world.client.put(
        f"{world.url}/activity-types/{patrol['id']}",
        json={"name": patrol["name"], "default_points": 5, "cap_per_day": 8, "cap_per_month": 100},
    )
    assert r.status_code == 200, r.text
    first = await world.activity(attendees=v[:2], reward_points=5)
    assert (await world.call(world.organizer, "POST", f"/activities/{first}/award")).status_code == 201
    second = await world.activity(attendees=v[:3], reward_points=5)
    r = await world.call(world.organizer, "POST", f"/activities/{second}/award")
    assert r.status_code == 201, r.text
    lines = {line["member_id"]: line for line in r.json()["lines"]}
    # the first two had 5 of their 8 today: 3 more each, 2 cut; the third gets the whole 5
    assert [(lines[p.member_id]["points"], lines[p.member_id]["capped"]) for p in v[:3]] == [(3, 2), (3, 2), (5, 0)]
    assert [await world.balance(p) for p in v[:3]] == [8, 8, 5]
    assert r.json()["total_points"] == 11


async def test_an_award_above_the_threshold_waits_for_a_second_organizer(world: World) -> None:
    v = world.volunteers
    r = await world.client.put(f"{world.url}/earning-settings", json={"approval_threshold": 20})
    assert r.status_code == 200, r.text
    small = await adhoc(world, world.organizer, v[0], 10)
    assert (small.status_code, small.json()["state"]) == (201, "posted")

    big = await adhoc(world, world.organizer, v[1], 30)
    assert big.status_code == 201, big.text
    pending = big.json()
    assert pending["state"] == "pending_approval"
    assert await world.balance(v[1]) == 0  # nothing posted yet
    waiting = await world.call(world.checker, "GET", "/awards", params={"state": "pending_approval"})
    assert [a["id"] for a in waiting.json()] == [pending["id"]]  # visible to both organizers
    assert [
        a["id"]
        for a in (await world.call(world.organizer, "GET", "/awards", params={"state": "pending_approval"})).json()
    ] == [pending["id"]]

    r = await world.call(world.organizer, "POST", f"/awards/{pending['id']}/approve")
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")  # the maker cannot approve their own
    r = await world.call(world.checker, "POST", f"/awards/{pending['id']}/approve")
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["approved_by_member_id"]) == ("posted", world.checker.member_id)
    assert await world.balance(v[1]) == 30
    r = await world.call(world.checker, "POST", f"/awards/{pending['id']}/approve")
    assert r.status_code == 200  # approving again: the same award, nothing more
    assert await world.balance(v[1]) == 30


async def test_nobody_approves_an_award_paying_their_own_household(world: World) -> None:
    """The checker is held to the household rule as the maker is: an award waiting for approval that pays someone
    of the checker's household stays waiting until a third organizer approves it."""
    await world.client.put(f"{world.url}/earning-settings", json={"approval_threshold": 5})
    r = await world.client.post(f"{world.url}/members", json={"display_name": "周小敏", "household": "7-101"})
    relative = Person(r.json()["id"], "", "周小敏")  # of the checker's household (7-101)
    pending = (await adhoc(world, world.organizer, relative, 10)).json()
    assert pending["state"] == "pending_approval"
    r = await world.call(world.checker, "POST", f"/awards/{pending['id']}/approve")
    assert (r.status_code, r.json()["code"]) == (403, "conflict_of_interest")
    assert await world.balance(relative) == 0
    state = await world.owner.fetchval("SELECT state FROM points.awards WHERE id = $1", pending["id"])
    assert state == "pending_approval"


async def test_a_rejected_award_posts_nothing_and_gives_the_caps_back(world: World) -> None:
    v = world.volunteers
    await world.client.put(f"{world.url}/earning-settings", json={"approval_threshold": 5})
    pending = (await adhoc(world, world.organizer, v[0], 30)).json()
    r = await world.call(world.checker, "POST", f"/awards/{pending['id']}/reject", json={"reason": "证据不足"})
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["decision_reason"]) == ("rejected", "证据不足")
    assert await world.balance(v[0]) == 0
    usage = await world.owner.fetchval(
        "SELECT coalesce(sum(points), 0) FROM points.cap_usage WHERE member_id = $1", v[0].member_id
    )
    assert usage == 0
    r = await world.call(world.checker, "POST", f"/awards/{pending['id']}/approve")
    assert (r.status_code, r.json()["code"]) == (409, "wrong_state")


async def test_a_budget_that_runs_out_refuses_the_award_saying_what_is_left(
    client: Any, owner_conn: asyncpg.Connection, conn: Any
) -> None:
    world = await make_world(client, owner_conn, conn, budget=12)
    v = world.volunteers
    activity_id = await world.activity(attendees=v[:3], reward_points=5)
    r = await world.call(world.organizer, "POST", f"/activities/{activity_id}/award")
    assert r.status_code == 422, r.text
    problem = r.json()
    assert (problem["code"], problem["left"], problem["needed"]) == ("budget_exhausted", 12, 15)
    assert [await world.balance(p) for p in v[:3]] == [0, 0, 0]
    assert await world.budget_left() == 12
    assert await world.owner.fetchval("SELECT count(*) FROM points.awards WHERE activity_id = $1", activity_id) == 0
    # topped up, the same activity awards
    r = await client.post(
        f"{world.url}/budgets", json={"period": (await budget_period(world)), "points": 10}, headers=key()
    )
    assert (r.status_code, r.json()["left"], r.json()["allotted"]) == (201, 22, 22)
    r = await world.call(world.organizer, "POST", f"/activities/{activity_id}/award")
    assert r.status_code == 201, r.text
    assert await world.budget_left() == 7


async def budget_period(world: World) -> str:
    value: str = await world.owner.fetchval(
        "SELECT period FROM points.budgets WHERE community_id = $1", world.community_id
    )
    return value


async def test_no_budget_for_the_day_is_a_clear_refusal(client: Any, owner_conn: asyncpg.Connection, conn: Any) -> None:
    world = await make_world(client, owner_conn, conn, budget=0)
    r = await adhoc(world, world.organizer, world.volunteers[0], 5)
    assert (r.status_code, r.json()["code"]) == (422, "no_budget")


async def test_nobody_awards_themselves_or_their_household(world: World) -> None:
    r = await adhoc(world, world.organizer, world.organizer, 5)
    assert (r.status_code, r.json()["code"]) == (403, "conflict_of_interest")
    # a volunteer of the organizer's household
    r = await world.client.post(f"{world.url}/members", json={"display_name": "李小华", "household": "2-302"})
    relative = Person(r.json()["id"], "", "李小华")
    r = await adhoc(world, world.organizer, relative, 5)
    assert (r.status_code, r.json()["code"]) == (403, "conflict_of_interest")
    activity_id = await world.activity(attendees=[world.volunteers[0], world.organizer])
    r = await world.call(world.organizer, "POST", f"/activities/{activity_id}/award")
    assert (r.status_code, r.json()["code"]) == (403, "conflict_of_interest")
    assert await world.entries() == 0
    # PostgreSQL refuses it too, whatever the service forgets: an award line to its maker
    async with world.owner.transaction():
        award_id = await world.owner.fetchval(
            "INSERT INTO points.awards (community_id, kind, type_id, reason, award_on, budget_id,"
            " made_by_member_id, state, total_points, total_minutes, idempotency_key) SELECT $1, 'adhoc', t.id, 'x',"
            " current_date, b.id, $2, 'pending_approval', 5, 0, 'k' FROM points.activity_types t, points.budgets b"
            " WHERE t.community_id = $1 AND b.community_id = $1 LIMIT 1 RETURNING id",
            world.community_id,
            world.organizer.member_id,
        )
        line = "INSERT INTO points.award_lines VALUES ($1, $2, $3, 5, 5, 0)"
        with pytest.raises(asyncpg.PostgresError, match="themselves or their household"):
            await world.owner.execute(line, world.community_id, award_id, world.organizer.member_id)
        # the failed statement aborted the transaction: leaving the block rolls the award back too


async def test_a_correction_reverses_the_award_and_gives_the_caps_back(world: World) -> None:
    v = world.volunteers
    first = (await adhoc(world, world.organizer, v[0], 30)).json()
    assert await world.balance(v[0]) == 30
    r = await world.client.post(f"{world.url}/awards/{first['id']}/correct", json={"reason": "记错了人"})
    assert r.status_code == 200, r.text
    assert r.json()["corrected"] is True
    assert await world.balance(v[0]) == 0
    r = await world.client.post(f"{world.url}/awards/{first['id']}/correct", json={"reason": "再来一次"})
    assert (r.status_code, r.json()["code"]) == (409, "already_reversed")
    # mediation's cap is 30 a day: the corrected award no longer counts against it
    again = await adhoc(world, world.organizer, v[0], 30)
    assert (again.status_code, again.json()["lines"][0]["points"]) == (201, 30)


async def test_an_adhoc_award_retried_with_its_key_posts_once(world: World) -> None:
    body = {"member_id": world.volunteers[0].member_id, "type_id": world.types["mediation"]["id"], "points": 10,
            "reason": "调解成功"}  # fmt: skip
    headers = key()
    first = await world.call(world.organizer, "POST", "/awards", json=body, headers=headers)
    again = await world.call(world.organizer, "POST", "/awards", json=body, headers=headers)
    assert (first.status_code, again.status_code, again.json()["replayed"]) == (201, 200, True)
    assert await world.balance(world.volunteers[0]) == 10
    other = await world.call(world.organizer, "POST", "/awards", json={**body, "points": 11}, headers=headers)
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_key_reused")


async def test_two_organizers_never_overspend_one_budget(
    client: Any, owner_conn: asyncpg.Connection, conn: Any, engine: Any
) -> None:
    """Six ad-hoc awards of 10 by two organizers at once, from a budget of 50, each on its own connection, all
    planned (each saw 50 left) before any wrote: the budget account's row is held locked meanwhile. What decides the
    race in PostgreSQL: ledger.post_entry locks the bounded budget account (FOR UPDATE) and checks its lower bound
    under that lock (the CHECK accounts_within_lower_bound again underneath), so they draw on it one after another
    and the sixth is refused there (LE001), which the service answers as budget_exhausted saying what is left."""
    world = await make_world(client, owner_conn, conn, budget=50, volunteers=6)
    mediation = world.types["mediation"]["id"]

    def award(to: Person) -> Callable[[Any, Access], Awaitable[awards.Award]]:
        return lambda c, a: awards.award_adhoc(
            c, a, member_id=to.member_id, type_id=mediation, points=10, reason="调解邻里纠纷",
            idempotency_key=secrets.token_hex(8),
        )  # fmt: skip

    racers = [
        await as_(world, (world.organizer, world.checker)[n % 2], award(p)) for n, p in enumerate(world.volunteers)
    ]
    made = await race(
        engine,
        world.owner,
        "SELECT a.id FROM points.budgets b JOIN ledger.accounts a ON a.id = b.account_id"
        " WHERE b.community_id = $1 FOR UPDATE OF a",
        [world.community_id],
        racers,
    )
    ok, failed = split(made)
    assert [a.state for a in ok] == ["posted"] * 5, made
    assert len(failed) == 1, failed
    assert isinstance(failed[0], BudgetExhausted), failed
    refused = failed[0]
    assert (refused.data["left"], refused.data["needed"]) == (0, 10)
    assert "0 points left" in refused.message
    assert sqlstate_behind(refused) == "LE001"  # refused by PostgreSQL: its plan had seen 50 left
    assert problem_for(refused) == (422, "budget_exhausted")
    assert await world.budget_left() == 0
    assert sum([await world.balance(p) for p in world.volunteers]) == 50
    # Through the API the seventh award is refused before anything is written, in the same words.
    r = await adhoc(world, world.organizer, world.volunteers[0], 10)
    assert (r.status_code, r.json()["code"], r.json()["left"], r.json()["needed"]) == (422, "budget_exhausted", 0, 10)


async def test_two_awards_racing_to_a_members_cap_are_cut_not_refused(world: World, engine: Any) -> None:
    """Two organizers' ad-hoc awards to one member at once, both planned before either wrote (the member's usage
    rows held meanwhile): the second is planned again and cut to what the first left, never refused, never above
    the cap. Through the service on two connections: the test client runs one request at a time."""
    v = world.volunteers[0]  # patrol: 10 a day
    assert (await adhoc(world, world.organizer, v, 1, "patrol")).status_code == 201  # the usage rows exist now
    patrol = world.types["patrol"]["id"]
    holder = world.owner
    async with db.connection(engine) as first, db.connection(engine) as second:
        try:
            makers = []
            for c, who in ((first, world.organizer), (second, world.checker)):
                person_id = await holder.fetchval("SELECT person_id FROM points.members WHERE id = $1", who.member_id)
                makers.append(await enter_community(c, person_id, world.community_id))
            async with holder.transaction():
                await holder.execute("SELECT 1 FROM points.cap_usage WHERE member_id = $1 FOR UPDATE", v.member_id)
                racing = [
                    asyncio.create_task(
                        awards.award_adhoc(
                            c,
                            m,
                            member_id=v.member_id,
                            type_id=patrol,
                            points=6,
                            reason="夜巡补记",
                            idempotency_key=secrets.token_hex(8),
                        )
                    )
                    for c, m in zip((first, second), makers, strict=True)
                ]
                await waiting_on_locks(holder, 2)  # both have planned (9 left) and wait on the rows' lock to write
            made = await asyncio.gather(*racing)
        finally:
            await ledger.leave(first)
            await ledger.leave(second)
    assert sorted(m.lines[0].points for m in made) == [3, 6]
    assert await world.balance(v) == 10


async def test_hours_are_never_spent_at_the_supermarket(world: World) -> None:
    await adhoc(world, world.organizer, world.volunteers[0], 5, minutes=90)
    assert await world.minutes(world.volunteers[0]) == 90
    hours = await world.owner.fetchval(
        "SELECT id FROM ledger.accounts WHERE code = $1 AND community_id = $2",
        f"hours:{world.volunteers[0].member_id}",
        world.community_id,
    )
    r = await world.client.post(
        f"{world.url}/accounts", json={"code": "supermarket", "lower_bound": None, "normal_side": "debit"}
    )
    assert r.status_code == 201, r.text
    body = {
        "kind": "redemption",
        "postings": [{"account_id": hours, "amount": -60}, {"account_id": r.json()["id"], "amount": 60}],
    }
    r = await world.client.post(f"{world.url}/entries", json=body, headers=key())
    assert r.status_code == 422, r.text
    assert await world.minutes(world.volunteers[0]) == 90


# What an answer computes itself, and what a domain value keeps from the API on purpose.
ANSWERS = [
    (web.AwardOut, awards.Award, set(), set()),
    (web.AwardLineOut, awards.AwardLine, {"capped"}, set()),
    (web.ActivityTypeOut, types.ActivityType, set(), set()),
    (web.BudgetOut, budgets.Budget, set(), set()),
    (web.ActivityOut, activities.Activity, {"places_left"}, {"community_id"}),
    (web.SignupOut, activities.Signup, set(), set()),
    (web_reports.ReportOut, reports.Report, set(), set()),
    (web_attendance.AttendanceRowOut, attendance.AttendanceRow, set(), set()),
    (web_attendance.AttendanceOut, attendance.Attendance, set(), set()),
]


@pytest.mark.parametrize(("out", "domain", "computed", "kept"), ANSWERS, ids=lambda x: getattr(x, "__name__", ""))
def test_every_answer_carries_every_field_of_its_domain_value(
    out: type[Any], domain: type[Any], computed: set[str], kept: set[str]
) -> None:
    """A field added to a domain value reaches the API (or is kept back here, on purpose): the answers are made
    by name (web.from_domain), never by copying fields one by one."""
    assert set(out.__struct_fields__) - computed == {f.name for f in dataclasses.fields(domain)} - kept


def test_an_answer_missing_from_its_domain_value_fails_at_once() -> None:
    line = awards.AwardLine(member_id=1, display_name="张三", requested_points=5, points=3, minutes=0)
    assert web.from_domain(web.AwardLineOut, line).capped == 2

    @dataclasses.dataclass
    class Short:
        member_id: int

    with pytest.raises(AttributeError):
        web.from_domain(web.AwardLineOut, Short(1))
