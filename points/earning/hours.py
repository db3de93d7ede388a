"""Service hours: kept in minutes in the member's hours account (hours:<member>), filled by awards beside the
points. Hours are a record, never spendable: no entry moves minutes into a points account (the ledger keeps
units apart), and nothing debits an hours account but a correction.

Star levels follow the national volunteer-record practice: one star at 100 hours, then 300, 600, 1,000, 1,500."""

from __future__ import annotations

from dataclasses import dataclass

import ledger

STAR_HOURS = (100, 300, 600, 1000, 1500)


@dataclass(frozen=True, slots=True)
class Hours:
    minutes: int
    stars: int  # 0 to 5
    next_star_hours: int | None  # the hours of the next level, None at five stars

    @property
    def hours(self) -> float:
        return self.minutes / 60


def hours_of(minutes: int) -> Hours:
    stars = sum(1 for level in STAR_HOURS if minutes >= level * 60)
    return Hours(minutes, stars, STAR_HOURS[stars] if stars < len(STAR_HOURS) else None)


async def member_hours(conn: ledger.Connection, community_id: int, member_id: int) -> Hours:
    account = await ledger.find_account(conn, community_id, f"hours:{member_id}")
    if account is None:
        return hours_of(0)
    found = await ledger.balance(conn, community_id, account.id)
    return hours_of(found.balance)
