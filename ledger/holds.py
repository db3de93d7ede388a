"""Two-phase transfers: reserve now, post (whole or part) or void later, or let it expire.

A hold on a bounded account adds to the account's ``held`` amount, which its
lower bound also covers (``balance - held >= lower_bound``), so reserved
points cannot be spent twice. Expired holds are released lazily: whenever a
posting locks the account, and by :func:`expire_holds` (``points`` runs it
periodically, as the scheduled job expire_lapsed_holds: points/jobs/).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ledger import db
from ledger.errors import InvalidEntry
from ledger.model import (
    MAX_ACTOR_CHARS,
    MAX_AMOUNT,
    MAX_HOLD_TIMEOUT_S,
    MAX_MEMO_CHARS,
    POSTABLE_KINDS,
    PostedEntry,
    check_id,
    check_key,
    check_text,
    refuse,
)
from ledger.posting import posted_entry_from_rows

_HOLD_COLUMNS = (
    "(r.hold).id, (r.hold).account_id, (r.hold).counter_account_id, (r.hold).unit, (r.hold).amount, "
    "(r.hold).kind, (r.hold).memo, (r.hold).status, (r.hold).posted_amount, (r.hold).entry_id, "
    "(r.hold).created_at, (r.hold).expires_at, (r.hold).resolved_at"
)


@dataclass(frozen=True, slots=True)
class Hold:
    id: int
    account_id: int  # the account points are reserved on (and taken from when posted)
    counter_account_id: int  # the account they go to
    unit: str
    amount: int
    kind: str
    memo: str
    status: str  # active | posted | voided | expired
    posted_amount: int | None
    entry_id: int | None
    created_at: datetime
    expires_at: datetime
    resolved_at: datetime | None
    replayed: bool = False


def _hold(row: Any, replayed: bool = False) -> Hold:
    return Hold(
        id=row["id"],
        account_id=row["account_id"],
        counter_account_id=row["counter_account_id"],
        unit=row["unit"],
        amount=row["amount"],
        kind=row["kind"],
        memo=row["memo"],
        status=row["status"],
        posted_amount=row["posted_amount"],
        entry_id=row["entry_id"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        resolved_at=row["resolved_at"],
        replayed=replayed,
    )


async def place_hold(
    conn: db.Connection,
    community_id: int,
    *,
    account_id: int,
    counter_account_id: int,
    amount: int,
    kind: str,
    timeout_s: int,
    idempotency_key: str,
    memo: str = "",
    actor: str | None = None,
) -> Hold:
    problems = check_id("account_id", account_id) + check_id("counter_account_id", counter_account_id)
    problems += check_key(idempotency_key) + check_text("memo", memo, MAX_MEMO_CHARS)
    problems += check_text("actor", actor, MAX_ACTOR_CHARS)
    if not 0 < amount <= MAX_AMOUNT:
        problems.append(f"a hold amount must be between 1 and {MAX_AMOUNT}")
    if not 0 < timeout_s <= MAX_HOLD_TIMEOUT_S:
        problems.append(f"a hold timeout must be between 1 and {MAX_HOLD_TIMEOUT_S} seconds")
    if kind not in POSTABLE_KINDS:
        problems.append(f"kind must be one of {', '.join(sorted(POSTABLE_KINDS))}")
    if account_id == counter_account_id:
        problems.append("a hold needs two different accounts")
    if problems:
        raise InvalidEntry(problems[0], problems)
    db.require_tenant(conn, community_id)
    row = await db.fetchrow(
        conn,
        f"SELECT r.replayed, {_HOLD_COLUMNS} FROM ledger.place_hold($1, $2, $3, $4, $5, $6, $7, $8, $9) r",
        community_id,
        account_id,
        counter_account_id,
        amount,
        kind,
        memo,
        actor,
        timeout_s,
        idempotency_key,
    )
    return _hold(row, replayed=row["replayed"])


async def post_hold(
    conn: db.Connection,
    community_id: int,
    hold_id: int,
    *,
    idempotency_key: str,
    amount: int | None = None,
    memo: str | None = None,
    actor: str | None = None,
) -> PostedEntry:
    """Post ``amount`` (default: all) of the hold; the rest is released."""
    problems = check_id("hold_id", hold_id) + check_key(idempotency_key) + check_text("memo", memo, MAX_MEMO_CHARS)
    problems += check_text("actor", actor, MAX_ACTOR_CHARS)
    if amount is not None and not 0 < amount <= MAX_AMOUNT:
        problems.append(f"the amount to post must be between 1 and {MAX_AMOUNT}")
    if problems:
        raise InvalidEntry(problems[0], problems)
    db.require_tenant(conn, community_id)
    rows = await db.fetch(
        conn,
        "SELECT * FROM ledger.post_hold($1, $2, $3, $4, $5, $6)",
        community_id,
        hold_id,
        amount,
        memo,
        actor,
        idempotency_key,
    )
    return posted_entry_from_rows(rows)


async def void_hold(conn: db.Connection, community_id: int, hold_id: int) -> Hold:
    """Release the hold. Voiding a hold that is already voided or expired changes nothing."""
    refuse(check_id("hold_id", hold_id))
    db.require_tenant(conn, community_id)
    row = await db.fetchrow(
        conn, f"SELECT r.replayed, {_HOLD_COLUMNS} FROM ledger.void_hold($1, $2) r", community_id, hold_id
    )
    return _hold(row, replayed=row["replayed"])


async def get_hold(conn: db.Connection, community_id: int, hold_id: int) -> Hold | None:
    refuse(check_id("hold_id", hold_id))
    await db.enter(conn, community_id)
    row = await db.fetchrow(
        conn,
        "SELECT h.*, (h.status = 'active' AND h.expires_at <= now()) AS lapsed FROM ledger.holds h "
        "WHERE h.id = $1 AND h.community_id = $2",
        hold_id,
        community_id,
    )
    if row is None:
        return None
    hold = _hold(row)
    if row["lapsed"]:  # past its timeout but not swept yet: it no longer reserves anything
        return replace(hold, status="expired")
    return hold


async def expire_holds(conn: db.Connection, community_id: int) -> int:
    """Mark every lapsed hold of the community expired and release what it reserved; returns how many."""
    db.require_tenant(conn, community_id)
    count: int = await conn.fetchval("SELECT ledger.expire_holds($1)", community_id)
    return count
