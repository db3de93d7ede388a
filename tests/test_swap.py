"""The swap table (亲邻易物台), end to end through the API: the issue's stories (a points top-up accepted then timed
out; a swap handed over, points posted once; a counter-proposal accepted; a competing proposal put on hold and
released; a free give-away with its bonus; a missed hand-over counted), the races (two accepts on one listing, the
timeout job against a hand-over), and what PostgreSQL refuses beneath the service."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from catalog import swaps
from points.jobs import tasks
from tests.supermarket_world import key, make_shop
from tests.swap_world import Table


@pytest.fixture
async def table(client: Any, owner_conn: asyncpg.Connection, conn: Any) -> Table:
    return Table(await make_shop(client, owner_conn, conn))


async def test_a_swap_with_a_top_up_accepted_then_timed_out(table: Table, engine: Any) -> None:
    b, c = table.v(0), table.v(1)
    cooker = await table.list_item(b, "电饭煲", wants="水壶或积分")
    kettle = await table.list_item(c, "电水壶", condition="like_new")
    pid = await table.proposal(c, [cooker["id"]], [kettle["id"]], points=10)
    assert await table.available(c) == 200  # nothing held before the accept

    r = await table.act(b, pid, "accept")
    assert r.status_code == 200, r.text
    p = r.json()
    assert (p["status"], p["points"]) == ("accepted", 10)
    assert p["hold_id"] is not None
    assert p["deadline_at"] is not None
    assert await table.available(c) == 190  # the top-up is held
    assert await table.shop.balance(c) == 200
    assert [await table.listing_status(x["id"]) for x in (cooker, kettle)] == ["reserved", "reserved"]

    await table.overdue(pid)
    assert await tasks.time_out_swaps(engine) == 1
    assert await table.status(pid) == "timed_out"
    assert await table.hold_status(pid) == "voided"
    assert await table.available(c) == 200
    assert [await table.listing_status(x["id"]) for x in (cooker, kettle)] == ["open", "open"]
    assert await tasks.time_out_swaps(engine) == 0  # a second run finds nothing
    late = await table.act(b, pid, "handover")
    assert (late.status_code, late.json()["code"]) == (409, "swap_wrong_state")


async def test_a_swap_handed_over_posts_the_points_once(table: Table) -> None:
    b, c = table.v(0), table.v(1)
    cooker = await table.list_item(b, "电饭煲")
    kettle = await table.list_item(c, "电水壶")
    pid = await table.proposal(c, [cooker["id"]], [kettle["id"]], points=10)
    assert (await table.act(b, pid, "accept")).status_code == 200
    first = await table.act(c, pid, "handover")
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "accepted"
    assert first.json()["confirmed_from_at"] is not None
    again = await table.act(c, pid, "handover")  # C taps twice: nothing more happens
    assert again.json()["replayed"] is True
    done = await table.act(b, pid, "handover")
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "swapped"
    assert done.json()["entry_id"] is not None
    assert (await table.shop.balance(b), await table.shop.balance(c)) == (210, 190)
    assert await table.hold_status(pid) == "posted"
    assert [await table.listing_status(x["id"]) for x in (cooker, kettle)] == ["swapped", "swapped"]
    retry = await table.act(b, pid, "handover")
    assert retry.status_code == 200
    assert retry.json()["replayed"] is True
    staff = await table.staff_confirm(pid)
    assert staff.status_code == 200
    assert staff.json()["replayed"] is True
    assert (await table.shop.balance(b), await table.shop.balance(c)) == (210, 190)  # posted once
    entries = await table.shop.owner.fetchval(
        "SELECT count(*) FROM ledger.entries WHERE community_id = $1 AND kind = 'swap'", table.shop.community_id
    )
    assert entries == 1


async def test_table_staff_confirm_a_hand_over_and_points_may_flow_the_other_way(table: Table) -> None:
    b, c = table.v(0), table.v(1)
    bike = await table.list_item(b, "儿童自行车")
    books = await table.list_item(c, "绘本一套")
    pid = await table.proposal(c, [bike["id"]], [books["id"]], points=-15)  # C asks B for 15 points on top
    assert (await table.act(b, pid, "accept")).status_code == 200
    assert await table.available(b) == 185
    own = await table.staff_confirm(pid, who=b)
    assert own.status_code == 403  # a party is no table staff for their own swap
    r = await table.staff_confirm(pid)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "swapped"
    assert r.json()["confirmed_by_staff_id"] == table.staff.member_id
    assert (await table.shop.balance(b), await table.shop.balance(c)) == (185, 215)


async def test_a_counter_proposal_is_accepted(table: Table) -> None:
    b, c = table.v(0), table.v(1)
    cooker = await table.list_item(b, "电饭煲")
    kettle = await table.list_item(c, "电水壶")
    lamp = await table.list_item(c, "台灯")
    first = await table.proposal(c, [cooker["id"]], [kettle["id"]])
    r = await table.call(
        b, "POST", f"/proposals/{first}/counter", json={"take": [kettle["id"], lamp["id"]], "give": [cooker["id"]]},
        headers={"Idempotency-Key": key()},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    counter = r.json()
    assert (counter["from_member_id"], counter["to_member_id"], counter["counter_of_id"]) == (
        b.member_id,
        c.member_id,
        first,
    )
    assert await table.status(first) == "countered"
    assert (await table.act(b, counter["id"], "accept")).status_code == 403  # B made it: C accepts
    assert (await table.act(b, first, "accept")).json()["code"] == "swap_wrong_state"  # countered: it is over
    r = await table.act(c, counter["id"], "accept")
    assert r.status_code == 200
    assert r.json()["status"] == "accepted"
    assert (await table.staff_confirm(counter["id"])).json()["status"] == "swapped"
    assert [await table.listing_status(x["id"]) for x in (cooker, kettle, lamp)] == ["swapped"] * 3


async def test_a_competing_proposal_is_put_on_hold_and_released(table: Table) -> None:
    b, c, d = table.v(0), table.v(1), table.v(2)
    cooker = await table.list_item(b, "电饭煲")
    from_c = await table.proposal(c, [cooker["id"]], points=20)
    from_d = await table.proposal(d, [cooker["id"]], points=25)
    assert (await table.act(b, from_d, "accept")).status_code == 200
    assert await table.status(from_c) == "on_hold"
    r = await table.act(b, from_c, "accept")
    assert (r.status_code, r.json()["code"]) == (409, "proposal_on_hold")
    cancelled = await table.act(d, from_d, "cancel")  # D calls it off before the hand-over
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert await table.hold_status(from_d) == "voided"
    assert await table.available(d) == 200
    assert await table.status(from_c) == "open"  # released
    assert (await table.act(b, from_c, "accept")).status_code == 200
    assert (await table.staff_confirm(from_c)).json()["status"] == "swapped"
    assert await table.shop.balance(b) == 220
    # a third proposal made meanwhile for the swapped cooker ends with it
    assert await table.listing_status(cooker["id"]) == "swapped"
    late = await table.propose(d, [cooker["id"]], points=30)
    assert (late.status_code, late.json()["code"]) == (409, "listing_unavailable")


async def test_a_free_give_away_earns_its_bonus_up_to_the_cap(table: Table, client: Any) -> None:
    shop = table.shop
    types = (await client.get(f"{shop.url}/activity-types")).json()
    period = await shop.owner.fetchval("SELECT to_char(now() AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')")
    r = await client.post(
        f"{shop.url}/budgets", json={"period": period, "points": 500}, headers={"Idempotency-Key": key()}
    )
    assert r.status_code == 201, r.text
    r = await client.put(
        f"{shop.url}/swap/settings",
        json={"handover_days": 7, "bonus_points": 5, "bonus_cap_per_month": 1, "bonus_type_id": types[0]["id"]},
    )
    assert r.status_code == 200, r.text
    b, c = table.v(0), table.v(1)
    for n in range(2):
        pram = await table.list_item(b, f"婴儿车{n}", free=True)
        pid = await table.proposal(c, [pram["id"]])
        assert (await table.act(b, pid, "accept")).status_code == 200
        done = (await table.staff_confirm(pid)).json()
        assert done["status"] == "swapped"
        assert (done["bonus_award_id"] is not None) == (n == 0)  # the cap is one a month
    assert await shop.balance(b) == 205
    assert await shop.balance(c) == 200


async def test_a_missed_hand_over_is_counted(table: Table, engine: Any, client: Any) -> None:
    b, c = table.v(0), table.v(1)
    cooker = await table.list_item(b, "电饭煲")
    pid = await table.proposal(c, [cooker["id"]], points=10)
    assert (await table.act(b, pid, "accept")).status_code == 200
    assert (await table.act(b, pid, "handover")).status_code == 200  # B came; C never did
    await table.overdue(pid)
    overdue = await table.act(c, pid, "handover")
    assert (overdue.status_code, overdue.json()["code"]) == (409, "handover_overdue")
    assert await tasks.time_out_swaps(engine) == 1
    p = (await table.call(c, "GET", f"/proposals/{pid}")).json()
    assert (p["status"], p["missed_by_from"], p["missed_by_to"]) == ("timed_out", True, False)
    missed = (await table.call(table.staff, "GET", "/missed-handovers")).json()
    assert missed == [{"member_id": c.member_id, "display_name": c.name, "missed": 1}]


async def test_two_accepts_on_one_listing_at_once_one_wins(table: Table) -> None:
    # B's cooker is in C's proposal to B and in B's own counter-offer... simplest: two proposals to B for one
    # listing, accepted by B from two phones at once. The second waits on the listing's row lock, then finds the
    # listing reserved (or, had the check raced, the one-reservation index refuses it).
    b, c, d = table.v(0), table.v(1), table.v(2)
    cooker = await table.list_item(b, "电饭煲")
    p1 = await table.proposal(c, [cooker["id"]], points=5)
    p2 = await table.proposal(d, [cooker["id"]], points=6)
    answers = await asyncio.gather(table.act(b, p1, "accept"), table.act(b, p2, "accept"))
    codes = sorted(r.status_code for r in answers)
    assert codes == [200, 409], [r.text for r in answers]
    statuses = sorted([await table.status(p1), await table.status(p2)])
    assert statuses == ["accepted", "on_hold"]
    held = await table.shop.owner.fetchval(
        "SELECT count(*) FROM ledger.holds h JOIN points.swap_proposals p ON p.hold_id = h.id"
        " WHERE p.id = ANY($1::bigint[]) AND h.status = 'active'",
        [p1, p2],
    )
    assert held == 1
    assert sum([await table.available(c), await table.available(d)]) in (395, 394)


async def test_the_timeout_job_racing_a_hand_over_never_does_both(table: Table, engine: Any) -> None:
    b, c = table.v(0), table.v(1)
    for _ in range(4):
        cooker = await table.list_item(b, "电饭煲")
        pid = await table.proposal(c, [cooker["id"]], points=10)
        assert (await table.act(b, pid, "accept")).status_code == 200
        # due this very moment: the job may time it out, and the hand-over is still let in before the deadline
        await table.shop.owner.execute(
            "UPDATE points.swap_proposals SET deadline_at = now() + interval '150 milliseconds' WHERE id = $1", pid
        )
        await asyncio.sleep(0.15)
        before = await table.shop.balance(b)
        job, staff = await asyncio.gather(tasks.time_out_swaps(engine), table.staff_confirm(pid))
        status = await table.status(pid)
        hold = await table.hold_status(pid)
        after = await table.shop.balance(b)
        if status == "swapped":
            assert (hold, after - before, staff.status_code) == ("posted", 10, 200)
        else:
            assert (status, hold, after - before) == ("timed_out", "voided", 0)
            assert staff.status_code == 409
            assert job == 1
        assert await table.listing_status(cooker["id"]) == ("swapped" if status == "swapped" else "open")


async def test_listings_are_browsed_searched_and_withdrawn(table: Table) -> None:
    b, c = table.v(0), table.v(1)
    photo = await table.photo(b)
    cooker = await table.list_item(b, "电饭煲", description="三升，九成新", photo_id=photo)
    await table.list_item(c, "电水壶")
    found = (await table.call(c, "GET", "/listings", params={"q": "九成"})).json()
    assert [x["id"] for x in found] == [cooker["id"]]
    assert found[0]["photo_id"] == photo
    pid = await table.proposal(c, [cooker["id"]])
    assert (await table.call(c, "POST", f"/listings/{cooker['id']}/withdraw")).status_code == 403  # not C's
    r = await table.call(b, "POST", f"/listings/{cooker['id']}/withdraw")
    assert r.status_code == 200
    assert r.json()["status"] == "withdrawn"
    assert await table.status(pid) == "superseded"
    assert (await table.call(b, "GET", "/listings")).json()[0]["title"] == "电水壶"


async def test_staff_take_an_item_in_at_the_table(table: Table) -> None:
    b = table.v(0)
    photo = await table.photo(table.staff)
    r = await table.call(
        table.staff, "POST", "/intake",
        json={"member_id": b.member_id, "title": "旧书二十本", "condition": "fair", "free": True, "photo_id": photo},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    listing = r.json()
    assert (listing["member_id"], listing["at_table"], listing["intake_by_member_id"]) == (
        b.member_id,
        True,
        table.staff.member_id,
    )
    on_table = (await table.call(table.staff, "GET", "/listings", params={"at_table": "true"})).json()
    assert [x["id"] for x in on_table] == [listing["id"]]
    assert (await table.call(b, "POST", "/intake", json={"member_id": b.member_id, "title": "x", "condition": "new"})
            ).status_code == 403  # fmt: skip


async def test_a_proposal_is_seen_only_by_its_members_and_staff(table: Table) -> None:
    b, c, d = table.v(0), table.v(1), table.v(2)
    cooker = await table.list_item(b, "电饭煲")
    pid = await table.proposal(c, [cooker["id"]])
    assert (await table.call(d, "GET", f"/proposals/{pid}")).status_code == 404
    assert (await table.call(table.staff, "GET", f"/proposals/{pid}")).status_code == 200
    mine = (await table.call(b, "GET", "/me/proposals")).json()
    assert [p["id"] for p in mine] == [pid]
    assert (await table.act(d, pid, "decline")).status_code == 404
    assert (await table.act(c, pid, "decline")).status_code == 403  # the proposer cancels, not declines
    r = await table.act(b, pid, "decline")
    assert r.status_code == 200
    assert r.json()["status"] == "declined"
    assert await table.listing_status(cooker["id"]) == "open"


async def test_the_service_runs_the_timeout_inside_one_community(table: Table, conn: Any) -> None:
    assert await swaps.time_out_lapsed(conn, table.shop.community_id) == 0
