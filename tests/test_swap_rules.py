"""What PostgreSQL refuses at the swap table beneath the service (migration 0014), each written straight in SQL
as a buggy service might: listings and proposals off their status graphs, a reservation without an accepted
proposal or a listing held twice, a hold that disagrees with the points, a hand-over nobody confirmed, a timeout
before its deadline, items added later, a bonus for a swap that was no give-away; and the service's role has no
grant to move an item or a listing's reservation itself."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

import ledger
from tests.supermarket_world import make_shop
from tests.swap_world import Table


@pytest.fixture
async def table(client: Any, owner_conn: asyncpg.Connection, conn: Any) -> Table:
    return Table(await make_shop(client, owner_conn, conn))


async def _setup(t: Table, points: int = 10) -> tuple[int, int]:
    cooker = (await t.list_item(t.v(0), "电饭煲"))["id"]
    pid = await t.proposal(t.v(1), [cooker], points=points)
    return cooker, pid


async def test_listings_keep_to_their_status_graph(table: Table) -> None:
    o = table.shop.owner
    cooker, _ = await _setup(table)
    with pytest.raises(asyncpg.PostgresError, match="reserved only by an accepted proposal"):
        await o.execute("UPDATE points.swap_listings SET status = 'reserved' WHERE id = $1", cooker)
    with pytest.raises(asyncpg.PostgresError, match="cannot become swapped"):
        await o.execute("UPDATE points.swap_listings SET status = 'swapped' WHERE id = $1", cooker)
    with pytest.raises(asyncpg.PostgresError, match="keeps its member"):
        await o.execute("UPDATE points.swap_listings SET member_id = $2 WHERE id = $1", cooker, table.v(2).member_id)
    await o.execute("UPDATE points.swap_listings SET status = 'withdrawn' WHERE id = $1", cooker)
    with pytest.raises(asyncpg.PostgresError, match="cannot become open"):
        await o.execute("UPDATE points.swap_listings SET status = 'open' WHERE id = $1", cooker)
    with pytest.raises(asyncpg.PostgresError, match="append-only"):
        await o.execute("DELETE FROM points.swap_listings WHERE id = $1", cooker)


async def test_proposals_keep_to_their_status_graph_and_their_hold(table: Table) -> None:
    o = table.shop.owner
    _, pid = await _setup(table)
    with pytest.raises(asyncpg.PostgresError, match="cannot become swapped"):
        await o.execute("UPDATE points.swap_proposals SET status = 'swapped' WHERE id = $1", pid)
    with pytest.raises(asyncpg.PostgresError, match="and its hold disagree"):  # accepted, points, no hold
        await o.execute(
            "UPDATE points.swap_proposals SET status = 'accepted', accepted_at = now(),"
            " deadline_at = now() + interval '7 days' WHERE id = $1",
            pid,
        )
    with pytest.raises(asyncpg.PostgresError, match="not rewritten"):
        await o.execute("UPDATE points.swap_proposals SET points = 1 WHERE id = $1", pid)
    assert (await table.act(table.v(0), pid, "accept")).status_code == 200
    with pytest.raises(asyncpg.PostgresError, match="is swapped but its hold is active"):  # not posted
        await o.execute("UPDATE points.swap_proposals SET status = 'swapped' WHERE id = $1", pid)
    with pytest.raises(asyncpg.PostgresError, match="but its hold is active"):  # cancelled, hold not voided
        await o.execute("UPDATE points.swap_proposals SET status = 'cancelled' WHERE id = $1", pid)
    hold = await o.fetchval("SELECT hold_id FROM points.swap_proposals WHERE id = $1", pid)

    async def time_out_early() -> None:
        async with o.transaction():
            await o.execute("SELECT set_config('linli.community_id', $1, true)", str(table.shop.community_id))
            await o.execute("SELECT * FROM ledger.void_hold($1, $2)", table.shop.community_id, hold)
            await o.execute("UPDATE points.swap_proposals SET status = 'timed_out' WHERE id = $1", pid)

    with pytest.raises(asyncpg.PostgresError, match="is not due until"):
        await time_out_early()
    with pytest.raises(asyncpg.PostgresError, match="swap_proposals_missed"):
        await o.execute("UPDATE points.swap_proposals SET missed_by_to = true WHERE id = $1", pid)
    with pytest.raises(asyncpg.PostgresError, match="keeps its hold"):
        await o.execute("UPDATE points.swap_proposals SET hold_id = NULL WHERE id = $1", pid)


async def test_a_listing_is_held_by_one_accepted_proposal_only(table: Table) -> None:
    o = table.shop.owner
    cooker, first = await _setup(table, points=0)
    second = await table.proposal(table.v(2), [cooker])
    assert (await table.act(table.v(0), first, "accept")).status_code == 200
    # the second was put on hold by the trigger; forcing it open and accepted meets the one-reservation index
    await o.execute("ALTER TABLE points.swap_proposals DISABLE TRIGGER swap_proposals_checked")
    try:
        await o.execute("UPDATE points.swap_proposals SET status = 'open' WHERE id = $1", second)
    finally:
        await o.execute("ALTER TABLE points.swap_proposals ENABLE TRIGGER swap_proposals_checked")
    with pytest.raises(asyncpg.UniqueViolationError, match="swap_items_one_reservation"):
        await o.execute(
            "UPDATE points.swap_proposals SET status = 'accepted', accepted_at = now(),"
            " deadline_at = now() + interval '7 days' WHERE id = $1",
            second,
        )


async def test_items_are_written_with_their_proposal_only(table: Table, conn: Any) -> None:
    o = table.shop.owner
    _, pid = await _setup(table)
    lamp = (await table.list_item(table.v(0), "台灯"))["id"]
    with pytest.raises(asyncpg.PostgresError, match="written with the proposal"):
        await o.execute(
            "INSERT INTO points.swap_items (community_id, proposal_id, listing_id, side) VALUES ($1, $2, $3, 'take')",
            table.shop.community_id,
            pid,
            lamp,
        )
    with pytest.raises(asyncpg.PostgresError, match="change only with its status"):
        await o.execute("UPDATE points.swap_items SET active = true WHERE proposal_id = $1", pid)
    await ledger.enter(conn, table.shop.community_id)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await conn.execute("UPDATE points.swap_items SET active = true WHERE proposal_id = $1", pid)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await conn.execute("UPDATE points.swap_listings SET member_id = member_id WHERE id = $1", lamp)


async def test_a_proposal_takes_a_listing_and_the_right_members(table: Table) -> None:
    o = table.shop.owner
    kettle = (await table.list_item(table.v(1), "电水壶"))["id"]
    cid, b, c = table.shop.community_id, table.v(0).member_id, table.v(1).member_id
    with pytest.raises(asyncpg.PostgresError, match="takes no listing"):
        async with o.transaction():
            await o.execute(
                "INSERT INTO points.swap_proposals (community_id, from_member_id, to_member_id, idempotency_key,"
                " request_hash) VALUES ($1, $2, $3, 'raw-1', 'x')",
                cid, b, c,
            )  # fmt: skip

    async def give_anothers() -> None:
        async with o.transaction():
            pid = await o.fetchval(
                "INSERT INTO points.swap_proposals (community_id, from_member_id, to_member_id, idempotency_key,"
                " request_hash) VALUES ($1, $2, $3, 'raw-2', 'x') RETURNING id",
                cid, b, c,
            )  # fmt: skip
            await o.execute(
                "INSERT INTO points.swap_items (community_id, proposal_id, listing_id, side) VALUES ($1, $2, $3,"
                " 'give')",
                cid, pid, kettle,
            )  # fmt: skip

    with pytest.raises(asyncpg.PostgresError, match="is not the member's to give"):
        await give_anothers()


async def test_a_bonus_only_for_a_free_give_away(table: Table) -> None:
    o = table.shop.owner
    _, pid = await _setup(table, points=0)  # the cooker is not listed free: no give-away
    assert (await table.act(table.v(0), pid, "accept")).status_code == 200
    with pytest.raises(asyncpg.PostgresError, match="handed over only when both members or table staff"):
        await o.execute("UPDATE points.swap_proposals SET status = 'swapped' WHERE id = $1", pid)
    with pytest.raises(asyncpg.PostgresError, match="only for a free give-away"):
        await o.execute(
            "UPDATE points.swap_proposals SET status = 'swapped', confirmed_by_staff_id = $2, bonus_award_id = 1"
            " WHERE id = $1",
            pid,
            table.staff.member_id,
        )
    assert (await table.staff_confirm(pid)).json()["bonus_award_id"] is None


async def test_a_listing_expires_only_after_its_lifetime_and_is_listed_again_once(table: Table) -> None:
    """Migration 0017: expired only once the community's lifetime has passed (and only from open: 0014's graph);
    listed again only from an expired listing of the same member, and once; the lifetime is 1 to 365 days."""
    o = table.shop.owner
    young = await table.old_listing(table.v(0), "小板凳", days=59)
    with pytest.raises(asyncpg.PostgresError, match="is on the table until"):
        await o.execute("UPDATE points.swap_listings SET status = 'expired' WHERE id = $1", young)
    old = await table.old_listing(table.v(0), "旧台灯", days=61)

    async def relist(listing_id: int, member_id: int) -> None:
        await o.execute(
            "INSERT INTO points.swap_listings (community_id, member_id, title, condition, relist_of_id)"
            " VALUES ($1, $2, 'x', 'good', $3)",
            table.shop.community_id,
            member_id,
            listing_id,
        )

    with pytest.raises(asyncpg.PostgresError, match="only an expired listing of the same member"):
        await relist(old, table.v(0).member_id)  # still open
    await o.execute("UPDATE points.swap_listings SET status = 'expired' WHERE id = $1", old)
    with pytest.raises(asyncpg.PostgresError, match="only an expired listing of the same member"):
        await relist(old, table.v(1).member_id)  # someone else's
    await relist(old, table.v(0).member_id)
    with pytest.raises(asyncpg.UniqueViolationError, match="swap_listings_relist_once"):
        await relist(old, table.v(0).member_id)
    with pytest.raises(asyncpg.CheckViolationError, match="swap_settings_listing_days"):
        await o.execute(
            "INSERT INTO points.swap_settings (community_id, listing_days) VALUES ($1, 366)", table.shop.community_id
        )
    with pytest.raises(asyncpg.PostgresError, match="cannot become open"):
        await o.execute("UPDATE points.swap_listings SET status = 'open' WHERE id = $1", old)


async def test_a_withdrawal_reason_belongs_to_a_withdrawn_listing_and_is_never_edited(table: Table) -> None:
    """Migration 0019: the staff's reason is set with the withdrawal, on a withdrawn listing only, never blank; and
    once withdrawn, nothing of the listing changes (0014's graph), its reason neither."""
    o = table.shop.owner
    lamp = (await table.list_item(table.v(0), "台灯"))["id"]
    with pytest.raises(asyncpg.CheckViolationError, match="swap_listings_withdraw_reason"):
        await o.execute("UPDATE points.swap_listings SET withdraw_reason = '坏了' WHERE id = $1", lamp)
    with pytest.raises(asyncpg.CheckViolationError, match="swap_listings_withdraw_reason"):
        await o.execute(
            "UPDATE points.swap_listings SET status = 'withdrawn', withdraw_reason = '  ' WHERE id = $1", lamp
        )
    await o.execute(
        "UPDATE points.swap_listings SET status = 'withdrawn', withdraw_reason = '坏了' WHERE id = $1", lamp
    )
    with pytest.raises(asyncpg.PostgresError, match="stays as it is"):
        await o.execute("UPDATE points.swap_listings SET withdraw_reason = '改一下' WHERE id = $1", lamp)
