"""Points expiry: the community's setting, what a member has expiring, the month's expired points, and the job.

Every rule is PostgreSQL's too (migration 0015): the job's one function computes the lots under the wallet's row
lock and posts the expiry entries; this module reads the same lots (``points.expiry_lots``) for what is coming.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import ledger
from points.auth.errors import InvalidRequest
from points.expiry.model import COMMUNITY_TIME, MAX_MONTHS, MODES, reset_day_exists
from points.field_problems import field_problem

UPCOMING_WEEKS = 8
MAX_WEEKS = 52
STATEMENT_MONTHS = 12


@dataclass(frozen=True, slots=True)
class Settings:
    mode: str  # off | months | yearly
    months: int | None
    reset_on: str | None  # MM-DD, community time: points earned up to that day expire at its end
    since: datetime | None  # earnings before this count as earned then


@dataclass(frozen=True, slots=True)
class Upcoming:
    points: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class MonthExpired:
    month: str  # 2026-12, community time
    points: int


OFF = Settings("off", None, None, None)


def _reset_on(month: int | None, day: int | None) -> str | None:
    return None if month is None or day is None else f"{month:02d}-{day:02d}"


async def get_settings(conn: ledger.Connection, community_id: int) -> Settings:
    await ledger.enter(conn, community_id)
    row = await conn.fetchrow(
        "SELECT mode, months, reset_month, reset_day, since FROM points.expiry_settings WHERE community_id = $1",
        community_id,
    )
    if row is None:
        return OFF
    return Settings(row["mode"], row["months"], _reset_on(row["reset_month"], row["reset_day"]), row["since"])


def checked(mode: str, months: int | None, reset_on: str | None) -> tuple[int | None, int | None, int | None]:
    """(months, reset month, reset day) of a valid setting, or InvalidRequest naming every field that is wrong."""
    problems = []
    if mode not in MODES:
        problems.append(field_problem("mode", "not_one_of", allowed=", ".join(MODES), value=mode))
    if mode == "months":
        if months is None:
            problems.append(field_problem("months", "required"))
        elif not 1 <= months <= MAX_MONTHS:
            problems.append(
                field_problem("months", "too_large", max=MAX_MONTHS)
                if months > MAX_MONTHS
                else field_problem("months", "too_small", min=1)
            )
    elif months is not None:
        problems.append(field_problem("months", "invalid", message="months is only for the mode months"))
    month = day = None
    if mode == "yearly":
        if reset_on is None:
            problems.append(field_problem("reset_on", "required"))
        else:
            parts = reset_on.split("-")
            ok = len(parts) == 2 and all(p.isascii() and p.isdigit() and len(p) == 2 for p in parts)
            if ok and reset_day_exists(int(parts[0]), int(parts[1])):
                month, day = int(parts[0]), int(parts[1])
            else:
                words = "reset_on is a day every year has, as MM-DD: 12-31 (not 02-29)"
                problems.append(field_problem("reset_on", "invalid", message=words))
    elif reset_on is not None:
        problems.append(field_problem("reset_on", "invalid", message="reset_on is only for the mode yearly"))
    if problems:
        words = "; ".join(p["message"] for p in problems)
        raise InvalidRequest(f"the expiry setting is not valid: {words}", errors=problems)
    return (months if mode == "months" else None), month, day


async def set_settings(
    conn: ledger.Connection, community_id: int, mode: str, months: int | None = None, reset_on: str | None = None
) -> Settings:
    """One statement. Switching expiry on (from off) starts ``since`` now: earnings before it count as earned now,
    so nobody's old points vanish the minute it is switched on; changing a setting that is on keeps ``since``."""
    months, month, day = checked(mode, months, reset_on)
    await ledger.enter(conn, community_id)
    row = await conn.fetchrow(
        "INSERT INTO points.expiry_settings AS s (community_id, mode, months, reset_month, reset_day)"
        " VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (community_id) DO UPDATE SET mode = EXCLUDED.mode, months = EXCLUDED.months,"
        " reset_month = EXCLUDED.reset_month, reset_day = EXCLUDED.reset_day, updated_at = now(),"
        " since = CASE WHEN s.mode = 'off' THEN now() ELSE s.since END"
        " RETURNING mode, months, reset_month, reset_day, since",
        community_id,
        mode,
        months,
        month,
        day,
    )
    return Settings(row["mode"], row["months"], _reset_on(row["reset_month"], row["reset_day"]), row["since"])


async def upcoming(
    conn: ledger.Connection, community_id: int, wallet_account_id: int, *, weeks: int = UPCOMING_WEEKS
) -> list[Upcoming]:
    """What is left of the member's lots that expire within ``weeks``, per expiry time, soonest first. What then
    expires is at most what is available at that moment (held points wait)."""
    if not 1 <= weeks <= MAX_WEEKS:
        raise InvalidRequest(f"weeks is 1 to {MAX_WEEKS}", errors=[field_problem("weeks", "too_large", max=MAX_WEEKS)])
    await ledger.enter(conn, community_id)
    now = datetime.now(UTC)
    rows = await conn.fetch(
        "SELECT expires_at, sum(left_points)::bigint AS points FROM points.expiry_lots($1)"
        " WHERE left_points > 0 AND expires_at IS NOT NULL AND expires_at <= $2"
        " GROUP BY expires_at ORDER BY expires_at",
        wallet_account_id,
        now + timedelta(weeks=weeks),
    )
    # A lot already due (the job runs within the minute) shows as due now rather than in the past.
    return [Upcoming(r["points"], max(r["expires_at"], now)) for r in rows]


async def expired_by_month(
    conn: ledger.Connection, community_id: int, member_id: int, *, months: int = STATEMENT_MONTHS
) -> list[MonthExpired]:
    """The member's statement line: points expired per month (community time), newest first, months with none
    left out."""
    await ledger.enter(conn, community_id)
    rows = await conn.fetch(
        "SELECT to_char(e.effective_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') AS month,"
        " sum(x.points)::bigint AS points"
        " FROM points.expiries x JOIN ledger.entries e ON e.id = x.entry_id"
        " WHERE x.community_id = $1 AND x.member_id = $2"
        " GROUP BY 1 ORDER BY 1 DESC LIMIT $3",
        community_id,
        member_id,
        months,
    )
    return [MonthExpired(r["month"], r["points"]) for r in rows]


async def expire_due(conn: ledger.Connection, community_id: int) -> int:
    """Post every expiry due now in one community, in one transaction; returns the points expired."""
    async with ledger.transaction(conn):
        await ledger.enter(conn, community_id)
        rows = await conn.fetch("SELECT points FROM points.expire_due_points($1)", community_id)
    return sum(int(r["points"]) for r in rows)


def local_month(at: datetime) -> str:
    return at.astimezone(COMMUNITY_TIME).strftime("%Y-%m")
