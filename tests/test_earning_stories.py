"""Stories to the money: a per-hour activity (助老服务, 2 points an hour) whose helpers stayed different times,
one of them leaving without checking out, confirmed and awarded: each is paid the documented per-hour formula
(confirmed minutes × points per hour ÷ 60, rounded down) and credited their confirmed minutes as service hours,
the missing check-out only up to the scheduled end. And what ``points demo`` leaves for a first look."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from points.demo import SLUG as DEMO_SLUG
from points.earning.demo import TONIGHT
from points.earning.types import DEFAULT_TYPES
from tests.conftest import plain_url
from tests.earning_world import World, make_world
from tests.test_cli import points_env, run_points_async


@pytest.fixture
async def world(client: Any, owner_conn: asyncpg.Connection, conn: Any) -> World:
    return await make_world(client, owner_conn, conn, volunteers=6)


async def test_a_per_hour_activity_pays_confirmed_minutes_and_the_missing_check_out_up_to_the_end(
    world: World,
) -> None:
    helper = world.types["elder_help"]
    assert (helper["points_per_hour"], helper["default_points"]) == (2, 0)
    start = datetime.now(UTC) + timedelta(days=1)
    r = await world.call(world.organizer, "POST", "/activities", json={
        "type_id": helper["id"], "title": "助老服务 · 陪老人看病", "per_hour": True, "open": True,
        "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat()})  # fmt: skip
    assert r.status_code == 201, r.text
    activity_id = r.json()["id"]
    # It took place: from three hours ago to an hour ago (the check-in API is tested in tests/test_attendance.py).
    starts = await world.owner.fetchval(
        "UPDATE points.activities SET starts_at = date_trunc('minute', now()) - interval '3 hours',"
        " ends_at = date_trunc('minute', now()) - interval '1 hour' WHERE id = $1 RETURNING starts_at",
        activity_id,
    )
    a, b, c, d, e, f = world.volunteers
    # (who, checked in after the start, checked out after the start; None: never checked out)
    came = [
        (a, 0, 90),  # left after an hour and a half
        (b, -15, 135),  # early and late: only the scheduled two hours count
        (c, 10, 55),  # 45 minutes: 1.5 points, paid 1
        (d, 30, None),  # forgot to check out: paid to the scheduled end, 90 minutes, never more
        (e, 0, 120),
        (f, 0, 60),  # came, but the organizer does not confirm them: not paid
    ]
    for who, came_at, left_at in came:
        await world.owner.execute(
            "INSERT INTO points.attendance (community_id, activity_id, member_id, checked_in_at, checked_out_at,"
            " method, recorded_by_member_id, note) VALUES ($1, $2, $3, $4, $5, 'manual', $6, '签到表')",
            world.community_id,
            activity_id,
            who.member_id,
            starts + timedelta(minutes=came_at),
            None if left_at is None else starts + timedelta(minutes=left_at),
            world.organizer.member_id,
        )
    confirmed = [a, b, c, d, e]
    r = await world.call(
        world.organizer,
        "POST",
        f"/activities/{activity_id}/attendance/confirm",
        json={"member_ids": [p.member_id for p in confirmed]},
    )
    assert r.status_code == 200, r.text
    rows = {row["member_id"]: row for row in r.json()["rows"]}
    expected_minutes = {a.member_id: 90, b.member_id: 120, c.member_id: 45, d.member_id: 90, e.member_id: 120}
    assert {p.member_id: rows[p.member_id]["minutes"] for p in confirmed} == expected_minutes
    assert [p.name for p in world.volunteers if rows[p.member_id]["checkout_missing"]] == [d.name]
    assert (rows[f.member_id]["confirmed"], rows[f.member_id]["minutes"]) == (False, None)

    budget_before = await world.budget_left()
    r = await world.call(world.organizer, "POST", f"/activities/{activity_id}/award")
    assert r.status_code == 201, r.text
    award = r.json()
    points = {m: minutes * 2 // 60 for m, minutes in expected_minutes.items()}  # docs/EARNING.md: per hour
    assert list(points.values()) == [3, 4, 1, 3, 4]
    lines = {line["member_id"]: (line["points"], line["minutes"]) for line in award["lines"]}
    assert lines == {m: (points[m], expected_minutes[m]) for m in expected_minutes}
    assert (award["total_points"], award["total_minutes"]) == (15, 465)
    for p in world.volunteers:
        paid = (points.get(p.member_id, 0), expected_minutes.get(p.member_id, 0))
        assert (await world.balance(p), await world.minutes(p)) == paid
    # one entry: the budget pays the points, hours:served the minutes
    drawn = await world.owner.fetch(
        "SELECT a.code, p.amount FROM ledger.postings p JOIN ledger.accounts a ON a.id = p.account_id"
        " WHERE p.entry_id = $1 AND p.amount < 0 ORDER BY a.code",
        award["entry_id"],
    )
    assert [(row["code"].split(":")[0], row["amount"]) for row in drawn] == [("budget", -15), ("hours", -465)]
    assert budget_before - await world.budget_left() == 15
    # d's forgotten check-out stays flagged for the organizer after the award
    listed = (await world.call(world.organizer, "GET", f"/activities/{activity_id}/attendance")).json()
    assert [row["member_id"] for row in listed["rows"] if row["checkout_missing"]] == [d.member_id]
    hours = (await world.call(d, "GET", "/me/hours")).json()
    assert (hours["minutes"], hours["hours"]) == (90, 1.5)


async def test_the_demo_shows_every_part_of_earning(database_url: str, owner_conn: asyncpg.Connection) -> None:
    done = await run_points_async("demo", env=points_env(DATABASE_URL=plain_url(database_url)))
    assert done.returncode == 0, done.stderr
    community_id = await owner_conn.fetchval("SELECT id FROM ledger.communities WHERE slug = $1", DEMO_SLUG)
    types = await owner_conn.fetch(
        "SELECT code, default_points, points_per_hour, cap_per_day, cap_per_month FROM points.activity_types"
        " WHERE community_id = $1 AND active ORDER BY id",
        community_id,
    )
    assert [tuple(t) for t in types] == [(c, p, h, d, m) for c, _, p, h, d, m in DEFAULT_TYPES]
    tonight = await owner_conn.fetchrow(
        "SELECT a.state, a.starts_at, t.code,"
        " (SELECT count(*) FROM points.signups s WHERE s.activity_id = a.id AND s.status = 'registered') AS signed"
        " FROM points.activities a JOIN points.activity_types t ON t.id = a.type_id"
        " WHERE a.community_id = $1 AND a.title = $2",
        community_id,
        TONIGHT,
    )
    assert (tonight["state"], tonight["code"], tonight["signed"]) == ("open", "patrol", 2)
    assert datetime.now(UTC) < tonight["starts_at"] < datetime.now(UTC) + timedelta(days=1)
    pending = await owner_conn.fetch(
        "SELECT w.total_points, t.code FROM points.awards w JOIN points.activity_types t ON t.id = w.type_id"
        " WHERE w.community_id = $1 AND w.state = 'pending_approval'",
        community_id,
    )
    assert [tuple(p) for p in pending] == [(30, "mediation")]
    waiting = await owner_conn.fetch(
        "SELECT r.text, t.code FROM points.reports r JOIN points.activity_types t ON t.id = r.type_id"
        " WHERE r.community_id = $1 AND r.state = 'submitted'",
        community_id,
    )
    assert [w["code"] for w in waiting] == ["report"]
    assert "消防通道" in waiting[0]["text"]
    awarded = await owner_conn.fetchval(
        "SELECT count(*) FROM points.activities WHERE community_id = $1 AND state = 'awarded'", community_id
    )
    assert awarded == 3
