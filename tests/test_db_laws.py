"""The ledger's laws hold in PostgreSQL itself, even for SQL typed by hand.

Each test tries to break one rule directly (as the database owner, or as the
application role ``linli_app``), shows that PostgreSQL refuses, and shows that
nothing changed. Every attempt runs in a transaction that is rolled back
whatever happens, so a law that stopped holding fails its test without
damaging the shared test database.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

import ledger
from ledger import db as ledger_db
from ledger import errors
from ledger.accounts import add_unit
from ledger.integrity import verify
from points import db
from tests.conftest import fund


async def attempt(c: Any, sql: str, *args: Any) -> asyncpg.PostgresError:
    """Run ``sql`` in a transaction that is always rolled back; return the error it must raise."""
    tr = c.transaction()
    await tr.start()
    try:
        with pytest.raises(asyncpg.PostgresError) as info:
            await c.execute(sql, *args)
    finally:
        await tr.rollback()
    return info.value


async def state(c: Any, community_id: int) -> tuple[Any, ...]:
    """Everything the ledger stores for a community, to compare before and after an attempt."""
    entries = await c.fetch("SELECT * FROM ledger.entries WHERE community_id = $1 ORDER BY id", community_id)
    postings = await c.fetch("SELECT * FROM ledger.postings WHERE community_id = $1 ORDER BY id", community_id)
    accounts = await c.fetch(
        "SELECT id, balance, held FROM ledger.accounts WHERE community_id = $1 ORDER BY id", community_id
    )
    stripes = await c.fetch(
        "SELECT * FROM ledger.account_stripes WHERE community_id = $1 ORDER BY account_id, stripe", community_id
    )
    return tuple([tuple(r) for r in rows] for rows in (entries, postings, accounts, stripes))


async def funded_wallet(conn: Any, community: ledger.Community, issuance: ledger.Account, amount: int = 100) -> Any:
    wallet = await ledger.open_account(conn, community.id, f"volunteer:{uuid.uuid4().hex[:8]}")
    entry = await fund(conn, community, issuance, wallet, amount)
    return wallet, entry


# --- 1. zero-sum entries: a deferred constraint trigger checks every entry at COMMIT ---------------------------


@pytest.mark.parametrize("case", ["unbalanced", "balanced overall, not per unit", "fewer postings than declared"])
async def test_hand_written_unbalanced_entry_fails_at_commit(
    conn: Any, owner_conn: asyncpg.Connection, community: ledger.Community, issuance: ledger.Account, case: str
) -> None:
    """Points cannot be created from nothing, even by the owner writing rows directly: COMMIT is refused."""
    wallet = await ledger.open_account(conn, community.id, "volunteer:1")
    await add_unit(conn, community.id, "minutes", "分钟")
    clock = await ledger.open_account(conn, community.id, "timebank", unit="minutes", lower_bound=None)
    lines, declared = {
        "unbalanced": ([(wallet, 10), (issuance, -7)], 2),
        "balanced overall, not per unit": ([(wallet, 10), (clock, -10)], 2),
        "fewer postings than declared": ([(wallet, 10), (issuance, -10)], 3),
    }[case]
    before = await state(owner_conn, community.id)
    tr = owner_conn.transaction()
    await tr.start()
    try:
        entry_id = await owner_conn.fetchval(
            "INSERT INTO ledger.entries (community_id, kind, effective_at, idempotency_key, request_hash, "
            "posting_count) VALUES ($1, 'award', now(), $2, 'by-hand', $3) RETURNING id",
            community.id,
            f"by-hand-{case}",
            declared,
        )
        for account, amount in lines:
            await owner_conn.execute(
                "INSERT INTO ledger.postings (entry_id, community_id, account_id, unit, amount) "
                "VALUES ($1, $2, $3, $4, $5)",
                entry_id,
                community.id,
                account.id,
                account.unit,
                amount,
            )
        # The rows went in (the check is deferred); the commit is what must fail.
        with pytest.raises(asyncpg.PostgresError) as info:
            await tr.commit()
    finally:
        if owner_conn.is_in_transaction():
            await tr.rollback()
    assert info.value.sqlstate == "LE002"
    assert isinstance(errors.from_database(info.value), errors.UnbalancedEntry)
    assert await state(owner_conn, community.id) == before


async def test_postings_cannot_be_added_to_a_committed_entry(
    conn: Any, owner_conn: asyncpg.Connection, community: ledger.Community, issuance: ledger.Account
) -> None:
    """A posted award cannot be padded later, not even with a balanced pair of postings."""
    _, entry = await funded_wallet(conn, community, issuance)
    stranger = await ledger.open_account(conn, community.id, "volunteer:stranger")
    shop = await ledger.open_account(conn, community.id, "supermarket", lower_bound=None)
    before = await state(owner_conn, community.id)
    err = await attempt(
        owner_conn,
        "INSERT INTO ledger.postings (entry_id, community_id, account_id, unit, amount) "
        "VALUES ($1, $2, $3, 'points', 5), ($1, $2, $4, 'points', -5)",
        entry.id,
        community.id,
        stranger.id,
        shop.id,
    )
    assert err.sqlstate == "LE020", err
    assert "already committed" in str(err)
    assert isinstance(errors.from_database(err), errors.AppendOnlyViolation)
    assert await state(owner_conn, community.id) == before


@pytest.mark.parametrize(
    "wrong",
    [
        "account of another community",
        "account in another unit",
        "no such account",
        "entry of another community",
        "no such entry",
    ],
)
async def test_a_posting_must_name_an_entry_and_an_account_of_its_own_community(
    conn: Any, owner_conn: asyncpg.Connection, community: ledger.Community, issuance: ledger.Account, wrong: str
) -> None:
    """Postings carry no foreign keys (each would cost a query and a row lock per posting); the statement
    trigger checks every row of an INSERT instead, and refuses the whole statement."""
    wallet = await ledger.open_account(conn, community.id, f"volunteer:{uuid.uuid4().hex[:8]}")
    other = await ledger.create_community(conn, f"other-{uuid.uuid4().hex[:10]}", "隔壁社区")
    foreign_wallet = await ledger.open_account(conn, other.id, "volunteer:neighbour")
    foreign_issuance = await ledger.open_account(conn, other.id, "issuance", normal_side="debit", lower_bound=None)
    foreign_entry = await fund(conn, other, foreign_issuance, foreign_wallet, 5)
    await add_unit(conn, community.id, "minutes", "分钟")
    clock = await ledger.open_account(conn, community.id, "timebank", unit="minutes", lower_bound=None)
    account_id, unit, entry_id = {
        "account of another community": (foreign_wallet.id, "points", None),
        "account in another unit": (clock.id, "points", None),
        "no such account": (-1, "points", None),
        "entry of another community": (wallet.id, "points", foreign_entry.id),
        "no such entry": (wallet.id, "points", -1),
    }[wrong]
    before = await state(owner_conn, community.id)
    tr = owner_conn.transaction()
    await tr.start()
    try:
        if entry_id is None:
            entry_id = await owner_conn.fetchval(
                "INSERT INTO ledger.entries (community_id, kind, effective_at, idempotency_key, request_hash, "
                "posting_count) VALUES ($1, 'award', now(), $2, 'by-hand', 2) RETURNING id",
                community.id,
                f"by-hand-{uuid.uuid4().hex}",
            )
        with pytest.raises(asyncpg.ForeignKeyViolationError) as info:
            await owner_conn.execute(
                "INSERT INTO ledger.postings (entry_id, community_id, account_id, unit, amount) "
                "VALUES ($1, $2, $3, 'points', -5), ($1, $2, $4, $5, 5)",
                entry_id,
                community.id,
                issuance.id,
                account_id,
                unit,
            )
    finally:
        await tr.rollback()
    assert ("entry" if "entry" in wrong else "account") in str(info.value)
    assert await state(owner_conn, community.id) == before


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM ledger.accounts WHERE id = $1",
        "UPDATE ledger.accounts SET community_id = community_id + 1 WHERE id = $1",
        "UPDATE ledger.accounts SET unit = 'minutes' WHERE id = $1",
        "TRUNCATE ledger.accounts CASCADE",
    ],
)
async def test_an_account_postings_name_cannot_be_deleted_or_rekeyed(
    conn: Any, owner_conn: asyncpg.Connection, community: ledger.Community, issuance: ledger.Account, sql: str
) -> None:
    """What a foreign key would also have guaranteed: the account a posting names stays that account."""
    wallet, _ = await funded_wallet(conn, community, issuance)
    await add_unit(conn, community.id, "minutes", "分钟")
    before = await state(owner_conn, community.id)
    err = await attempt(owner_conn, sql, *([wallet.id] if "$1" in sql else []))
    assert err.sqlstate == "LE020", err
    assert "never deleted" in str(err)
    assert await state(owner_conn, community.id) == before


# --- 2. append-only: triggers stop even the owner; the app role has no grant at all ---------------------------

OWNER_CHANGES = [
    "UPDATE ledger.entries SET memo = 'quietly changed' WHERE id = $1",
    "UPDATE ledger.entries SET reverses_entry_id = NULL WHERE id = $1",
    "DELETE FROM ledger.entries WHERE id = $1",
    "UPDATE ledger.postings SET amount = amount * 2 WHERE entry_id = $1",
    "DELETE FROM ledger.postings WHERE entry_id = $1",
    "TRUNCATE ledger.postings",
    "TRUNCATE ledger.entries CASCADE",
]


@pytest.mark.parametrize("sql", OWNER_CHANGES)
async def test_owner_cannot_change_or_delete_posted_entries(
    conn: Any, owner_conn: asyncpg.Connection, community: ledger.Community, issuance: ledger.Account, sql: str
) -> None:
    """History cannot be rewritten: even the database owner gets 'append-only' and every row stays."""
    _, entry = await funded_wallet(conn, community, issuance)
    before = await state(owner_conn, community.id)
    err = await attempt(owner_conn, sql, *([entry.id] if "$1" in sql else []))
    assert err.sqlstate == "LE020", err
    assert "append-only" in str(err)
    assert isinstance(errors.from_database(err), errors.AppendOnlyViolation)
    assert await state(owner_conn, community.id) == before


APP_ROLE_WRITES = [
    "UPDATE ledger.entries SET memo = 'x' WHERE id = {entry}",
    "DELETE FROM ledger.entries WHERE id = {entry}",
    "TRUNCATE ledger.entries CASCADE",
    "UPDATE ledger.postings SET amount = 1 WHERE entry_id = {entry}",
    "DELETE FROM ledger.postings WHERE entry_id = {entry}",
    "TRUNCATE ledger.postings",
    "INSERT INTO ledger.entries (community_id, kind, effective_at, idempotency_key, request_hash, posting_count) "
    "SELECT community_id, kind, now(), 'sneaky', 'x', 2 FROM ledger.entries WHERE id = {entry}",
    "INSERT INTO ledger.postings (entry_id, community_id, account_id, unit, amount) "
    "SELECT entry_id, community_id, account_id, unit, amount FROM ledger.postings WHERE entry_id = {entry}",
    # The mark post_entry puts on its own inserts (to skip re-checking them) opens no door for the service.
    "SELECT set_config('linli.inside_post_entry', 'on', false); "
    "INSERT INTO ledger.postings (entry_id, community_id, account_id, unit, amount) "
    "SELECT entry_id, community_id, account_id, unit, amount FROM ledger.postings WHERE entry_id = {entry}",
    "UPDATE ledger.accounts SET balance = balance + 1000 WHERE id = {wallet}",
    "UPDATE ledger.accounts SET held = 0 WHERE id = {wallet}",
    "DELETE FROM ledger.accounts WHERE id = {wallet}",
    "UPDATE ledger.account_stripes SET balance = 0 WHERE account_id = {issuance}",
    "INSERT INTO ledger.account_stripes (account_id, stripe, community_id, balance) "
    "SELECT id, 15, community_id, 1000 FROM ledger.accounts WHERE id = {issuance}",
    "UPDATE ledger.holds SET status = 'voided' WHERE account_id = {wallet}",
    "INSERT INTO ledger.accounts (community_id, unit, code, normal_side, lower_bound, balance) "
    "SELECT community_id, unit, 'volunteer:rich', 'credit', 0, 1000000 FROM ledger.accounts WHERE id = {wallet}",
    # The helpers behind the SECURITY DEFINER functions are not callable on their own.
    "SELECT ledger.expire_locked_holds(ARRAY[{wallet}])",
    "SELECT ledger.release_held(NULL::ledger.holds)",
    "ALTER TABLE ledger.postings DISABLE TRIGGER postings_append_only",
]


@pytest.mark.parametrize("sql", ["RESET ROLE", "SET ROLE NONE", "SET SESSION AUTHORIZATION DEFAULT"])
async def test_the_service_cannot_become_the_owner_again(conn: Any, sql: str) -> None:
    """The service logs in as linli_app itself: no role switch gives it back the owner's rights."""
    with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
        await conn.execute(sql)
    assert await conn.fetchval("SELECT current_user") == "linli_app"
    assert await conn.fetchval("SELECT session_user") == "linli_app"
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await conn.execute("SET ROLE postgres")


@pytest.mark.parametrize("sql", APP_ROLE_WRITES, ids=lambda sql: sql[:70])
async def test_app_role_has_no_write_grant_on_the_ledger(
    conn: Any, owner_conn: asyncpg.Connection, community: ledger.Community, issuance: ledger.Account, sql: str
) -> None:
    """The service's own connection cannot touch balances or history except through the posting functions,
    so a stored balance can only move together with the postings that explain it."""
    wallet, entry = await funded_wallet(conn, community, issuance)
    before = await state(owner_conn, community.id)
    err = await attempt(conn, sql.format(entry=entry.id, wallet=wallet.id, issuance=issuance.id))
    assert isinstance(err, asyncpg.exceptions.InsufficientPrivilegeError), err
    assert await state(owner_conn, community.id) == before


async def test_new_accounts_start_empty_even_for_the_owner(
    owner_conn: asyncpg.Connection, community: ledger.Community
) -> None:
    """An account cannot be born rich: a balance or hold given at INSERT is reset to zero."""
    tr = owner_conn.transaction()
    await tr.start()
    try:
        row = await owner_conn.fetchrow(
            "INSERT INTO ledger.accounts (community_id, unit, code, normal_side, lower_bound, balance, held) "
            "VALUES ($1, 'points', 'volunteer:born-rich', 'credit', 0, 1000000, 0) RETURNING balance, held",
            community.id,
        )
    finally:
        await tr.rollback()
    assert (row["balance"], row["held"]) == (0, 0)


# --- 3. bounds: CHECK constraints on the stored balance, holds included -----------------------------------------

BOUND_BREAKS = [
    # (which account, SET clause, constraint that must refuse it)
    ("wallet", "balance = -1", "accounts_within_lower_bound"),
    ("wallet", "held = 101", "accounts_within_lower_bound"),
    ("wallet", "held = -1", "accounts_held_not_negative"),
    ("credit", "balance = -51", "accounts_within_lower_bound"),
    ("capped", "balance = 101", "accounts_within_upper_bound"),
    ("unbounded", "balance = 5", "accounts_unbounded_use_stripes"),
    ("unbounded", "held = 5", "accounts_unbounded_use_stripes"),
]


@pytest.mark.parametrize(("which", "change", "constraint"), BOUND_BREAKS)
async def test_owner_cannot_push_a_balance_past_its_bound(
    conn: Any,
    owner_conn: asyncpg.Connection,
    community: ledger.Community,
    issuance: ledger.Account,
    which: str,
    change: str,
    constraint: str,
) -> None:
    """A wallet never goes negative (nor below its credit limit, nor above a cap), holds included."""
    wallet, _ = await funded_wallet(conn, community, issuance, 100)
    account = {
        "wallet": wallet,
        "credit": await ledger.open_account(conn, community.id, "volunteer:credit", lower_bound=-50),
        "capped": await ledger.open_account(conn, community.id, "budget:2026", upper_bound=100),
        "unbounded": issuance,
    }[which]
    before = await state(owner_conn, community.id)
    err = await attempt(owner_conn, f"UPDATE ledger.accounts SET {change} WHERE id = $1", account.id)
    assert isinstance(err, asyncpg.exceptions.CheckViolationError)
    assert err.sqlstate == "23514"
    assert err.constraint_name == constraint
    # Should a CHECK ever be what stops a posting, the caller still hears "not enough points" and the like.
    meaning = {"accounts_within_lower_bound": errors.InsufficientBalance}
    meaning["accounts_within_upper_bound"] = errors.UpperBoundExceeded
    assert isinstance(errors.from_database(err), meaning.get(constraint, errors.InvalidEntry))
    assert await state(owner_conn, community.id) == before


# --- 4. idempotency: one entry per (community, key) ---------------------------------------------------------------


async def test_owner_cannot_insert_a_second_entry_with_a_used_key(
    conn: Any, owner_conn: asyncpg.Connection, community: ledger.Community, issuance: ledger.Account
) -> None:
    """A retried request can never be booked twice: the key is unique per community in the table itself."""
    _, entry = await funded_wallet(conn, community, issuance)
    key = await owner_conn.fetchval("SELECT idempotency_key FROM ledger.entries WHERE id = $1", entry.id)
    before = await state(owner_conn, community.id)
    err = await attempt(
        owner_conn,
        "INSERT INTO ledger.entries (community_id, kind, effective_at, idempotency_key, request_hash, "
        "posting_count) VALUES ($1, 'award', now(), $2, 'other', 2)",
        community.id,
        key,
    )
    assert isinstance(err, asyncpg.exceptions.UniqueViolationError)
    assert err.constraint_name == "entries_idempotency_key"
    assert await state(owner_conn, community.id) == before


async def test_same_key_in_two_communities_is_two_entries(
    conn: Any, community: ledger.Community, issuance: ledger.Account
) -> None:
    """Two communities may happen to pick the same key; each gets its own entry and its own points."""
    other = await ledger.create_community(conn, f"o-{uuid.uuid4().hex[:12]}", "另一个社区")
    other_issuance = await ledger.open_account(conn, other.id, "issuance", normal_side="debit", lower_bound=None)
    posted = []
    for c, source in ((community, issuance), (other, other_issuance)):
        wallet = await ledger.open_account(conn, c.id, "volunteer:1")
        lines = (ledger.Line(source.id, -7), ledger.Line(wallet.id, 7))
        posted.append(await ledger.post_entry(conn, c.id, ledger.NewEntry("award", lines, "patrol-2026-11-23")))
        assert (await ledger.balance(conn, c.id, wallet.id)).balance == 7
    assert [p.replayed for p in posted] == [False, False]
    assert posted[0].id != posted[1].id


# --- 5. stored balance = sum of postings ------------------------------------------------------------------------


async def test_verify_finds_a_balance_edited_by_hand(
    conn: Any, owner_conn: asyncpg.Connection, community: ledger.Community, issuance: ledger.Account
) -> None:
    """A healthy community verifies clean; a balance edited behind the ledger's back is named by verify."""
    wallet, _ = await funded_wallet(conn, community, issuance, 100)
    other = await ledger.open_account(conn, community.id, "volunteer:2")
    await ledger.post_entry(
        conn,
        community.id,
        ledger.NewEntry("transfer", (ledger.Line(wallet.id, -30), ledger.Line(other.id, 30)), f"t-{uuid.uuid4()}"),
    )
    mistake = await fund(conn, community, issuance, other, 10)
    await ledger.reverse_entry(conn, community.id, mistake.id, reason="发错了", idempotency_key=f"r-{uuid.uuid4()}")
    assert await verify(conn, community.id) == []

    tr = owner_conn.transaction()
    await tr.start()
    try:  # the edit is never committed; verify runs inside the same transaction
        await owner_conn.execute("UPDATE ledger.accounts SET balance = balance + 1 WHERE id = $1", other.id)
        await owner_conn.execute(
            "UPDATE ledger.account_stripes SET balance = balance - 1 WHERE account_id = $1 "
            "AND stripe = (SELECT min(stripe) FROM ledger.account_stripes WHERE account_id = $1)",
            issuance.id,
        )
        found = await verify(owner_conn, community.id)
    finally:
        await tr.rollback()
    wrong = {d.subject: (d.expected, d.found) for d in found if d.check == "account balance"}
    assert wrong == {
        f"account {other.id} (volunteer:2)": (30, 31),
        f"account {issuance.id} (issuance)": (-100, -101),
    }
    assert await verify(conn, community.id) == []


# --- 6. an entry is reversed at most once: UNIQUE (reverses_entry_id), even under a race ------------------------


async def test_racing_reversals_book_exactly_one(
    conn: Any,
    engine: AsyncEngine,
    owner_conn: asyncpg.Connection,
    community: ledger.Community,
    issuance: ledger.Account,
) -> None:
    """Two clerks reversing the same entry at the same moment (different keys): one wins, one is told it's done."""
    # Unbounded accounts take no row lock, so the only thing the second reversal can wait on is the unique index.
    shop = await ledger.open_account(conn, community.id, "supermarket", lower_bound=None)
    entry = await ledger.post_entry(
        conn,
        community.id,
        ledger.NewEntry("redemption", (ledger.Line(issuance.id, -25), ledger.Line(shop.id, 25)), "r"),
    )
    async with db.connection(engine) as other:
        other_pid = await other.fetchval("SELECT pg_backend_pid()")
        await ledger_db.enter(other, community.id)  # pooled: may be entered elsewhere
        async with conn.transaction():
            first = await ledger.reverse_entry(conn, community.id, entry.id, reason="重复发放", idempotency_key="rev-a")
            # The second reversal passes the "already reversed?" check (the first is not committed yet)
            # and must then wait on the unique index until the first commits.
            second = asyncio.create_task(
                ledger.reverse_entry(other, community.id, entry.id, reason="重复发放", idempotency_key="rev-b")
            )
            try:
                for _ in range(500):
                    waiting = await owner_conn.fetchval(
                        "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", other_pid
                    )
                    if waiting == "Lock" or second.done():
                        break
                    await asyncio.sleep(0.01)
                assert waiting == "Lock", "the second reversal should be waiting for the first"
            except BaseException:
                second.cancel()
                raise
        with pytest.raises(errors.AlreadyReversed):
            await second
    assert not first.replayed
    reversals = await conn.fetch("SELECT id FROM ledger.entries WHERE reverses_entry_id = $1", entry.id)
    assert [r["id"] for r in reversals] == [first.id]
    assert (await ledger.balance(conn, community.id, shop.id)).balance == 0
    assert await verify(conn, community.id) == []


async def test_many_concurrent_reversals_one_succeeds(
    conn: Any, engine: AsyncEngine, community: ledger.Community, issuance: ledger.Account
) -> None:
    """Five simultaneous reversal requests with different keys: exactly one reversal is booked."""
    wallet, entry = await funded_wallet(conn, community, issuance, 25)

    async def reverse(i: int) -> ledger.PostedEntry:
        async with db.connection(engine) as c:
            await ledger_db.enter(c, community.id)
            return await ledger.reverse_entry(c, community.id, entry.id, reason="撤销", idempotency_key=f"rev-{i}")

    results = await asyncio.gather(*(reverse(i) for i in range(5)), return_exceptions=True)
    won = [r for r in results if isinstance(r, ledger.PostedEntry)]
    lost = [r for r in results if not isinstance(r, ledger.PostedEntry)]
    assert len(won) == 1
    assert len(lost) == 4
    assert all(isinstance(r, errors.AlreadyReversed) for r in lost), lost
    assert (await ledger.balance(conn, community.id, wallet.id)).balance == 0
    assert await conn.fetchval("SELECT count(*) FROM ledger.entries WHERE reverses_entry_id = $1", entry.id) == 1


async def test_owner_cannot_insert_a_second_reversal(
    conn: Any, owner_conn: asyncpg.Connection, community: ledger.Community, issuance: ledger.Account
) -> None:
    """Even by hand, a reversed entry cannot be reversed again: the table allows one reversal per entry."""
    _, entry = await funded_wallet(conn, community, issuance, 25)
    await ledger.reverse_entry(conn, community.id, entry.id, reason="撤销", idempotency_key="rev-1")
    before = await state(owner_conn, community.id)
    err = await attempt(
        owner_conn,
        "INSERT INTO ledger.entries (community_id, kind, effective_at, idempotency_key, request_hash, "
        "posting_count, reverses_entry_id, reversal_reason) "
        "VALUES ($1, 'reversal', now(), 'rev-2', 'x', 2, $2, '再撤')",
        community.id,
        entry.id,
    )
    assert isinstance(err, asyncpg.exceptions.UniqueViolationError)
    assert err.constraint_name == "entries_reversed_once"
    assert isinstance(errors.from_database(err), errors.AlreadyReversed)
    assert await state(owner_conn, community.id) == before
