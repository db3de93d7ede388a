"""The earning part of the demo community (points/demo.py calls it): the default activity types, this month's
budget, an approval threshold, past activities with their attendance confirmed and awarded, tonight's patrol open
for sign-ups, an ad-hoc award waiting for a second organizer, and a rider's report waiting to be verified.

Built through the services the API uses; attendance of past activities is marked by hand (the organizer's way,
with a note), since nobody can check in by code in the past. Loading twice changes nothing."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, time, timedelta

import ledger
from points.auth.access import Access
from points.earning import activities, awards, budgets
from points.earning.periods import COMMUNITY_TZ, community_day
from points.earning.types import seed_default_types
from points.members.service import Member

# (title, type code, days ago, hours long, reward, attendee indexes into the demo's people)
PAST = [
    ("治安巡逻 · 周末夜巡", "patrol", 9, 2, 5, [0, 3, 5, 7]),
    ("环境整治 · 3栋楼道清理", "cleanup", 6, 2, 4, [0, 2, 3, 4, 6]),
    ("院坝会 · 停车位议事", "meeting", 3, 1, 2, [0, 2, 3, 4, 5, 7]),
]
TONIGHT = "治安巡逻 · 今晚夜巡"


def access_of(member: Member, *roles: str) -> Access:
    return Access(
        community_id=member.community_id,
        member_id=member.id,
        status=member.status,
        household_id=member.household_id,
        wallet_account_id=member.wallet_account_id,
        roles=frozenset(roles),
        person_id=member.person_id or 0,
        is_operator=False,
    )


async def _type_id(conn: ledger.Connection, community_id: int, code: str) -> int:
    found: int = await conn.fetchval(
        "SELECT id FROM points.activity_types WHERE community_id = $1 AND code = $2", community_id, code
    )
    return found


async def _activity_id(conn: ledger.Connection, community_id: int, title: str) -> int | None:
    found: int | None = await conn.fetchval(
        "SELECT id FROM points.activities WHERE community_id = $1 AND title = $2", community_id, title
    )
    return found


async def load_earning(conn: ledger.Connection, community_id: int, members: list[Member]) -> None:
    organizer = access_of(members[1], "organizer", "volunteer")  # 李建国, 网格员
    now = datetime.now(UTC)
    await seed_default_types(conn, community_id)
    period = community_day(now).isoformat()[:7]
    await budgets.allot(conn, community_id, period, 5000, idempotency_key=f"demo:budget:{period}", actor="demo")
    if await awards.approval_threshold(conn, community_id) is None:
        await awards.set_approval_threshold(conn, community_id, 20)

    for title, code, days_ago, hours, reward, who in PAST:
        if await _activity_id(conn, community_id, title) is not None:
            continue
        starts = now - timedelta(days=days_ago)
        if community_day(starts).isoformat()[:7] != period:
            starts = now - timedelta(hours=hours + 1)  # early in the month: keep it within this month's budget
        async with ledger.transaction(conn):
            activity_id = await conn.fetchval(
                "INSERT INTO points.activities (community_id, type_id, title, starts_at, ends_at, reward_points,"
                " organizer_member_id, state, checkin_secret) VALUES ($1, $2, $3, $4, $5, $6, $7, 'open',"
                " $8) RETURNING id",
                community_id,
                await _type_id(conn, community_id, code),
                title,
                starts,
                starts + timedelta(hours=hours),
                reward,
                organizer.member_id,
                secrets.token_bytes(32),
            )
            for i in who:
                await conn.execute(
                    "INSERT INTO points.attendance (community_id, activity_id, member_id, checked_in_at,"
                    " checked_out_at, method, recorded_by_member_id, note, confirmed, minutes)"
                    " VALUES ($1, $2, $3, $4, $5, 'manual', $6, '签到表补录', true, $7)",
                    community_id,
                    activity_id,
                    members[i].id,
                    starts,
                    starts + timedelta(hours=hours),
                    organizer.member_id,
                    hours * 60,
                )
            await conn.execute(
                "UPDATE points.activities SET state = 'closed', attendance_confirmed_at = $2,"
                " confirmed_by_member_id = $3 WHERE id = $1",
                activity_id,
                starts + timedelta(hours=hours),
                organizer.member_id,
            )
        await awards.award_activity(conn, organizer, activity_id)

    if await _activity_id(conn, community_id, TONIGHT) is None:
        local = now.astimezone(COMMUNITY_TZ)
        start = datetime.combine(local.date(), time(20, 0), COMMUNITY_TZ)
        if start <= now:
            start += timedelta(days=1)
        await conn.execute(
            "INSERT INTO points.activities (community_id, type_id, title, description, starts_at, ends_at, capacity,"
            " reward_points, organizer_member_id, state, checkin_secret) VALUES ($1, $2, $3, $4, $5, $6, 12, 5, $7,"
            " 'open', $8)",
            community_id,
            await _type_id(conn, community_id, "patrol"),
            TONIGHT,
            "小区东门集合，领取红袖标和手电。",
            start,
            start + timedelta(hours=2),
            organizer.member_id,
            secrets.token_bytes(32),
        )
        tonight = await _activity_id(conn, community_id, TONIGHT)
        assert tonight is not None
        for i in (3, 5):  # 刘志强 and 杨德明 signed up already
            await activities.sign_up(conn, access_of(members[i], "volunteer"), tonight)

    # A mediation above the threshold, waiting for a second organizer (the admin 王秀英 may approve it).
    await awards.award_adhoc(
        conn,
        organizer,
        member_id=members[2].id,
        type_id=await _type_id(conn, community_id, "mediation"),
        points=30,
        reason="调解3栋邻里噪音纠纷，双方签订和解书",
        idempotency_key="demo:adhoc:mediation",
    )

    # A delivery rider's report (随手拍, the seeds' 移动探头) waiting to be verified.
    rider = members[7]
    await ledger.enter(conn, community_id)
    if not await conn.fetchval("SELECT 1 FROM points.reports WHERE reporter_member_id = $1", rider.id):
        await conn.execute(
            "INSERT INTO points.reports (community_id, reporter_member_id, type_id, text) VALUES ($1, $2, $3, $4)",
            community_id,
            rider.id,
            await _type_id(conn, community_id, "report"),
            "5栋一楼消防通道被电动车堵住，送餐时拍到",
        )
