"""The demo's 公示 window (``points demo``): 阳光社区 publishes every award for 7 days. Three awards by the organizer
李建国 are in their window: 刘志强's (the demo volunteer who signs in: 我的积分 shows them pending), 黄立新's, and
陈美华's, to which 张桂兰 has objected — waiting for the admin 王秀英 on /c/yangguang/objections.

Loaded last (points/demo.py), after the other demo awards have posted. Built through the services the API uses;
loading twice changes nothing (the awards' idempotency keys, the objection's once-per-member rule)."""

from __future__ import annotations

import contextlib

import ledger
from points.earning import awards
from points.earning.demo import access_of
from points.earning.errors import AlreadyObjected
from points.members.service import Member
from points.publication import service

WINDOW_DAYS = 7
# (index into the demo's people, type code, points, reason)
PUBLISHED = [
    (3, "publicity", 4, "垃圾分类宣传单张贴 · 3栋至5栋"),
    (7, "door_knock", 6, "敲门行动 · 独居老人回访三户"),
    (4, "door_knock", 3, "敲门行动 · 4栋独居老人探访"),
]
OBJECTION = "那天去4栋探访的是社区医生，不是她本人"


async def load_publication(conn: ledger.Connection, community_id: int, members: list[Member]) -> None:
    await service.set_window_days(conn, community_id, WINDOW_DAYS)
    organizer = access_of(members[1], "organizer", "volunteer")  # 李建国
    made = []
    for index, code, points, reason in PUBLISHED:
        type_id: int = await conn.fetchval(
            "SELECT id FROM points.activity_types WHERE community_id = $1 AND code = $2", community_id, code
        )
        made.append(
            await awards.award_adhoc(
                conn,
                organizer,
                member_id=members[index].id,
                type_id=type_id,
                points=points,
                reason=reason,
                idempotency_key=f"demo:publication:{index}",
            )
        )
    objected = made[-1]
    if objected.state == "published":
        with contextlib.suppress(AlreadyObjected):  # loaded by an earlier run
            await service.object_to(conn, access_of(members[2], "clerk", "volunteer"), objected.id, OBJECTION)
