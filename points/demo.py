"""A demo community, 阳光社区 (fictional people), built through the same ledger calls the API uses.

Every write carries a fixed idempotency key, so loading it twice changes nothing.
"""

from __future__ import annotations

import ledger
from ledger.accounts import find_account, get_community
from ledger.db import Connection
from ledger.errors import UnknownCommunity
from ledger.model import Line, NewEntry
from points import db

SLUG = "yangguang"
NAME = "阳光社区"
VOLUNTEERS = ["王秀英", "李建国", "张桂兰", "刘志强", "陈美华", "杨德明", "赵玉梅", "黄立新", "周淑珍", "吴国平"]
# (memo, points per volunteer, volunteer indexes)
AWARDS = [
    ("治安巡逻 · 11月第一周夜巡", 20, [0, 1, 3, 5]),
    ("矛盾纠纷调解 · 3栋邻里噪音", 30, [2, 6]),
    ("环境整治 · 小区大扫除", 10, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
    ("敲门行动 · 独居老人探访", 15, [4, 8, 9]),
]


async def _account(
    conn: Connection, community_id: int, code: str, name: str, lower_bound: int | None
) -> ledger.Account:
    found = await find_account(conn, community_id, code)
    if found is not None:
        return found
    return await ledger.open_account(
        conn,
        community_id,
        code,
        name=name,
        normal_side="credit" if lower_bound is not None else "debit",
        lower_bound=lower_bound,
    )


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
            wallets = [await _account(conn, cid, f"volunteer:{i + 1}", name, 0) for i, name in enumerate(VOLUNTEERS)]

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
                lines = [Line(wallets[i].id, points) for i in who]
                lines.append(Line(budget.id, -points * len(who)))
                await ledger.post_entry(conn, cid, NewEntry("award", tuple(lines), f"demo:award:{n}", memo=memo))
            await ledger.post_entry(
                conn,
                cid,
                NewEntry(
                    "redemption",
                    (Line(wallets[0].id, -25), Line(supermarket.id, 25)),
                    "demo:redeem:0",
                    memo="积分超市兑换 · 食用油一瓶",
                ),
            )
            wang = await ledger.balance(conn, cid, wallets[0].id)
    finally:
        await engine.dispose()
    return (
        f"demo community {NAME} ({SLUG}): {len(VOLUNTEERS)} volunteers; "
        f"{VOLUNTEERS[0]} has {wang.balance} points. Try GET /api/v1/communities/{SLUG}/accounts"
    )
