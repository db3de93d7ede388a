"""Holds (reserve now, settle later) and reversals (a mistake is undone by a mirror entry).

Holds are how the points supermarket keeps a basket at the counter and how the
swap table keeps a top-up in escrow. Reversals are how a return, or an award
given by mistake, is corrected without ever changing a posted entry.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

import ledger
from ledger import db, errors
from ledger.holds import get_hold
from ledger.integrity import verify
from ledger.queries import get_entry, history, trial_balance
from tests.conftest import fund


def key(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4()}"


async def available(conn: Any, community: ledger.Community, account: ledger.Account) -> tuple[int, int, int]:
    """(balance, held, available) as the volunteer's page shows them."""
    b = await ledger.balance(conn, community.id, account.id)
    return b.balance, b.held, b.available


async def assert_sound(conn: Any, community: ledger.Community) -> None:
    assert await verify(conn, community.id) == []
    assert all(line.total == 0 for line in await trial_balance(conn, community.id))


async def entry_count(conn: Any, community: ledger.Community) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM ledger.entries WHERE community_id = $1", community.id))


@pytest.fixture
async def shop(conn: Any, community: ledger.Community) -> ledger.Account:
    return await ledger.open_account(conn, community.id, "supermarket", lower_bound=None)


@pytest.fixture
async def wallet(conn: Any, community: ledger.Community, issuance: ledger.Account) -> ledger.Account:
    """A volunteer with 100 points."""
    account = await ledger.open_account(conn, community.id, "volunteer:he-ping")
    await fund(conn, community, issuance, account, 100)
    return account


async def hold_basket(
    conn: Any,
    community: ledger.Community,
    wallet: ledger.Account,
    shop: ledger.Account,
    amount: int,
    *,
    timeout_s: int = 600,
    idempotency_key: str | None = None,
) -> ledger.Hold:
    return await ledger.place_hold(
        conn,
        community.id,
        account_id=wallet.id,
        counter_account_id=shop.id,
        amount=amount,
        kind="redemption",
        timeout_s=timeout_s,
        idempotency_key=idempotency_key or key("basket"),
        memo="大米 5kg",
    )


# --- holds ---------------------------------------------------------------------------------------


async def test_a_held_basket_reserves_points_without_spending_them(
    conn: Any, community: ledger.Community, wallet: ledger.Account, shop: ledger.Account
) -> None:
    """The clerk holds a 30-point basket: the volunteer still has 100 points, but only 70 to spend."""
    hold = await hold_basket(conn, community, wallet, shop, 30)

    assert (hold.status, hold.amount, hold.replayed) == ("active", 30, False)
    assert await available(conn, community, wallet) == (100, 30, 70)
    assert (await ledger.balance(conn, community.id, shop.id)).balance == 0
    assert (await history(conn, community.id, wallet.id)).lines[0].amount == 100  # nothing posted yet
    # The reserved points cannot be spent a second time.
    with pytest.raises(errors.InsufficientBalance) as caught:
        await ledger.post_entry(
            conn,
            community.id,
            ledger.NewEntry("redemption", (ledger.Line(wallet.id, -80), ledger.Line(shop.id, 80)), key("walk-in")),
        )
    assert (caught.value.data["available"], caught.value.data["requested"]) == (70, 80)
    await assert_sound(conn, community)


async def test_posting_a_whole_hold_pays_the_shop(
    conn: Any, community: ledger.Community, wallet: ledger.Account, shop: ledger.Account
) -> None:
    hold = await hold_basket(conn, community, wallet, shop, 30)

    entry = await ledger.post_hold(conn, community.id, hold.id, idempotency_key=key("checkout"))

    assert entry.replayed is False
    assert {(p.account_id, p.amount) for p in entry.postings} == {(wallet.id, -30), (shop.id, 30)}
    assert await available(conn, community, wallet) == (70, 0, 70)
    assert (await ledger.balance(conn, community.id, shop.id)).balance == 30
    after = await get_hold(conn, community.id, hold.id)
    assert after is not None
    assert (after.status, after.posted_amount, after.entry_id) == ("posted", 30, entry.id)
    await assert_sound(conn, community)


async def test_posting_part_of_a_hold_releases_the_rest(
    conn: Any, community: ledger.Community, wallet: ledger.Account, shop: ledger.Account
) -> None:
    """One item of the held basket is out of stock: 18 of the 30 points are charged, 12 come free."""
    hold = await hold_basket(conn, community, wallet, shop, 30)

    entry = await ledger.post_hold(conn, community.id, hold.id, idempotency_key=key("checkout"), amount=18)

    assert {(p.account_id, p.amount) for p in entry.postings} == {(wallet.id, -18), (shop.id, 18)}
    assert await available(conn, community, wallet) == (82, 0, 82)
    after = await get_hold(conn, community.id, hold.id)
    assert after is not None
    assert (after.status, after.posted_amount) == ("posted", 18)
    # The rest is really released, not just hidden: the volunteer can spend all 82.
    await ledger.post_entry(
        conn,
        community.id,
        ledger.NewEntry("redemption", (ledger.Line(wallet.id, -82), ledger.Line(shop.id, 82)), key("rest")),
    )
    assert await available(conn, community, wallet) == (0, 0, 0)
    await assert_sound(conn, community)


async def test_a_hold_cannot_post_more_than_it_reserved(
    conn: Any, community: ledger.Community, wallet: ledger.Account, shop: ledger.Account
) -> None:
    hold = await hold_basket(conn, community, wallet, shop, 30)
    with pytest.raises(errors.InvalidEntry):
        await ledger.post_hold(conn, community.id, hold.id, idempotency_key=key("checkout"), amount=31)
    assert await available(conn, community, wallet) == (100, 30, 70)
    still = await get_hold(conn, community.id, hold.id)
    assert still is not None
    assert still.status == "active"


async def test_voiding_a_hold_gives_the_points_back_and_voiding_again_is_harmless(
    conn: Any, community: ledger.Community, wallet: ledger.Account, shop: ledger.Account
) -> None:
    """The volunteer walks away from the counter: the basket is voided and the 30 points are free again."""
    hold = await hold_basket(conn, community, wallet, shop, 30)
    entries_before = await entry_count(conn, community)

    voided = await ledger.void_hold(conn, community.id, hold.id)
    assert (voided.status, voided.replayed) == ("voided", False)
    assert await available(conn, community, wallet) == (100, 0, 100)

    again = await ledger.void_hold(conn, community.id, hold.id)
    assert (again.status, again.replayed) == ("voided", True)
    assert await available(conn, community, wallet) == (100, 0, 100)  # not released twice
    assert await entry_count(conn, community) == entries_before  # a void posts nothing

    with pytest.raises(errors.HoldNotActive) as caught:
        await ledger.post_hold(conn, community.id, hold.id, idempotency_key=key("too-late"))
    assert caught.value.data["status"] == "voided"
    assert await available(conn, community, wallet) == (100, 0, 100)
    assert (await ledger.balance(conn, community.id, shop.id)).balance == 0
    await assert_sound(conn, community)


async def test_a_posted_hold_cannot_be_posted_again_or_voided(
    conn: Any, community: ledger.Community, wallet: ledger.Account, shop: ledger.Account
) -> None:
    hold = await hold_basket(conn, community, wallet, shop, 30)
    await ledger.post_hold(conn, community.id, hold.id, idempotency_key=key("checkout"))

    with pytest.raises(errors.HoldNotActive):
        await ledger.post_hold(conn, community.id, hold.id, idempotency_key=key("checkout-again"))
    with pytest.raises(errors.HoldNotActive):
        await ledger.void_hold(conn, community.id, hold.id)
    assert await available(conn, community, wallet) == (70, 0, 70)
    assert (await ledger.balance(conn, community.id, shop.id)).balance == 30


async def test_a_forgotten_hold_expires_and_frees_the_points(
    conn: Any, community: ledger.Community, wallet: ledger.Account, shop: ledger.Account
) -> None:
    """A swap proposal is accepted but nobody turns up at the table: after its timeout the hold
    lapses, the points are available again, it can no longer be posted, and the sweep closes it."""
    hold = await hold_basket(conn, community, wallet, shop, 30, timeout_s=1)
    assert await available(conn, community, wallet) == (100, 30, 70)

    await asyncio.sleep(1.2)

    lapsed = await get_hold(conn, community.id, hold.id)
    assert lapsed is not None
    assert lapsed.status == "expired"
    assert await available(conn, community, wallet) == (100, 0, 100)
    with pytest.raises((errors.HoldExpired, errors.HoldNotActive)):
        await ledger.post_hold(conn, community.id, hold.id, idempotency_key=key("late-checkout"))
    assert (await ledger.balance(conn, community.id, shop.id)).balance == 0

    assert await ledger.expire_holds(conn, community.id) == 1
    assert await ledger.expire_holds(conn, community.id) == 0  # nothing left to sweep
    swept = await get_hold(conn, community.id, hold.id)
    assert swept is not None
    assert swept.status == "expired"
    assert swept.resolved_at is not None
    assert await available(conn, community, wallet) == (100, 0, 100)
    # The freed points can really be spent, in full.
    await ledger.post_entry(
        conn,
        community.id,
        ledger.NewEntry("redemption", (ledger.Line(wallet.id, -100), ledger.Line(shop.id, 100)), key("spend-all")),
    )
    assert await available(conn, community, wallet) == (0, 0, 0)
    await assert_sound(conn, community)


async def test_a_lapsed_hold_does_not_block_spending_before_the_sweep(
    conn: Any, community: ledger.Community, wallet: ledger.Account, shop: ledger.Account
) -> None:
    """Points freed by an expired hold can be spent at once, without waiting for the periodic sweep."""
    hold = await hold_basket(conn, community, wallet, shop, 90, timeout_s=1)
    await asyncio.sleep(1.2)

    await ledger.post_entry(
        conn,
        community.id,
        ledger.NewEntry("redemption", (ledger.Line(wallet.id, -100), ledger.Line(shop.id, 100)), key("spend-all")),
    )

    assert await available(conn, community, wallet) == (0, 0, 0)
    swept = await get_hold(conn, community.id, hold.id)
    assert swept is not None
    assert swept.status == "expired"
    assert swept.resolved_at is not None  # closed by the posting itself, not just reported as lapsed
    assert await ledger.expire_holds(conn, community.id) == 0
    await assert_sound(conn, community)


async def test_holds_never_take_a_wallet_below_its_bound(
    conn: Any, community: ledger.Community, wallet: ledger.Account, shop: ledger.Account
) -> None:
    """Two baskets of 60 against 100 points: the second is refused, with the numbers."""
    await hold_basket(conn, community, wallet, shop, 60)
    with pytest.raises(errors.InsufficientBalance) as caught:
        await hold_basket(conn, community, wallet, shop, 60)
    assert caught.value.data == {"account_id": wallet.id, "available": 40, "requested": 60}
    assert await available(conn, community, wallet) == (100, 60, 40)
    await hold_basket(conn, community, wallet, shop, 40)  # exactly what is left fits
    assert await available(conn, community, wallet) == (100, 100, 0)
    with pytest.raises(errors.InsufficientBalance):
        await hold_basket(conn, community, wallet, shop, 1)
    await assert_sound(conn, community)


async def test_a_hold_can_use_a_credit_limit_but_not_beyond_it(
    conn: Any, community: ledger.Community, issuance: ledger.Account, shop: ledger.Account
) -> None:
    """A community lets an elderly resident go 50 points into credit: with 20 points she can hold 70, not 71."""
    elder = await ledger.open_account(conn, community.id, "volunteer:grandma-wu", lower_bound=-50)
    await fund(conn, community, issuance, elder, 20)

    with pytest.raises(errors.InsufficientBalance) as caught:
        await hold_basket(conn, community, elder, shop, 71)
    assert (caught.value.data["available"], caught.value.data["requested"]) == (70, 71)
    hold = await hold_basket(conn, community, elder, shop, 70)
    assert await available(conn, community, elder) == (20, 70, 0)
    await ledger.post_hold(conn, community.id, hold.id, idempotency_key=key("checkout"))
    assert await available(conn, community, elder) == (-50, 0, 0)
    await assert_sound(conn, community)


async def test_retrying_place_and_post_replays_instead_of_doubling(
    conn: Any, community: ledger.Community, wallet: ledger.Account, shop: ledger.Account
) -> None:
    """The counter tablet loses its network and sends "hold" and "checkout" twice each."""
    hold_key = key("basket")
    first = await hold_basket(conn, community, wallet, shop, 30, idempotency_key=hold_key)
    retry = await hold_basket(conn, community, wallet, shop, 30, idempotency_key=hold_key)
    assert retry.id == first.id
    assert (first.replayed, retry.replayed) == (False, True)
    assert await available(conn, community, wallet) == (100, 30, 70)  # reserved once

    # The same key for a different basket is refused, not silently replayed.
    with pytest.raises(errors.IdempotencyConflict):
        await hold_basket(conn, community, wallet, shop, 31, idempotency_key=hold_key)

    checkout_key = key("checkout")
    posted = await ledger.post_hold(conn, community.id, first.id, idempotency_key=checkout_key, amount=25)
    posted_again = await ledger.post_hold(conn, community.id, first.id, idempotency_key=checkout_key, amount=25)
    assert posted_again.id == posted.id
    assert (posted.replayed, posted_again.replayed) == (False, True)
    assert posted_again.postings == posted.postings
    assert await available(conn, community, wallet) == (75, 0, 75)  # charged once
    assert (await ledger.balance(conn, community.id, shop.id)).balance == 25

    with pytest.raises(errors.IdempotencyConflict):
        await ledger.post_hold(conn, community.id, first.id, idempotency_key=checkout_key, amount=30)
    assert await available(conn, community, wallet) == (75, 0, 75)
    await assert_sound(conn, community)


async def test_holds_are_private_to_their_community(
    conn: Any, community: ledger.Community, wallet: ledger.Account, shop: ledger.Account
) -> None:
    hold = await hold_basket(conn, community, wallet, shop, 30)
    other = await ledger.create_community(conn, f"other-{uuid.uuid4().hex[:10]}", "另一个社区")

    assert await get_hold(conn, other.id, hold.id) is None
    with pytest.raises(errors.HoldNotFound):
        await ledger.post_hold(conn, other.id, hold.id, idempotency_key=key("steal"))
    with pytest.raises(errors.HoldNotFound):
        await ledger.void_hold(conn, other.id, hold.id)
    assert await available(conn, community, wallet) == (100, 30, 70)


# --- reversals -----------------------------------------------------------------------------------


async def test_reversing_an_award_posts_its_mirror_once(
    conn: Any, community: ledger.Community, issuance: ledger.Account
) -> None:
    """An organizer awarded 30 points to the wrong neighbour; the award is reversed with a reason."""
    wrong = await ledger.open_account(conn, community.id, "volunteer:ma-jun")
    award = await fund(conn, community, issuance, wrong, 30)
    assert (await ledger.balance(conn, community.id, wrong.id)).balance == 30

    reversal = await ledger.reverse_entry(
        conn, community.id, award.id, reason="发错人了：应为马俊的邻居", idempotency_key=key("undo"), actor="grid-7"
    )

    assert reversal.replayed is False
    assert {(p.account_id, p.amount) for p in reversal.postings} == {(wrong.id, -30), (issuance.id, 30)}
    assert (await ledger.balance(conn, community.id, wrong.id)).balance == 0
    assert (await ledger.balance(conn, community.id, issuance.id)).balance == 0
    view = await get_entry(conn, community.id, reversal.id)
    assert (view.kind, view.reverses_entry_id, view.reversal_reason) == (
        "reversal",
        award.id,
        "发错人了：应为马俊的邻居",
    )
    assert view.actor == "grid-7"
    assert (await get_entry(conn, community.id, award.id)).reversed_by_entry_id == reversal.id
    # The original is still there, unchanged: the history shows both.
    lines = (await history(conn, community.id, wrong.id)).lines
    assert [(line.entry_id, line.amount, line.balance_after) for line in lines] == [
        (reversal.id, -30, 0),
        (award.id, 30, 30),
    ]
    assert lines[0].reverses_entry_id == award.id
    await assert_sound(conn, community)


async def test_an_entry_is_reversed_at_most_once(
    conn: Any, community: ledger.Community, issuance: ledger.Account
) -> None:
    wallet = await ledger.open_account(conn, community.id, "volunteer:tang-li")
    award = await fund(conn, community, issuance, wallet, 30)
    undo_key = key("undo")
    reversal = await ledger.reverse_entry(conn, community.id, award.id, reason="重复发放", idempotency_key=undo_key)
    entries_before = await entry_count(conn, community)

    # A second organizer, not knowing, reverses it too: refused, with the id of the reversal.
    with pytest.raises(errors.AlreadyReversed) as caught:
        await ledger.reverse_entry(conn, community.id, award.id, reason="重复发放", idempotency_key=key("undo-2"))
    assert caught.value.data["reversal_entry_id"] == reversal.id

    # The first organizer's app retries its own request: the same reversal comes back.
    replay = await ledger.reverse_entry(conn, community.id, award.id, reason="重复发放", idempotency_key=undo_key)
    assert (replay.id, replay.replayed) == (reversal.id, True)
    # The same key with another reason is a different request.
    with pytest.raises(errors.IdempotencyConflict):
        await ledger.reverse_entry(conn, community.id, award.id, reason="别的原因", idempotency_key=undo_key)

    assert await entry_count(conn, community) == entries_before
    assert (await ledger.balance(conn, community.id, wallet.id)).balance == 0
    assert (await ledger.balance(conn, community.id, issuance.id)).balance == 0
    await assert_sound(conn, community)


async def test_an_award_already_spent_cannot_be_reversed(
    conn: Any, community: ledger.Community, issuance: ledger.Account
) -> None:
    """The 50-point award was a mistake, but the volunteer has already spent 40 of it at the supermarket:
    reversing it would take the wallet below zero, so it is refused and nothing is written."""
    wallet = await ledger.open_account(conn, community.id, "volunteer:lin-feng")
    shop = await ledger.open_account(conn, community.id, "supermarket", lower_bound=None)
    award = await fund(conn, community, issuance, wallet, 50)
    await ledger.post_entry(
        conn,
        community.id,
        ledger.NewEntry("redemption", (ledger.Line(wallet.id, -40), ledger.Line(shop.id, 40)), key("oil")),
    )
    entries_before = await entry_count(conn, community)
    undo_key = key("undo")

    with pytest.raises(errors.InsufficientBalance) as caught:
        await ledger.reverse_entry(conn, community.id, award.id, reason="误发", idempotency_key=undo_key)
    assert caught.value.data == {"account_id": wallet.id, "available": 10, "requested": 50}

    assert await entry_count(conn, community) == entries_before
    assert (await get_entry(conn, community.id, award.id)).reversed_by_entry_id is None
    assert (await ledger.balance(conn, community.id, wallet.id)).balance == 10
    assert (await ledger.balance(conn, community.id, issuance.id)).balance == -50
    # Nothing was written, so once the volunteer returns the oil the same request goes through.
    receipt = (await history(conn, community.id, wallet.id)).lines[0].entry_id
    await ledger.reverse_entry(conn, community.id, receipt, reason="退货", idempotency_key=key("return"))
    reversal = await ledger.reverse_entry(conn, community.id, award.id, reason="误发", idempotency_key=undo_key)
    assert reversal.replayed is False
    assert (await ledger.balance(conn, community.id, wallet.id)).balance == 0
    await assert_sound(conn, community)


async def test_reversing_an_unknown_or_foreign_entry_is_not_found(
    conn: Any, community: ledger.Community, issuance: ledger.Account
) -> None:
    """Another community's entry looks exactly like one that does not exist, and is left untouched."""
    wallet = await ledger.open_account(conn, community.id, "volunteer:guo-hua")
    award = await fund(conn, community, issuance, wallet, 30)
    other = await ledger.create_community(conn, f"other-{uuid.uuid4().hex[:10]}", "另一个社区")
    unknown = int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM ledger.entries")) + 1_000_000

    with pytest.raises(errors.EntryNotFound) as caught:
        await ledger.reverse_entry(conn, community.id, unknown, reason="?", idempotency_key=key("undo"))
    assert caught.value.data == {"entry_id": unknown}
    await db.enter(conn, other.id)  # as a caller entered in the other community
    with pytest.raises(errors.EntryNotFound) as caught:
        await ledger.reverse_entry(conn, other.id, award.id, reason="跨社区", idempotency_key=key("undo"))
    assert caught.value.data == {"entry_id": award.id}

    assert (await get_entry(conn, community.id, award.id)).reversed_by_entry_id is None
    assert (await ledger.balance(conn, community.id, wallet.id)).balance == 30
    assert await entry_count(conn, other) == 0
    await assert_sound(conn, community)


async def test_a_reversal_needs_a_reason(conn: Any, community: ledger.Community, issuance: ledger.Account) -> None:
    wallet = await ledger.open_account(conn, community.id, "volunteer:yu-qing")
    award = await fund(conn, community, issuance, wallet, 30)
    with pytest.raises(errors.InvalidEntry):
        await ledger.reverse_entry(conn, community.id, award.id, reason="  ", idempotency_key=key("undo"))
    assert (await get_entry(conn, community.id, award.id)).reversed_by_entry_id is None
    assert (await ledger.balance(conn, community.id, wallet.id)).balance == 30
