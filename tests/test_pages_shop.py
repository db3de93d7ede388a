"""The volunteer's supermarket pages through HTTP (no browser): who may open them; the payment code page (a code
the counter takes, no-store, renewed by the poll only near its end, paid → the receipt and the balance now, a code
replaced elsewhere not fought over, 代办 for a household member without a phone); the catalogue (stock states,
limits left for me and my household, search); my receipts and a receipt with its return. Each refusal is worded
and changes nothing. The browser journey is in tests/test_browser_shop.py."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from catalog import codes
from points.app import create_app
from points.pages import shop as shop_pages
from tests.conftest import OPERATOR_PASSWORD, OPERATOR_PHONE
from tests.conftest import test_settings as quiet_settings
from tests.earning_world import Person
from tests.supermarket_world import Shop, key, make_shop, person
from tests.test_api import create_community
from tests.test_pages import Client, csrf_of, text_of

PASSWORD = "shop-pass-1"  # tests/supermarket_world.py's
Browsers = Callable[[], Awaitable[Client]]
HTMX = {"HX-Request": "true"}


@pytest.fixture
async def shop(client: Any, owner_conn: asyncpg.Connection, conn: Any) -> Shop:
    return await make_shop(client, owner_conn, conn, volunteers=2)


@pytest.fixture
async def browsers(database_url: str) -> AsyncIterator[Browsers]:
    """Browsers of this test's own (each its own cookie jar and app), following no redirects."""
    opened: list[Any] = []

    async def new() -> Client:
        c = AsyncTestClient(app=create_app(quiet_settings(), database_url=database_url))
        await c.__aenter__()
        c.follow_redirects = False
        opened.append(c)
        return c

    yield new
    for c in reversed(opened):
        await c.__aexit__(None, None, None)


async def signed_in(browsers: Browsers, phone: str, password: str = PASSWORD, lang: str = "zh_CN") -> Client:
    c = await browsers()
    c.cookies.set("lang", lang)
    form = await c.get("/login")
    r = await c.post("/login", data={"phone": phone, "password": password, "_csrf_token": csrf_of(form.text)})
    assert r.status_code == 303, r.text
    return c


async def as_(browsers: Browsers, s: Shop, who: Person, lang: str = "zh_CN") -> Client:
    found: str = await s.owner.fetchval(
        "SELECT p.phone FROM points.people p JOIN points.members m ON m.person_id = p.id WHERE m.id = $1",
        who.member_id,
    )
    return await signed_in(browsers, found, lang=lang)


def digits_of(html: str) -> str:
    found = re.search(r'id="pay-code"[^>]*>([^<]*)<', html)
    assert found, "the page shows a code"
    assert re.fullmatch(r"[0-9]{6} [0-9]{6} [0-9]{6}", found.group(1)), found.group(1)
    return found.group(1).replace(" ", "")


def main_of(html: str) -> str:
    return text_of(html.split('<main id="main">', 1)[1])


def shown_id(html: str) -> int:
    found = re.search(r"\?shown=([0-9]+)", html)
    assert found, "the fragment asks after its code"
    return int(found.group(1))


async def codes_count(s: Shop) -> int:
    found: int = await s.owner.fetchval(
        "SELECT count(*) FROM points.payment_codes WHERE community_id = $1", s.community_id
    )
    return found


async def preview(s: Shop, code: str, **extra: Any) -> Any:
    body = {"payment_code": code, "lines": [{"good_id": s.goods["肥皂"]["id"], "quantity": 1}], **extra}
    return await s.call(s.clerk, "POST", "/counter/preview", json=body)


# ---- who may open them ---------------------------------------------------------------------------------------------


async def test_the_shop_pages_open_for_members_with_a_wallet_and_the_nav_shows_them(
    shop: Shop, browsers: Browsers, conn: Any
) -> None:
    s = shop
    r = await s.redeem(s.volunteers[0], [("肥皂", 1)])
    number = r.json()["number"]
    pages = [f"/c/{s.slug}/pay", f"/c/{s.slug}/shop", f"/c/{s.slug}/me/receipts", f"/c/{s.slug}/me/receipts/{number}"]
    volunteer = await as_(browsers, s, s.volunteers[0])
    for url in pages:
        r = await volunteer.get(url)
        assert r.status_code == 200, (url, r.text)
        assert '<html lang="zh-CN">' in r.text
        nav = text_of(r.text.split('aria-label="栏目"', 1)[1].split("</nav>", 1)[0])
        assert "付款码" in nav
        assert "积分超市" in nav
        assert "收银台" not in nav
        assert "库存" not in nav
    clerk = await as_(browsers, s, s.clerk)
    r = await clerk.get(f"/c/{s.slug}/shop")
    nav = text_of(r.text.split('aria-label="栏目"', 1)[1].split("</nav>", 1)[0])
    assert "收银台" in nav
    assert "库存" in nav
    assert "付款码" in nav
    assert f'href="/c/{s.slug}/shop" aria-current="page"' in r.text
    anonymous = await browsers()
    for url in pages:
        r = await anonymous.get(url)
        assert r.status_code == 303
        assert r.headers["location"].startswith("/login?next=")
    # a member of another community, signed in, opens none of them, and no code is issued for them here
    elsewhere = await create_community(s.client)
    stranger = await person(s.client, s.owner, conn, elsewhere, "外人", "9-999", ["volunteer"])
    outsider = await as_(browsers, s, stranger)
    before = await codes_count(s)
    refused = await outsider.get(f"/c/{s.slug}/me")  # as every page of a community that is not theirs answers
    assert refused.status_code in (403, 404)
    for url in pages:
        r = await outsider.get(url)
        assert r.status_code == refused.status_code, url
        assert main_of(r.text) == main_of(refused.text)
    assert await codes_count(s) == before


# ---- the payment code ----------------------------------------------------------------------------------------------


async def test_the_pay_page_shows_a_code_the_counter_takes_with_its_qr_and_balance_never_cached(
    shop: Shop, browsers: Browsers
) -> None:
    s = shop
    volunteer = await as_(browsers, s, s.volunteers[0])
    r = await volunteer.get(f"/c/{s.slug}/pay")
    assert r.status_code == 200
    assert "no-store" in r.headers["cache-control"]
    code = digits_of(r.text)
    assert '<svg class="qr"' in r.text or 'class="qr"' in r.text
    assert "可用：200 积分" in text_of(r.text)
    assert re.search(r'<meta http-equiv="refresh" content="(\d+)">', r.text)  # without JavaScript, it reloads
    assert 'hx-trigger="every 3s"' in r.text
    found = await preview(s, code)
    assert found.status_code == 200, found.text
    assert found.json()["member_id"] == s.volunteers[0].member_id
    # in English too
    english = await as_(browsers, s, s.volunteers[1], lang="en")
    r = await english.get(f"/c/{s.slug}/pay")
    assert "Show this code to the clerk" in text_of(r.text)
    assert "Available: 200 points" in text_of(r.text)
    digits_of(r.text)


async def test_the_poll_keeps_a_good_code_renews_one_near_its_end_and_shows_a_payment(
    shop: Shop, browsers: Browsers, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = shop
    volunteer = await as_(browsers, s, s.volunteers[0])
    page = await volunteer.get(f"/c/{s.slug}/pay")
    code, code_id = digits_of(page.text), shown_id(page.text)
    # while the code has long to go, the poll changes nothing: the clerk may be typing it
    before = await codes_count(s)
    r = await volunteer.get(f"/c/{s.slug}/pay?shown={code_id}", headers=HTMX)
    assert r.status_code == 204
    assert "no-store" in r.headers["cache-control"]
    assert await codes_count(s) == before
    assert (await preview(s, code)).status_code == 200
    # near its end, the poll brings a new code (and the old one no longer pays): "near" stretched to the whole
    # two minutes, since PostgreSQL lets no code's expiry be rewritten
    monkeypatch.setattr(shop_pages, "RENEW_AHEAD_S", codes.CODE_LIFETIME_S + 1)
    r = await volunteer.get(f"/c/{s.slug}/pay?shown={code_id}", headers=HTMX)
    assert r.status_code == 200
    assert "<html" not in r.text  # the fragment alone
    fresh, fresh_id = digits_of(r.text), shown_id(r.text)
    assert fresh != code
    assert fresh_id != code_id
    assert (await preview(s, code)).json()["code"] == "payment_code_expired"
    # paid at the counter: the next poll says so, with the receipt and the balance now, and issues no code
    monkeypatch.undo()
    paid = await s.redeem(None, [("肥皂", 2)], payment_code=fresh)
    assert paid.status_code == 201, paid.text
    before = await codes_count(s)
    r = await volunteer.get(f"/c/{s.slug}/pay?shown={fresh_id}", headers=HTMX)
    assert r.status_code == 200
    words = text_of(r.text)
    assert f"已付款：小票 {paid.json()['number']} 号，30 积分" in words
    assert "现在可用 170 积分" in words
    assert f'href="/c/{s.slug}/me/receipts/{paid.json()["number"]}"' in r.text
    assert "hx-trigger" not in r.text  # the poll stops
    assert await codes_count(s) == before


async def test_a_code_opened_on_another_page_is_said_so_and_not_fought_over(shop: Shop, browsers: Browsers) -> None:
    s = shop
    phone = await as_(browsers, s, s.volunteers[0])
    first = await phone.get(f"/c/{s.slug}/pay")
    second = await phone.get(f"/c/{s.slug}/pay")  # another tab, or the same person's other phone
    before = await codes_count(s)
    r = await phone.get(f"/c/{s.slug}/pay?shown={shown_id(first.text)}", headers=HTMX)
    assert r.status_code == 200
    assert "较新的付款码" in text_of(r.text)
    assert "hx-trigger" not in r.text
    assert await codes_count(s) == before  # it did not replace the other page's code
    assert (await preview(s, digits_of(second.text))).status_code == 200
    assert (await preview(s, digits_of(first.text))).json()["code"] == "payment_code_expired"


async def test_daiban_a_member_shows_their_code_for_a_household_member_without_a_phone(
    shop: Shop, browsers: Browsers, conn: Any
) -> None:
    s = shop
    grandma = await person(s.client, s.owner, conn, s.slug, "王奶奶", "5-000", ["volunteer"], signs_in=False)
    await s.fund(grandma, 80)
    volunteer = await as_(browsers, s, s.volunteers[0])  # of household 5-000, as 王奶奶
    r = await volunteer.get(f"/c/{s.slug}/pay")
    assert f'href="/c/{s.slug}/pay?for={grandma.member_id}"' in r.text
    assert "王奶奶" in text_of(r.text)
    r = await volunteer.get(f"/c/{s.slug}/pay?for={grandma.member_id}")
    assert r.status_code == 200
    words = text_of(r.text)
    assert "代办：为 王奶奶 付款" in words
    assert "王奶奶 可用 80 积分" in words
    code, code_id = digits_of(r.text), shown_id(r.text)
    assert f"for={grandma.member_id}" in r.text.split("hx-get=", 1)[1].split(">", 1)[0]
    paid = await s.redeem(None, [("杯子", 1)], payment_code=code, for_member_id=grandma.member_id)
    assert paid.status_code == 201, paid.text
    r = await volunteer.get(f"/c/{s.slug}/pay?shown={code_id}&for={grandma.member_id}", headers=HTMX)
    words = text_of(r.text)
    assert "代办：王奶奶" in words
    assert "现在可用 60 积分" in words
    # someone not of the household, or who signs in themselves, is refused, worded, and no code is issued
    before = await codes_count(s)
    for other in (s.volunteers[1].member_id, s.clerk.member_id, 10**12):
        r = await volunteer.get(f"/c/{s.slug}/pay?for={other}")
        assert r.status_code == 404, other
        assert "未找到" in text_of(r.text) or "找不到" in text_of(r.text)
    r = await volunteer.get(f"/c/{s.slug}/pay?for=abc")
    assert r.status_code == 400
    assert await codes_count(s) == before


# ---- the catalogue -----------------------------------------------------------------------------------------------


async def test_the_catalogue_shows_prices_stock_and_the_limits_left_for_me_and_my_household(
    shop: Shop, browsers: Browsers, conn: Any
) -> None:
    s = shop
    await s.add_good("毛巾", 25, 0, category="日用品")  # out of stock
    await s.add_good("旧毯子", 30, 4, category="日用品", active=False)  # off sale
    volunteer = await as_(browsers, s, s.volunteers[0])
    r = await volunteer.get(f"/c/{s.slug}/shop")
    assert r.status_code == 200
    page = r.text
    words = text_of(page)
    assert words.index("日用品") < words.index("肥皂")
    assert words.index("粮油") < words.index("大米")
    soap = text_of(page.split(f'id="good-{s.goods["肥皂"]["id"]}"', 1)[1].split("</li>", 1)[0])
    assert "15 积分" in soap
    assert "有货" in soap
    rice = text_of(page.split(f'id="good-{s.goods["大米"]["id"]}"', 1)[1].split("</li>", 1)[0])
    assert "44 积分 / 袋" in rice
    assert "仅剩 3 袋" in rice  # 3 left, at or below its low-stock mark
    assert "本户：本月还可买 1 袋（限 1 袋）" in rice
    towel = text_of(page.split(f'id="good-{s.goods["毛巾"]["id"]}"', 1)[1].split("</li>", 1)[0])
    assert "已售完" in towel
    assert "旧毯子" not in words
    # a second member of the household buys the month's bag of rice: the first sees none left for the household
    neighbour = await person(s.client, s.owner, conn, s.slug, "居民甲", "5-000", ["volunteer"])
    await s.fund(neighbour, 100)
    assert (await s.redeem(neighbour, [("大米", 1)])).status_code == 201
    rice = text_of(
        (await volunteer.get(f"/c/{s.slug}/shop")).text.split(f'id="good-{s.goods["大米"]["id"]}"', 1)[1]
    ).split("</li>", 1)[0]
    assert "本户：本月还可买 0 袋（限 1 袋）" in rice
    # search, and a search that finds nothing, in English
    r = await volunteer.get(f"/c/{s.slug}/shop", params={"q": "杯"})
    assert "杯子" in text_of(r.text)
    assert "肥皂" not in text_of(r.text)
    english = await as_(browsers, s, s.volunteers[1], lang="en")
    r = await english.get(f"/c/{s.slug}/shop", params={"q": "nothing-like-it"})
    assert "No good on sale matches" in text_of(r.text)
    r = await english.get(f"/c/{s.slug}/shop")
    assert "Your household: 1 of 1 袋 left this month." in text_of(r.text)
    assert "Only 2 袋 left" in text_of(r.text)  # the rice, after the neighbour's bag


# ---- my receipts -------------------------------------------------------------------------------------------------


async def test_my_receipts_list_mine_only_and_a_receipt_shows_its_lines_and_return(
    shop: Shop, browsers: Browsers
) -> None:
    s = shop
    mine = (await s.redeem(s.volunteers[0], [("肥皂", 2), ("杯子", 1)])).json()
    theirs = (await s.redeem(s.volunteers[1], [("杯子", 1)])).json()
    soap_line = next(x["line_no"] for x in mine["lines"] if x["name"] == "肥皂")
    body = {"reason": "包装破损", "lines": [{"line_no": soap_line, "quantity": 1}]}
    r = await s.call(s.clerk, "POST", f"/receipts/{mine['number']}/returns", json=body,
                     headers={"Idempotency-Key": key()})  # fmt: skip
    assert r.status_code == 201, r.text
    volunteer = await as_(browsers, s, s.volunteers[0])
    r = await volunteer.get(f"/c/{s.slug}/me/receipts")
    words = text_of(r.text)
    assert f"小票 {mine['number']} 号" in words
    assert f"小票 {theirs['number']} 号" not in words
    assert "−50" in words or "-50" in words
    assert "已退回 15 积分" in words
    r = await volunteer.get(f"/c/{s.slug}/me/receipts/{mine['number']}")
    words = text_of(r.text)
    assert "肥皂" in words
    assert "杯子" in words
    assert "陈店员" in words
    assert "已退 1" in words
    assert "原因：包装破损" in words
    assert "合计 50" in words
    # another member's receipt is as missing as one that does not exist; a number that is none is refused
    for number in (theirs["number"], 999_999):
        r = await volunteer.get(f"/c/{s.slug}/me/receipts/{number}")
        assert r.status_code == 404
        assert "肥皂" not in text_of(r.text)
    assert (await volunteer.get(f"/c/{s.slug}/me/receipts/0")).status_code == 400
    english = await as_(browsers, s, s.volunteers[1], lang="en")
    r = await english.get(f"/c/{s.slug}/me/receipts/{theirs['number']}")
    assert "Receipt no. {}".format(theirs["number"]) in text_of(r.text)
    r = await english.get(f"/c/{s.slug}/me/receipts")
    assert "Clerk: 陈店员" in text_of(r.text)


async def test_my_points_links_a_redemption_and_its_return_to_the_receipt(shop: Shop, browsers: Browsers) -> None:
    """我的积分's history: the line a basket took and the line its return gave back both lead to the receipt; a
    line of another kind (the award that paid for it) leads nowhere, and another member's receipt is never linked."""
    s = shop
    mine = (await s.redeem(s.volunteers[0], [("肥皂", 2)])).json()
    theirs = (await s.redeem(s.volunteers[1], [("杯子", 1)])).json()
    soap_line = mine["lines"][0]["line_no"]
    body = {"reason": "包装破损", "lines": [{"line_no": soap_line, "quantity": 1}]}
    r = await s.call(s.clerk, "POST", f"/receipts/{mine['number']}/returns", json=body,
                     headers={"Idempotency-Key": key()})  # fmt: skip
    assert r.status_code == 201, r.text
    volunteer = await as_(browsers, s, s.volunteers[0])
    page = (await volunteer.get(f"/c/{s.slug}/me")).text
    link = f'href="/c/{s.slug}/me/receipts/{mine["number"]}"'
    assert page.count(link) == 2  # the redemption and the return
    assert f"小票 {mine['number']}" in text_of(page)
    assert f'/me/receipts/{theirs["number"]}"' not in page
    rows = re.findall(r'<li class="line">(.*?)</li>', page, re.S)
    assert len(rows) > 2  # the line that paid the wallet in, too
    assert sum("/me/receipts/" in row for row in rows) == 2  # ...which leads to no receipt


async def test_an_admin_shops_as_a_member_too_from_their_own_wallet(shop: Shop, browsers: Browsers) -> None:
    """The operator opened the community as its admin, a member with a wallet of their own (and no points)."""
    s = shop
    admin = await signed_in(browsers, OPERATOR_PHONE, OPERATOR_PASSWORD)
    r = await admin.get(f"/c/{s.slug}/pay")
    assert r.status_code == 200, r.text
    assert "可用：0 积分" in text_of(r.text)
    refused = await preview(s, digits_of(r.text))
    assert refused.json()["code"] == "insufficient_points"  # the code is the admin's: their empty wallet pays


async def test_a_suspended_member_is_refused_every_shop_page_and_gets_no_code(shop: Shop, browsers: Browsers) -> None:
    """As the API refuses them (points/auth/access.py): a suspended member pays for nothing and reads nothing here."""
    s = shop
    bought = (await s.redeem(s.volunteers[0], [("杯子", 1)])).json()
    volunteer = await as_(browsers, s, s.volunteers[0])
    r = await s.client.post(f"{s.url}/members/{s.volunteers[0].member_id}/status", json={"status": "suspended"})
    assert r.status_code == 200, r.text
    before = await codes_count(s)
    for url in ("/pay", "/shop", "/me/receipts", f"/me/receipts/{bought['number']}"):
        r = await volunteer.get(f"/c/{s.slug}{url}")
        assert r.status_code == 403, url
        assert "没有权限" in main_of(r.text)
    assert await codes_count(s) == before


async def test_signed_out_elsewhere_the_poll_sends_the_whole_page_to_sign_in(shop: Shop, browsers: Browsers) -> None:
    """htmx would follow a redirect itself and swap the sign-in page into the code's place: the poll is told to
    send the page there instead (HX-Redirect), and back to the code page after."""
    s = shop
    volunteer = await as_(browsers, s, s.volunteers[0])
    page = await volunteer.get(f"/c/{s.slug}/pay")
    volunteer.cookies.clear()  # the session ended (signed out on another phone, a password change)
    headers = {**HTMX, "HX-Current-URL": f"http://testserver.local/c/{s.slug}/pay"}
    r = await volunteer.get(f"/c/{s.slug}/pay?shown={shown_id(page.text)}", headers=headers)
    assert r.status_code == 401
    assert r.headers["hx-redirect"] == f"/login?next=/c/{s.slug}/pay"
    assert r.content == b""
    # without htmx it is the usual redirect
    r = await volunteer.get(f"/c/{s.slug}/pay")
    assert r.status_code == 303
    assert r.headers["location"] == f"/login?next=/c/{s.slug}/pay"


async def test_my_receipts_come_20_a_page_newest_first(shop: Shop, browsers: Browsers) -> None:
    s = shop
    await s.fund(s.volunteers[0], 200)
    numbers = [(await s.redeem(s.volunteers[0], [("肥皂", 1)])).json()["number"] for _ in range(21)]
    volunteer = await as_(browsers, s, s.volunteers[0])
    first = await volunteer.get(f"/c/{s.slug}/me/receipts")
    shown = [int(n) for n in re.findall(r"/me/receipts/([0-9]+)\"", first.text)]
    assert shown == sorted(numbers, reverse=True)[:20]
    more = re.search(r'href="(/c/[^"]+/me/receipts\?before=[0-9]+)"', first.text)
    assert more, "a link to the earlier ones"
    second = await volunteer.get(more.group(1))
    assert [int(n) for n in re.findall(r"/me/receipts/([0-9]+)\"", second.text)] == [min(numbers)]
    assert "更早的小票" not in main_of(second.text)  # nothing earlier
    assert "回到最新记录" in main_of(second.text)
