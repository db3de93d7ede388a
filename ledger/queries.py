"""Reads: balances (O(1)), balance as of a time, history with running balances, trial balance.

A bounded account's balance is its row; an unbounded one's is the sum of at
most 16 stripe rows. Either way a balance read touches a constant number of
rows however many postings the account has.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledger import db
from ledger.accounts import Account, account_from_row
from ledger.errors import EntryNotFound, InvalidEntry, UnknownAccount
from ledger.model import MAX_ID, check_id, check_time, refuse

MAX_PAGE = 200
DEFAULT_PAGE = 50

_IS_BOUNDED = "(a.lower_bound IS NOT NULL OR a.upper_bound IS NOT NULL)"
_CURRENT_BALANCE = f"""CASE WHEN {_IS_BOUNDED} THEN a.balance ELSE
    (SELECT coalesce(sum(s.balance), 0) FROM ledger.account_stripes s WHERE s.account_id = a.id)::bigint END"""
# Lapsed holds may not be swept yet; they no longer reserve anything, so they are not counted.
_HELD_NOW = """(SELECT coalesce(sum(h.amount), 0) FROM ledger.holds h
    WHERE h.account_id = a.id AND h.status = 'active' AND h.expires_at > now())::bigint"""


@dataclass(frozen=True, slots=True)
class Balance:
    account: Account
    balance: int
    held: int

    @property
    def available(self) -> int:
        """What can still be spent: balance minus holds, above the lower bound if there is one."""
        return self.balance - self.held - (self.account.lower_bound or 0)


@dataclass(frozen=True, slots=True)
class HistoryLine:
    posting_id: int
    entry_id: int
    amount: int
    balance_after: int
    posted_at: datetime
    effective_at: datetime
    kind: str
    memo: str
    actor: str | None
    reverses_entry_id: int | None


@dataclass(frozen=True, slots=True)
class HistoryPage:
    lines: list[HistoryLine]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class EntryView:
    id: int
    kind: str
    memo: str
    metadata: str  # JSON text, as stored
    actor: str | None
    effective_at: datetime
    posted_at: datetime
    idempotency_key: str
    reverses_entry_id: int | None
    reversal_reason: str | None
    reversed_by_entry_id: int | None
    postings: list[tuple[int, int, int, int | None]]  # (posting_id, account_id, amount, balance_after)


async def balance(conn: db.Connection, community_id: int, account_id: int) -> Balance:
    refuse(check_id("account_id", account_id))
    await db.enter(conn, community_id)
    row = await conn.fetchrow(
        f"SELECT a.*, {_CURRENT_BALANCE} AS current_balance, {_HELD_NOW} AS held_now "
        "FROM ledger.accounts a WHERE a.id = $1 AND a.community_id = $2",
        account_id,
        community_id,
    )
    if row is None:
        raise UnknownAccount(f"account {account_id} does not exist in this community", account_id=account_id)
    return Balance(account_from_row(row), row["current_balance"], row["held_now"])


async def balances(
    conn: db.Connection, community_id: int, *, after_id: int = 0, limit: int = DEFAULT_PAGE
) -> list[Balance]:
    """Accounts of the community with their balances, by id (keyset: pass the last id seen)."""
    if not 0 <= after_id <= MAX_ID:
        refuse([f"after must be an account id (0 to {MAX_ID})"])
    await db.enter(conn, community_id)
    rows = await conn.fetch(
        f"SELECT a.*, {_CURRENT_BALANCE} AS current_balance, {_HELD_NOW} AS held_now "
        "FROM ledger.accounts a WHERE a.community_id = $1 AND a.id > $2 ORDER BY a.id LIMIT $3",
        community_id,
        after_id,
        _page_size(limit),
    )
    return [Balance(account_from_row(r), r["current_balance"], r["held_now"]) for r in rows]


async def balance_as_of(conn: db.Connection, community_id: int, account_id: int, at: datetime) -> int:
    """The balance counting the postings made at or before ``at``.

    A bounded account's postings are written under its row lock, so their
    timestamps rise with their ids and the last one's running balance answers.
    An unbounded account sums its postings up to then.
    """
    refuse(check_time("at", at))
    account = (await balance(conn, community_id, account_id)).account
    if account.bounds.bounded:
        value = await conn.fetchval(
            "SELECT balance_after FROM ledger.postings WHERE account_id = $1 AND posted_at <= $2 "
            "ORDER BY id DESC LIMIT 1",
            account_id,
            at,
        )
    else:
        value = await conn.fetchval(
            "SELECT sum(amount) FROM ledger.postings WHERE account_id = $1 AND posted_at <= $2", account_id, at
        )
    return int(value or 0)


def _page_size(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidEntry(f"limit must be between 1 and {MAX_PAGE}")
    return limit


# A cursor names its account and carries a check digest, so that a damaged cursor (a character lost
# in copying) or one kept while switching accounts is refused instead of paging on from the wrong
# place with wrong running balances. The digest is not a secret: a forged cursor can only show its
# maker wrong running balances of an account they may read anyway.
_CURSOR = struct.Struct(">qqq")  # account id, posting id, balance before that posting
_CURSOR_CHECK = 8


def _cursor_check(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=_CURSOR_CHECK, person=b"linli-cursor").digest()


def encode_cursor(account_id: int, posting_id: int, balance_before: int) -> str:
    payload = _CURSOR.pack(account_id, posting_id, balance_before)
    return base64.urlsafe_b64encode(payload + _cursor_check(payload)).decode().rstrip("=")


def decode_cursor(cursor: str, account_id: int) -> tuple[int, int]:
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
    except (ValueError, binascii.Error) as exc:
        raise InvalidEntry("the cursor is not one this server gave out") from exc
    payload, check = raw[: _CURSOR.size], raw[_CURSOR.size :]
    # Base64 leaves spare bits in the last character, so two spellings can decode alike: only the one we
    # gave out is accepted.
    canonical = base64.urlsafe_b64encode(raw).decode().rstrip("=") == cursor
    if (
        not canonical
        or len(raw) != _CURSOR.size + _CURSOR_CHECK
        or not hmac.compare_digest(check, _cursor_check(payload))
    ):
        raise InvalidEntry("the cursor is not one this server gave out")
    cursor_account, posting_id, balance_before = _CURSOR.unpack(payload)
    if cursor_account != account_id:
        raise InvalidEntry("the cursor belongs to another account's history")
    return posting_id, balance_before


_HISTORY = """
WITH page AS (
    SELECT p.id, p.entry_id, p.amount, p.balance_after, p.posted_at,
           e.effective_at, e.kind, e.memo, e.actor, e.reverses_entry_id
      FROM ledger.postings p JOIN ledger.entries e ON e.id = p.entry_id
     WHERE p.account_id = $1 AND p.id < $2
     ORDER BY p.id DESC LIMIT $3)
SELECT page.*,
       coalesce($4::bigint, (SELECT coalesce(sum(s.balance), 0) FROM ledger.account_stripes s
                               WHERE s.account_id = $1)::bigint)
       - coalesce(sum(page.amount) OVER (ORDER BY page.id DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
         ::bigint AS derived_balance_after
  FROM page ORDER BY page.id DESC
"""


async def history(
    conn: db.Connection, community_id: int, account_id: int, *, cursor: str | None = None, limit: int = DEFAULT_PAGE
) -> HistoryPage:
    """Newest first, ``limit`` lines a page, each with the balance right after it.

    Bounded accounts store that running balance on each posting. For an
    unbounded (hot) account it is derived: the first page counts back from the
    current balance read in the same statement, later pages from the balance
    the cursor carries.
    """
    size = _page_size(limit)
    account = (await balance(conn, community_id, account_id)).account
    before_id, start_balance = decode_cursor(cursor, account_id) if cursor else (MAX_ID, None)
    rows = await conn.fetch(
        _HISTORY, account_id, before_id, size + 1, None if account.bounds.bounded else start_balance
    )
    lines = [_history_line(r, account.bounds.bounded) for r in rows[:size]]
    next_cursor = None
    if len(rows) > size:
        last = lines[-1]
        next_cursor = encode_cursor(account_id, last.posting_id, last.balance_after - last.amount)
    return HistoryPage(lines, next_cursor)


def _history_line(row: Any, bounded: bool) -> HistoryLine:
    return HistoryLine(
        posting_id=row["id"],
        entry_id=row["entry_id"],
        amount=row["amount"],
        balance_after=row["balance_after"] if bounded else row["derived_balance_after"],
        posted_at=row["posted_at"],
        effective_at=row["effective_at"],
        kind=row["kind"],
        memo=row["memo"],
        actor=row["actor"],
        reverses_entry_id=row["reverses_entry_id"],
    )


@dataclass(frozen=True, slots=True)
class TrialBalanceLine:
    unit: str
    debits: int  # sum of the negative balances, as a positive number
    credits: int  # sum of the positive balances
    accounts: int

    @property
    def total(self) -> int:
        return self.credits - self.debits


async def trial_balance(conn: db.Connection, community_id: int) -> list[TrialBalanceLine]:
    """Per unit, the sum of every account's stored balance. It must be zero; `points verify` checks
    the stored balances themselves against the postings."""
    await db.enter(conn, community_id)
    rows = await conn.fetch(
        f"""SELECT a.unit,
                   coalesce(sum(-b.bal) FILTER (WHERE b.bal < 0), 0)::bigint AS debits,
                   coalesce(sum(b.bal) FILTER (WHERE b.bal > 0), 0)::bigint AS credits,
                   count(*) AS accounts
              FROM ledger.accounts a
              CROSS JOIN LATERAL (SELECT {_CURRENT_BALANCE} AS bal) b
             WHERE a.community_id = $1
             GROUP BY a.unit ORDER BY a.unit""",
        community_id,
    )
    return [TrialBalanceLine(r["unit"], r["debits"], r["credits"], r["accounts"]) for r in rows]


async def get_entry(conn: db.Connection, community_id: int, entry_id: int) -> EntryView:
    refuse(check_id("entry_id", entry_id))
    await db.enter(conn, community_id)
    row = await conn.fetchrow(
        """SELECT e.*, e.metadata::text AS metadata_text, r.id AS reversed_by,
                  (SELECT array_agg(ARRAY[p.id, p.account_id, p.amount, p.balance_after] ORDER BY p.id)
                     FROM ledger.postings p WHERE p.entry_id = e.id) AS postings
             FROM ledger.entries e LEFT JOIN ledger.entries r ON r.reverses_entry_id = e.id
            WHERE e.id = $1 AND e.community_id = $2""",
        entry_id,
        community_id,
    )
    if row is None:
        raise EntryNotFound(f"entry {entry_id} does not exist in this community", entry_id=entry_id)
    return EntryView(
        id=row["id"],
        kind=row["kind"],
        memo=row["memo"],
        metadata=row["metadata_text"],  # text whatever JSON codec the connection has
        actor=row["actor"],
        effective_at=row["effective_at"],
        posted_at=row["posted_at"],
        idempotency_key=row["idempotency_key"],
        reverses_entry_id=row["reverses_entry_id"],
        reversal_reason=row["reversal_reason"],
        reversed_by_entry_id=row["reversed_by"],
        postings=[(p[0], p[1], p[2], p[3]) for p in row["postings"]],
    )
