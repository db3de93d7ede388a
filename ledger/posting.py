"""Posting and reversing entries: one database round trip each.

Both call a SQL function (migration 0001) that claims the idempotency key,
checks the accounts, locks only the bounded ones in id order, checks bounds,
and writes postings and balances in one statement. Python checks the shape of
the entry first, so malformed input never reaches the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ledger import db
from ledger.errors import InvalidEntry
from ledger.model import (
    MAX_ACTOR_CHARS,
    MAX_MEMO_CHARS,
    MAX_REASON_CHARS,
    Line,
    NewEntry,
    PostedEntry,
    Posting,
    check_id,
    check_key,
    check_text,
    require_valid,
)

_POST = "SELECT * FROM ledger.post_entry($1, $2, $3, $4::jsonb, $5, $6, $7, $8::bigint[], $9::bigint[])"
_REVERSE = "SELECT * FROM ledger.reverse_entry($1, $2, $3, $4, $5, $6)"


def canonical_lines(lines: Sequence[Line]) -> tuple[Line, ...]:
    """Postings in account order: a retry that lists them in another order is the same request."""
    return tuple(sorted(lines, key=lambda line: line.account_id))


async def post_entry(conn: db.Connection, community_id: int, entry: NewEntry) -> PostedEntry:
    require_valid(entry)
    db.require_tenant(conn, community_id)
    lines = canonical_lines(entry.lines)
    rows = await db.fetch(
        conn,
        _POST,
        community_id,
        entry.kind,
        entry.memo,
        entry.metadata_json(),
        entry.actor,
        entry.effective_at,
        entry.idempotency_key,
        [line.account_id for line in lines],
        [line.amount for line in lines],
    )
    return posted_entry_from_rows(rows)


async def reverse_entry(
    conn: db.Connection,
    community_id: int,
    entry_id: int,
    *,
    reason: str,
    idempotency_key: str,
    actor: str | None = None,
    memo: str | None = None,
) -> PostedEntry:
    """Post the mirror of ``entry_id`` once; a second reversal raises AlreadyReversed."""
    problems = check_id("entry_id", entry_id) + check_key(idempotency_key)
    if not reason.strip():
        problems.append("a reversal needs a reason")
    problems += check_text("reason", reason, MAX_REASON_CHARS)
    problems += check_text("memo", memo, MAX_MEMO_CHARS)
    problems += check_text("actor", actor, MAX_ACTOR_CHARS)
    if problems:
        raise InvalidEntry(problems[0], problems)
    db.require_tenant(conn, community_id)
    rows = await db.fetch(conn, _REVERSE, community_id, entry_id, reason, actor, idempotency_key, memo)
    return posted_entry_from_rows(rows)


def posted_entry_from_rows(rows: Sequence[Any]) -> PostedEntry:
    if not rows:  # the SQL functions always return the postings; anything else is a bug to surface
        raise RuntimeError("the posting function returned no postings")
    first = rows[0]
    return PostedEntry(
        id=first["entry_id"],
        replayed=first["replayed"],
        posted_at=first["posted_at"],
        effective_at=first["effective_at"],
        postings=tuple(
            Posting(
                id=r["posting_id"], account_id=r["account_id"], amount=r["amount"], balance_after=r["balance_after"]
            )
            for r in rows
        ),
    )
