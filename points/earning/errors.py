"""Exceptions of the earning domain, and the database's own refusals (SQLSTATE class LP, migration 0008)
translated to them. points/errors.py maps each to its HTTP status."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import asyncpg

from points.auth.errors import ConflictOfInterest, Forbidden, InvalidRequest


class EarningError(Exception):
    code: ClassVar[str] = "earning_error"

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class CapReached(EarningError):
    """An award would take a member above the cap of its activity type for the day or the month."""

    code = "cap_reached"


class NoBudget(EarningError):
    """No budget covers the award's day: the admin allots one for the period first."""

    code = "no_budget"


class BudgetExhausted(EarningError):
    """The period's budget has fewer points left than the award needs; ``left`` says how many."""

    code = "budget_exhausted"


class WrongState(EarningError):
    """The activity, award or report is not in a state that allows this (``state`` says which it is in)."""

    code = "wrong_state"


class NotNow(EarningError):
    """Outside the time this is allowed: sign-ups before the start, check-ins during the activity's window."""

    code = "not_now"


class CheckinCodeRefused(EarningError):
    """The check-in code is wrong, expired, or another activity's (``reason`` says which)."""

    code = "checkin_code_refused"


class AlreadyCheckedIn(EarningError):
    """The member is already checked in to this activity."""

    code = "already_checked_in"


class AlreadyCheckedOut(EarningError):
    """The member has checked out of this activity already (the organizer corrects a time by hand)."""

    code = "already_checked_out"


class ActivityFull(EarningError):
    """Every place of the activity is taken: by those registered and those who came without a place."""

    code = "activity_full"


class AttendanceConfirmed(EarningError):
    """The organizer has confirmed the attendance list; it no longer changes."""

    code = "attendance_confirmed"


class BudgetOverlap(EarningError):
    """Another budget already covers part of this period."""

    code = "budget_overlap"


class NotInWindow(EarningError):
    """The award is not in its 公示 window: it takes no objection (it settled, was voided, or its window ended)."""

    code = "not_in_window"


class AlreadyObjected(EarningError):
    """The member has objected to this award already: once per member per award."""

    code = "already_objected"


class PublicationInconsistent(EarningError):
    """A published award's holds or an objection's outcome do not agree with the award (LG003, LG004): a bug."""

    code = "publication_inconsistent"


_BY_SQLSTATE: dict[str, type[Exception]] = {
    "LP001": CapReached,
    "LP002": ConflictOfInterest,
    "LP003": BudgetOverlap,
    "LP004": WrongState,
    "LP005": WrongState,  # full: the service puts the member on the waiting list before it gets here
    "LP006": NotNow,
    "LP007": AttendanceConfirmed,
    # migration 0010's guards: the service refuses each first (points/entries.py, attendance.py); a 4xx, not a 500,
    # if ever one is reached. LP008-LP010 come from the generic entries API, whose errors live in points/entries.py.
    "LP011": InvalidRequest,  # attendance minutes above the schedule
    "LP012": Forbidden,  # 代办 for someone outside one's household
    "LP013": InvalidRequest,  # an activity's award line for someone not confirmed as attending (or for more minutes)
    # the 公示 window (migration 0016)
    "LG001": NotInWindow,
    "LG002": WrongState,  # settling an award before its window ends, or while an objection is open
    "LG003": PublicationInconsistent,
    "LG004": PublicationInconsistent,
    "LG005": ConflictOfInterest,
}


@asynccontextmanager
async def translated() -> AsyncIterator[None]:
    """The database's LP refusals (a race the service's own check could not see) as the domain's errors."""
    try:
        yield
    except asyncpg.PostgresError as exc:
        cls = _BY_SQLSTATE.get(getattr(exc, "sqlstate", "") or "")
        if cls is None:
            raise
        message = getattr(exc, "message", None) or str(exc)
        raise cls(message) from exc
