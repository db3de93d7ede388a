"""Budget periods (2026-12, 2026-Q4, 2026) and the community's calendar day.

Communities keep no time zone of their own yet; every community in the seeds is in China, so days, months and
caps are counted in Asia/Shanghai (as the pages show them, points/pages/i18n.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

COMMUNITY_TZ = ZoneInfo("Asia/Shanghai")
PERIOD = re.compile(r"(?P<year>[0-9]{4})(?:-(?:(?P<month>0[1-9]|1[0-2])|Q(?P<quarter>[1-4])))?")


@dataclass(frozen=True, slots=True)
class Period:
    name: str  # 2026-12, 2026-Q4 or 2026
    starts_on: date
    ends_on: date  # the day after the last

    @property
    def kind(self) -> str:
        return "month" if len(self.name) == 7 and "Q" not in self.name else "quarter" if "Q" in self.name else "year"


def _next_month(year: int, month: int) -> date:
    return date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)


def parse_period(name: str) -> Period | None:
    """The period a name stands for, or None when it is not one (a year from 2000 to 2099)."""
    found = PERIOD.fullmatch(name)
    if found is None or not 2000 <= int(found["year"]) <= 2099:
        return None
    year = int(found["year"])
    if found["month"]:
        month = int(found["month"])
        return Period(name, date(year, month, 1), _next_month(year, month))
    if found["quarter"]:
        first = 3 * (int(found["quarter"]) - 1) + 1
        return Period(name, date(year, first, 1), _next_month(year, first + 2))
    return Period(name, date(year, 1, 1), date(year + 1, 1, 1))


def community_day(moment: datetime) -> date:
    """The calendar day a moment falls on in the community."""
    return moment.astimezone(COMMUNITY_TZ).date()
