"""The supermarket part of the demo community (points/demo.py calls it): 阳光储蓄积分超市 stocked with daily goods at
realistic prices in points (soap 15, a cup 20, a bag of rice 44 limited to one per household a month, cooking oil
nearly out of stock), the clerk 张桂兰 at the counter, a member card for 赵玉梅 (no phone; PIN 2580), and three
past receipts: one paid with a payment code, one with the card, one more with a code.

Built through the services the counter uses, as the clerk; every receipt has a fixed idempotency key and goods
are found by name before they are added, so loading twice changes nothing."""

from __future__ import annotations

import ledger
from catalog import codes, counter, goods
from points.auth.access import Access
from points.members.service import Member

# (name, category, price, unit, stock, low-stock mark, limit per household a month, barcode)
GOODS: list[tuple[str, str, int, str, int, int, int | None, str | None]] = [
    ("肥皂", "日用品", 15, "块", 40, 5, None, "6901234500011"),
    ("陶瓷杯", "日用品", 20, "个", 30, 5, None, "6901234500028"),
    ("大米 5kg", "粮油", 44, "袋", 12, 3, 1, "6901234500035"),
    ("食用油 1.8L", "粮油", 30, "瓶", 3, 5, None, "6901234500042"),
    ("洗衣液", "日用品", 25, "瓶", 20, 5, None, "6901234500059"),
    ("牙膏", "日用品", 12, "支", 25, 5, None, "6901234500066"),
]
CARD_MEMBER, CARD_NUMBER, CARD_PIN = 6, "620100000006", "2580"  # 赵玉梅, who has no phone
# (idempotency key, buyer index into the demo's people, how: "code" or "card", [(good, quantity)])
RECEIPTS: list[tuple[str, int, str, list[tuple[str, int]]]] = [
    ("demo:receipt:1", 3, "code", [("肥皂", 1)]),
    ("demo:receipt:2", CARD_MEMBER, "card", [("食用油 1.8L", 1)]),
    ("demo:receipt:3", 4, "code", [("牙膏", 1)]),
]
COUNTER = "1号柜台"


def _access(member: Member, *roles: str) -> Access:
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


async def load_supermarket(conn: ledger.Connection, community_id: int, members: list[Member]) -> None:
    clerk = _access(members[2], "clerk", "volunteer")  # 张桂兰, 积分超市店员
    await counter.supermarket_account(conn, community_id)
    existing = {g.name: g for g in await goods.list_goods(conn, community_id, include_inactive=True, limit=200)}
    ids: dict[str, int] = {}
    for name, category, price, unit, stock, low, per_household, barcode in GOODS:
        good = existing.get(name)
        if good is None:
            good = await goods.create_good(
                conn,
                community_id,
                name=name,
                category=category,
                price=price,
                unit=unit,
                barcode=barcode,
                low_stock_at=low,
                limit_per_household=per_household,
                limit_period="month" if per_household else None,
            )
            await goods.record_movement(
                conn, community_id, clerk.member_id, good.id, kind="restock", quantity=stock, reason="街道爱心企业捐赠"
            )
        ids[name] = good.id

    await ledger.enter(conn, community_id)
    if not await conn.fetchval("SELECT 1 FROM points.member_cards WHERE member_id = $1", members[CARD_MEMBER].id):
        await codes.issue_card(conn, community_id, members[CARD_MEMBER].id, pin=CARD_PIN, card_number=CARD_NUMBER)

    for key, buyer, how, basket in RECEIPTS:
        await ledger.enter(conn, community_id)
        if await conn.fetchval(
            "SELECT 1 FROM points.receipts WHERE community_id = $1 AND idempotency_key = $2", community_id, key
        ):
            continue
        if how == "card":
            payer = counter.Payer(card_number=CARD_NUMBER, pin=CARD_PIN)
        else:
            shown = await codes.issue_code(conn, _access(members[buyer], "volunteer"))
            payer = counter.Payer(payment_code=shown.code)
        wanted = [counter.Wanted(quantity, ids[name]) for name, quantity in basket]
        await counter.confirm(conn, clerk, payer, wanted, idempotency_key=key, counter=COUNTER)
