"""Forms for the clerk's supermarket pages in the all-or-nothing walk of tests/test_page_rollback.py (which imports
this module, so that these register in its PAGE_RECIPES): a basket confirmed at the counter (its code, entry,
receipt, lines, limit usage and sale movements), a partial return from the receipt page, a restock on the stock
page; each posted as the page posts it by the world's admin, who may work the counter."""

from __future__ import annotations

import asyncpg

from tests.rollback_catalog import _base, _code, _good, _shopper
from tests.test_page_rollback import ADMIN_PASSWORD, PageCall, _admin_phone, page_recipe
from tests.test_rollback import Client, World, _idem, _ok, unique


def _key() -> str:
    return "page:" + unique("k").replace(":", "-")[:40]


async def _as_admin(w: World, o: asyncpg.Connection, action: str, page: str, form: dict[str, object]) -> PageCall:
    return PageCall(action, page, form, phone=await _admin_phone(w, o), password=ADMIN_PASSWORD)


@page_recipe("pageCounterStep")
async def _confirm(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    shopper = await _shopper(w, c, o)
    goods = [str(await _good(w, c)), str(await _good(w, c, limit_per_member=3, limit_period="day"))]
    form = {"key": _key(), "code": await _code(c, w, shopper), "good": goods, "qty": ["2", "1"], "scan": "",
            "counter": "1号柜台", "action": "confirm"}  # fmt: skip
    counter = f"/c/{w.slug}/counter"
    return await _as_admin(w, o, counter, counter, form)


@page_recipe("pageReceiptReturn")
async def _return(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    shopper = await _shopper(w, c, o)
    lines = [{"good_id": await _good(w, c), "quantity": 2},
             {"good_id": await _good(w, c, limit_per_member=3, limit_period="day")}]  # fmt: skip
    body = {"payment_code": await _code(c, w, shopper), "lines": lines}
    receipt = await _ok(await c.post(f"{_base(w)}/counter/redemptions", json=body, headers=_idem(w.admin)))
    page = f"/c/{w.slug}/receipts/{receipt['number']}"
    form = {"key": _key(), "return_1": "1", "return_2": "1", "reason": "包装破损"}
    return await _as_admin(w, o, f"{page}/return", page, form)


@page_recipe("pageStockMove")
async def _restock(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    good = await _good(w, c, stock=0)
    form = {"kind": "restock", "quantity": "12", "reason": "居民捐赠"}
    return await _as_admin(w, o, f"/c/{w.slug}/stock/{good}/movements", f"/c/{w.slug}/stock", form)
