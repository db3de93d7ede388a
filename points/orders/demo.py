"""The demo's service orders: two co-building units of 阳光社区 (阳光物业, a property company, and 阳光实验小学, a
school) and a few orders in each state, made through the service's own calls (so the rules and the history are as
they would be). Loaded once: a community that has units already is left as it is.

Then a month of past 晒单 (``load_past_orders``): twenty orders confirmed over the last 30 days, each placed,
dispatched, taken, done and confirmed through the service now, with an idempotency key of its own, then moved into
the past by the owner's ``points.backdate_service_order`` (migration 0021; the app role cannot). Loading again
finds each order by its key and takes it on from where it is; an order already in the past stays where it is."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from PIL import Image, ImageDraw

import ledger
from points import photos
from points.members import service as members
from points.orders import service

# (days ago done, hours from order to done, category, place, resident index, ordering unit, to whom, worker
# indexes, consent to show the photos, photos (before, after) to make, description, done note). Indexes into the
# demo's people: 0 王秀英 1 李建国 2 张桂兰 3 刘志强 4 陈美华 (the school) 5 杨德明 6 赵玉梅 (no phone: 代办)
# 7 黄立新 (5 and 7: the property company).
PAST: list[tuple[int, int, str, str, int, str | None, str, list[int], bool, int, str, str]] = [
    (1, 20, "cleanup", "3栋", 3, None, "company", [5, 7], True, 1, "3栋地下车库入口落叶堆积", "已清扫干净"),
    (2, 6, "elder_help", "5栋", 6, None, "school", [4], False, 0, "陪赵阿姨去银行办理社保卡", "已陪同办理完毕"),
    (3, 30, "cleanup", "1栋", 0, None, "company", [5], True, 1, "1栋单元门口小广告太多", "小广告已铲除"),
    (
        4,
        12,
        "publicity",
        "中心花园",
        1,
        None,
        "school",
        [4],
        False,
        0,
        "中心花园宣传栏换新一期内容",
        "已换上垃圾分类宣传",
    ),
    (5, 40, "cleanup", "4栋", 4, "school", "company", [7], True, 1, "学校门口人行道清扫", "人行道已清扫"),
    (6, 8, "door_knock", "6栋", 1, None, "volunteers", [0, 3], False, 0, "6栋独居老人上门走访", "已走访4户"),
    (7, 26, "cleanup", "5栋", 2, None, "company", [5, 7], False, 0, "5栋楼道堆放纸箱", "纸箱已清运"),
    (8, 5, "elder_help", "3栋", 3, None, "volunteers", [2], True, 0, "帮楼下王奶奶取药", "药已送到"),
    (9, 18, "cleanup", "中心花园", 0, None, "volunteers", [3, 7], False, 0, "花园长椅周围烟头多", "已捡拾清理"),
    (10, 36, "publicity", "1栋", 2, None, "school", [4], True, 0, "1栋电梯里贴防诈骗提示", "已张贴"),
    (12, 10, "cleanup", "6栋", 0, None, "company", [5], False, 0, "6栋垃圾桶周边污渍", "已冲洗"),
    (13, 44, "elder_help", "5栋", 6, None, "volunteers", [0], False, 0, "赵阿姨家窗户需要擦洗", "已擦洗"),
    (15, 22, "cleanup", "3栋", 3, None, "company", [7], True, 0, "3栋楼顶天台杂物", "已清理"),
    (17, 14, "door_knock", "4栋", 1, None, "volunteers", [2, 4], False, 0, "4栋高龄老人节前走访", "已走访"),
    (19, 30, "publicity", "中心花园", 0, None, "school", [4], False, 0, "周末广场消防知识宣传", "已完成宣传"),
    (21, 16, "cleanup", "1栋", 3, None, "company", [5, 7], False, 0, "1栋自行车棚废旧车辆", "已清运6辆"),
    (23, 9, "elder_help", "6栋", 7, None, "volunteers", [3], False, 0, "帮6栋李爷爷修理轮椅", "轮椅已修好"),
    (25, 28, "cleanup", "4栋", 4, None, "company", [5], True, 0, "4栋绿化带白色垃圾", "已清理"),
    (27, 12, "publicity", "3栋", 3, None, "volunteers", [0, 2], False, 0, "3栋单元门口张贴停水通知", "已张贴"),
    (29, 34, "cleanup", "中心花园", 2, None, "company", [7], False, 0, "中心花园水池漂浮物", "已打捞"),
]
PLACES = ("1栋", "3栋", "4栋", "5栋", "6栋")


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
        # 张桂兰 (the demo's clerk login, 13800000003) acts for it too, so that a demo sign-in sees 接单
        type_ids=[types["cleanup"]], member_ids=[yang.id, huang.id, members[2].id],
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


def _picture(color: str, label: str) -> bytes:
    """A plain picture for the demo's photos (a coloured card with a frame), as a phone would upload one."""
    image = Image.new("RGB", (480, 360), color)
    draw = ImageDraw.Draw(image)
    draw.rectangle((24, 24, 456, 336), outline="white", width=8)
    draw.text((48, 48), label, fill="white")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


async def _place(conn: ledger.Connection, community_id: int, name: str, person_id: int) -> int:
    found = {p.name: p.id for p in await members.list_places(conn, community_id)}
    if name in found:
        return found[name]
    level = "building" if name in PLACES else "compound"
    return await members.create_place(
        conn, community_id, level=level, name=name, parent_id=None, actor_person_id=person_id
    )


async def load_past_orders(
    conn: ledger.Connection, owner: asyncpg.Connection, community_id: int, people: list[Any]
) -> None:
    """A month of confirmed orders for 晒单 (see the module's docstring). ``owner``: the owner's connection, which
    alone may back-date them."""
    await ledger.enter(conn, community_id)
    types = {r["code"]: r["id"] for r in await conn.fetch(
        "SELECT code, id FROM points.activity_types WHERE community_id = $1", community_id)}  # fmt: skip
    units = {r["name"]: r["id"] for r in await conn.fetch(
        "SELECT name, id FROM points.service_units WHERE community_id = $1", community_id)}  # fmt: skip
    to_unit = {"company": units["阳光物业"], "school": units["阳光实验小学"]}
    dispatcher = await service._as_member(conn, community_id, people[1].id)
    now = datetime.now(UTC)
    for n, (days, hours, code, place, who, by_unit, to, workers, public, pictures, text, note) in enumerate(PAST):
        key = f"demo:past:{n}"
        resident = await service._as_member(conn, community_id, people[who].id)
        # 赵玉梅 has no phone: the organizer orders for her (代办) and confirms for her.
        orderer, orderer_id = (dispatcher, people[1].id) if who == 6 else (resident, people[who].id)
        worker_ids = [people[i].id for i in workers]
        found = await conn.fetchval(
            "SELECT id FROM points.service_orders WHERE community_id = $1 AND ordered_by_member_id = $2"
            " AND idempotency_key = $3",
            community_id,
            orderer_id,
            key,
        )
        if found is None:
            before = None
            if pictures:
                before = await photos.store_photo(
                    conn, community_id, orderer_id, photos.accept_photo(_picture("#b45309", f"{text} (before)"))
                )
            made = await service.post_order(
                conn, orderer, type_id=types[code], description=text,
                place_id=await _place(conn, community_id, place, dispatcher.person_id), photo_id=before,
                for_member_id=people[6].id if who == 6 else None, idempotency_key=key, photos_public=public,
                unit_id=to_unit[by_unit] if by_unit else None,
            )  # fmt: skip
            found = made.id
        order = await service.get_order(conn, community_id, found)
        takers = [await service._as_member(conn, community_id, people[i].id) for i in workers]
        if order.state == "ordered":
            order = await service.dispatch(
                conn, dispatcher, order.id, due_at=now + timedelta(days=2),
                unit_id=to_unit[to] if to != "volunteers" else None,
                volunteer_ids=worker_ids if to == "volunteers" else (),
                points=2 if code == "elder_help" else None,
            )  # fmt: skip
        if order.state == "dispatched":
            order = await service.accept(conn, takers[0], order.id)
        if order.state == "accepted":
            after: list[int] = []
            if pictures:
                picture = photos.accept_photo(_picture("#15803d", f"{note} (after)"))
                after = [await photos.store_photo(conn, community_id, worker_ids[0], picture)]
            order = await service.complete(
                conn, takers[0], order.id, note=note, volunteer_ids=worker_ids, photo_ids=after
            )
        if order.state == "done":
            order = await service.confirm(conn, orderer, order.id)
        if order.done_at is not None and order.done_at > now - timedelta(hours=1):  # not in the past yet
            done_at = now - timedelta(days=days, hours=n % 5)
            await owner.execute(
                "SELECT points.backdate_service_order($1, $2, $3)", order.id, done_at - timedelta(hours=hours), done_at
            )
