"""Budgets: the admin allots points per period (a month, a quarter or a year) by a ledger entry from the
community's issuance account to the period's budget account; awards draw on the budget whose period holds their
day, and a budget spent is an award refused, saying how much is left.

The budget account has a lower bound of 0, so the ledger itself refuses to overspend it, and it locks the
account for each award: two organizers awarding at once never spend the same points twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import asyncpg

import ledger
from points.auth.errors import InvalidRequest
from points.earning.errors import BudgetOverlap, NoBudget, translated
from points.earning.periods import Period, parse_period
from points.field_problems import field_problem

MAX_ALLOTMENT = 10_000_000
ISSUANCE = "issuance"


@dataclass(frozen=True, slots=True)
class Budget:
    id: int
    period: str
    starts_on: date
    ends_on: date
    account_id: int
    allotted: int  # every budget entry into it
    spent: int  # every award out of it, net of corrections
    left: int  # what a new award may still take: the balance less what is held
    held: int = 0  # held for awards in their 公示 window (points/publication/): spent once they settle


_SELECT = """
SELECT b.id, b.period, b.starts_on, b.ends_on, b.account_id, a.balance, a.held,
       coalesce((SELECT sum(p.amount) FROM ledger.postings p JOIN ledger.entries e ON e.id = p.entry_id
                  WHERE p.account_id = b.account_id AND e.kind = 'budget'), 0) AS allotted
  FROM points.budgets b JOIN ledger.accounts a ON a.id = b.account_id
"""


def _budget(row: asyncpg.Record) -> Budget:
    allotted = int(row["allotted"])
    return Budget(
        row["id"], row["period"], row["starts_on"], row["ends_on"], row["account_id"], allotted,
        allotted - row["balance"], row["balance"] - row["held"], row["held"],
    )  # fmt: skip


def period_of(name: str) -> Period:
    period = parse_period(name)
    if period is None:
        raise InvalidRequest(
            "a period is a month (2026-12), a quarter (2026-Q4) or a year (2026)",
            errors=[field_problem("period", "malformed", pattern="YYYY-MM | YYYY-Qn | YYYY")],
        )
    return period


async def list_budgets(conn: ledger.Connection, community_id: int) -> list[Budget]:
    await ledger.enter(conn, community_id)
    rows = await conn.fetch(_SELECT + " WHERE b.community_id = $1 ORDER BY b.starts_on DESC", community_id)
    return [_budget(r) for r in rows]


async def budget_on(conn: ledger.Connection, community_id: int, day: date) -> Budget:
    """The budget whose period holds ``day`` (budgets never overlap, migration 0008)."""
    await ledger.enter(conn, community_id)
    row = await conn.fetchrow(
        _SELECT + " WHERE b.community_id = $1 AND b.starts_on <= $2 AND $2 < b.ends_on", community_id, day
    )
    if row is None:
        raise NoBudget(f"no budget covers {day.isoformat()}: the admin allots one for its period first", day=day)
    return _budget(row)


async def _issuance(conn: ledger.Connection, community_id: int) -> ledger.Account:
    found = await ledger.find_account(conn, community_id, ISSUANCE)
    if found is not None:
        return found
    return await ledger.open_account(
        conn, community_id, ISSUANCE, name="积分发行", normal_side="debit", lower_bound=None
    )


async def allot(
    conn: ledger.Connection, community_id: int, period_name: str, points: int, *, idempotency_key: str, actor: str
) -> Budget:
    """Add ``points`` to the period's budget, opening it on first use. A retry with the same key adds once."""
    period = period_of(period_name)
    if not 1 <= points <= MAX_ALLOTMENT:
        raise InvalidRequest(
            f"points is 1 to {MAX_ALLOTMENT}", errors=[field_problem("points", "too_large", max=MAX_ALLOTMENT)]
        )
    async with ledger.transaction(conn):
        await ledger.enter(conn, community_id)
        account_id = await conn.fetchval(
            "SELECT account_id FROM points.budgets WHERE community_id = $1 AND period = $2",
            community_id,
            period.name,
        )
        if account_id is None:
            account_id = await _open(conn, community_id, period)
        issuance = await _issuance(conn, community_id)
        await ledger.post_entry(
            conn,
            community_id,
            ledger.NewEntry(
                "budget",
                (ledger.Line(issuance.id, -points), ledger.Line(account_id, points)),
                idempotency_key,
                memo=f"{period.name} 积分预算",
                actor=actor,
                metadata={"period": period.name},
            ),
        )
        row = await conn.fetchrow(_SELECT + " WHERE b.account_id = $1", account_id)
    return _budget(row)


async def _open(conn: ledger.Connection, community_id: int, period: Period) -> int:
    overlapping = await conn.fetchval(
        "SELECT period FROM points.budgets WHERE community_id = $1 AND starts_on < $3 AND $2 < ends_on",
        community_id,
        period.starts_on,
        period.ends_on,
    )
    if overlapping is not None:
        raise BudgetOverlap(
            f"the budget {overlapping} already covers part of {period.name}: top it up instead",
            overlapping=overlapping,
        )
    code = f"budget:{period.name}"
    # An account of that code opened by hand before budgets existed (as older demo data did) becomes the budget.
    account = await ledger.find_account(conn, community_id, code) or await ledger.open_account(
        conn, community_id, code, name=f"{period.name} 积分预算", normal_side="credit", lower_bound=0
    )
    async with translated():
        await conn.execute(
            "INSERT INTO points.budgets (community_id, period, starts_on, ends_on, account_id)"
            " VALUES ($1, $2, $3, $4, $5)",
            community_id,
            period.name,
            period.starts_on,
            period.ends_on,
            account.id,
        )
    return account.id
