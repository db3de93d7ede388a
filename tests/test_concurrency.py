"""Many people at once: the counter, the swap table and the organizers all post at the same moment.

Every request here runs on its own pooled connection (as the service does, one
per HTTP request) and they are started together with ``asyncio.gather``, so
PostgreSQL really sees them concurrently. Whatever the interleaving, a wallet
never pays out more than it holds, nothing deadlocks, and a retried request is
posted once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

import ledger
from ledger import errors
from ledger.holds import Hold
from ledger.integrity import verify
from ledger.queries import history, trial_balance
from points import db
from tests.conftest import fund

pytestmark = pytest.mark.slow

T = TypeVar("T")


def key(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4()}"


async def at_once(engine: AsyncEngine, n: int, work: Callable[[Any, int], Awaitable[T]]) -> list[T | BaseException]:
    """Run ``work(conn, i)`` for i in 0..n-1 concurrently, each on its own pooled connection."""

    async def one(i: int) -> T:
        async with db.connection(engine) as c:
            # A pooled connection may still be entered in the community an earlier test used: start with none,
            # as a fresh connection does (each work function names its community).
            await ledger.leave(c)
            return await work(c, i)

    return await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)


def split(results: list[T | BaseException]) -> tuple[list[T], list[BaseException]]:
    ok = [r for r in results if not isinstance(r, BaseException)]
    failed = [r for r in results if isinstance(r, BaseException)]
    return ok, failed


async def full_history(conn: Any, community_id: int, account_id: int) -> list[Any]:
    """Every history line of the account, oldest first, following the cursors."""
    lines: list[Any] = []
    cursor = None
    while True:
        page = await history(conn, community_id, account_id, cursor=cursor, limit=200)
        lines.extend(page.lines)
        cursor = page.next_cursor
        if cursor is None:
            return lines[::-1]


def assert_unbroken_chain(lines: list[Any], opening: int = 0) -> None:
    """Each line's balance is the previous one plus its amount: no posting was lost or counted twice."""
    running = opening
    for line in lines:
        running += line.amount
        assert line.balance_after == running, f"posting {line.posting_id}: expected {running}, got {line.balance_after}"


async def assert_sound(conn: Any, community: ledger.Community) -> None:
    assert await verify(conn, community.id) == []
    assert all(line.total == 0 for line in await trial_balance(conn, community.id))


async def test_two_hundred_shoppers_cannot_spend_a_thousand_points_twice(
    conn: Any, engine: AsyncEngine, community: ledger.Community, issuance: ledger.Account
) -> None:
    """A volunteer with 1,000 points; 200 redemptions of 10 arrive at the same moment.
    Exactly 100 go through, the other 100 are told clearly there are no points left."""
    wallet = await ledger.open_account(conn, community.id, "volunteer:wang-fang")
    shop = await ledger.open_account(conn, community.id, "supermarket", lower_bound=None)
    await fund(conn, community, issuance, wallet, 1_000)

    async def redeem(c: Any, i: int) -> ledger.PostedEntry:
        lines = (ledger.Line(wallet.id, -10), ledger.Line(shop.id, 10))
        return await ledger.post_entry(c, community.id, ledger.NewEntry("redemption", lines, key(f"basket-{i}")))

    ok, failed = split(await at_once(engine, 200, redeem))

    assert len(ok) == 100
    assert len(failed) == 100
    for exc in failed:
        assert isinstance(exc, errors.InsufficientBalance), repr(exc)
        assert exc.code == "insufficient_points"
        assert exc.data["account_id"] == wallet.id
        assert exc.data["available"] == 0
        assert exc.data["requested"] == 10
    assert len({entry.id for entry in ok}) == 100
    # Each successful redemption saw a different balance: they were applied one after another.
    after = sorted(p.balance_after for entry in ok for p in entry.postings if p.account_id == wallet.id)
    assert after == list(range(0, 1_000, 10))

    assert (await ledger.balance(conn, community.id, wallet.id)).balance == 0
    assert (await ledger.balance(conn, community.id, shop.id)).balance == 1_000
    lines = await full_history(conn, community.id, wallet.id)
    assert [line.amount for line in lines] == [1_000] + [-10] * 100
    assert_unbroken_chain(lines)
    assert lines[-1].balance_after == 0
    await assert_sound(conn, community)


async def test_neighbours_paying_each_other_back_and_forth_never_deadlock(
    conn: Any, engine: AsyncEngine, community: ledger.Community, issuance: ledger.Account
) -> None:
    """Two neighbours at the swap table settle 300 top-ups with each other, in both directions at
    once: every transfer completes, none waits forever, and no point appears or vanishes."""
    a = await ledger.open_account(conn, community.id, "volunteer:li-na")
    b = await ledger.open_account(conn, community.id, "volunteer:zhao-lei")
    await fund(conn, community, issuance, a, 1_000)
    await fund(conn, community, issuance, b, 1_000)

    async def transfer(c: Any, i: int) -> ledger.PostedEntry:
        # Odd: B pays A 3; even: A pays B 7. The lines are listed payer first, as a client would.
        payer, payee, amount = (b, a, 3) if i % 2 else (a, b, 7)
        lines = (ledger.Line(payer.id, -amount), ledger.Line(payee.id, amount))
        return await ledger.post_entry(c, community.id, ledger.NewEntry("transfer", lines, key(f"swap-{i}")))

    ok, failed = split(await at_once(engine, 300, transfer))

    assert not any(isinstance(exc, asyncpg.exceptions.DeadlockDetectedError) for exc in failed)
    assert failed == []
    assert len(ok) == 300
    balance_a = (await ledger.balance(conn, community.id, a.id)).balance
    balance_b = (await ledger.balance(conn, community.id, b.id)).balance
    assert balance_a + balance_b == 2_000
    assert balance_a == 1_000 - 150 * 7 + 150 * 3
    assert balance_b == 1_000 + 150 * 7 - 150 * 3
    assert_unbroken_chain(await full_history(conn, community.id, a.id))
    assert_unbroken_chain(await full_history(conn, community.id, b.id))
    await assert_sound(conn, community)


async def test_a_busy_award_day_does_not_queue_behind_the_issuance_account(
    conn: Any, engine: AsyncEngine, community: ledger.Community, issuance: ledger.Account
) -> None:
    """After a clean-up drive, organizers award 40 volunteers, 5 times each, all at once, every award
    from the one community issuance account. All 200 go through and the books still balance."""
    wallets = [await ledger.open_account(conn, community.id, f"volunteer:v{i}") for i in range(40)]

    async def award(c: Any, i: int) -> ledger.PostedEntry:
        wallet = wallets[i % len(wallets)]
        amount = 1 + i % 7
        lines = (ledger.Line(issuance.id, -amount), ledger.Line(wallet.id, amount))
        return await ledger.post_entry(c, community.id, ledger.NewEntry("award", lines, key(f"award-{i}")))

    ok, failed = split(await at_once(engine, 200, award))

    assert failed == []
    assert len(ok) == 200
    total = sum(1 + i % 7 for i in range(200))
    assert (await ledger.balance(conn, community.id, issuance.id)).balance == -total
    for n, wallet in enumerate(wallets):
        expected = sum(1 + i % 7 for i in range(n, 200, len(wallets)))
        assert (await ledger.balance(conn, community.id, wallet.id)).balance == expected
    tb = await trial_balance(conn, community.id)
    assert [(line.unit, line.debits, line.credits, line.total) for line in tb] == [("points", total, total, 0)]
    # The issuance balance really is spread over stripes: concurrent writers did not share one row.
    stripes = await conn.fetchval("SELECT count(*) FROM ledger.account_stripes WHERE account_id = $1", issuance.id)
    assert stripes > 1
    issuance_history = await full_history(conn, community.id, issuance.id)
    assert len(issuance_history) == 200
    assert_unbroken_chain(issuance_history)
    assert issuance_history[-1].balance_after == -total
    await assert_sound(conn, community)


async def test_a_retry_storm_with_one_key_awards_once(
    conn: Any, engine: AsyncEngine, community: ledger.Community, issuance: ledger.Account
) -> None:
    """A phone on a bad connection sends the same award 20 times at once. The volunteer is paid
    once; every caller is told the same entry id, and all but one learn it was a replay."""
    wallet = await ledger.open_account(conn, community.id, "volunteer:chen-jie")
    entry = ledger.NewEntry(
        "award",
        (ledger.Line(issuance.id, -50), ledger.Line(wallet.id, 50)),
        key("patrol-2026-11-20"),
        memo="治安巡逻 2 小时",
    )

    ok, failed = split(await at_once(engine, 20, lambda c, _i: ledger.post_entry(c, community.id, entry)))

    assert failed == []
    assert len({e.id for e in ok}) == 1
    assert sorted(e.replayed for e in ok) == [False] + [True] * 19
    assert all(e.postings == ok[0].postings for e in ok)
    assert (await ledger.balance(conn, community.id, wallet.id)).balance == 50
    assert len((await history(conn, community.id, wallet.id)).lines) == 1
    await assert_sound(conn, community)


async def test_a_retry_storm_of_one_hold_reserves_once(
    conn: Any, engine: AsyncEngine, community: ledger.Community, issuance: ledger.Account
) -> None:
    """The swap-table page retries "accept this proposal" 20 times at once: one hold, reserved once."""
    wallet = await ledger.open_account(conn, community.id, "volunteer:liu-yang")
    escrow = await ledger.open_account(conn, community.id, "swap-escrow", lower_bound=None)
    await fund(conn, community, issuance, wallet, 100)
    hold_key = key("proposal-7")

    async def accept(c: Any, _i: int) -> Hold:
        return await ledger.place_hold(
            c,
            community.id,
            account_id=wallet.id,
            counter_account_id=escrow.id,
            amount=40,
            kind="swap",
            timeout_s=600,
            idempotency_key=hold_key,
        )

    ok, failed = split(await at_once(engine, 20, accept))

    assert failed == []
    assert len({h.id for h in ok}) == 1
    assert sorted(h.replayed for h in ok) == [False] + [True] * 19
    bal = await ledger.balance(conn, community.id, wallet.id)
    assert (bal.balance, bal.held, bal.available) == (100, 40, 60)
    await assert_sound(conn, community)


async def test_holds_placed_at_once_never_reserve_more_than_the_wallet_has(
    conn: Any, engine: AsyncEngine, community: ledger.Community, issuance: ledger.Account
) -> None:
    """50 baskets of 30 points are held at the counter at the same moment against a wallet of 1,000:
    33 fit (990 points), the other 17 are refused, and the 10 points left cannot be overspent."""
    wallet = await ledger.open_account(conn, community.id, "volunteer:sun-mei")
    shop = await ledger.open_account(conn, community.id, "supermarket", lower_bound=None)
    await fund(conn, community, issuance, wallet, 1_000)

    async def hold(c: Any, i: int) -> Hold:
        return await ledger.place_hold(
            c,
            community.id,
            account_id=wallet.id,
            counter_account_id=shop.id,
            amount=30,
            kind="redemption",
            timeout_s=600,
            idempotency_key=key(f"basket-{i}"),
        )

    ok, failed = split(await at_once(engine, 50, hold))

    assert len(ok) == 33
    assert len(failed) == 17
    for exc in failed:
        assert isinstance(exc, errors.InsufficientBalance), repr(exc)
        assert exc.data["available"] == 10
        assert exc.data["requested"] == 30
    bal = await ledger.balance(conn, community.id, wallet.id)
    assert (bal.balance, bal.held, bal.available) == (1_000, 990, 10)
    with pytest.raises(errors.InsufficientBalance):
        await ledger.post_entry(
            conn,
            community.id,
            ledger.NewEntry("redemption", (ledger.Line(wallet.id, -20), ledger.Line(shop.id, 20)), key("walk-in")),
        )

    # Posting every hold at once as well: all succeed and the wallet ends with exactly the 10 left over.
    async def settle(c: Any, i: int) -> ledger.PostedEntry:
        return await ledger.post_hold(c, community.id, ok[i].id, idempotency_key=key(f"settle-{i}"))

    settled, failed = split(await at_once(engine, len(ok), settle))
    assert failed == []
    assert len(settled) == 33
    bal = await ledger.balance(conn, community.id, wallet.id)
    assert (bal.balance, bal.held, bal.available) == (10, 0, 10)
    assert (await ledger.balance(conn, community.id, shop.id)).balance == 990
    await assert_sound(conn, community)


async def test_two_clerks_reversing_one_receipt_at_once_reverse_it_once(
    conn: Any, engine: AsyncEngine, community: ledger.Community, issuance: ledger.Account
) -> None:
    """Two clerks both press "return" on the same receipt (different requests, different keys):
    the points come back once; the other clerk is told it was already reversed."""
    wallet = await ledger.open_account(conn, community.id, "volunteer:zhou-min")
    shop = await ledger.open_account(conn, community.id, "supermarket", lower_bound=None)
    await fund(conn, community, issuance, wallet, 100)
    receipt = await ledger.post_entry(
        conn,
        community.id,
        ledger.NewEntry("redemption", (ledger.Line(wallet.id, -60), ledger.Line(shop.id, 60)), key("receipt")),
    )

    async def give_back(c: Any, i: int) -> ledger.PostedEntry:
        return await ledger.reverse_entry(
            c, community.id, receipt.id, reason="退货：包装破损", idempotency_key=key(f"return-{i}")
        )

    ok, failed = split(await at_once(engine, 10, give_back))

    assert len(ok) == 1
    assert len(failed) == 9
    assert all(isinstance(exc, errors.AlreadyReversed) for exc in failed), failed
    assert (await ledger.balance(conn, community.id, wallet.id)).balance == 100
    assert (await ledger.balance(conn, community.id, shop.id)).balance == 0
    await assert_sound(conn, community)
