"""The points supermarket, end to end through the API: a basket redeemed with a payment code, refused codes, a
basket that fails on one good and changes nothing, limits per household, a retried confirmation charging once,
returns partial then whole (never more than bought), cards with a PIN that lock, 代办, receipts reprinted, the
day's totals and the reconciliation; and what PostgreSQL refuses beneath the service."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

import ledger
from tests.supermarket_world import Shop, key, make_shop, person


@pytest.fixture
async def shop(client: Any, owner_conn: asyncpg.Connection, conn: Any) -> Shop:
    return await make_shop(client, owner_conn, conn)


async def test_a_three_item_basket_is_redeemed_with_a_payment_code(shop: Shop) -> None:
    v = shop.volunteers[0]
    code = await shop.code(v)
    assert len(code) == 18
    assert code.isdigit()
    body = {
        "payment_code": code,
        "lines": [
            {"good_id": shop.goods["肥皂"]["id"], "quantity": 2},
            {"barcode": "6901234567892"},  # the scanner reads the soap again
            {"good_id": shop.goods["杯子"]["id"]},
        ],
    }
    preview = await shop.call(shop.clerk, "POST", "/counter/preview", json=body)
    assert preview.status_code == 200, preview.text
    p = preview.json()
    assert (p["member_name"], p["household"], p["balance_before"], p["total"], p["balance_after"]) == (
        "居民0",
        "5-000",
        200,
        65,
        135,
    )
    assert [(x["name"], x["quantity"], x["amount"]) for x in p["lines"]] == [("肥皂", 3, 45), ("杯子", 1, 20)]
    assert await shop.balance(v) == 200  # the preview wrote nothing

    r = await shop.call(
        shop.clerk,
        "POST",
        "/counter/redemptions",
        json={**body, "counter": "1号柜台"},
        headers={"Idempotency-Key": key()},
    )
    assert r.status_code == 201, r.text
    receipt = r.json()
    assert (receipt["number"], receipt["total_points"], receipt["clerk_name"], receipt["counter"]) == (
        1,
        65,
        "陈店员",
        "1号柜台",
    )
    assert (await shop.balance(v), await shop.supermarket()) == (135, 65)
    assert (await shop.stock("肥皂"), await shop.stock("杯子")) == (47, 29)

    # the volunteer finds it in their history; the clerk reprints it by number
    mine = await shop.call(v, "GET", "/me/receipts")
    assert [x["number"] for x in mine.json()] == [1]
    again = await shop.call(shop.clerk, "GET", "/receipts/1")
    assert [(x["name"], x["quantity"], x["unit_price"]) for x in again.json()["lines"]] == [
        ("肥皂", 3, 15),
        ("杯子", 1, 20),
    ]
    # the code paid once
    used = await shop.call(shop.clerk, "POST", "/counter/redemptions", json=body, headers={"Idempotency-Key": key()})
    assert (used.status_code, used.json()["code"]) == (422, "payment_code_used")


async def test_codes_refused_say_why(shop: Shop, client: Any, owner_conn: asyncpg.Connection, conn: Any) -> None:
    v = shop.volunteers[0]
    soap = [{"good_id": shop.goods["肥皂"]["id"]}]

    async def refusal(code: str) -> str:
        r = await shop.call(shop.clerk, "POST", "/counter/preview", json={"payment_code": code, "lines": soap})
        assert r.status_code == 422, r.text
        found: str = r.json()["code"]
        return found

    old = await shop.code(v)
    new = await shop.code(v)  # refreshed: the old one stops working
    assert await refusal(old) == "payment_code_expired"
    # two minutes and more later (the owner moves the clock back on the code; its trigger would refuse the app)
    async with owner_conn.transaction():
        await owner_conn.execute("SET LOCAL session_replication_role = replica")
        await owner_conn.execute(
            "UPDATE points.payment_codes SET issued_at = issued_at - interval '3 minutes',"
            " expires_at = expires_at - interval '3 minutes' WHERE member_id = $1 AND replaced_at IS NULL",
            v.member_id,
        )
    assert await refusal(new) == "payment_code_expired"
    assert await refusal("123456789012345678") == "payment_code_unknown"
    other = await make_shop(client, owner_conn, conn, volunteers=1)
    assert await refusal(await other.code(other.volunteers[0])) == "payment_code_other_community"
    assert await shop.balance(v) == 200


async def test_a_basket_that_fails_on_one_good_changes_nothing(shop: Shop) -> None:
    v = shop.volunteers[0]
    r = await shop.redeem(v, [("肥皂", 1), ("杯子", 1), ("大米", 4)])
    assert r.status_code == 422, r.text
    assert (r.json()["code"], r.json()["name"], r.json()["stock"]) == ("insufficient_stock", "大米", 3)
    assert "大米" in r.json()["detail"]
    poor = shop.volunteers[1]
    r = await shop.redeem(poor, [("杯子", 11)])
    assert (r.status_code, r.json()["code"]) == (422, "insufficient_points")
    r = await shop.client.put(
        f"{shop.url}/goods/{shop.goods['杯子']['id']}", json={"name": "杯子", "price": 20, "active": False}
    )
    assert r.status_code == 200, r.text
    r = await shop.redeem(v, [("肥皂", 1), ("杯子", 1)])
    assert (r.status_code, r.json()["code"], r.json()["name"]) == (422, "good_inactive", "杯子")
    assert [await shop.balance(p) for p in shop.volunteers[:2]] == [200, 200]
    assert (await shop.stock("肥皂"), await shop.stock("杯子"), await shop.stock("大米")) == (50, 30, 3)
    assert (
        await shop.owner.fetchval("SELECT count(*) FROM points.receipts WHERE community_id = $1", shop.community_id)
        == 0
    )
    # and the codes those refusals saw are still good
    assert (
        await shop.owner.fetchval(
            "SELECT count(*) FROM points.payment_codes WHERE community_id = $1 AND used_at IS NOT NULL",
            shop.community_id,
        )
        == 0
    )


async def test_a_limit_per_household_is_reached_by_a_second_member(shop: Shop, client: Any, conn: Any) -> None:
    first = shop.volunteers[0]
    spouse = await person(client, shop.owner, conn, shop.slug, "居民0的配偶", "5-000", ["volunteer"])
    await shop.fund(spouse, 100)
    assert (await shop.redeem(first, [("大米", 1)])).status_code == 201
    r = await shop.redeem(spouse, [("大米", 1)])
    assert r.status_code == 422, r.text
    assert (r.json()["code"], r.json()["per"], r.json()["left"]) == ("limit_reached", "household", 0)
    assert "大米" in r.json()["detail"]
    # another household is not limited by theirs
    assert (await shop.redeem(shop.volunteers[1], [("大米", 1)])).status_code == 201
    # the database refuses it too, should the service's check ever miss it
    usage = await shop.owner.fetchval(
        "SELECT quantity FROM points.redemption_usage WHERE good_id = $1 AND subject LIKE 'household:%'"
        " ORDER BY quantity DESC LIMIT 1",
        shop.goods["大米"]["id"],
    )
    assert usage == 1


async def test_a_retried_confirmation_charges_once(shop: Shop) -> None:
    v = shop.volunteers[0]
    code, idem = await shop.code(v), key()
    first = await shop.redeem(v, [("肥皂", 2)], idem=idem, payment_code=code)
    again = await shop.redeem(v, [("肥皂", 2)], idem=idem, payment_code=code)
    assert (first.status_code, again.status_code) == (201, 200)
    assert (again.json()["number"], again.json()["replayed"]) == (first.json()["number"], True)
    assert (await shop.balance(v), await shop.stock("肥皂")) == (170, 48)
    other = await shop.redeem(v, [("肥皂", 3)], idem=idem, payment_code=code)
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_key_reused")


async def test_a_partial_return_then_the_rest_and_never_more(shop: Shop) -> None:
    v = shop.volunteers[0]
    r = await shop.redeem(v, [("肥皂", 3), ("杯子", 1)])
    number = r.json()["number"]
    assert await shop.balance(v) == 200 - 65

    part = await shop.call(
        shop.clerk,
        "POST",
        f"/receipts/{number}/returns",
        headers={"Idempotency-Key": key()},
        json={"reason": "包装破损", "lines": [{"line_no": 1, "quantity": 1}]},
    )
    assert part.status_code == 201, part.text
    assert [x["returned"] for x in part.json()["lines"]] == [1, 0]
    assert (await shop.balance(v), await shop.stock("肥皂")) == (150, 48)

    too_many = await shop.call(
        shop.clerk,
        "POST",
        f"/receipts/{number}/returns",
        headers={"Idempotency-Key": key()},
        json={"reason": "再退", "lines": [{"line_no": 1, "quantity": 3}]},
    )
    assert too_many.status_code == 422, too_many.text
    assert (too_many.json()["code"], too_many.json()["left"]) == ("return_exceeds_purchase", 2)

    rest = await shop.call(
        shop.clerk, "POST", f"/receipts/{number}/returns", headers={"Idempotency-Key": key()}, json={"reason": "不要了"}
    )
    assert rest.status_code == 201, rest.text
    assert (rest.json()["returned_points"], len(rest.json()["returns"])) == (65, 2)
    assert (await shop.balance(v), await shop.stock("肥皂"), await shop.stock("杯子")) == (200, 50, 30)
    assert await shop.supermarket() == 0
    nothing = await shop.call(
        shop.clerk, "POST", f"/receipts/{number}/returns", headers={"Idempotency-Key": key()}, json={"reason": "又来"}
    )
    assert (nothing.status_code, nothing.json()["code"]) == (422, "return_exceeds_purchase")

    # PostgreSQL refuses more than was bought even from the owner's hand
    receipt_id = await shop.owner.fetchval(
        "SELECT id FROM points.receipts WHERE number = $1 AND community_id = $2", number, shop.community_id
    )
    entry_id = await shop.owner.fetchval("SELECT min(entry_id) FROM points.returns WHERE receipt_id = $1", receipt_id)

    async def one_cup_more() -> None:
        async with shop.owner.transaction():
            return_id = await shop.owner.fetchval(
                "INSERT INTO points.returns (community_id, receipt_id, reason, clerk_member_id, entry_id,"
                " total_points, idempotency_key) VALUES ($1, $2, 'by hand', $3, $4, 20, 'by-hand') RETURNING id",
                shop.community_id, receipt_id, shop.clerk.member_id, entry_id,
            )  # fmt: skip
            await shop.owner.execute(
                "INSERT INTO points.return_lines (community_id, return_id, receipt_id, line_no, quantity)"
                " VALUES ($1, $2, $3, 2, 1)",
                shop.community_id, return_id, receipt_id,
            )  # fmt: skip

    with pytest.raises(asyncpg.PostgresError, match="left to return"):
        await one_cup_more()


async def test_a_card_and_pin_and_the_lockout(shop: Shop, client: Any, conn: Any) -> None:
    grandma = await person(client, shop.owner, conn, shop.slug, "王奶奶", "8-808", ["volunteer"], signs_in=False)
    await shop.fund(grandma, 100)
    r = await client.post(
        f"{shop.url}/members/{grandma.member_id}/card", json={"pin": "2468", "card_number": "880000000001"}
    )
    assert r.status_code == 201, r.text
    card = {"card_number": "880000000001"}
    ok = await shop.redeem(None, [("肥皂", 1)], **card, pin="2468")
    assert ok.status_code == 201, ok.text
    assert (ok.json()["method"], await shop.balance(grandma)) == ("card", 85)
    for left in (4, 3, 2, 1):
        wrong = await shop.redeem(None, [("肥皂", 1)], **card, pin="1111")
        assert (wrong.status_code, wrong.json()["code"], wrong.json()["attempts_left"]) == (422, "wrong_pin", left)
    fifth = await shop.redeem(None, [("肥皂", 1)], **card, pin="1111")
    assert (fifth.status_code, fifth.json()["code"]) == (423, "card_locked")
    locked = await shop.redeem(None, [("肥皂", 1)], **card, pin="2468")  # even the right PIN, for 15 minutes
    assert (locked.status_code, locked.json()["code"]) == (423, "card_locked")
    assert await shop.balance(grandma) == 85


async def test_proxy_redemption_for_a_household_member_without_a_phone(shop: Shop, client: Any, conn: Any) -> None:
    son = shop.volunteers[0]
    grandpa = await person(client, shop.owner, conn, shop.slug, "老张", "5-000", ["volunteer"], signs_in=False)
    await shop.fund(grandpa, 50)
    r = await shop.redeem(son, [("杯子", 1)], for_member_id=grandpa.member_id)
    assert r.status_code == 201, r.text
    assert (r.json()["method"], r.json()["member_name"], r.json()["proxy_member_id"]) == (
        "proxy",
        "老张",
        son.member_id,
    )
    assert (await shop.balance(grandpa), await shop.balance(son)) == (30, 200)
    stranger = shop.volunteers[1]
    r = await shop.redeem(stranger, [("杯子", 1)], for_member_id=grandpa.member_id)
    assert r.status_code == 403, r.text


async def test_a_clerk_cannot_redeem_for_their_own_household(shop: Shop, client: Any, conn: Any) -> None:
    await shop.fund(shop.clerk, 50)
    r = await shop.redeem(shop.clerk, [("肥皂", 1)])
    assert (r.status_code, r.json()["code"]) == (403, "conflict_of_interest")
    family = await person(client, shop.owner, conn, shop.slug, "陈店员的女儿", "1-101", ["volunteer"])
    await shop.fund(family, 50)
    r = await shop.redeem(family, [("肥皂", 1)])
    assert (r.status_code, r.json()["code"]) == (403, "conflict_of_interest")
    assert (await shop.balance(shop.clerk), await shop.balance(family)) == (50, 50)

    # the admin serves the daughter; her return is then not the clerk's to take, in Python or in PostgreSQL
    basket = {"payment_code": await shop.code(family), "lines": [{"good_id": shop.goods["肥皂"]["id"]}]}
    r = await shop.client.post(f"{shop.url}/counter/redemptions", json=basket, headers={"Idempotency-Key": key()})
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    back = await shop.call(shop.clerk, "POST", f"/receipts/{number}/returns", json={"reason": "不要了"},
                           headers={"Idempotency-Key": key()})  # fmt: skip
    assert (back.status_code, back.json()["code"]) == (403, "conflict_of_interest")
    with pytest.raises(asyncpg.PostgresError, match="cannot take a return"):
        await shop.owner.execute(
            "INSERT INTO points.returns (community_id, receipt_id, reason, clerk_member_id, entry_id, total_points,"
            " idempotency_key) SELECT community_id, id, 'x', $2, entry_id, 15, 'by-hand' FROM points.receipts"
            " WHERE community_id = $1 AND number = $3",
            shop.community_id, shop.clerk.member_id, number,
        )  # fmt: skip
    assert await shop.balance(family) == 35


async def test_daily_totals_and_the_reconciliation_agree(shop: Shop) -> None:
    v = shop.volunteers
    await shop.redeem(v[0], [("肥皂", 2), ("杯子", 1)], counter="1号柜台")
    r = await shop.redeem(v[1], [("肥皂", 1)], counter="2号柜台")
    await shop.call(
        shop.clerk,
        "POST",
        f"/receipts/{r.json()['number']}/returns",
        json={"reason": "买错了"},
        headers={"Idempotency-Key": key()},
    )
    totals = (await shop.client.get(f"{shop.url}/counter/daily-totals")).json()
    assert [(t["counter"], t["receipts"], t["redeemed_points"], t["returned_points"]) for t in totals] == [
        ("", 0, 0, 15),
        ("1号柜台", 1, 50, 0),
        ("2号柜台", 1, 15, 0),
    ]
    rec = (await shop.call(shop.clerk, "GET", "/counter/reconciliation")).json()
    assert rec["agrees"] is True, rec
    assert (rec["points_redeemed"], rec["ledger_redeemed"], rec["points_returned"], rec["ledger_returned"]) == (
        65,
        65,
        15,
        15,
    )
    soap = next(g for g in rec["goods"] if g["name"] == "肥皂")
    assert (soap["quantity_sold"], soap["stock_sold"], soap["quantity_returned"], soap["stock_returned"]) == (
        3,
        3,
        1,
        1,
    )


async def test_stock_moves_only_by_movements_and_never_below_zero(shop: Shop) -> None:
    rice = shop.goods["大米"]["id"]
    r = await shop.call(
        shop.clerk, "POST", f"/goods/{rice}/movements", json={"kind": "write_off", "quantity": 4, "reason": "受潮"}
    )
    assert (r.status_code, r.json()["code"]) == (422, "stock_negative")
    r = await shop.call(
        shop.clerk, "POST", f"/goods/{rice}/movements", json={"kind": "write_off", "quantity": 1, "reason": "受潮"}
    )
    assert (r.status_code, r.json()["stock_after"]) == (201, 2)
    low = await shop.call(shop.clerk, "GET", "/low-stock")
    assert [g["name"] for g in low.json()] == ["大米"]
    with pytest.raises(asyncpg.PostgresError, match="not enough stock"):
        await shop.owner.execute(
            "INSERT INTO points.stock_movements (community_id, good_id, kind, quantity, reason, member_id)"
            " VALUES ($1, $2, 'correction', -3, 'by hand', $3)",
            shop.community_id,
            rice,
            shop.clerk.member_id,
        )
    with pytest.raises(asyncpg.PostgresError, match="is append-only"):
        await shop.owner.execute("DELETE FROM points.stock_movements WHERE good_id = $1", rice)
    total = await shop.owner.fetchval("SELECT sum(quantity) FROM points.stock_movements WHERE good_id = $1", rice)
    assert total == await shop.stock("大米") == 2


async def test_a_price_change_leaves_receipts_as_charged(shop: Shop) -> None:
    v = shop.volunteers[0]
    r = await shop.redeem(v, [("杯子", 1)])
    cup = shop.goods["杯子"]["id"]
    assert (await shop.client.put(f"{shop.url}/goods/{cup}", json={"name": "杯子", "price": 25})).status_code == 200
    again = await shop.call(shop.clerk, "GET", f"/receipts/{r.json()['number']}")
    assert again.json()["lines"][0]["unit_price"] == 20
    r = await shop.redeem(v, [("杯子", 1)])
    assert r.json()["total_points"] == 25


async def test_another_communitys_goods_and_receipts_answer_like_missing_ones(
    shop: Shop, client: Any, owner_conn: asyncpg.Connection, conn: Any
) -> None:
    await shop.redeem(shop.volunteers[0], [("肥皂", 1)])
    other = await make_shop(client, owner_conn, conn, volunteers=1)
    soap = shop.goods["肥皂"]["id"]
    for method, path, body in (
        ("GET", f"/goods/{soap}", None),
        ("PUT", f"/goods/{soap}", {"name": "偷改", "price": 1}),
        ("POST", f"/goods/{soap}/movements", {"kind": "write_off", "quantity": 1, "reason": "x"}),
    ):
        r = await other.call(None, method, path, json=body)
        assert (r.status_code, r.json()["code"]) == (404, "not_found"), r.text
    basket = {"payment_code": await other.code(other.volunteers[0]), "lines": [{"good_id": soap}]}
    r = await other.call(other.clerk, "POST", "/counter/preview", json=basket)
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    # receipt 1 of the first shop is not the other's receipt 1 (it has none)
    r = await other.call(other.clerk, "GET", "/receipts/1")
    assert r.status_code == 404
    assert await shop.stock("肥皂") == 49
    # with no community entered, the application's role sees none of it (row-level security)
    await ledger.leave(conn)
    assert await conn.fetchval("SELECT count(*) FROM points.goods") == 0
    assert await conn.fetchval("SELECT count(*) FROM points.receipts") == 0


def test_every_supermarket_error_has_its_status_and_a_problem_page() -> None:
    from catalog import errors as ce
    from points.errors import CATALOG_STATUS, problem_catalog

    domain = {cls for cls in vars(ce).values() if isinstance(cls, type) and issubclass(cls, ce.CatalogError)}
    assert domain - {ce.CatalogError} - set(CATALOG_STATUS) == set()
    catalog = problem_catalog()
    assert {cls.code for cls in CATALOG_STATUS} <= set(catalog)
    assert catalog["payment_code_other_community"]["status"] == 422


async def test_a_receipt_is_whole_and_nothing_is_added_to_it_later(shop: Shop) -> None:
    """PostgreSQL's own checks on a receipt (migration 0011): lines and sales only in the receipt's transaction,
    and at commit the total is the lines', every line left the stock, and the entry took the total."""
    r = await shop.redeem(shop.volunteers[0], [("肥皂", 1)])
    receipt_id, entry_id = await shop.owner.fetchrow(
        "SELECT id, entry_id FROM points.receipts WHERE community_id = $1 AND number = $2",
        shop.community_id,
        r.json()["number"],
    )
    soap, cup = shop.goods["肥皂"]["id"], shop.goods["杯子"]["id"]
    with pytest.raises(asyncpg.PostgresError, match="never added later"):
        await shop.owner.execute(
            "INSERT INTO points.receipt_lines (community_id, receipt_id, line_no, good_id, name, quantity,"
            " unit_price, amount) VALUES ($1, $2, 2, $3, '杯子', 1, 20, 20)",
            shop.community_id, receipt_id, cup,
        )  # fmt: skip
    with pytest.raises(asyncpg.PostgresError, match="in the transaction of its receipt"):
        await shop.owner.execute(
            "INSERT INTO points.stock_movements (community_id, good_id, kind, quantity, member_id, receipt_id)"
            " VALUES ($1, $2, 'sale', -1, $3, $4)",
            shop.community_id, soap, shop.clerk.member_id, receipt_id,
        )  # fmt: skip
    # a receipt whose lines do not add up to its total is refused at commit (here: a total of 99 for one soap)
    code_id = await shop.owner.fetchval(
        "INSERT INTO points.payment_codes (community_id, member_id, code_hash, expires_at, used_at)"
        " VALUES ($1, $2, sha256('by-hand'::bytea), now() + interval '1 minute', now()) RETURNING id",
        shop.community_id, shop.volunteers[1].member_id,
    )  # fmt: skip

    async def a_receipt_of_99_for_one_soap() -> None:
        async with shop.owner.transaction():
            new = await shop.owner.fetchval(
                "INSERT INTO points.receipts (community_id, number, member_id, clerk_member_id, method,"
                " payment_code_id, entry_id, total_points, idempotency_key, request_hash)"
                " VALUES ($1, 9999, $2, $3, 'code', $4, $5, 99, 'by-hand', '') RETURNING id",
                shop.community_id, shop.volunteers[1].member_id, shop.clerk.member_id, code_id, entry_id,
            )  # fmt: skip
            await shop.owner.execute(
                "INSERT INTO points.receipt_lines (community_id, receipt_id, line_no, good_id, name, quantity,"
                " unit_price, amount) VALUES ($1, $2, 1, $3, '肥皂', 1, 15, 15)",
                shop.community_id, new, soap,
            )  # fmt: skip

    with pytest.raises(asyncpg.PostgresError, match="does not add up"):
        await a_receipt_of_99_for_one_soap()
    assert await shop.stock("肥皂") == 49
