"""Reading the ledger: balances, a balance on a past date, history with running balances, the
trial balance, one entry in full, and every account's balance page by page.

These are what a volunteer sees on their phone ("my points and where they came
from") and what the community admin and the auditor read.
"""

from __future__ import annotations

import base64
import uuid
from contextlib import AsyncExitStack
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

import ledger
from ledger import db as ledger_db
from ledger import errors
from ledger.accounts import add_unit
from ledger.queries import MAX_PAGE, balance_as_of, balances, get_entry, history, trial_balance
from points import db
from tests.conftest import fund


def key(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4()}"


async def now(conn: Any) -> datetime:
    """The database's clock (the one postings are stamped with)."""
    value: datetime = await conn.fetchval("SELECT clock_timestamp()")
    return value


async def pay(
    conn: Any, community: ledger.Community, source: ledger.Account, target: ledger.Account, amount: int, kind: str
) -> ledger.PostedEntry:
    lines = (ledger.Line(source.id, -amount), ledger.Line(target.id, amount))
    return await ledger.post_entry(conn, community.id, ledger.NewEntry(kind, lines, key(kind), memo=f"{kind} {amount}"))


async def all_pages(conn: Any, community: ledger.Community, account: ledger.Account, limit: int) -> list[Any]:
    """Follow next_cursor from the newest page to the oldest; the lines in the order shown."""
    lines: list[Any] = []
    cursor = None
    pages = 0
    while True:
        page = await history(conn, community.id, account.id, cursor=cursor, limit=limit)
        pages += 1
        assert len(page.lines) <= limit
        lines.extend(page.lines)
        cursor = page.next_cursor
        if cursor is None:
            assert pages == max(1, -(-len(lines) // limit))  # no empty trailing page
            return lines


async def recomputed_history(conn: Any, account: ledger.Account) -> list[tuple[int, int, int]]:
    """(posting id, amount, balance after) newest first, recomputed from the raw postings."""
    rows = await conn.fetch("SELECT id, amount FROM ledger.postings WHERE account_id = $1 ORDER BY id", account.id)
    running = 0
    out = []
    for row in rows:
        running += row["amount"]
        out.append((row["id"], row["amount"], running))
    return out[::-1]


# --- balance -------------------------------------------------------------------------------------


async def test_balances_of_a_wallet_and_of_the_issuance_account(
    conn: Any, community: ledger.Community, issuance: ledger.Account
) -> None:
    """A volunteer earns 30 + 20 and spends 15: she has 35; the community has issued 50 in all."""
    wallet = await ledger.open_account(conn, community.id, "volunteer:xu-lan")
    shop = await ledger.open_account(conn, community.id, "supermarket", lower_bound=None)
    fresh = await ledger.balance(conn, community.id, wallet.id)
    assert (fresh.balance, fresh.held, fresh.available) == (0, 0, 0)

    await pay(conn, community, issuance, wallet, 30, "award")
    await pay(conn, community, issuance, wallet, 20, "award")
    await pay(conn, community, wallet, shop, 15, "redemption")

    mine = await ledger.balance(conn, community.id, wallet.id)
    assert (mine.account.id, mine.balance, mine.held, mine.available) == (wallet.id, 35, 0, 35)
    assert (await ledger.balance(conn, community.id, issuance.id)).balance == -50
    assert (await ledger.balance(conn, community.id, shop.id)).balance == 15


async def test_the_issuance_balance_adds_up_across_connections(
    conn: Any, engine: AsyncEngine, community: ledger.Community, issuance: ledger.Account
) -> None:
    """Awards posted from several server connections land in different stripes of the issuance
    account; its balance is still the plain sum."""
    wallet = await ledger.open_account(conn, community.id, "volunteer:he-yu")
    await spread_over_stripes(engine, community, issuance, wallet, [5, 7, 11, 13, 17, 19])
    stripes = await conn.fetchval("SELECT count(*) FROM ledger.account_stripes WHERE account_id = $1", issuance.id)
    assert stripes >= 2
    assert (await ledger.balance(conn, community.id, issuance.id)).balance == -72
    assert (await ledger.balance(conn, community.id, wallet.id)).balance == 72


async def test_balance_of_an_unknown_or_foreign_account_is_not_found(
    conn: Any, community: ledger.Community, issuance: ledger.Account
) -> None:
    other = await ledger.create_community(conn, f"other-{uuid.uuid4().hex[:10]}", "另一个社区")
    with pytest.raises(errors.UnknownAccount):
        await ledger.balance(conn, other.id, issuance.id)
    with pytest.raises(errors.UnknownAccount):
        await history(conn, other.id, issuance.id)


# --- balance as of a time ------------------------------------------------------------------------


async def test_balance_on_a_past_date(conn: Any, community: ledger.Community, issuance: ledger.Account) -> None:
    """A volunteer asks how many points she had on the day of the market; the admin asks how much
    had been issued by then. Both are answered for any moment, including before the first posting."""
    wallet = await ledger.open_account(conn, community.id, "volunteer:feng-xue")
    shop = await ledger.open_account(conn, community.id, "supermarket", lower_bound=None)
    t0 = await now(conn)
    await pay(conn, community, issuance, wallet, 40, "award")
    t1 = await now(conn)
    await pay(conn, community, issuance, wallet, 25, "award")
    t2 = await now(conn)
    await pay(conn, community, wallet, shop, 30, "redemption")
    t3 = await now(conn)

    assert [await balance_as_of(conn, community.id, wallet.id, t) for t in (t0, t1, t2, t3)] == [0, 40, 65, 35]
    assert [await balance_as_of(conn, community.id, issuance.id, t) for t in (t0, t1, t2, t3)] == [0, -40, -65, -65]
    assert [await balance_as_of(conn, community.id, shop.id, t) for t in (t0, t1, t2, t3)] == [0, 0, 0, 30]
    # Today's balance as of now is the current balance.
    assert await balance_as_of(conn, community.id, wallet.id, await now(conn)) == 35


# --- history -------------------------------------------------------------------------------------


async def test_a_wallet_history_newest_first_with_the_balance_after_each_line(
    conn: Any, community: ledger.Community, issuance: ledger.Account
) -> None:
    wallet = await ledger.open_account(conn, community.id, "volunteer:qian-yu")
    shop = await ledger.open_account(conn, community.id, "supermarket", lower_bound=None)
    amounts = [30, 20, -15, 50, -5, 10, -40, 8, -3, 12]
    entries = []
    for amount in amounts:
        if amount > 0:
            entries.append(await pay(conn, community, issuance, wallet, amount, "award"))
        else:
            entries.append(await pay(conn, community, wallet, shop, -amount, "redemption"))

    first = await history(conn, community.id, wallet.id)
    assert first.next_cursor is None
    running = [sum(amounts[: i + 1]) for i in range(len(amounts))]
    assert [(line.entry_id, line.amount, line.balance_after) for line in first.lines] == list(
        zip([e.id for e in entries], amounts, running, strict=True)
    )[::-1]
    assert [line.kind for line in first.lines[:2]] == ["award", "redemption"]
    assert first.lines[0].memo == "award 12"

    paged = await all_pages(conn, community, wallet, limit=3)
    assert [(line.posting_id, line.amount, line.balance_after) for line in paged] == await recomputed_history(
        conn, wallet
    )
    assert paged == first.lines


async def test_the_issuance_history_pages_back_to_the_first_award(
    conn: Any, engine: AsyncEngine, community: ledger.Community, issuance: ledger.Account
) -> None:
    """The issuance account is written by many connections at once (its balance lives in stripes);
    reading its history 3 lines at a time still shows the right running balance on every line."""
    wallet = await ledger.open_account(conn, community.id, "volunteer:bai-lu")
    shop = await ledger.open_account(conn, community.id, "supermarket", lower_bound=None)
    amounts = [5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41]
    await spread_over_stripes(engine, community, issuance, wallet, amounts)
    # A return into issuance too, so the history is not just one direction.
    await pay(conn, community, wallet, issuance, 4, "return")
    await pay(conn, community, wallet, shop, 6, "redemption")  # does not touch issuance

    paged = await all_pages(conn, community, issuance, limit=3)
    expected = await recomputed_history(conn, issuance)
    assert len(expected) == len(amounts) + 1
    assert [(line.posting_id, line.amount, line.balance_after) for line in paged] == expected
    current = (await ledger.balance(conn, community.id, issuance.id)).balance
    assert paged[0].balance_after == current == -sum(amounts) + 4
    assert paged[-1].balance_after == paged[-1].amount  # the oldest line starts from zero


async def test_a_history_page_of_an_account_with_no_postings_is_empty(conn: Any, community: ledger.Community) -> None:
    wallet = await ledger.open_account(conn, community.id, "volunteer:new-neighbour")
    page = await history(conn, community.id, wallet.id)
    assert (page.lines, page.next_cursor) == ([], None)


async def test_a_cursor_the_server_never_gave_out_is_refused(
    conn: Any, community: ledger.Community, issuance: ledger.Account
) -> None:
    wallet = await ledger.open_account(conn, community.id, "volunteer:ding-yi")
    for amount in (1, 2, 3, 4):
        await pay(conn, community, issuance, wallet, amount, "award")
    good = (await history(conn, community.id, wallet.id, limit=2)).next_cursor
    assert good is not None

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    bad_cursors = [
        "garbage!!",
        "%%%",
        good[:-1] + "*",  # a character outside base64
        "A",  # a base64 length no encoder produces
        b64(b"12;34"),
        b64(b"abc.def"),
        b64(b"1.2.3"),
        b64(b"\xff\xfe"),
        b64(b"."),
    ]
    assert [cursor for cursor in bad_cursors if not await refused(conn, community, wallet, cursor)] == []
    for account in (wallet, issuance):
        with pytest.raises(errors.InvalidEntry):
            await history(conn, community.id, account.id, cursor="not-a-cursor", limit=2)


async def test_a_damaged_or_misplaced_cursor_never_shows_wrong_balances(
    conn: Any, community: ledger.Community, issuance: ledger.Account
) -> None:
    """A "next page" link that lost a character when copied, or that was kept when the admin switched
    to another account, is refused: it must not page on from the wrong place with wrong running balances."""
    wallet = await ledger.open_account(conn, community.id, "volunteer:ding-er")
    for amount in range(1, 8):
        await pay(conn, community, issuance, wallet, amount, "award")
    for account in (issuance, wallet):
        good = (await history(conn, community.id, account.id, limit=2)).next_cursor
        assert good is not None
        damaged = [good[:-1], good[:-2], good[1:], good[:-1] + ("A" if good[-1] != "A" else "B")]
        assert [cursor for cursor in damaged if not await refused(conn, community, account, cursor)] == []
    wallet_cursor = (await history(conn, community.id, wallet.id, limit=2)).next_cursor
    issuance_cursor = (await history(conn, community.id, issuance.id, limit=2)).next_cursor
    assert wallet_cursor is not None
    assert issuance_cursor is not None
    with pytest.raises(errors.InvalidEntry):
        await history(conn, community.id, issuance.id, cursor=wallet_cursor, limit=2)
    with pytest.raises(errors.InvalidEntry):
        await history(conn, community.id, wallet.id, cursor=issuance_cursor, limit=2)
    # The cursors themselves still work where they belong.
    assert len((await history(conn, community.id, wallet.id, cursor=wallet_cursor, limit=2)).lines) == 2
    assert len((await history(conn, community.id, issuance.id, cursor=issuance_cursor, limit=2)).lines) == 2


@pytest.mark.parametrize("limit", [0, -1, MAX_PAGE + 1, 10**6])
async def test_a_page_size_out_of_range_is_refused(
    conn: Any, community: ledger.Community, issuance: ledger.Account, limit: int
) -> None:
    with pytest.raises(errors.InvalidEntry):
        await history(conn, community.id, issuance.id, limit=limit)
    with pytest.raises(errors.InvalidEntry):
        await balances(conn, community.id, limit=limit)


async def test_the_largest_page_size_is_allowed(
    conn: Any, community: ledger.Community, issuance: ledger.Account
) -> None:
    assert (await history(conn, community.id, issuance.id, limit=MAX_PAGE)).lines == []
    assert len(await balances(conn, community.id, limit=MAX_PAGE)) == 1


# --- trial balance -------------------------------------------------------------------------------


async def test_the_trial_balance_is_zero_in_every_unit(
    conn: Any, community: ledger.Community, issuance: ledger.Account
) -> None:
    """A community that keeps points and a time bank in minutes: each unit balances on its own."""
    await add_unit(conn, community.id, "minutes", "分钟")
    time_bank = await ledger.open_account(conn, community.id, "timebank", unit="minutes", lower_bound=None)
    shop = await ledger.open_account(conn, community.id, "supermarket", lower_bound=None)
    alice = await ledger.open_account(conn, community.id, "volunteer:a")
    bob = await ledger.open_account(conn, community.id, "volunteer:b")
    alice_min = await ledger.open_account(conn, community.id, "minutes:a", unit="minutes")
    bob_min = await ledger.open_account(conn, community.id, "minutes:b", unit="minutes")

    await pay(conn, community, issuance, alice, 100, "award")
    await pay(conn, community, issuance, bob, 50, "award")
    await pay(conn, community, alice, shop, 30, "redemption")
    await pay(conn, community, time_bank, alice_min, 120, "award")
    await pay(conn, community, alice_min, bob_min, 45, "transfer")

    lines = await trial_balance(conn, community.id)
    assert [(line.unit, line.debits, line.credits, line.total, line.accounts) for line in lines] == [
        ("minutes", 120, 120, 0, 3),
        ("points", 150, 150, 0, 4),
    ]
    # Mixing units in one entry is refused, so the trial balance cannot be broken that way.
    with pytest.raises((errors.UnbalancedEntry, errors.UnitMismatch)):
        await ledger.post_entry(
            conn,
            community.id,
            ledger.NewEntry("transfer", (ledger.Line(bob.id, -10), ledger.Line(bob_min.id, 10)), key("mix")),
        )
    assert await trial_balance(conn, community.id) == lines


# --- one entry -----------------------------------------------------------------------------------


async def test_an_entry_shows_its_postings_and_who_reversed_it(
    conn: Any, community: ledger.Community, issuance: ledger.Account
) -> None:
    """A batch award after a door-knock campaign: one entry, four postings; later one is reversed."""
    wallets = [await ledger.open_account(conn, community.id, f"volunteer:door-{i}") for i in range(3)]
    entry = await ledger.post_entry(
        conn,
        community.id,
        ledger.NewEntry(
            "award",
            (ledger.Line(issuance.id, -45), *(ledger.Line(w.id, 15) for w in wallets)),
            key("door-knock"),
            memo="敲门行动 11月",
            metadata={"activity": 12},
            actor="organizer:3",
        ),
    )

    view = await get_entry(conn, community.id, entry.id)
    assert (view.id, view.kind, view.memo, view.actor) == (entry.id, "award", "敲门行动 11月", "organizer:3")
    assert view.reverses_entry_id is None
    assert view.reversed_by_entry_id is None
    assert sorted((p[1], p[2], p[3]) for p in view.postings) == sorted(
        [(issuance.id, -45, None), *((w.id, 15, 15) for w in wallets)]
    )
    assert [p[0] for p in view.postings] == sorted(p.id for p in entry.postings)

    reversal = await ledger.reverse_entry(conn, community.id, entry.id, reason="活动取消", idempotency_key=key("undo"))
    assert (await get_entry(conn, community.id, entry.id)).reversed_by_entry_id == reversal.id
    back = await get_entry(conn, community.id, reversal.id)
    assert (back.reverses_entry_id, back.reversal_reason) == (entry.id, "活动取消")
    assert sorted((p[1], p[2]) for p in back.postings) == sorted([(issuance.id, 45), *((w.id, -15) for w in wallets)])

    other = await ledger.create_community(conn, f"other-{uuid.uuid4().hex[:10]}", "另一个社区")
    with pytest.raises(errors.EntryNotFound):
        await get_entry(conn, other.id, entry.id)


# --- every account, page by page -----------------------------------------------------------------


async def test_balances_page_by_page(conn: Any, community: ledger.Community, issuance: ledger.Account) -> None:
    """The admin's list of every account: 7 accounts, 3 a page, each once, with its balance."""
    wallets = [await ledger.open_account(conn, community.id, f"volunteer:page-{i}") for i in range(6)]
    for i, wallet in enumerate(wallets):
        await pay(conn, community, issuance, wallet, 10 * (i + 1), "award")
    other = await ledger.create_community(conn, f"other-{uuid.uuid4().hex[:10]}", "另一个社区")
    await ledger.open_account(conn, other.id, "volunteer:page-x")  # never listed here

    seen: list[ledger.Balance] = []
    after_id = 0
    page_sizes = []
    while True:
        page = await balances(conn, community.id, after_id=after_id, limit=3)
        if not page:
            break
        page_sizes.append(len(page))
        seen.extend(page)
        after_id = page[-1].account.id

    assert page_sizes == [3, 3, 1]
    assert [b.account.id for b in seen] == sorted([issuance.id, *(w.id for w in wallets)])
    assert {b.account.code: b.balance for b in seen} == {
        "issuance": -210,
        **{f"volunteer:page-{i}": 10 * (i + 1) for i in range(6)},
    }
    assert all(b.account.community_id == community.id for b in seen)


# --- helpers -------------------------------------------------------------------------------------


async def refused(conn: Any, community: ledger.Community, account: ledger.Account, cursor: str) -> bool:
    """True when history() refuses the cursor with InvalidEntry; False when it accepts it."""
    try:
        await history(conn, community.id, account.id, cursor=cursor, limit=2)
    except errors.InvalidEntry:
        return True
    return False


async def spread_over_stripes(
    engine: AsyncEngine,
    community: ledger.Community,
    issuance: ledger.Account,
    wallet: ledger.Account,
    amounts: list[int],
) -> None:
    """Award ``amounts`` one after another, each from a different server connection, using
    connections whose server processes fall into different stripes."""
    async with AsyncExitStack() as stack:
        conns = [await stack.enter_async_context(db.connection(engine)) for _ in range(8)]
        by_stripe: dict[int, Any] = {}
        for c in conns:
            await ledger_db.enter(c, community.id)  # pooled: it may still be entered in another test's community
            by_stripe.setdefault(await c.fetchval("SELECT pg_backend_pid() % 16"), c)
        assert len(by_stripe) >= 2, "eight connections all landed in one stripe"
        spread = list(by_stripe.values())
        for i, amount in enumerate(amounts):
            await fund(spread[i % len(spread)], community, issuance, wallet, amount)
