"""The expiry rule as plain Python: when a lot expires, and what is left of each lot first in, first out.

PostgreSQL computes the same (``points.lot_expires_at`` and ``points.expiry_lots``, migration 0015) and is what the
job posts from; this model is what the tests hold it to (tests/test_expiry_model.py) and what the docs explain.

A member's lots are the credits of their wallet. An award's lot (an earning) expires; any other credit (a
supermarket return, a transfer) is new money that never expires. The queue is the earnings in the order earned,
then the other credits in theirs. Everything ever taken from the wallet — spending, a correction, an earlier
expiry — is taken from the front of the queue, so what is left of lot i is
``min(amount_i, max(0, credits through i - everything taken))``. What is due is always the front of the queue
(earnings expire in the order earned), so an expiry takes exactly what was due.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

COMMUNITY_TIME = ZoneInfo("Asia/Shanghai")
MODES = ("off", "months", "yearly")
MAX_MONTHS = 120


@dataclass(frozen=True, slots=True)
class Rule:
    mode: str  # off | months | yearly
    months: int | None = None
    reset_month: int | None = None
    reset_day: int | None = None
    since: datetime | None = None  # earnings before it count as earned then (switching on expires nothing at once)


@dataclass(frozen=True, slots=True)
class Credit:
    earned_at: datetime
    amount: int
    earning: bool  # an award's credit: it expires


@dataclass(frozen=True, slots=True)
class Lot:
    earned_at: datetime
    amount: int
    left: int
    expires_at: datetime | None


def add_months(local: datetime, months: int) -> datetime:
    """The same wall-clock time ``months`` on; a day the month lacks becomes its last (as PostgreSQL does)."""
    total = local.year * 12 + (local.month - 1) + months
    year, month = divmod(total, 12)
    day = min(local.day, calendar.monthrange(year, month + 1)[1])
    return local.replace(year=year, month=month + 1, day=day)


def reset_day_exists(month: int, day: int) -> bool:
    """A reset day every year has: 02-29 is not one."""
    return 1 <= month <= 12 and 1 <= day <= calendar.monthrange(2001, month)[1]


def lot_expires_at(earned_at: datetime, rule: Rule) -> datetime | None:
    if rule.since is not None:
        earned_at = max(earned_at, rule.since)
    local = earned_at.astimezone(COMMUNITY_TIME).replace(tzinfo=None)
    if rule.mode == "months" and rule.months is not None:
        return add_months(local, rule.months).replace(tzinfo=COMMUNITY_TIME)
    if rule.mode == "yearly" and rule.reset_month is not None and rule.reset_day is not None:
        reset = date(local.year, rule.reset_month, rule.reset_day)
        if local.date() > reset:
            reset = date(local.year + 1, rule.reset_month, rule.reset_day)
        return datetime.combine(reset + timedelta(days=1), time(), COMMUNITY_TIME)
    return None


def lots(credits: Sequence[Credit], balance: int, rule: Rule) -> list[Lot]:
    """Each credit with what is left of it, in the queue's order: earnings oldest first, then the other credits."""
    ordered = sorted(enumerate(credits), key=lambda pair: (not pair[1].earning, pair[1].earned_at, pair[0]))
    taken = sum(c.amount for c in credits) - balance
    out: list[Lot] = []
    through = 0
    for _, credit in ordered:
        through += credit.amount
        left = min(credit.amount, max(0, through - taken))
        expires = lot_expires_at(credit.earned_at, rule) if credit.earning else None
        out.append(Lot(credit.earned_at, credit.amount, left, expires))
    return out


def due(credits: Sequence[Credit], balance: int, held: int, rule: Rule, at: datetime) -> int:
    """What expires at ``at``: what is left of the lots due by then, never more than is available."""
    left = sum(lot.left for lot in lots(credits, balance, rule) if lot.expires_at is not None and lot.expires_at <= at)
    return max(0, min(left, balance - held))
