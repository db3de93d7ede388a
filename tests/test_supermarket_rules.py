"""The supermarket under pressure: bad input for every operation changes nothing (under the 4xx watch); two
counters selling the last unit at once, one payment code shown twice at once, one confirmation sent twice at once,
many redemptions against one wallet; and a hypothesis property that whatever moves, the stock equals the sum of its
movements and is never negative, and the points the wallet lost are the points the supermarket holds."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ledger
from catalog import counter
from points import db
from tests.supermarket_world import Shop, key, make_shop, person


@pytest.fixture
async def shop(client: Any, owner_conn: asyncpg.Connection, conn: Any) -> Shop:
    return await make_shop(client, owner_conn, conn)


MISSING = 999_999_999
GOOD = -1  # stands for the soap's id
CODE = "code"  # stands for a fresh payment code of the first volunteer

BAD: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("POST", "/goods", {"name": "", "price": 5}, "invalid_request"),
    ("POST", "/goods", {"name": "毛巾", "price": 0}, "invalid_request"),
    ("POST", "/goods", {"name": "毛巾", "price": 5, "barcode": "ab"}, "invalid_request"),
    ("POST", "/goods", {"name": "毛巾", "price": 5, "limit_per_member": 2}, "invalid_request"),
    ("POST", "/goods", {"name": "毛巾", "price": 5, "limit_period": "month"}, "invalid_request"),
    ("POST", "/goods", {"name": "毛巾", "price": 5, "limit_per_member": 1, "limit_period": "year"}, "invalid_request"),
    ("POST", "/goods", {"name": "毛巾", "price": 5, "stock": 10}, "invalid_request"),
    ("POST", "/goods", {"name": "毛巾", "price": 5, "photo_id": MISSING}, "not_found"),
    ("POST", "/goods", {"name": "毛巾", "price": 5, "barcode": "6901234567892"}, "conflict"),
    ("PUT", f"/goods/{MISSING}", {"name": "毛巾", "price": 5}, "not_found"),
    ("POST", f"/goods/{GOOD}/movements", {"kind": "sale", "quantity": 1, "reason": "x"}, "invalid_request"),
    ("POST", f"/goods/{GOOD}/movements", {"kind": "restock", "quantity": 0, "reason": "x"}, "invalid_request"),
    ("POST", f"/goods/{GOOD}/movements", {"kind": "restock", "quantity": -5, "reason": "x"}, "invalid_request"),
    ("POST", f"/goods/{GOOD}/movements", {"kind": "restock", "quantity": 5, "reason": ""}, "invalid_request"),
    ("POST", f"/goods/{GOOD}/movements", {"kind": "write_off", "quantity": 51, "reason": "x"}, "stock_negative"),
    ("POST", f"/goods/{GOOD}/movements", {"kind": "correction", "quantity": -51, "reason": "x"}, "stock_negative"),
    ("POST", f"/goods/{MISSING}/movements", {"kind": "restock", "quantity": 5, "reason": "x"}, "not_found"),
    ("POST", "/counter/redemptions", {"lines": [{"good_id": GOOD}]}, "invalid_request"),
    ("POST", "/counter/redemptions", {"payment_code": CODE, "card_number": "880000000001",
                                      "lines": [{"good_id": GOOD}]}, "invalid_request"),
    ("POST", "/counter/redemptions", {"payment_code": CODE, "lines": []}, "invalid_request"),
    ("POST", "/counter/redemptions", {"payment_code": CODE, "lines": [{"good_id": GOOD, "quantity": 0}]},
     "invalid_request"),
    ("POST", "/counter/redemptions", {"payment_code": CODE, "lines": [{"good_id": GOOD, "quantity": 1001}]},
     "invalid_request"),
    ("POST", "/counter/redemptions", {"payment_code": CODE, "lines": [{"good_id": GOOD, "barcode": "6901234567892"}]},
     "invalid_request"),
    ("POST", "/counter/redemptions", {"payment_code": CODE, "lines": [{"good_id": MISSING}]}, "not_found"),
    ("POST", "/counter/redemptions", {"payment_code": CODE, "lines": [{"barcode": "0000000000"}]}, "not_found"),
    ("POST", "/counter/redemptions", {"payment_code": CODE, "lines": [{"good_id": GOOD, "quantity": 51}]},
     "insufficient_stock"),
    ("POST", "/counter/redemptions", {"payment_code": CODE, "lines": [{"good_id": GOOD, "quantity": 14}]},
     "insufficient_points"),
    ("POST", "/counter/redemptions", {"payment_code": "12345678901234567", "lines": [{"good_id": GOOD}]},
     "payment_code_unknown"),
    ("POST", "/counter/redemptions", {"payment_code": "abc", "lines": [{"good_id": GOOD}]}, "invalid_request"),
    ("POST", "/counter/redemptions", {"payment_code": CODE, "for_member_id": MISSING, "lines": [{"good_id": GOOD}]},
     "not_found"),
    ("POST", "/counter/redemptions", {"card_number": "880000000009", "pin": "1234", "lines": [{"good_id": GOOD}]},
     "not_found"),
    ("POST", "/counter/redemptions", {"card_number": "880000000009", "lines": [{"good_id": GOOD}]},
     "invalid_request"),
    ("POST", "/counter/redemptions", {"payment_code": CODE, "lines": [{"good_id": GOOD}], "counter": "x" * 51},
     "invalid_request"),
    ("POST", "/counter/preview", {"payment_code": CODE, "lines": [{"good_id": GOOD, "quantity": 51}]},
     "insufficient_stock"),
    ("POST", "/counter/preview", {"payment_code": CODE, "lines": [{"good_id": GOOD}], "extra": 1}, "invalid_request"),
    ("POST", f"/receipts/{MISSING}/returns", {"reason": "x"}, "not_found"),
    ("POST", "/receipts/1/returns", {"reason": ""}, "invalid_request"),
    ("POST", "/receipts/1/returns", {"reason": "x", "lines": [{"line_no": 9, "quantity": 1}]}, "not_found"),
    ("POST", "/receipts/1/returns", {"reason": "x", "lines": [{"line_no": 1, "quantity": 2}]},
     "return_exceeds_purchase"),
    ("POST", "/receipts/1/returns", {"reason": "x", "lines": [{"line_no": 1, "quantity": 1},
                                                               {"line_no": 1, "quantity": 1}]}, "invalid_request"),
    ("POST", f"/members/{MISSING}/card", {"pin": "1234"}, "not_found"),
    ("POST", "/members/0/card", {"pin": "1234"}, "invalid_request"),
    ("POST", f"/members/{MISSING}/card", {"pin": "12"}, "invalid_request"),
    ("GET", "/counter/daily-totals?day=2026-02-30", None, "invalid_request"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "code"), BAD)
async def test_bad_input_is_refused_and_changes_nothing(
    shop: Shop, no_change_on_4xx: list[str], method: str, path: str, body: dict[str, Any] | None, code: str
) -> None:
    v = shop.volunteers[0]
    soap = shop.goods["肥皂"]["id"]
    # receipt 1: one soap, for the returns' refusals (written before the watch looks)
    first = await shop.redeem(shop.volunteers[1], [("肥皂", 1)])
    assert first.status_code == 201, first.text
    code_now = await shop.code(v)
    path = path.replace(f"/{GOOD}/", f"/{soap}/")
    if body is not None:
        body = dict(body)
        if body.get("payment_code") == CODE:
            body["payment_code"] = code_now
        if "lines" in body:
            body["lines"] = [
                {k: (soap if k == "good_id" and x == GOOD else x) for k, x in line.items()} for line in body["lines"]
            ]
    admin_only = path.startswith(("/goods", "/members", "/counter/daily")) and not path.endswith("/movements")
    caller = None if admin_only else shop.clerk  # None: the admin (the shared client's own token)
    before = len(no_change_on_4xx)
    r = await shop.call(caller, method, path, json=body, headers={"Idempotency-Key": key()})
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["code"] == code, r.text
    assert len(no_change_on_4xx) == before + 1  # the watch saw it change nothing
    assert await shop.balance(v) == 200


async def test_two_counters_selling_the_last_unit_at_once_sell_it_once(shop: Shop, client: Any, conn: Any) -> None:
    second_clerk = await person(client, shop.owner, conn, shop.slug, "刘店员", "1-202", ["clerk"])
    last = await shop.add_good("酱油", 12, 1)
    a, b = shop.volunteers[:2]
    code_a, code_b = await shop.code(a), await shop.code(b)
    answers = await asyncio.gather(
        shop.redeem(a, [("酱油", 1)], payment_code=code_a, counter="1号柜台"),
        shop.redeem(b, [("酱油", 1)], clerk=second_clerk, payment_code=code_b, counter="2号柜台"),
    )
    assert sorted(r.status_code for r in answers) == [201, 422], [r.text for r in answers]
    refused = next(r for r in answers if r.status_code == 422)
    assert (refused.json()["code"], refused.json()["name"]) == ("insufficient_stock", "酱油")
    assert await shop.stock("酱油") == 0
    assert sorted([await shop.balance(a), await shop.balance(b)]) == [188, 200]
    assert await shop.supermarket() == 12
    moved = await shop.owner.fetchval("SELECT sum(quantity) FROM points.stock_movements WHERE good_id = $1", last["id"])
    assert moved == 0


async def test_two_first_baskets_at_once_open_the_supermarket_account_once(shop: Shop, engine: Any) -> None:
    """The supermarket account is opened by a community's first basket. Two counters' first baskets at once: the
    one whose insert waited for the other's commit reads the account the other opened, inside its own
    transaction (it was refused with duplicate_code), and both credit the one account."""
    opened = "SELECT count(*) FROM ledger.accounts WHERE community_id = $1 AND code = 'supermarket'"
    assert await shop.owner.fetchval(opened, shop.community_id) == 0  # nothing sold here yet
    cid = shop.community_id
    async with db.connection(engine) as first, db.connection(engine) as second:

        async def second_basket() -> tuple[int, int]:
            async with ledger.transaction(second):
                await ledger.enter(second, cid)
                account = await counter.supermarket_account(second, cid)
                still_good: int = await second.fetchval("SELECT 1")  # its transaction can go on writing
                return account, still_good

        try:
            async with ledger.transaction(first):
                await ledger.enter(first, cid)
                mine = await counter.supermarket_account(first, cid)
                theirs = asyncio.create_task(second_basket())
                await asyncio.sleep(0.3)  # the second's insert waits on the first's uncommitted account
                assert not theirs.done()
            # the first has committed: the second's insert is refused, and it reads the first's account
            assert await theirs == (mine, 1)
        finally:
            await ledger.leave(first)
            await ledger.leave(second)
    assert await shop.owner.fetchval(opened, shop.community_id) == 1


async def test_one_payment_code_shown_twice_at_once_pays_once(shop: Shop) -> None:
    v = shop.volunteers[0]
    code = await shop.code(v)
    answers = await asyncio.gather(*[shop.redeem(v, [("肥皂", 1)], payment_code=code) for _ in range(3)])
    assert sorted(r.status_code for r in answers) == [201, 422, 422], [r.text for r in answers]
    assert {r.json()["code"] for r in answers if r.status_code == 422} == {"payment_code_used"}
    assert (await shop.balance(v), await shop.stock("肥皂")) == (185, 49)


async def test_one_confirmation_sent_twice_at_once_charges_once(shop: Shop) -> None:
    v = shop.volunteers[0]
    code, idem = await shop.code(v), key()
    answers = await asyncio.gather(*[shop.redeem(v, [("杯子", 2)], payment_code=code, idem=idem) for _ in range(4)])
    assert sorted(r.status_code for r in answers) == [200, 200, 200, 201], [r.text for r in answers]
    assert len({r.json()["number"] for r in answers}) == 1
    assert (await shop.balance(v), await shop.stock("杯子"), await shop.supermarket()) == (160, 28, 40)


async def test_many_redemptions_against_one_wallet_never_overdraw_it(shop: Shop, client: Any, conn: Any) -> None:
    """A card and PIN pays without a fresh code each time: 50 baskets of 15 at once against a wallet of 100."""
    grandma = await person(client, shop.owner, conn, shop.slug, "赵奶奶", "6-606", ["volunteer"], signs_in=False)
    await shop.fund(grandma, 100)
    r = await client.post(f"{shop.url}/members/{grandma.member_id}/card", json={"pin": "1357"})
    card = r.json()["card_number"]
    answers = await asyncio.gather(*[shop.redeem(None, [("肥皂", 1)], card_number=card, pin="1357") for _ in range(50)])
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [201] * 6 + [422] * 44, [r.text for r in answers if r.status_code not in (201, 422)]
    assert {r.json()["code"] for r in answers if r.status_code == 422} == {"insufficient_points"}
    assert (await shop.balance(grandma), await shop.stock("肥皂"), await shop.supermarket()) == (10, 44, 90)
    numbers = sorted(r.json()["number"] for r in answers if r.status_code == 201)
    assert numbers == list(range(1, 7))  # numbered one after another, none lost, none twice


OPS = st.lists(
    st.tuples(st.sampled_from(["restock", "write_off", "correction", "sale", "return"]), st.integers(-6, 6)),
    min_size=1,
    max_size=12,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
async def test_stock_is_the_sum_of_its_movements_and_the_points_balance(shop: Shop, ops: list[tuple[str, int]]) -> None:
    buyer = shop.volunteers[2]
    cup = shop.goods["杯子"]["id"]
    receipts: list[int] = []
    for kind, n in ops:
        if kind in ("restock", "write_off", "correction"):
            quantity = n if kind == "correction" else abs(n)
            r = await shop.call(shop.clerk, "POST", f"/goods/{cup}/movements",
                                json={"kind": kind, "quantity": quantity, "reason": "盘点"})  # fmt: skip
            assert r.status_code in (201, 400, 422), r.text
        elif kind == "sale":
            r = await shop.redeem(buyer, [("杯子", max(1, abs(n)))])
            assert r.status_code in (201, 422), r.text
            if r.status_code == 201:
                receipts.append(r.json()["number"])
        elif receipts:
            r = await shop.call(shop.clerk, "POST", f"/receipts/{receipts[-1]}/returns", json={"reason": "退货"},
                                headers={"Idempotency-Key": key()})  # fmt: skip
            assert r.status_code in (201, 422), r.text
        stock, moved, lowest = await shop.owner.fetchrow(
            "SELECT g.stock, (SELECT sum(quantity) FROM points.stock_movements WHERE good_id = g.id),"
            " (SELECT min(stock_after) FROM points.stock_movements WHERE good_id = g.id) FROM points.goods g"
            " WHERE g.id = $1",
            cup,
        )
        assert stock == moved
        assert stock >= 0
        assert lowest >= 0
    spent = await shop.owner.fetchval(
        "SELECT coalesce(sum(r.total_points), 0) - coalesce((SELECT sum(t.total_points) FROM points.returns t"
        " WHERE t.community_id = $1), 0) FROM points.receipts r WHERE r.community_id = $1",
        shop.community_id,
    )
    assert 200 - await shop.balance(buyer) == await shop.supermarket() == spent
    # every balance is the sum of its postings: the wallet's row and the supermarket's stripes
    wallet, wallet_postings = await shop.owner.fetchrow(
        "SELECT a.balance, (SELECT sum(amount) FROM ledger.postings WHERE account_id = a.id) FROM points.members m"
        " JOIN ledger.accounts a ON a.id = m.wallet_account_id WHERE m.id = $1",
        buyer.member_id,
    )
    assert wallet == wallet_postings
    market_postings = await shop.owner.fetchval(
        "SELECT coalesce(sum(p.amount), 0) FROM ledger.postings p JOIN ledger.accounts a ON a.id = p.account_id"
        " WHERE a.community_id = $1 AND a.code = 'supermarket'",
        shop.community_id,
    )
    assert market_postings == await shop.supermarket()
