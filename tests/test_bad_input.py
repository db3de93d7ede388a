"""Every bad request to the ledger gets a clear error and writes nothing.

Each case goes through the Python API (``ledger.post_entry`` and friends) and
then, for the rules the database repeats, straight into the SQL function with
the Python checks bypassed: both refuse, with the same exception family, and
the community's entries, postings, holds and balances are exactly as before.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

import ledger
from ledger import db, errors
from ledger.accounts import add_unit
from ledger.model import MAX_POSTINGS, Line, NewEntry, check_entry
from tests.conftest import fund, new_slug

_POST = "SELECT * FROM ledger.post_entry($1, $2, $3, $4::jsonb, $5, $6, $7, $8::bigint[], $9::bigint[])"


@dataclass
class Book:
    """A community with a funded wallet (alice, 100), an empty one (bob), a minutes account and a stranger's wallet."""

    community: ledger.Community
    issuance: ledger.Account
    alice: ledger.Account
    bob: ledger.Account
    clock: ledger.Account  # unit "minutes", unbounded
    clock_wallet: ledger.Account  # unit "minutes", lower bound 0, funded 60
    foreign: ledger.Account  # alice's namesake in another community, funded 100
    other: ledger.Community


@pytest.fixture
async def book(conn: Any, community: ledger.Community, issuance: ledger.Account) -> Book:
    alice = await ledger.open_account(conn, community.id, "volunteer:alice")
    bob = await ledger.open_account(conn, community.id, "volunteer:bob")
    await fund(conn, community, issuance, alice, 100)
    await add_unit(conn, community.id, "minutes", "分钟")
    clock = await ledger.open_account(conn, community.id, "timebank", unit="minutes", lower_bound=None)
    clock_wallet = await ledger.open_account(conn, community.id, "volunteer:alice-time", unit="minutes")
    await fund(conn, community, clock, clock_wallet, 60)
    other = await ledger.create_community(conn, new_slug(), "隔壁社区")
    other_issuance = await ledger.open_account(conn, other.id, "issuance", normal_side="debit", lower_bound=None)
    foreign = await ledger.open_account(conn, other.id, "volunteer:alice")
    await fund(conn, other, other_issuance, foreign, 100)
    await db.enter(conn, community.id)  # the ledger writes only in the community its connection is entered in
    return Book(community, issuance, alice, bob, clock, clock_wallet, foreign, other)


async def snapshot(owner: Any, *community_ids: int) -> list[tuple[Any, ...]]:
    """Counts of entries, postings and holds, and every account's balance, held and stripe total.

    Read as the owner: row-level security would hide every community but the connection's own."""
    rows = await owner.fetch(
        """SELECT a.community_id, a.id, a.balance, a.held,
                  (SELECT coalesce(sum(s.balance), 0) FROM ledger.account_stripes s WHERE s.account_id = a.id),
                  (SELECT count(*) FROM ledger.entries e WHERE e.community_id = a.community_id),
                  (SELECT count(*) FROM ledger.postings p WHERE p.community_id = a.community_id),
                  (SELECT count(*) FROM ledger.holds h WHERE h.community_id = a.community_id)
             FROM ledger.accounts a WHERE a.community_id = ANY ($1::bigint[]) ORDER BY a.id""",
        list(community_ids),
    )
    assert {r[0] for r in rows} == set(community_ids), "the snapshot must see every community it compares"
    return [tuple(r) for r in rows]


class NoRoundTrip:
    """A connection that fails the test if it is used: proves a check happened before any database call."""

    async def fetch(self, *_: Any) -> Any:
        raise AssertionError("bad input reached the database")

    fetchrow = fetchval = execute = fetch


def lines(*pairs: tuple[ledger.Account | int, int]) -> tuple[Line, ...]:
    return tuple(Line(a if isinstance(a, int) else a.id, amount) for a, amount in pairs)


def _entry(*pairs: tuple[ledger.Account | int, int], kind: str = "transfer", **kw: Any) -> NewEntry:
    return NewEntry(kind, lines(*pairs), kw.pop("key", f"bad-{uuid.uuid4()}"), **kw)


UNKNOWN_ID = 9_000_000_000_000_000
A, B = "alice", "bob"
# name -> (the postings as (Book attribute or account id, amount), other NewEntry fields,
#          the errors a user may get, a phrase the error must contain, caught in Python before any round trip?)
ENTRY_CASES: dict[str, tuple[tuple[tuple[str | int, int], ...], dict[str, Any], tuple[type, ...], str, bool]] = {
    "unbalanced": (((A, -10), (B, 7)), {}, (errors.InvalidEntry, errors.UnbalancedEntry), "sum to zero", True),
    "zero amount": (((A, 0), (B, 0)), {}, (errors.InvalidEntry,), "must not be zero", True),
    "single posting": (((A, -10),), {}, (errors.InvalidEntry,), "at least two", True),
    "no postings": ((), {}, (errors.InvalidEntry,), "at least two", True),
    "amount beyond the limit": (
        (("issuance", -(10**12 + 1)), (B, 10**12 + 1)), {}, (errors.InvalidEntry,), "beyond", True),
    "duplicate account": (((A, -10), (B, 5), (B, 5)), {}, (errors.InvalidEntry,), "more than once", True),
    "unknown kind": (((A, -10), (B, 10)), {"kind": "gift"}, (errors.InvalidEntry,), "kind must be", True),
    "reversal posted directly": (
        ((A, -10), (B, 10)), {"kind": "reversal"}, (errors.InvalidEntry,), "kind must be", True),
    "memo too long": (((A, -10), (B, 10)), {"memo": "长" * 501}, (errors.InvalidEntry,), "memo", True),
    "empty key": (((A, -10), (B, 10)), {"key": ""}, (errors.InvalidEntry,), "idempotency key", True),
    "key too long": (((A, -10), (B, 10)), {"key": "k" * 129}, (errors.InvalidEntry,), "idempotency key", True),
    "metadata too big": (
        ((A, -10), (B, 10)), {"metadata": {"note": "x" * 5000}}, (errors.InvalidEntry,), "metadata", True),
    "oversize entry": (
        (("issuance", -(MAX_POSTINGS)), *((UNKNOWN_ID + i, 1) for i in range(MAX_POSTINGS))),
        {}, (errors.InvalidEntry,), f"at most {MAX_POSTINGS} postings", True),
    "unknown account": (((A, -10), (UNKNOWN_ID, 10)), {}, (errors.UnknownAccount,), "does not exist", False),
    "another community's account": (
        ((A, -10), ("foreign", 10)), {}, (errors.UnknownAccount,), "does not exist", False),
    "units mixed, sums non-zero per unit": (
        ((A, -10), ("clock", 10)), {}, (errors.UnbalancedEntry,), "sum to zero", False),
    "overdraft": (((B, -1), (A, 1)), {}, (errors.InsufficientBalance,), "available", False),
}  # fmt: skip


def build(b: Book, name: str) -> NewEntry:
    pairs, fields = ENTRY_CASES[name][:2]
    return _entry(*((getattr(b, a) if isinstance(a, str) else a, amount) for a, amount in pairs), **fields)


def said(err: errors.LedgerError) -> str:
    return " | ".join(getattr(err, "problems", [err.message]))


@pytest.mark.parametrize("name", ENTRY_CASES)
async def test_bad_entry_is_refused_and_writes_nothing(owner_conn: Any, conn: Any, book: Book, name: str) -> None:
    """A user posting a bad entry gets a ledger error naming the problem; no point moves anywhere."""
    _, _, expected, phrase, in_python = ENTRY_CASES[name]
    entry = build(book, name)
    if in_python:
        with pytest.raises(expected) as early:
            await ledger.post_entry(NoRoundTrip(), book.community.id, entry)
        assert phrase in said(early.value)
    before = await snapshot(owner_conn, book.community.id, book.other.id)
    with pytest.raises(expected) as info:
        await ledger.post_entry(conn, book.community.id, entry)
    assert phrase in said(info.value)
    assert await snapshot(owner_conn, book.community.id, book.other.id) == before


async def test_two_units_each_balanced_is_fine(conn: Any, book: Book) -> None:
    """Mixing units is not itself an error: an entry balanced in points and in minutes posts."""
    c = book.community.id
    await ledger.post_entry(
        conn, c, _entry((book.alice, -10), (book.bob, 10), (book.clock_wallet, -5), (book.clock, 5))
    )
    assert [(await ledger.balance(conn, c, a.id)).balance for a in (book.alice, book.bob, book.clock_wallet)] == [
        90,
        10,
        55,
    ]


def _sql_args(b: Book, entry: NewEntry) -> list[Any]:
    return [
        b.community.id,
        entry.kind,
        entry.memo,
        entry.metadata_json(),
        entry.actor,
        entry.effective_at,
        entry.idempotency_key,
        [ln.account_id for ln in entry.lines],
        [ln.amount for ln in entry.lines],
    ]


# What the SQL function itself answers when the Python check is bypassed: (SQLSTATE, translated error).
DB_ANSWERS: dict[str, tuple[str, type[errors.LedgerError]]] = {
    "unbalanced": ("LE002", errors.UnbalancedEntry),
    "zero amount": ("LE011", errors.InvalidEntry),
    "single posting": ("LE011", errors.InvalidEntry),
    "no postings": ("LE011", errors.InvalidEntry),
    "amount beyond the limit": ("23514", errors.InvalidEntry),
    "duplicate account": ("LE011", errors.InvalidEntry),
    "unknown kind": ("23514", errors.InvalidEntry),
    "memo too long": ("23514", errors.InvalidEntry),
    "empty key": ("23514", errors.InvalidEntry),
    "key too long": ("23514", errors.InvalidEntry),
    "oversize entry": ("LE011", errors.InvalidEntry),
    "unknown account": ("LE003", errors.UnknownAccount),
    "another community's account": ("LE003", errors.UnknownAccount),
    "units mixed, sums non-zero per unit": ("LE002", errors.UnbalancedEntry),
    "overdraft": ("LE001", errors.InsufficientBalance),
}


@pytest.mark.parametrize("name", DB_ANSWERS)
async def test_database_refuses_the_same_entry_without_python(
    owner_conn: Any, conn: Any, book: Book, name: str
) -> None:
    """A client that skips the Python checks and calls the SQL function gets the same refusal."""
    sqlstate, translated = DB_ANSWERS[name]
    args = _sql_args(book, build(book, name))
    before = await snapshot(owner_conn, book.community.id, book.other.id)
    with pytest.raises(asyncpg.PostgresError) as raw:
        await conn.fetch(_POST, *args)
    assert raw.value.sqlstate == sqlstate, raw.value
    with pytest.raises(translated):
        await db.fetch(conn, _POST, *args)
    assert await snapshot(owner_conn, book.community.id, book.other.id) == before


@pytest.mark.parametrize(
    ("points", "minutes", "unit"),
    [((-10, 8), (-3, 5), "minutes"), ((-10, 10), (-3, 5), "minutes"), ((-10, 8), (-3, 3), "points")],
)
async def test_database_names_the_unit_that_does_not_balance(
    owner_conn: Any, conn: Any, book: Book, points: tuple[int, int], minutes: tuple[int, int], unit: str
) -> None:
    """An entry of two units is checked per unit, even when its amounts sum to zero over both: the refusal names
    the unit whose postings do not (the first by name when both do not), and nothing is written."""
    ids = [book.alice.id, book.bob.id, book.clock.id, book.clock_wallet.id]
    before = await snapshot(owner_conn, book.community.id)
    with pytest.raises(errors.UnbalancedEntry) as refused:
        await db.fetch(conn, _POST, book.community.id, "transfer", "", "{}", None, None, f"units-{uuid.uuid4()}",
                       ids, [*points, *minutes])  # fmt: skip
    assert refused.value.data == {"unit": unit}
    assert await snapshot(owner_conn, book.community.id) == before


@pytest.mark.parametrize(
    ("account_ids", "amounts"),
    [
        ("ab", [-10, 10, 5]),  # arrays of different lengths
        ("ab", [-10, None]),  # a missing amount
        ("ab_", [-10, 10, 5]),  # a missing account id
        ("a", [-10]),
    ],
)
async def test_database_refuses_malformed_arrays(
    owner_conn: Any, conn: Any, book: Book, account_ids: str, amounts: list[Any]
) -> None:
    """Shapes no Python caller can build are refused by the SQL function too, and write nothing."""
    ids = [{"a": book.alice.id, "b": book.bob.id, "_": None}[c] for c in account_ids]
    before = await snapshot(owner_conn, book.community.id)
    with pytest.raises((errors.InvalidEntry, errors.UnbalancedEntry, errors.UnknownAccount)):
        await db.fetch(conn, _POST, book.community.id, "transfer", "", "{}", None, None, "malformed", ids, amounts)
    assert await snapshot(owner_conn, book.community.id) == before


async def test_a_missing_account_id_is_named_at_once(conn: Any, book: Book) -> None:
    """A NULL account id is an unknown account, reported by the call itself, not only at commit."""
    with pytest.raises(errors.UnknownAccount):
        await db.fetch(
            conn,
            _POST,
            book.community.id,
            "transfer",
            "",
            "{}",
            None,
            None,
            "null-account",
            [book.alice.id, book.bob.id, None],
            [-10, 5, 5],
        )


_POST_REVERSAL = (
    "SELECT * FROM ledger.post_entry($1, 'reversal', '', '{}', NULL, NULL, $2, $3::bigint[], $4::bigint[], $5, $6)"
)


async def test_database_books_no_reversal_that_is_not_the_exact_mirror(owner_conn: Any, conn: Any, book: Book) -> None:
    """Calling the SQL function directly, the app role cannot book a "reversal" of other amounts
    (which would also use up the entry's one reversal), nor a reversal-kind entry naming nothing."""
    entry = await ledger.post_entry(
        conn,
        book.community.id,
        ledger.NewEntry("transfer", (ledger.Line(book.alice.id, -10), ledger.Line(book.bob.id, 10)), "to-mirror"),
    )
    before = await snapshot(owner_conn, book.community.id)
    cid = book.community.id
    with pytest.raises(errors.InvalidEntry, match="mirror"):
        await db.fetch(conn, _POST_REVERSAL, cid, "fake-1", [book.alice.id, book.bob.id], [1, -1], entry.id, "x")
    with pytest.raises(errors.InvalidEntry):
        await db.fetch(conn, _POST_REVERSAL, cid, "fake-2", [book.alice.id, book.bob.id], [10, -10], None, None)
    assert await snapshot(owner_conn, book.community.id) == before
    # the entry can still be reversed properly, once
    reversal = await ledger.reverse_entry(conn, cid, entry.id, reason="录错了", idempotency_key="real")
    assert sorted((p.account_id, p.amount) for p in reversal.postings) == sorted(
        [(book.alice.id, 10), (book.bob.id, -10)]
    )


def test_check_entry_reports_every_problem_at_once() -> None:
    """A client fixing a bad request sees all its problems in one answer, not one per attempt."""
    bad = NewEntry("gift", (Line(1, 0), Line(1, 5)), "", memo="m" * 501, actor="a" * 129)
    problems = check_entry(bad)
    for fragment in ("kind must be", "appears more than once", "must not be zero", "sum to zero", "idempotency key"):
        assert any(fragment in p for p in problems), (fragment, problems)
    assert any(p.startswith("memo") for p in problems)
    assert any(p.startswith("actor") for p in problems)
    assert check_entry(NewEntry("award", (Line(1, -5), Line(2, 5)), "k")) == []


async def test_another_communitys_account_looks_exactly_like_a_missing_one(conn: Any, book: Book) -> None:
    """Nobody can probe which account ids exist in other communities: both answers are identical."""

    def shape(err: errors.LedgerError, target: int) -> tuple[Any, ...]:
        data = {k: "N" if v == target else v for k, v in err.data.items()}
        return type(err), err.code, err.message.replace(str(target), "N"), data

    answers: dict[int, list[tuple[Any, ...]]] = {}
    for target in (book.foreign.id, UNKNOWN_ID):
        with pytest.raises(errors.UnknownAccount) as posted:
            await ledger.post_entry(conn, book.community.id, _entry((book.alice, -10), (target, 10)))
        with pytest.raises(errors.UnknownAccount) as held:
            await ledger.place_hold(
                conn, book.community.id, account_id=book.alice.id, counter_account_id=target, amount=5,
                kind="swap", timeout_s=60, idempotency_key=f"h-{uuid.uuid4()}",
            )  # fmt: skip
        with pytest.raises(errors.UnknownAccount) as read:
            await ledger.balance(conn, book.community.id, target)
        answers[target] = [shape(e.value, target) for e in (posted, held, read)]
    assert answers[book.foreign.id] == answers[UNKNOWN_ID]
    expected = (errors.UnknownAccount, "account_not_found", "account N does not exist in this community")
    assert answers[UNKNOWN_ID] == [(*expected, {"account_id": "N"})] * 3


async def test_reused_key_replays_same_request_and_refuses_another(owner_conn: Any, conn: Any, book: Book) -> None:
    """A retried award is booked once; the same key for a different award is a conflict, not a second booking."""
    c = book.community.id
    first = await ledger.post_entry(conn, c, _entry((book.alice, -10), (book.bob, 10), key="k-1", memo="巡逻"))
    after_first = await snapshot(owner_conn, c)
    # Same request (postings listed in another order): the original entry, nothing new.
    again = await ledger.post_entry(conn, c, _entry((book.bob, 10), (book.alice, -10), key="k-1", memo="巡逻"))
    assert (again.id, again.replayed, again.postings) == (first.id, True, first.postings)
    for other in (
        _entry((book.alice, -11), (book.bob, 11), key="k-1", memo="巡逻"),
        _entry((book.alice, -10), (book.bob, 10), key="k-1", memo="调解"),
        _entry((book.alice, -10), (book.bob, 10), key="k-1", memo="巡逻", kind="award"),
        _entry((book.alice, -10), (book.issuance, 10), key="k-1", memo="巡逻"),
    ):
        with pytest.raises(errors.IdempotencyConflict) as info:
            await ledger.post_entry(conn, c, other)
        assert info.value.data["entry_id"] == first.id
    assert await snapshot(owner_conn, c) == after_first
    assert (await ledger.balance(conn, c, book.bob.id)).balance == 10


async def test_hold_with_reused_key_replays_or_conflicts(owner_conn: Any, conn: Any, book: Book) -> None:
    """Retrying a hold reserves once; reusing its key for another amount is refused."""
    c = book.community.id
    args = {"account_id": book.alice.id, "counter_account_id": book.bob.id, "kind": "swap", "timeout_s": 600}
    hold = await ledger.place_hold(conn, c, amount=30, idempotency_key="h-1", **args)
    before = await snapshot(owner_conn, c)
    again = await ledger.place_hold(conn, c, amount=30, idempotency_key="h-1", **args)
    assert (again.id, again.replayed) == (hold.id, True)
    with pytest.raises(errors.IdempotencyConflict):
        await ledger.place_hold(conn, c, amount=31, idempotency_key="h-1", **args)
    assert await snapshot(owner_conn, c) == before
    assert (await ledger.balance(conn, c, book.alice.id)).available == 70


HOLD_CASES: dict[str, tuple[dict[str, Any], type[errors.LedgerError], bool]] = {
    # name -> (place_hold arguments over the defaults, the error, caught by Python before any round trip?)
    "negative amount": ({"amount": -5}, errors.InvalidEntry, True),
    "zero amount": ({"amount": 0}, errors.InvalidEntry, True),
    "zero timeout": ({"timeout_s": 0}, errors.InvalidEntry, True),
    "same account twice": ({"counter_account_id": "alice"}, errors.InvalidEntry, True),
    "unknown kind": ({"kind": "gift"}, errors.InvalidEntry, True),
    "more than available": ({"amount": 101}, errors.InsufficientBalance, False),
    "across units": ({"counter_account_id": "clock"}, errors.UnitMismatch, False),
    "minutes wallet to points": ({"account_id": "clock_wallet"}, errors.UnitMismatch, False),
    "unknown account": ({"counter_account_id": UNKNOWN_ID}, errors.UnknownAccount, False),
    "another community's account": ({"account_id": "foreign"}, errors.UnknownAccount, False),
}


@pytest.mark.parametrize("name", HOLD_CASES)
async def test_bad_hold_is_refused_and_reserves_nothing(owner_conn: Any, conn: Any, book: Book, name: str) -> None:
    """A bad hold request is refused and nothing is reserved on any account."""
    override, expected, in_python = HOLD_CASES[name]
    kw: dict[str, Any] = {
        "account_id": "alice", "counter_account_id": "bob", "amount": 10, "kind": "swap", "timeout_s": 600,
        **override, "idempotency_key": f"h-{uuid.uuid4()}",
    }  # fmt: skip
    for field in ("account_id", "counter_account_id"):
        if isinstance(kw[field], str):
            kw[field] = getattr(book, kw[field]).id
    if in_python:
        with pytest.raises(expected):
            await ledger.place_hold(NoRoundTrip(), book.community.id, **kw)
    before = await snapshot(owner_conn, book.community.id, book.other.id)
    with pytest.raises(expected):
        await ledger.place_hold(conn, book.community.id, **kw)
    assert await snapshot(owner_conn, book.community.id, book.other.id) == before


async def test_bad_hold_amounts_are_refused_by_the_database_too(owner_conn: Any, conn: Any, book: Book) -> None:
    """Calling the SQL functions directly with a non-positive or too-large amount is refused (LE011)."""
    c = book.community.id
    hold = await ledger.place_hold(
        conn, c, account_id=book.alice.id, counter_account_id=book.bob.id, amount=30, kind="swap", timeout_s=600,
        idempotency_key="h-ok",
    )  # fmt: skip
    place = "SELECT * FROM ledger.place_hold($1, $2, $3, $4, 'swap', '', NULL, 600, $5)"
    post = "SELECT * FROM ledger.post_hold($1, $2, $3, NULL, NULL, $4)"
    before = await snapshot(owner_conn, c)
    for sql, args in (
        (place, (c, book.alice.id, book.bob.id, -5, "h-neg")),
        (place, (c, book.alice.id, book.bob.id, 0, "h-zero")),
        (post, (c, hold.id, -5, "p-neg")),
        (post, (c, hold.id, 0, "p-zero")),
        (post, (c, hold.id, 31, "p-more-than-held")),
    ):
        with pytest.raises(asyncpg.PostgresError) as raw:
            await conn.fetch(sql, *args)
        assert raw.value.sqlstate == "LE011", (args, raw.value)
        with pytest.raises(errors.InvalidEntry):
            await db.fetch(conn, sql, *args)
    assert await snapshot(owner_conn, c) == before
    assert (await ledger.balance(conn, c, book.alice.id)).held == 30


async def test_bad_hold_postings_and_reversals_write_nothing(owner_conn: Any, conn: Any, book: Book) -> None:
    """Posting a negative part of a hold, touching another community's hold or entry, or reversing twice: refused."""
    c = book.community.id
    hold = await ledger.place_hold(
        conn, c, account_id=book.alice.id, counter_account_id=book.bob.id, amount=30, kind="swap", timeout_s=600,
        idempotency_key="h-1",
    )  # fmt: skip
    entry = await ledger.post_entry(conn, c, _entry((book.alice, -5), (book.bob, 5), key="e-1"))
    await ledger.reverse_entry(conn, c, entry.id, reason="撤销", idempotency_key="r-1")
    foreign_entry = await conn.fetchval("SELECT max(id) FROM ledger.entries WHERE community_id = $1", book.other.id)
    before = await snapshot(owner_conn, c, book.other.id)
    for amount in (-5, 0):
        with pytest.raises(errors.InvalidEntry):
            await ledger.post_hold(NoRoundTrip(), c, hold.id, idempotency_key=f"p{amount}", amount=amount)
    with pytest.raises(errors.InvalidEntry):  # more than is held: only the database knows
        await ledger.post_hold(conn, c, hold.id, idempotency_key="p-big", amount=31)
    await db.enter(conn, book.other.id)  # as a caller entered in the other community
    with pytest.raises(errors.HoldNotFound):
        await ledger.post_hold(conn, book.other.id, hold.id, idempotency_key="p-x")
    with pytest.raises(errors.HoldNotFound):
        await ledger.void_hold(conn, book.other.id, hold.id)
    await db.enter(conn, c)
    with pytest.raises(errors.AlreadyReversed):
        await ledger.reverse_entry(conn, c, entry.id, reason="再撤销", idempotency_key="r-2")
    with pytest.raises(errors.IdempotencyConflict):  # the key already names the entry itself
        await ledger.reverse_entry(conn, c, entry.id, reason="撤销", idempotency_key="e-1")
    for target in (foreign_entry, UNKNOWN_ID):
        with pytest.raises(errors.EntryNotFound):
            await ledger.reverse_entry(conn, c, target, reason="撤销", idempotency_key=f"r-{target}")
    with pytest.raises(errors.InvalidEntry):
        await ledger.reverse_entry(NoRoundTrip(), c, entry.id, reason="  ", idempotency_key="r-3")
    assert await snapshot(owner_conn, c, book.other.id) == before
    assert (await ledger.balance(conn, c, book.alice.id)).held == 30
