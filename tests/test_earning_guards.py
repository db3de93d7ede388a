"""The earning rules the admin's generic entries API could go around, and what PostgreSQL refuses beneath the
service: hours never spent (points are), budgets moved only by allotment and awards, an award's entry reversed
only by correcting the award, attendance minutes within the schedule and 代办 within a household (migration
0010); and raw-SQL proof, as the app role with Python bypassed, of the older guards: caps (LP001), budget
overlap (LP003), capacity (LP005), the check-in window (LP006) and maker-checker. Budgets per quarter and year."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest

import ledger
from points import entries
from points.earning.periods import community_day
from points.entries import HoursNotSpent
from tests.earning_world import Person, World, _person, make_world
from tests.test_awards import adhoc, key


@pytest.fixture
async def world(client: Any, owner_conn: asyncpg.Connection, conn: Any) -> World:
    return await make_world(client, owner_conn, conn)


@pytest.fixture
async def app(conn: Any, world: World) -> AsyncIterator[Any]:
    """The app role's connection, entered in the world's community: the service's rights, none of its checks."""
    await ledger.enter(conn, world.community_id)
    yield conn
    await ledger.leave(conn)


def sqlstate_of(exc: BaseException) -> str | None:
    while exc is not None:
        state = getattr(exc, "sqlstate", None)
        if state:
            return str(state)
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return None


async def account(world: World, code: str) -> int:
    found: int = await world.owner.fetchval(
        "SELECT id FROM ledger.accounts WHERE community_id = $1 AND code = $2", world.community_id, code
    )
    return found


async def wallet(world: World, person: Person) -> int:
    found: int = await world.owner.fetchval(
        "SELECT wallet_account_id FROM points.members WHERE id = $1", person.member_id
    )
    return found


async def post(world: World, kind: str, lines: list[tuple[int, int]]) -> Any:
    body = {"kind": kind, "postings": [{"account_id": a, "amount": n} for a, n in lines]}
    return await world.client.post(f"{world.url}/entries", json=body, headers=key())


def entry(kind: str, *lines: tuple[int, int]) -> ledger.NewEntry:
    return ledger.NewEntry(kind, tuple(ledger.Line(a, n) for a, n in lines), secrets.token_hex(8))


# ---- 1. hours are never spent; points are ------------------------------------------------------------------------


async def test_hours_can_never_be_spent_at_the_supermarket_points_can(world: World) -> None:
    v = world.volunteers[0]
    await adhoc(world, world.organizer, v, 5, minutes=90)
    hours, served = await account(world, f"hours:{v.member_id}"), await account(world, "hours:served")
    r = await world.client.post(
        f"{world.url}/accounts", json={"code": "supermarket", "lower_bound": None, "normal_side": "debit"}
    )
    assert r.status_code == 201, r.text
    supermarket = r.json()["id"]

    # minutes taken back into the pool, or handed to a neighbour: both a spending of hours, both refused
    for lines in (
        [(hours, -60), (served, 60)],
        [(hours, -60), (await account(world, f"hours:{world.volunteers[1].member_id}"), 60)],
    ):
        r = await post(world, "redemption", lines)
        assert (r.status_code, r.json()["code"]) == (422, "hours_not_spent"), r.text
    # nor held for a later post (placeHold goes through the same account rules)
    r = await world.client.post(
        f"{world.url}/holds",
        json={"account_id": hours, "counter_account_id": served, "amount": 60, "kind": "transfer", "timeout_s": 900},
        headers={"Idempotency-Key": "hold-hours-1"},
    )
    assert (r.status_code, r.json()["code"]) == (422, "hours_not_spent"), r.text
    assert await world.minutes(v) == 90

    # the points the same award paid are spent at the supermarket
    r = await post(world, "redemption", [(await wallet(world, v), -3), (supermarket, 3)])
    assert r.status_code == 201, r.text
    assert await world.balance(v) == 2


async def test_postgresql_refuses_a_debit_of_hours_unless_it_reverses(world: World, app: Any) -> None:
    v = world.volunteers[0]
    r = await adhoc(world, world.organizer, v, 5, minutes=90)
    hours, served = await account(world, f"hours:{v.member_id}"), await account(world, "hours:served")
    with pytest.raises(asyncpg.PostgresError) as refused:
        await ledger.post_entry(app, world.community_id, entry("redemption", (hours, -60), (served, 60)))
    assert sqlstate_of(refused.value) == "LP008"
    assert await world.minutes(v) == 90
    # a correction by reversal takes the hours back (the award's own path)
    r = await world.call(None, "POST", f"/awards/{r.json()['id']}/correct", json={"reason": "记错了人"})
    assert r.status_code == 200, r.text
    assert await world.minutes(v) == 0


async def test_a_hold_on_hours_is_refused_by_the_service_before_the_database_refuses_its_post(
    world: World, app: Any
) -> None:
    """A hold posted later debits its account: on hours it is a spending by another door. points.entries.place_hold
    refuses it up front (the API's placeHold is to call it); the database refuses its post regardless."""
    v = world.volunteers[0]
    await adhoc(world, world.organizer, v, 5, minutes=90)
    hours, served = await account(world, f"hours:{v.member_id}"), await account(world, "hours:served")
    hold = {"counter_account_id": served, "amount": 60, "kind": "transfer", "timeout_s": 900}
    with pytest.raises(HoursNotSpent):
        await entries.place_hold(app, world.community_id, account_id=hours, idempotency_key="h1", **hold)
    placed = await ledger.place_hold(app, world.community_id, account_id=hours, idempotency_key="h2", **hold)
    with pytest.raises(asyncpg.PostgresError) as refused:
        await ledger.post_hold(app, world.community_id, placed.id, idempotency_key="h3")
    assert sqlstate_of(refused.value) == "LP008"
    assert await world.minutes(v) == 90


# ---- 2. budgets and awards' entries stay on the award path -------------------------------------------------------


async def test_the_generic_api_never_names_a_budget_account(world: World, no_change_on_4xx: list[str]) -> None:
    budget = await world.owner.fetchval(
        "SELECT account_id FROM points.budgets WHERE community_id = $1", world.community_id
    )
    v = world.volunteers[0]
    left = await world.budget_left()
    r = await post(world, "award", [(budget, -50), (await wallet(world, v), 50)])  # no caps, no threshold, no checker
    assert (r.status_code, r.json()["code"]) == (422, "budget_not_postable"), r.text
    r = await post(world, "budget", [(await account(world, "issuance"), -50), (budget, 50)])
    assert (r.status_code, r.json()["code"]) == (422, "budget_not_postable"), r.text
    assert (await world.budget_left(), await world.balance(v)) == (left, 0)
    assert no_change_on_4xx == [f"{world.url}/entries"] * 2


async def test_postgresql_refuses_a_budget_drawn_on_outside_an_award(world: World, app: Any) -> None:
    budget = await world.owner.fetchval(
        "SELECT account_id FROM points.budgets WHERE community_id = $1", world.community_id
    )
    v = world.volunteers[0]
    with pytest.raises(asyncpg.PostgresError) as refused:
        await ledger.post_entry(app, world.community_id, entry("award", (budget, -50), (await wallet(world, v), 50)))
    assert sqlstate_of(refused.value) == "LP009"
    assert (await world.budget_left(), await world.balance(v)) == (1000, 0)
    # the award path draws on it as before
    r = await adhoc(world, world.organizer, v, 5)
    assert r.status_code == 201, r.text
    assert (await world.budget_left(), await world.balance(v)) == (995, 5)


async def test_an_award_entry_is_reversed_only_by_correcting_the_award(
    world: World, no_change_on_4xx: list[str]
) -> None:
    v = world.volunteers[0]
    award = (await adhoc(world, world.organizer, v, 8, type_code="patrol", reason="夜巡")).json()
    url = f"{world.url}/entries/{award['entry_id']}/reversal"
    r = await world.client.post(url, json={"reason": "记错了"}, headers=key())
    assert r.status_code == 409, r.text
    assert (r.json()["code"], r.json()["award_id"], r.json()["operation"]) == (
        "award_entry_not_reversed", award["id"], "correctAward",
    )  # fmt: skip
    assert no_change_on_4xx == [url]
    assert await world.balance(v) == 8
    r = await world.call(None, "POST", f"/awards/{award['id']}/correct", json={"reason": "记错了"})
    assert (r.status_code, r.json()["corrected"]) == (200, True), r.text
    # the cap it used is given back: 10 more patrol points today
    r = await adhoc(world, world.organizer, v, 10, type_code="patrol", reason="夜巡")
    assert r.json()["lines"][0]["points"] == 10, r.text


async def test_postgresql_refuses_reversing_an_award_entry_without_its_correction(world: World, app: Any) -> None:
    v = world.volunteers[0]
    award = (await adhoc(world, world.organizer, v, 8, minutes=30)).json()
    with pytest.raises(asyncpg.PostgresError) as refused:
        await ledger.reverse_entry(
            app, world.community_id, award["entry_id"], reason="绕过", idempotency_key=secrets.token_hex(8)
        )
    assert sqlstate_of(refused.value) == "LP010"
    assert (await world.balance(v), await world.minutes(v)) == (8, 30)
    r = await world.call(world.organizer, "GET", f"/awards/{award['id']}")
    assert r.json()["corrected"] is False


# ---- 3. attendance: minutes within the schedule, 代办 within the household ------------------------------------------


async def _activity(world: World, *, started_minutes_ago: int = 0, **body: Any) -> int:
    start = datetime.now(UTC) + timedelta(days=1)
    r = await world.call(world.organizer, "POST", "/activities", json={
        "type_id": world.types["patrol"]["id"], "title": "治安巡逻 夜巡", "open": True,
        "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat(), **body})  # fmt: skip
    assert r.status_code == 201, r.text
    activity_id: int = r.json()["id"]
    if started_minutes_ago:
        await world.owner.execute(
            "UPDATE points.activities SET starts_at = now() - make_interval(mins => $2),"
            " ends_at = now() - make_interval(mins => $2) + interval '2 hours' WHERE id = $1",
            activity_id,
            started_minutes_ago,
        )
    return activity_id


_ATTEND = (
    "INSERT INTO points.attendance (community_id, activity_id, member_id, checked_in_at, method,"
    " recorded_by_member_id, note, minutes) VALUES ($1, $2, $3, now(), $4, $5, $6, $7)"
)


async def test_postgresql_refuses_minutes_above_the_schedule(world: World, app: Any) -> None:
    activity_id = await _activity(world, started_minutes_ago=10)  # two hours: 120 minutes at most
    v = world.volunteers
    with pytest.raises(asyncpg.PostgresError) as refused:
        await app.execute(_ATTEND, world.community_id, activity_id, v[0].member_id, "manual", world.organizer.member_id,
                          "到场", 20 * 60)  # fmt: skip
    assert sqlstate_of(refused.value) == "LP011"
    await app.execute(_ATTEND, world.community_id, activity_id, v[0].member_id, "manual", world.organizer.member_id,
                      "到场", None)  # fmt: skip
    await app.execute("UPDATE points.attendance SET minutes = 120 WHERE activity_id = $1", activity_id)
    with pytest.raises(asyncpg.PostgresError) as refused:
        await app.execute("UPDATE points.attendance SET minutes = 121 WHERE activity_id = $1", activity_id)
    assert sqlstate_of(refused.value) == "LP011"
    assert (
        await world.owner.fetchval("SELECT minutes FROM points.attendance WHERE activity_id = $1", activity_id) == 120
    )


async def test_postgresql_refuses_proxy_check_ins_outside_the_household(
    world: World, app: Any, client: Any, conn: Any
) -> None:
    activity_id = await _activity(world, started_minutes_ago=10)
    v = world.volunteers  # each of their own household
    with pytest.raises(asyncpg.PostgresError) as refused:
        await app.execute(_ATTEND, world.community_id, activity_id, v[0].member_id, "proxy", v[1].member_id, "", None)
    assert sqlstate_of(refused.value) == "LP012"
    grandma = await _person(client, world.owner, conn, world.slug, "王奶奶", "9-000", ["volunteer"])  # v[0]'s household
    await ledger.enter(app, world.community_id)
    await app.execute(_ATTEND, world.community_id, activity_id, grandma.member_id, "proxy", v[0].member_id, "", None)
    came = await world.owner.fetch("SELECT member_id FROM points.attendance WHERE activity_id = $1", activity_id)
    assert [r["member_id"] for r in came] == [grandma.member_id]


# ---- 4. the older guards, raw ------------------------------------------------------------------------------------


async def _pending_award(world: World, app: Any, member: Person, points: int, type_code: str = "patrol") -> int:
    day = community_day(datetime.now(UTC))
    budget_id = await world.owner.fetchval(
        "SELECT id FROM points.budgets WHERE community_id = $1 AND starts_on <= $2 AND $2 < ends_on",
        world.community_id,
        day,
    )
    award_id: int = await app.fetchval(
        "INSERT INTO points.awards (community_id, kind, type_id, reason, award_on, budget_id, made_by_member_id, state,"
        " total_points, total_minutes, idempotency_key) VALUES ($1, 'adhoc', $2, '手写', $3, $4, $5,"
        " 'pending_approval', $6, 0, $7) RETURNING id",
        world.community_id,
        world.types[type_code]["id"],
        day,
        budget_id,
        world.organizer.member_id,
        points,
        secrets.token_hex(8),
    )
    await app.execute(
        "INSERT INTO points.award_lines (community_id, award_id, member_id, requested_points, points, minutes)"
        " VALUES ($1, $2, $3, $4, $4, 0)",
        world.community_id,
        award_id,
        member.member_id,
        points,
    )
    return award_id


async def test_postgresql_refuses_award_lines_above_a_cap(world: World, app: Any) -> None:
    v = world.volunteers[0]  # patrol: 10 a day
    with pytest.raises(asyncpg.PostgresError) as refused:
        async with app.transaction():
            await _pending_award(world, app, v, 11)
    assert sqlstate_of(refused.value) == "LP001"
    async with app.transaction():
        await _pending_award(world, app, v, 7)
    with pytest.raises(asyncpg.PostgresError) as refused:
        async with app.transaction():
            await _pending_award(world, app, v, 4)  # 7 + 4 > 10
    assert sqlstate_of(refused.value) == "LP001"
    used = await world.owner.fetchval(
        "SELECT points FROM points.cap_usage WHERE member_id = $1 AND length(period) = 10", v.member_id
    )
    assert used == 7


async def _activity_award_line(world: World, app: Any, activity_id: int, member: Person, minutes: int) -> None:
    """An activity's award with one line, written as the app role with the service bypassed."""
    day = community_day(datetime.now(UTC))
    budget_id = await world.owner.fetchval(
        "SELECT id FROM points.budgets WHERE community_id = $1 AND starts_on <= $2 AND $2 < ends_on",
        world.community_id,
        day,
    )
    award_id = await app.fetchval(
        "INSERT INTO points.awards (community_id, kind, activity_id, type_id, reason, award_on, budget_id,"
        " made_by_member_id, state, total_points, total_minutes, idempotency_key) VALUES ($1, 'activity', $2, $3,"
        " '夜巡', $4, $5, $6, 'pending_approval', 5, $7, $8) RETURNING id",
        world.community_id,
        activity_id,
        world.types["patrol"]["id"],
        day,
        budget_id,
        world.organizer.member_id,
        minutes,
        secrets.token_hex(8),
    )
    await app.execute(
        "INSERT INTO points.award_lines (community_id, award_id, member_id, requested_points, points, minutes)"
        " VALUES ($1, $2, $3, 5, 5, $4)",
        world.community_id,
        award_id,
        member.member_id,
        minutes,
    )


async def test_postgresql_pays_an_activity_award_only_to_its_confirmed_attendees(world: World, app: Any) -> None:
    v = world.volunteers
    activity_id = await world.activity(attendees=[v[0]])  # v[0] confirmed for 120 minutes; v[1] never came
    for member, minutes in ((v[1], 0), (v[1], 120), (v[0], 121)):
        with pytest.raises(asyncpg.PostgresError) as refused:
            async with app.transaction():
                await _activity_award_line(world, app, activity_id, member, minutes)
        assert sqlstate_of(refused.value) == "LP013", (member.name, minutes)
    async with app.transaction():
        await _activity_award_line(world, app, activity_id, v[0], 120)
    lines = await world.owner.fetch(
        "SELECT l.member_id, l.minutes FROM points.award_lines l JOIN points.awards w ON w.id = l.award_id"
        " WHERE w.activity_id = $1",
        activity_id,
    )
    assert [(r["member_id"], r["minutes"]) for r in lines] == [(v[0].member_id, 120)]


async def test_postgresql_refuses_the_maker_approving_their_own_award(world: World, app: Any) -> None:
    async with app.transaction():
        award_id = await _pending_award(world, app, world.volunteers[0], 5, type_code="mediation")
    with pytest.raises(asyncpg.CheckViolationError, match="awards_maker_checker"):
        await app.execute("SELECT points.post_award($1, $2)", award_id, world.organizer.member_id)
    assert (await world.balance(world.volunteers[0]), await world.budget_left()) == (0, 1000)
    await app.execute("SELECT points.post_award($1, $2)", award_id, world.checker.member_id)
    assert (await world.balance(world.volunteers[0]), await world.budget_left()) == (5, 995)


async def test_postgresql_refuses_posting_above_the_threshold_without_a_checker(world: World, app: Any) -> None:
    """The service makes an award above the approval threshold pending; PostgreSQL refuses to post one without a
    second organizer regardless (what a service that forgot the threshold would do)."""
    await world.client.put(f"{world.url}/earning-settings", json={"approval_threshold": 4})
    async with app.transaction():
        award_id = await _pending_award(world, app, world.volunteers[0], 5, type_code="mediation")
    with pytest.raises(asyncpg.PostgresError, match="approval threshold") as refused:
        await app.execute("SELECT points.post_award($1, NULL)", award_id)
    assert sqlstate_of(refused.value) == "LP004"
    assert (await world.balance(world.volunteers[0]), await world.budget_left()) == (0, 1000)
    await app.execute("SELECT points.post_award($1, $2)", award_id, world.checker.member_id)  # approved: posts
    assert (await world.balance(world.volunteers[0]), await world.budget_left()) == (5, 995)


async def test_postgresql_refuses_a_registration_beyond_capacity(world: World, app: Any) -> None:
    activity_id = await _activity(world, capacity=1)
    insert = (
        "INSERT INTO points.signups (community_id, activity_id, member_id, status) VALUES ($1, $2, $3, 'registered')"
    )
    await app.execute(insert, world.community_id, activity_id, world.volunteers[0].member_id)
    with pytest.raises(asyncpg.PostgresError) as refused:
        await app.execute(insert, world.community_id, activity_id, world.volunteers[1].member_id)
    assert sqlstate_of(refused.value) == "LP005"
    count = await world.owner.fetchval("SELECT count(*) FROM points.signups WHERE activity_id = $1", activity_id)
    assert count == 1


async def test_postgresql_refuses_a_check_in_outside_the_window(world: World, app: Any) -> None:
    activity_id = await _activity(world)  # starts tomorrow
    v = world.volunteers[0]
    with pytest.raises(asyncpg.PostgresError) as refused:
        await app.execute(_ATTEND, world.community_id, activity_id, v.member_id, "code", v.member_id, "", None)
    assert sqlstate_of(refused.value) == "LP006"
    await world.owner.execute(
        "UPDATE points.activities SET starts_at = now() + interval '20 minutes', ends_at = now() + interval '2 hours'"
        " WHERE id = $1",
        activity_id,
    )  # within 30 minutes of the start: taken
    await app.execute(_ATTEND, world.community_id, activity_id, v.member_id, "code", v.member_id, "", None)


async def test_postgresql_refuses_overlapping_budgets(world: World, app: Any) -> None:
    month = await world.owner.fetchrow(
        "SELECT starts_on, account_id FROM points.budgets WHERE community_id = $1", world.community_id
    )
    quarter = (month["starts_on"].month - 1) // 3 + 1
    starts = date(month["starts_on"].year, 3 * quarter - 2, 1)
    ends = date(starts.year + (quarter == 4), 1 if quarter == 4 else starts.month + 3, 1)
    with pytest.raises(asyncpg.PostgresError) as refused:
        await app.execute(
            "INSERT INTO points.budgets (community_id, period, starts_on, ends_on, account_id)"
            " VALUES ($1, $2, $3, $4, $5)",
            world.community_id,
            f"{starts.year}-Q{quarter}",
            starts,
            ends,
            month["account_id"],
        )
    assert sqlstate_of(refused.value) == "LP003"


# ---- budgets per quarter and per year ----------------------------------------------------------------------------


async def test_budgets_per_quarter_and_year_and_no_overlap(
    client: Any, owner_conn: asyncpg.Connection, conn: Any, no_change_on_4xx: list[str]
) -> None:
    world = await make_world(client, owner_conn, conn, budget=0)

    async def allot(period: str, points: int) -> Any:
        return await world.client.post(f"{world.url}/budgets", json={"period": period, "points": points}, headers=key())

    r = await allot("2026-Q4", 300)
    assert r.status_code == 201, r.text
    q4 = r.json()
    assert (q4["starts_on"], q4["ends_on"], q4["left"]) == ("2026-10-01", "2027-01-01", 300)
    r = await allot("2027", 900)
    assert r.status_code == 201, r.text
    assert (r.json()["starts_on"], r.json()["ends_on"], r.json()["left"]) == ("2027-01-01", "2028-01-01", 900)
    for period in ("2026", "2026-11", "2027-Q2", "2027-03"):
        r = await allot(period, 10)
        assert (r.status_code, r.json()["code"]) == (409, "budget_overlap"), (period, r.text)
    assert len(no_change_on_4xx) == 4

    if community_day(datetime.now(UTC)) < date(2027, 1, 1):  # today's awards draw on the quarter's budget
        award = (await adhoc(world, world.organizer, world.volunteers[0], 6)).json()
        assert award["budget_period"] == "2026-Q4"
        listed = {b["period"]: b["left"] for b in (await world.client.get(f"{world.url}/budgets")).json()}
        assert listed == {"2026-Q4": 294, "2027": 900}
