"""A demo community, 阳光社区 (fictional people), built through the same calls the API uses.

Ready-made sign-ins, one per role (listed in the README):

| role | phone | password |
| --- | --- | --- |
| admin 社区管理员 | 13800000001 | linli-demo-1 |
| organizer 网格员 | 13800000002 | linli-demo-2 |
| clerk 积分超市店员 | 13800000003 | linli-demo-3 |
| volunteer 志愿者 | 13800000004 | linli-demo-4 |

Every ledger write carries a fixed idempotency key and members are found
before they are added, so loading it twice changes nothing.
"""

from __future__ import annotations

from typing import Any

import ledger
from catalog.demo import load_supermarket
from catalog.swap_demo import load_swap_table
from ledger import Connection, find_account, get_community
from ledger.errors import UnknownCommunity
from ledger.model import Line, NewEntry
from points import db
from points.earning.demo import load_earning
from points.expiry.demo import load_expiry
from points.members import service
from points.orders.demo import load_orders, load_past_orders
from points.publication.demo import load_publication

SLUG = "yangguang"
NAME = "阳光社区"
# (display name, phone or None, password or None, household, roles)
PEOPLE: list[tuple[str, str | None, str | None, str, tuple[str, ...]]] = [
    ("王秀英", "13800000001", "linli-demo-1", "1-101", ("admin", "volunteer")),
    ("李建国", "13800000002", "linli-demo-2", "2-302", ("organizer", "volunteer")),
    ("张桂兰", "13800000003", "linli-demo-3", "3-201", ("clerk", "volunteer")),
    ("刘志强", "13800000004", "linli-demo-4", "3-502", ("volunteer",)),
    ("陈美华", "13800000005", None, "4-101", ("volunteer",)),
    ("杨德明", "13800000006", None, "4-101", ("volunteer",)),
    ("赵玉梅", None, None, "5-201", ("volunteer",)),  # no phone: served by proxy (代办)
    ("黄立新", "13800000008", None, "6-601", ("volunteer",)),
]
# (memo, points per volunteer, indexes into PEOPLE)
AWARDS = [
    ("治安巡逻 · 11月第一周夜巡", 20, [0, 1, 3, 5]),
    ("矛盾纠纷调解 · 3栋邻里噪音", 30, [2, 6]),
    ("环境整治 · 小区大扫除", 10, [0, 1, 2, 3, 4, 5, 6, 7]),
    ("敲门行动 · 独居老人探访", 15, [4, 7]),
]


async def _account(
    conn: Connection, community_id: int, code: str, name: str, lower_bound: int | None
) -> ledger.Account:
    found = await find_account(conn, community_id, code)
    if found is not None:
        return found
    side = "credit" if lower_bound is not None else "debit"
    return await ledger.open_account(conn, community_id, code, name=name, normal_side=side, lower_bound=lower_bound)


async def _members(conn: Any, community_id: int) -> list[service.Member]:
    existing = {m.display_name: m for m in await service.list_members(conn, community_id, after_id=0, limit=200)}
    members = []
    for name, phone, password, household, roles in PEOPLE:
        member = existing.get(name)
        if member is None:
            member = await service.create_member(
                conn,
                community_id,
                actor_person_id=None,
                display_name=name,
                phone=phone,
                password=password,
                household=household,
                roles=roles,
            )
        members.append(member)
    return members


async def load_demo(url: str, app_url_override: str | None = None) -> str:
    engine = db.make_engine(url, pool_size=1, app_url_override=app_url_override)
    try:
        async with db.connection(engine) as conn:
            try:
                community = await get_community(conn, SLUG)
            except UnknownCommunity:
                community = await ledger.create_community(conn, SLUG, NAME)
            cid = community.id
            issuance = await _account(conn, cid, "issuance", "积分发行", None)
            budget = await _account(conn, cid, "budget:2026-11", "2026年11月积分预算", 0)
            supermarket = await _account(conn, cid, "supermarket", "阳光储蓄积分超市", None)
            members = await _members(conn, cid)

            await ledger.post_entry(
                conn,
                cid,
                NewEntry(
                    "budget",
                    (Line(issuance.id, -5000), Line(budget.id, 5000)),
                    "demo:budget:2026-11",
                    memo="社区下达11月积分预算",
                ),
            )
            for n, (memo, points, who) in enumerate(AWARDS):
                lines = [Line(members[i].wallet_account_id, points) for i in who]
                lines.append(Line(budget.id, -points * len(who)))
                await ledger.post_entry(conn, cid, NewEntry("award", tuple(lines), f"demo:award:{n}", memo=memo))
            await ledger.post_entry(
                conn,
                cid,
                NewEntry(
                    "redemption",
                    (Line(members[0].wallet_account_id, -25), Line(supermarket.id, 25)),
                    "demo:redeem:0",
                    memo="积分超市兑换 · 食用油一瓶",
                ),
            )
            await load_earning(conn, cid, members)
            await load_supermarket(conn, cid, members)
            await load_expiry(conn, cid, members[3].wallet_account_id, issuance.id)  # 刘志强's oldest points expire
            await load_swap_table(conn, cid, members)
            await load_publication(conn, cid, members)  # the awards above posted before the window was on
            await load_orders(conn, cid, members)  # last: its confirmed order's awards are published (公示)
            owner_engine = db.make_engine(url, pool_size=1, as_owner=True)
            try:
                async with db.connection(owner_engine) as owner:  # back-dating is the owner's (migration 0021)
                    await load_past_orders(conn, owner, cid, members)
            finally:
                await owner_engine.dispose()
            first = await ledger.balance(conn, cid, members[0].wallet_account_id)
    finally:
        await engine.dispose()
    return (
        f"demo community {NAME} ({SLUG}): {len(PEOPLE)} members; {PEOPLE[0][0]} has {first.balance} points.\n"
        "  sign in (POST /api/v1/login) as admin 13800000001 / linli-demo-1, organizer 13800000002 / linli-demo-2,\n"
        "  clerk 13800000003 / linli-demo-3 (also acts for 阳光物业: 接单), volunteer 13800000004 / linli-demo-4\n"
        "  积分超市: soap 15, a cup 20, rice 44 (one per household a month), cooking oil nearly out; "
        "赵玉梅's member card 620100000006, PIN 2580"
    )
