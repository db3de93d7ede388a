"""Recipes for the supermarket's operations in the all-or-nothing proof (tests/test_rollback.py imports this module
before it collects its parametrized test, so these register in its RECIPES like its own)."""

from __future__ import annotations

from typing import Any

import asyncpg

from tests.conftest import bearer_token
from tests.test_rollback import API, Call, Client, World, _idem, _ok, new_phone, recipe, unique


def _base(w: World) -> str:
    return f"{API}/communities/{w.slug}"


async def _good(w: World, c: Client, stock: int = 20, **extra: Any) -> int:
    good = await _ok(
        await c.post(f"{_base(w)}/goods", json={"name": unique("肥皂"), "price": 3, **extra}, headers=w.admin)
    )
    if stock:
        body = {"kind": "restock", "quantity": stock, "reason": "捐赠"}
        await _ok(await c.post(f"{_base(w)}/goods/{good['id']}/movements", json=body, headers=w.admin))
    good_id: int = good["id"]
    return good_id


async def _shopper(w: World, c: Client, o: asyncpg.Connection) -> dict[str, str]:
    """A volunteer who signs in, with 60 points in their wallet: their token's headers."""
    phone = new_phone()
    body = {"display_name": unique("居民"), "phone": phone, "password": "shopper-password-1", "roles": ["volunteer"]}
    member = await _ok(await c.post(f"{_base(w)}/members", json=body, headers=w.admin))
    award = {
        "kind": "award",
        "postings": [
            {"account_id": w.issuance, "amount": -60},
            {"account_id": member["wallet_account_id"], "amount": 60},
        ],
    }
    await _ok(await c.post(f"{_base(w)}/entries", json=award, headers=_idem(w.admin)))
    person = await o.fetchval("SELECT id FROM points.people WHERE phone = $1", phone)
    return {"Authorization": f"Bearer {await bearer_token(o, person)}"}


async def _code(c: Client, w: World, shopper: dict[str, str]) -> str:
    code: str = (await _ok(await c.post(f"{_base(w)}/me/payment-code", headers=shopper)))["code"]
    return code


@recipe("createGood")
async def _create_good(w: World, c: Client, o: asyncpg.Connection) -> Call:
    body = {
        "name": "洗衣粉",
        "price": 12,
        "barcode": unique("69")[:20].replace("-", ""),
        "limit_per_member": 2,
        "limit_period": "week",
    }
    return Call("post", f"{_base(w)}/goods", w.admin, json=body)


@recipe("updateGood")
async def _update_good(w: World, c: Client, o: asyncpg.Connection) -> Call:
    good = await _good(w, c, stock=0)
    body = {"name": "香皂", "price": 4, "limit_per_household": 1, "limit_period": "month"}
    return Call("put", f"{_base(w)}/goods/{good}", w.admin, json=body)


@recipe("moveStock")
async def _move_stock(w: World, c: Client, o: asyncpg.Connection) -> Call:
    body = {"kind": "restock", "quantity": 12, "reason": "采购"}
    return Call("post", f"{_base(w)}/goods/{await _good(w, c, stock=0)}/movements", w.admin, json=body)


@recipe("issuePaymentCode")
async def _issue_code(w: World, c: Client, o: asyncpg.Connection) -> Call:
    shopper = await _shopper(w, c, o)
    await _code(c, w, shopper)  # an earlier code, which the new one replaces in the same transaction
    return Call("post", f"{_base(w)}/me/payment-code", shopper)


@recipe("previewBasket")
async def _preview(w: World, c: Client, o: asyncpg.Connection) -> Call:
    shopper = await _shopper(w, c, o)
    body = {"payment_code": await _code(c, w, shopper), "lines": [{"good_id": await _good(w, c)}]}
    return Call("post", f"{_base(w)}/counter/preview", w.admin, json=body)


@recipe("redeemBasket")
async def _redeem(w: World, c: Client, o: asyncpg.Connection) -> Call:
    # two goods, one of them limited: the code, the entry, the receipt and its number, the lines, the limit's usage
    # and the sale movements are one transaction
    shopper = await _shopper(w, c, o)
    lines = [
        {"good_id": await _good(w, c), "quantity": 2},
        {"good_id": await _good(w, c, limit_per_member=3, limit_period="day")},
    ]
    body = {"payment_code": await _code(c, w, shopper), "lines": lines, "counter": "1号柜台"}
    return Call("post", f"{_base(w)}/counter/redemptions", _idem(w.admin), json=body)


@recipe("returnGoods")
async def _return(w: World, c: Client, o: asyncpg.Connection) -> Call:
    shopper = await _shopper(w, c, o)
    lines = [
        {"good_id": await _good(w, c), "quantity": 2},
        {"good_id": await _good(w, c, limit_per_member=3, limit_period="day")},
    ]
    body = {"payment_code": await _code(c, w, shopper), "lines": lines}
    receipt = await _ok(await c.post(f"{_base(w)}/counter/redemptions", json=body, headers=_idem(w.admin)))
    back = {"reason": "包装破损", "lines": [{"line_no": 1, "quantity": 1}, {"line_no": 2, "quantity": 1}]}
    return Call("post", f"{_base(w)}/receipts/{receipt['number']}/returns", _idem(w.admin), json=back)


@recipe("issueMemberCard")
async def _card(w: World, c: Client, o: asyncpg.Connection) -> Call:
    return Call("post", f"{_base(w)}/members/{w.member}/card", w.admin, json={"pin": "2580"})
