"""The clerk's supermarket pages through HTTP (no browser), each step posted as the browser posts the counter's one
form (every field it holds, hidden ones included, plus the button pressed): who may open them; a three-item basket
(code, barcode, a name searched, a choice among several, a quantity changed) confirmed; a retried confirmation
charging once; a basket failing on the third item's stock changing nothing and keeping the basket; every refusal
at the counter worded with the good named, nothing changed; a partial return; a receipt reprinted (58 mm) and
looked up; the stock forms; the day's page. The browser journey is tests/test_browser_counter.py."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import asyncpg
import pytest

from tests.supermarket_world import Shop, make_shop, person
from tests.test_pages import Client, text_of
from tests.test_pages_organize import Browsers, browsers, signed_in

__all__ = ["browsers"]  # the fixture, used by name
SHOP_PASSWORD = "shop-pass-1"  # tests/supermarket_world.py's


@pytest.fixture
async def shop(client: Any, owner_conn: asyncpg.Connection, conn: Any) -> Shop:
    return await make_shop(client, owner_conn, conn)


class _Fields(HTMLParser):
    """The fields a browser would send with one form (text, hidden, number, password inputs; selects)."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id, self.inside, self.select = form_id, False, None
        self.fields: list[tuple[str, str]] = []
        self.first_option: dict[str, str] = {}
        self.chosen: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("id") == self.form_id or a.get("action", "").endswith(self.form_id)
        if not self.inside:
            return
        if tag == "input" and a.get("name") and a.get("type", "text") not in ("submit", "checkbox", "radio"):
            self.fields.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self.select = a.get("name")
        elif tag == "option" and self.select:
            self.first_option.setdefault(self.select, a.get("value", ""))
            if "selected" in a:
                self.fields.append((self.select, a.get("value", "")))
                self.chosen.add(self.select)

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self.select:
            if self.select not in self.chosen:
                self.fields.append((self.select, self.first_option.get(self.select, "")))
            self.select = None
        if tag == "form":
            self.inside = False


def fields_of(html: str, form_id: str = "counter") -> list[tuple[str, str]]:
    parser = _Fields(form_id)
    parser.feed(html)
    assert parser.fields, f"no form {form_id} on the page"
    return parser.fields


async def send(c: Client, url: str, pairs: list[tuple[str, str]]) -> Any:
    """A form's fields as a browser sends them, repeated names (the basket's goods and quantities) in order."""
    data: dict[str, list[str]] = {}
    for k, v in pairs:
        data.setdefault(k, []).append(v)
    return await c.post(url, data=data)


async def press(c: Client, page: Any, action: str = "go", form_id: str = "counter", **typed: str) -> Any:
    """Type into the page's form (``typed`` replaces those fields) and press the button of ``action``."""
    sent = [(k, v) for k, v in fields_of(page.text, form_id) if k not in typed]
    sent += [*list(typed.items()), ("action", action)]
    url = "/c/" + page.url.path.split("/")[2] + "/counter" if form_id == "counter" else form_id
    return await send(c, url, sent)


async def phone_of(shop: Shop, member_id: int) -> str:
    found: str = await shop.owner.fetchval(
        "SELECT p.phone FROM points.people p JOIN points.members m ON m.person_id = p.id WHERE m.id = $1", member_id
    )
    return found


async def clerk_of(shop: Shop, browsers: Browsers, lang: str = "zh_CN") -> Client:
    return await signed_in(browsers, await phone_of(shop, shop.clerk.member_id), SHOP_PASSWORD, lang)


async def counts(shop: Shop) -> tuple[int, int, int, int]:
    """What a basket changes: receipts, stock movements, the ledger's entries, codes used."""
    row = await shop.owner.fetchrow(
        "SELECT (SELECT count(*) FROM points.receipts WHERE community_id = $1) AS r,"
        " (SELECT count(*) FROM points.stock_movements m JOIN points.goods g ON g.id = m.good_id"
        "  WHERE g.community_id = $1) AS m,"
        " (SELECT count(*) FROM ledger.entries WHERE community_id = $1) AS e,"
        " (SELECT count(*) FROM points.payment_codes WHERE community_id = $1 AND used_at IS NOT NULL) AS u",
        shop.community_id,
    )
    return row["r"], row["m"], row["e"], row["u"]


def basket_text(page: Any) -> str:
    return text_of(page.text.split('id="basket"', 1)[1].split("</section>", 1)[0])


async def three_items(c: Client, shop: Shop, code: str) -> Any:
    """The member's code, then soap by barcode, 杯 by name, rice by name; soap ×2 typed into its quantity."""
    page = await c.get(f"/c/{shop.slug}/counter")
    assert page.status_code == 200
    page = await press(c, page, code=code)
    assert "居民0" in text_of(page.text), page.text
    page = await press(c, page, scan="6901234567892")
    page = await press(c, page, scan="杯子")
    page = await press(c, page, scan="大米")
    fields = fields_of(page.text)
    assert [v for k, v in fields if k == "good"] == [str(shop.goods[n]["id"]) for n in ("肥皂", "杯子", "大米")]
    sent = [(k, v) for k, v in fields if k != "qty"] + [("qty", "2"), ("qty", "1"), ("qty", "1"), ("action", "update")]
    page = await send(c, f"/c/{shop.slug}/counter", sent)
    assert page.status_code == 200, page.text
    return page


# ---- who may open the pages ---------------------------------------------------------------------------------------


async def test_the_counter_pages_are_the_clerks_and_admins_not_a_volunteers(shop: Shop, browsers: Browsers) -> None:
    volunteer = await signed_in(browsers, await phone_of(shop, shop.volunteers[0].member_id), SHOP_PASSWORD)
    for path in ("/counter", "/stock", "/receipts", "/counter/today"):
        r = await volunteer.get(f"/c/{shop.slug}{path}")
        assert r.status_code == 403, path
        assert "不允许" in text_of(r.text) or "无权" in text_of(r.text) or r.status_code == 403
    clerk = await clerk_of(shop, browsers, "en")
    for path in ("/counter", "/stock", "/receipts", "/counter/today"):
        r = await clerk.get(f"/c/{shop.slug}{path}")
        assert r.status_code == 200, (path, r.text)
    page = await clerk.get(f"/c/{shop.slug}/counter")
    assert 'id="code"' in page.text
    assert "autofocus" in page.text.split('id="code"', 1)[1].split(">", 1)[0]
    assert "Payment code" in text_of(page.text)
    today = await clerk.get(f"/c/{shop.slug}/counter/today")
    assert 'id="totals"' not in today.text  # the day's totals per clerk are the admin's (getDailyTotals)
    assert "Reconciliation" in text_of(today.text)


# ---- the stories ------------------------------------------------------------------------------------------------


async def test_a_three_item_basket_shows_the_balance_after_and_confirms_once_even_when_retried(
    shop: Shop, browsers: Browsers
) -> None:
    c = await clerk_of(shop, browsers)
    member = shop.volunteers[0]
    page = await three_items(c, shop, await shop.code(member))
    seen = basket_text(page)
    assert "肥皂" in seen
    assert "杯子" in seen
    assert "大米" in seen
    assert 'id="total">94<' in page.text  # 15×2 + 20 + 44
    assert 'id="balance-after">106<' in page.text
    assert "5-000" in text_of(page.text)  # the household, before confirming
    before = await counts(shop)
    confirm = [*fields_of(page.text), ("action", "confirm")]
    r = await send(c, f"/c/{shop.slug}/counter", confirm)
    assert r.status_code == 303, r.text
    receipt_url = r.headers["location"]
    assert "/receipts/" in receipt_url
    # the browser retries the same confirmation (the answer was lost): the same receipt, charged once
    again = await send(c, f"/c/{shop.slug}/counter", confirm)
    assert again.status_code == 303
    assert again.headers["location"] == receipt_url
    assert await shop.balance(member) == 200 - 94
    # back to the confirmed screen (the browser's Back), one more soap, confirm: that screen has sold once
    more = [(k, v) for k, v in confirm if k != "qty"] + [("qty", "3"), ("qty", "1"), ("qty", "1")]
    reused = await send(c, f"/c/{shop.slug}/counter", more)
    assert reused.status_code == 409
    assert "这个页面已经结过另一篮" in text_of(reused.text)
    assert await shop.balance(member) == 200 - 94
    after = await counts(shop)
    assert after[0] == before[0] + 1
    assert after[1] == before[1] + 3
    assert after[3] == before[3] + 1
    receipt = await c.get(receipt_url)
    shown = text_of(receipt.text)
    assert "已付：94 积分" in shown or "94" in shown
    assert "居民0" in shown
    assert "陈店员" in shown


async def test_a_basket_failing_on_the_third_items_stock_changes_nothing_and_keeps_the_basket(
    shop: Shop, browsers: Browsers
) -> None:
    c = await clerk_of(shop, browsers)
    member = shop.volunteers[1]
    page = await c.get(f"/c/{shop.slug}/counter")
    page = await press(c, page, code=await shop.code(member))
    page = await press(c, page, scan="6901234567892")
    page = await press(c, page, scan="杯子")
    page = await press(c, page, scan="大米")
    fields = [(k, v) for k, v in fields_of(page.text) if k != "qty"]
    page = await send(
        c, f"/c/{shop.slug}/counter", [*fields, ("qty", "1"), ("qty", "1"), ("qty", "4"), ("action", "update")]
    )
    assert page.status_code == 422
    assert "大米：库存剩 3，购物篮里有 4。" in text_of(page.text), text_of(page.text)
    before, balance = await counts(shop), await shop.balance(member)
    r = await press(c, page, "confirm")
    assert r.status_code == 422
    assert "大米：库存剩 3，购物篮里有 4。" in text_of(r.text)
    assert [v for k, v in fields_of(r.text) if k == "qty"] == ["1", "1", "4"]  # the basket kept as it was
    assert await counts(shop) == before
    assert await shop.balance(member) == balance
    assert await shop.stock("大米") == 3


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
async def test_every_refusal_at_the_counter_is_worded_and_changes_nothing(
    shop: Shop, browsers: Browsers, client: Any, owner_conn: asyncpg.Connection, conn: Any, lang: str
) -> None:
    c = await clerk_of(shop, browsers, lang)
    zh = lang == "zh_CN"
    soap = str(shop.goods["肥皂"]["id"])

    async def basket_with(code: str, *goods: tuple[str, int]) -> Any:
        page = await c.get(f"/c/{shop.slug}/counter")
        sent = [(k, v) for k, v in fields_of(page.text) if k != "code"] + [("code", code)]
        for name, q in goods:
            sent += [("good", str(shop.goods[name]["id"])), ("qty", str(q))]
        return await send(c, f"/c/{shop.slug}/counter", [*sent, ("action", "confirm")])

    before = await counts(shop)
    # a code typed wrong (or forged), used, expired, another community's
    r = await basket_with("123456789012345678", ("肥皂", 1))
    assert r.status_code == 422
    assert ("没有发放过这样的付款码" if zh else "No such payment code was issued") in text_of(r.text)
    member = shop.volunteers[0]
    code = await shop.code(member)
    assert (await shop.redeem(None, [("肥皂", 1)], payment_code=code)).status_code == 201
    before = await counts(shop)
    r = await basket_with(code, ("肥皂", 1))
    assert ("这个付款码已经付过款" if zh else "This payment code has paid already") in text_of(r.text)
    old = await shop.code(member)
    await shop.code(member)  # a newer one replaces it
    r = await basket_with(old, ("肥皂", 1))
    assert ("这个付款码已过期" if zh else "This payment code has expired") in text_of(r.text)
    other = await make_shop(client, owner_conn, conn, volunteers=1)
    r = await basket_with(await other.code(other.volunteers[0]), ("肥皂", 1))
    assert ("另一个社区" if zh else "another community's") in text_of(r.text)
    # not enough points, a limit per household, a good off sale
    poor = await person(client, owner_conn, conn, shop.slug, "钱少", "9-909", ["volunteer"])
    r = await basket_with(await shop.code(poor), ("肥皂", 1))
    assert ("会员有 0 积分，这一篮要 15" if zh else "The member has 0 points; the basket costs 15") in text_of(r.text)
    r = await basket_with(await shop.code(shop.volunteers[1]), ("大米", 2))
    assert ("大米：每户" if zh else "大米: 1 left of the limit of 1 per household a month") in text_of(r.text)
    good = shop.goods["杯子"]
    body = {k: good[k] for k in ("name", "price", "category", "unit")} | {"active": False}
    assert (await shop.client.put(f"{shop.url}/goods/{good['id']}", json=body)).status_code == 200
    r = await basket_with(await shop.code(shop.volunteers[1]), ("杯子", 1))
    assert ("杯子 已下架" if zh else "杯子 is not on sale") in text_of(r.text)
    # the clerk's own household: another clerk serves them
    same = await person(client, owner_conn, conn, shop.slug, "店员家人", "1-101", ["volunteer"])
    await shop.fund(same, 50)
    r = await basket_with(await shop.code(same), ("肥皂", 1))
    assert r.status_code == 403
    assert ("收银员不为自己或自己家" if zh else "A clerk does not serve themselves") in text_of(r.text)
    # nothing scanned that matches; a confirmation with no member
    page = await c.get(f"/c/{shop.slug}/counter")
    r = await press(c, page, scan="没有这种东西")
    assert r.status_code == 404
    assert ("没有在售商品符合" if zh else "No good on sale matches") in text_of(r.text)
    page = await c.get(f"/c/{shop.slug}/counter")
    sent = [*fields_of(page.text), ("good", soap), ("qty", "1"), ("action", "confirm")]
    r = await send(c, f"/c/{shop.slug}/counter", sent)
    assert r.status_code == 400
    assert [v for k, v in fields_of(r.text) if k == "good"] == [soap]
    after = await counts(shop)
    assert after[0] == before[0]
    assert after[1] == before[1]
    assert after[3] == before[3]


async def test_a_member_card_and_pin_pays_and_a_wrong_pin_is_counted(
    shop: Shop, browsers: Browsers, client: Any
) -> None:
    member = shop.volunteers[2]
    card = {"pin": "2580", "card_number": "620100000099"}
    r = await client.post(f"{shop.url}/members/{member.member_id}/card", json=card)
    assert r.status_code == 201, r.text
    c = await clerk_of(shop, browsers)
    page = await c.get(f"/c/{shop.slug}/counter")
    page = await press(c, page, card="620100000099")
    assert "居民2" in text_of(page.text)
    assert 'id="pin"' in page.text
    page = await press(c, page, scan="6901234567892")
    wrong = await press(c, page, "confirm", pin="1111")
    assert wrong.status_code == 422
    assert "PIN 不对：还能试 4 次" in text_of(wrong.text), text_of(wrong.text)
    done = await press(c, wrong, "confirm", pin="2580")
    assert done.status_code == 303, done.text
    assert await shop.balance(member) == 200 - 15


async def test_a_partial_return_and_a_receipt_reprinted_and_looked_up(shop: Shop, browsers: Browsers) -> None:
    member = shop.volunteers[0]
    r = await shop.redeem(member, [("肥皂", 3), ("杯子", 1)], counter="2号柜台")
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    c = await clerk_of(shop, browsers)
    found = await c.get(f"/c/{shop.slug}/receipts", params={"number": str(number)})
    assert found.status_code == 303
    assert found.headers["location"] == f"/c/{shop.slug}/receipts/{number}"
    missing = await c.get(f"/c/{shop.slug}/receipts", params={"number": "99999"})
    assert missing.status_code == 404
    assert "找不到" in text_of(missing.text)
    page = await c.get(f"/c/{shop.slug}/receipts/{number}")
    assert f"小票 {number}" in text_of(page.text)
    assert "2号柜台" in text_of(page.text)
    narrow = await c.get(f"/c/{shop.slug}/receipts/{number}", params={"width": "58"})
    assert 'class="receipt-page narrow w58"' in narrow.text
    assert "return-form" not in narrow.text
    action = f"/c/{shop.slug}/receipts/{number}/return"
    soap_line = 1 if shop.goods["肥皂"]["id"] < shop.goods["杯子"]["id"] else 2
    before = await counts(shop)
    # more than was bought, and no reason: refused in words, nothing changed
    too_many = [(k, v) for k, v in fields_of(page.text, action) if k not in (f"return_{soap_line}", "reason")]
    refused = await send(c, action, [*too_many, (f"return_{soap_line}", "4"), ("reason", "破损")])
    assert refused.status_code == 422
    assert "肥皂：这张小票上还能退 3" in text_of(refused.text), text_of(refused.text)
    no_reason = [(k, v) for k, v in fields_of(page.text, action) if k != f"return_{soap_line}"]
    refused = await send(c, action, [*no_reason, (f"return_{soap_line}", "1")])
    assert refused.status_code == 400
    assert "原因" in text_of(refused.text)
    assert await counts(shop) == before
    form = [(k, v) for k, v in fields_of(page.text, action) if k not in (f"return_{soap_line}", "reason")]
    form += [(f"return_{soap_line}", "2"), ("reason", "多拿了")]
    done = await send(c, action, form)
    assert done.status_code == 303, done.text
    again = await send(c, action, form)  # a retry gives the points back once
    assert again.status_code == 303
    assert await shop.balance(member) == 200 - 65 + 30
    assert await shop.stock("肥皂") == 50 - 3 + 2
    shown = text_of((await c.get(done.headers["location"])).text)
    assert "已退 2" in shown
    assert "多拿了" in shown


async def test_the_stock_page_lists_low_stock_first_and_records_a_restock_with_why(
    shop: Shop, browsers: Browsers
) -> None:
    c = await clerk_of(shop, browsers)
    page = await c.get(f"/c/{shop.slug}/stock")
    low = text_of(page.text.split('id="low-h"', 1)[1].split('id="all-h"', 1)[0])
    assert "大米" in low
    assert "肥皂" not in low
    rice = shop.goods["大米"]["id"]
    action = f"/c/{shop.slug}/stock/{rice}/movements"
    form = [(k, v) for k, v in fields_of(page.text, action) if k not in ("quantity", "reason")]
    refused = await send(c, action, [*form, ("quantity", "10"), ("reason", "")])
    assert refused.status_code == 400
    assert 'aria-invalid="true"' in refused.text
    below = [(k, v) for k, v in form if k != "kind"] + [("kind", "write_off"), ("quantity", "9"), ("reason", "过期")]
    refused = await send(c, action, below)
    assert refused.status_code == 422
    assert "库存会低于零" in text_of(refused.text), text_of(refused.text)
    assert await shop.stock("大米") == 3
    done = await send(c, action, [*form, ("quantity", "10"), ("reason", "捐赠")])
    assert done.status_code == 303, done.text
    assert await shop.stock("大米") == 13


async def test_the_day_page_shows_the_admin_the_totals_and_the_reconciliation_agrees(
    shop: Shop, browsers: Browsers
) -> None:
    assert (await shop.redeem(shop.volunteers[0], [("肥皂", 2)], counter="1号柜台")).status_code == 201
    from tests.conftest import OPERATOR_PASSWORD, OPERATOR_PHONE

    admin = await signed_in(browsers, OPERATOR_PHONE, OPERATOR_PASSWORD)
    page = await admin.get(f"/c/{shop.slug}/counter/today")
    assert page.status_code == 200
    shown = text_of(page.text)
    assert "陈店员" in shown
    assert "1号柜台" in shown
    assert "30" in shown
    assert "小票、库存和账目一致" in shown, shown


async def test_a_household_member_pays_for_one_without_a_phone_and_the_receipt_says_proxy(
    shop: Shop, browsers: Browsers, client: Any, owner_conn: asyncpg.Connection, conn: Any
) -> None:
    payer = shop.volunteers[0]  # household 5-000
    grandma = await person(client, owner_conn, conn, shop.slug, "王奶奶", "5-000", ["volunteer"], signs_in=False)
    await shop.fund(grandma, 40)
    c = await clerk_of(shop, browsers)
    page = await c.get(f"/c/{shop.slug}/counter")
    page = await press(c, page, code=await shop.code(payer))
    assert 'id="for_member"' in page.text
    assert "王奶奶" in page.text.split('id="for_member"', 1)[1].split("</select>", 1)[0]
    page = await press(c, page, "update", for_member=str(grandma.member_id))
    assert "王奶奶" in text_of(page.text.split('id="member"', 1)[1].split("</dl>", 1)[0])
    page = await press(c, page, scan="6901234567892")
    assert 'id="balance-after">25<' in page.text  # her 40 points, not the payer's
    done = await press(c, page, "confirm")
    assert done.status_code == 303, done.text
    assert await shop.balance(grandma) == 25
    assert await shop.balance(payer) == 200
    shown = text_of((await c.get(done.headers["location"])).text)
    assert "王奶奶" in shown
    assert "代办" in shown


async def test_a_quantity_of_0_takes_the_line_out_and_one_that_is_no_number_is_refused_keeping_the_basket(
    shop: Shop, browsers: Browsers
) -> None:
    c = await clerk_of(shop, browsers, "en")
    page = await c.get(f"/c/{shop.slug}/counter")
    page = await press(c, page, code=await shop.code(shop.volunteers[0]))
    page = await press(c, page, scan="6901234567892")
    page = await press(c, page, scan="杯子")
    fields = [(k, v) for k, v in fields_of(page.text) if k != "qty"]
    bad = await send(c, f"/c/{shop.slug}/counter", [*fields, ("qty", "two"), ("qty", "1"), ("action", "update")])
    assert bad.status_code == 400
    assert [v for k, v in fields_of(bad.text) if k == "good"] == [str(shop.goods[n]["id"]) for n in ("肥皂", "杯子")]
    assert 'role="alert"' in bad.text
    out = await send(c, f"/c/{shop.slug}/counter", [*fields, ("qty", "0"), ("qty", "1"), ("action", "update")])
    assert out.status_code == 200
    assert [v for k, v in fields_of(out.text) if k == "good"] == [str(shop.goods["杯子"]["id"])]
    assert 'id="total">20<' in out.text


async def test_a_card_pin_that_is_no_pin_and_an_unknown_card_are_worded(shop: Shop, browsers: Browsers) -> None:
    c = await clerk_of(shop, browsers)
    page = await c.get(f"/c/{shop.slug}/counter")
    unknown = await press(c, page, card="620100009999")
    assert unknown.status_code == 404
    assert "这个社区没有这个号码的会员卡" in text_of(unknown.text)
    member = shop.volunteers[2]
    card = {"pin": "2580", "card_number": "620100000098"}
    assert (await shop.client.post(f"{shop.url}/members/{member.member_id}/card", json=card)).status_code == 201
    page = await press(c, page, card="620100000098")
    page = await press(c, page, scan="6901234567892")
    wrong = await press(c, page, "confirm", pin="12")
    assert wrong.status_code == 422
    assert "密码是 4 到 6 位数字" in text_of(wrong.text)
    assert await shop.balance(member) == 200
