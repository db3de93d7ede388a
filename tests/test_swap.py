"""The swap table (亲邻易物台), end to end through the API: the issue's stories (a points top-up accepted then timed
out; a swap handed over, points posted once; a counter-proposal accepted; a competing proposal put on hold and
released; a free give-away with its bonus; a missed hand-over counted), the races (two accepts on one listing, the
timeout job against a hand-over), and what PostgreSQL refuses beneath the service."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest

from catalog import swaps
from catalog.swap_errors import ProposalOnHold, SwapWrongState
from points.jobs import tasks
from tests.racing import waiting_on_locks
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


async def test_two_accepts_on_one_listing_at_once_one_wins(table: Table, engine: Any) -> None:
    """B accepts C's and D's proposals for one cooker from two phones at once: exactly one wins, the other is
    refused (409 proposal_on_hold: the winner put it on hold), and only the winner's points are held.

    Two real transactions on two connections of the service's own role, calling ``swaps.accept`` directly (the
    test client serves one request at a time, so a race through it is no race). The test holds the cooker's row
    until both accepts wait on it, then lets them go. What decides the race: accept's row lock on the listings
    (``SELECT … FOR UPDATE`` in id order, taken BEFORE the proposal's own lock): the second waits for the first's
    commit and then finds its proposal on hold. Without that lock both accepts run on, lock their own proposals,
    and the first's trigger (putting the other proposal on hold) and the second's reservation (the unique index
    ``swap_items_one_reservation`` waiting on the first) wait on each other: PostgreSQL breaks the deadlock by
    failing one with 40P01 (the 500 a member would see), and this test fails. Locking the proposal first, as the
    accept did before, deadlocks the same way (found by this test)."""
    b, c, d = table.v(0), table.v(1), table.v(2)
    cooker = (await table.list_item(b, "电饭煲"))["id"]
    p1 = await table.proposal(c, [cooker], points=5)
    p2 = await table.proposal(d, [cooker], points=6)
    holder = table.shop.owner
    async with table.as_member(engine, b) as (c1, b1), table.as_member(engine, b) as (c2, b2):
        async with holder.transaction():
            await holder.execute("SELECT 1 FROM points.swap_listings WHERE id = $1 FOR UPDATE", cooker)
            racing = [
                asyncio.create_task(swaps.accept(conn, who, pid)) for conn, who, pid in ((c1, b1, p1), (c2, b2, p2))
            ]
            await waiting_on_locks(holder, 2)
        results = await asyncio.gather(*racing, return_exceptions=True)
    won = [r for r in results if isinstance(r, swaps.Proposal)]
    lost = [r for r in results if not isinstance(r, swaps.Proposal)]
    assert len(won) == 1, results
    assert len(lost) == 1, results
    assert isinstance(lost[0], ProposalOnHold), repr(lost[0])
    assert won[0].status == "accepted"
    loser = p2 if won[0].id == p1 else p1
    assert (await table.status(won[0].id), await table.status(loser)) == ("accepted", "on_hold")
    assert await table.listing_status(cooker) == "reserved"
    held = await holder.fetchval(
        "SELECT count(*) FROM ledger.holds h JOIN points.swap_proposals p ON p.hold_id = h.id"
        " WHERE p.id = ANY($1::bigint[]) AND h.status = 'active'",
        [p1, p2],
    )
    assert held == 1
    assert sum([await table.available(c), await table.available(d)]) == 400 - (5 if won[0].id == p1 else 6)


async def test_a_listing_expires_after_its_lifetime_and_is_listed_again(table: Table, engine: Any) -> None:
    b, c = table.v(0), table.v(1)
    old = await table.old_listing(b, "旧台灯", days=61)
    young = await table.old_listing(b, "小板凳", days=59)
    fresh = (await table.list_item(b, "电饭煲"))["id"]
    pid = await table.proposal(c, [old], points=5)  # an open proposal on the old one: it ends with it
    shown = (await table.call(b, "GET", f"/listings/{old}")).json()
    lifetime = datetime.fromisoformat(shown["expires_at"]) - datetime.fromisoformat(shown["created_at"])
    assert lifetime == timedelta(days=60)

    assert await tasks.expire_swap_listings(engine) == 1
    assert [await table.listing_status(x) for x in (old, young, fresh)] == ["expired", "open", "open"]
    assert await table.status(pid) == "superseded"  # as a withdrawal ends it
    assert await tasks.expire_swap_listings(engine) == 0  # a second run finds nothing more
    assert [await table.listing_status(x) for x in (old, young, fresh)] == ["expired", "open", "open"]
    assert await table.status(pid) == "superseded"
    expired = (await table.call(b, "GET", "/listings", params={"status": "expired", "member_id": b.member_id})).json()
    assert [x["id"] for x in expired] == [old]
    late = await table.act(b, pid, "accept")
    assert (late.status_code, late.json()["code"]) == (409, "swap_wrong_state")  # the proposal ended

    # the admin shortens the lifetime: the 59-day-old one is due at the next run (the clerk reads, never sets it)
    assert (await table.call(table.staff, "GET", "/settings")).json()["listing_days"] == 60
    assert (await table.call(table.staff, "PUT", "/settings", json={"listing_days": 30})).status_code == 403
    r = await table.shop.client.put(f"{table.shop.url}/swap/settings", json={"listing_days": 30})
    assert (r.status_code, r.json()["listing_days"], r.json()["handover_days"]) == (200, 30, 7), r.text
    assert await tasks.expire_swap_listings(engine) == 1
    assert await table.listing_status(young) == "expired"

    # listed again: a new open listing copying it; again answers the same; only its member; only an expired one
    assert (await table.call(c, "POST", f"/listings/{old}/relist")).status_code == 403
    r = await table.call(b, "POST", f"/listings/{old}/relist")
    assert r.status_code == 201, r.text
    new = r.json()
    assert (new["status"], new["title"], new["relist_of_id"], new["member_id"]) == ("open", "旧台灯", old, b.member_id)
    again = await table.call(b, "POST", f"/listings/{old}/relist")
    assert (again.status_code, again.json()["id"]) == (201, new["id"])
    assert (await table.call(b, "GET", f"/listings/{old}")).json()["relisted_as_id"] == new["id"]
    assert await table.listing_status(old) == "expired"
    wrong = await table.call(b, "POST", f"/listings/{fresh}/relist")
    assert (wrong.status_code, wrong.json()["code"]) == (409, "swap_wrong_state")
    assert await table.proposal(c, [new["id"]]) > 0  # open for proposals again
    assert await tasks.expire_swap_listings(engine) == 0  # the new one is new: it has its own lifetime


async def test_the_expiry_job_racing_an_accept_never_does_both(table: Table, engine: Any) -> None:
    """The listings' expiry job and B's accept of C's proposal for B's 61-day-old lamp, at once, four rounds: the
    test holds the lamp's row until both wait on it. Either the accept wins (the lamp reserved, the points held,
    the job leaves it: reserved listings never expire) or the job does (the lamp expired, the proposal superseded,
    nothing held, the accept refused): never both. The listing's row lock decides it (the job locks it and
    re-checks it is open and due; the accept locks its listings first)."""
    b, c = table.v(0), table.v(1)
    holder = table.shop.owner
    outcomes = set()
    await tasks.expire_swap_listings(engine)  # other tests' due listings out of the way: the job races for the lamp
    for n in range(4):
        lamp = await table.old_listing(b, f"台灯{n}", days=61)
        pid = await table.proposal(c, [lamp], points=10)
        async with table.as_member(engine, b) as (conn, who):
            async with holder.transaction():
                await holder.execute("SELECT 1 FROM points.swap_listings WHERE id = $1 FOR UPDATE", lamp)
                job = asyncio.create_task(tasks.expire_swap_listings(engine))
                accept = asyncio.create_task(swaps.accept(conn, who, pid))
                await waiting_on_locks(holder, 2)
            expired, accepted = await asyncio.gather(job, accept, return_exceptions=True)
        listing, status, hold = await table.listing_status(lamp), await table.status(pid), await table.hold_status(pid)
        if isinstance(accepted, swaps.Proposal):
            assert (listing, status, hold, expired) == ("reserved", "accepted", "active", 0)
            assert (await table.act(b, pid, "cancel")).status_code == 200  # C's points back for the next round
            assert await tasks.expire_swap_listings(engine) == 1  # open again and due: out of the next round's way
        else:
            assert isinstance(accepted, SwapWrongState), repr(accepted)
            assert (listing, status, hold, expired) == ("expired", "superseded", None, 1)
        assert await table.available(c) == 200
        outcomes.add(listing)
    assert outcomes  # which wins is the scheduler's; each round is one or the other


async def test_the_timeout_job_racing_a_hand_over_never_does_both(table: Table, engine: Any) -> None:
    b, c = table.v(0), table.v(1)
    await tasks.time_out_swaps(engine)  # other tests' due hand-overs out of the way: the job's count is ours alone
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
