"""The demo's service orders: two co-building units of 阳光社区 (阳光物业, a property company, and 阳光实验小学, a
school) and a few orders in each state, made through the service's own calls (so the rules and the history are as
they would be). Loaded once: a community that has units already is left as it is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import ledger
from points.orders import service


async def load_orders(conn: ledger.Connection, community_id: int, members: list[Any]) -> None:
    await ledger.enter(conn, community_id)
    if await conn.fetchval("SELECT 1 FROM points.service_units WHERE community_id = $1", community_id):
        return
    types = {r["code"]: r["id"] for r in await conn.fetch(
        "SELECT code, id FROM points.activity_types WHERE community_id = $1", community_id)}  # fmt: skip
    admin, organizer, liu, chen, yang, zhao, huang = (
        members[0], members[1], members[3], members[4], members[5], members[6], members[7],
    )  # fmt: skip

    async def as_(member: Any) -> Any:
        return await service._as_member(conn, community_id, member.id)

    boss = await as_(admin)
    dispatcher = await as_(organizer)
    company = await service.create_unit(
        conn, boss, name="阳光物业", kind="property", contact="物业服务中心 023-6688 1234",
        type_ids=[types["cleanup"]], member_ids=[yang.id, huang.id],
    )  # fmt: skip
    school = await service.create_unit(
        conn, boss, name="阳光实验小学", kind="school", contact="德育处 王老师 023-6688 5678",
        type_ids=[types["elder_help"], types["publicity"]], member_ids=[chen.id],
    )  # fmt: skip
    due = datetime.now(UTC) + timedelta(days=2)

    # Confirmed: 刘志强's stairwell, cleaned by two of the property company's people (paid on confirmation).
    stairs = await service.post_order(
        conn, await as_(liu), type_id=types["cleanup"], description="3栋2单元楼道堆放杂物多年，请帮忙清理"
    )
    await service.dispatch(conn, dispatcher, stairs.id, due_at=due, unit_id=company.id)
    await service.accept(conn, await as_(yang), stairs.id)
    await service.complete(
        conn, await as_(yang), stairs.id, note="杂物已清运，楼道已清扫", volunteer_ids=[yang.id, huang.id]
    )
    await service.confirm(conn, await as_(liu), stairs.id)

    # Done, waiting for 赵玉梅's confirmation: ordered for her by the organizer (代办, she has no phone).
    visit = await service.post_order(
        conn, dispatcher, type_id=types["elder_help"], description="每周四上午陪同赵阿姨去社区卫生站量血压",
        for_member_id=zhao.id,
    )  # fmt: skip
    await service.dispatch(conn, dispatcher, visit.id, due_at=due, unit_id=school.id, points=4)
    await service.accept(conn, await as_(chen), visit.id)
    await service.complete(conn, await as_(chen), visit.id, note="已陪同量血压，结果正常", volunteer_ids=[chen.id])

    # Dispatched to the property company, not accepted yet.
    light = await service.post_order(conn, await as_(admin), type_id=types["cleanup"], description="1栋门口垃圾桶满溢")
    await service.dispatch(conn, dispatcher, light.id, due_at=due, unit_id=company.id)

    # Declined by the school, back with the dispatcher.
    poster = await service.post_order(
        conn, await as_(huang), type_id=types["publicity"], description="想请学生帮忙画防诈骗宣传墙报"
    )
    await service.dispatch(conn, dispatcher, poster.id, due_at=due, unit_id=school.id, points=2)
    await service.decline(conn, await as_(chen), poster.id, "本周学生期中考试，下周可以")

    # New, waiting for a dispatcher.
    await service.post_order(conn, await as_(chen), type_id=types["cleanup"], description="4栋楼道灯不亮，需要更换")
