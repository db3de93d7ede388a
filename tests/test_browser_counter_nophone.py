"""Members without a phone at the counter, in a real browser (tests/test_browser.py's server, browser and admin
fixtures): 赵玉梅 pays with her printed member card and her PIN, typed by her; a wrong PIN is refused with the tries
left and the basket stays; the right one pays. Then 陈刚 of her household shows his own payment code and the clerk
rings up a basket for her (代办), which her receipt records as such."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import Browser, expect

from tests.test_browser import PASSWORD, Admin, check_accessible, shoot, sign_in
from tests.test_browser import admin as admin  # the fixtures, used by name
from tests.test_browser import browser as browser
from tests.test_browser import server as server
from tests.test_browser_counter import LAPTOP, PHONE, _ok, keyboard_sign_in, shop_world

pytestmark = pytest.mark.browser


async def test_a_member_without_a_phone_pays_by_card_and_pin_or_by_a_household_member_s_code(
    browser: Browser, server: str, admin: Admin
) -> None:
    slug, _volunteer, clerk_phone = await shop_world(admin, "和睦社区")
    base = f"/api/v1/communities/{slug}"
    grandma = await _ok(await admin.http.post(f"{base}/members", json={"display_name": "赵玉梅", "household": "5-502"}))
    son_phone = "137" + str(uuid.uuid4().int)[:8]
    son = {"display_name": "陈刚", "phone": son_phone, "password": PASSWORD, "roles": ["volunteer"],
           "household": "5-502"}  # fmt: skip
    await _ok(await admin.http.post(f"{base}/members", json=son))
    issuance = next(a for a in await _ok(await admin.http.get(f"{base}/accounts")) if a["code"] == "issuance")
    await admin.award(slug, issuance["id"], grandma["wallet_account_id"], 60, "帮邻居看孩子")
    card = (await _ok(await admin.http.post(f"{base}/members/{grandma['id']}/card", json={"pin": "2580"})))[
        "card_number"
    ]

    clerk = await browser.new_page(viewport=LAPTOP)
    counter = f"/c/{slug}/counter"
    await keyboard_sign_in(clerk, server, clerk_phone, counter)
    await clerk.get_by_text("没有手机：会员卡和密码").click()
    await clerk.get_by_label("会员卡号").fill(card)
    await clerk.get_by_label("会员卡号").press("Enter")
    await expect(clerk.locator("#member-name")).to_have_text("赵玉梅")
    await expect(clerk.locator("#balance-before")).to_have_text("60")
    await clerk.locator("#scan").fill("肥皂")
    await clerk.locator("#scan").press("Enter")
    await expect(clerk.locator("#basket-lines")).to_contain_text("肥皂")
    await expect(clerk.locator("#balance-after")).to_have_text("45")

    # she mistypes her PIN: refused, the tries left said, the basket and the member kept, nothing charged
    await clerk.get_by_label("密码（由会员本人输入）").fill("1111")
    await clerk.get_by_label("密码（由会员本人输入）").press("Enter")
    await expect(clerk.get_by_role("alert")).to_contain_text("PIN 不对：还能试 4 次")
    await expect(clerk.locator("#basket-lines")).to_contain_text("肥皂")
    await expect(clerk.locator("#member-name")).to_have_text("赵玉梅")
    await check_accessible(clerk, "the counter, a wrong PIN")
    await shoot(clerk, "counter-card-wrong-pin")
    await clerk.get_by_label("密码（由会员本人输入）").fill("2580")
    await clerk.get_by_label("密码（由会员本人输入）").press("Enter")
    await expect(clerk).to_have_url(re.compile(rf"/c/{slug}/receipts/\d+\?done=sale$"))
    await expect(clerk.locator("#receipt-member")).to_contain_text("赵玉梅")
    await expect(clerk.locator("#receipt")).to_contain_text("会员卡")
    await expect(clerk.locator("#receipt-total")).to_contain_text("15")

    # 代办: her son shows his own payment code, the clerk picks her as the one paying
    phone = await browser.new_page(viewport=PHONE)
    await sign_in(phone, server, son_phone)
    await phone.goto(f"{server}/c/{slug}/pay")
    await expect(phone.locator("#pay-code")).to_have_text(re.compile(r"^[\d\s]{18,}$"))
    digits = re.sub(r"\D", "", await phone.locator("#pay-code").inner_text())
    await clerk.goto(f"{server}{counter}")
    await expect(clerk.locator("#code")).to_be_focused()
    await clerk.keyboard.type(digits)
    await clerk.keyboard.press("Enter")
    await expect(clerk.locator("#member-name")).to_have_text("陈刚")
    await clerk.get_by_label("代办：为没有手机的家庭成员付款").select_option(label="赵玉梅")
    await clerk.locator("#scan").fill("杯")
    await clerk.locator("#scan").press("Enter")
    await expect(clerk.locator("#member-name")).to_have_text("赵玉梅")
    await expect(clerk.locator("#balance-before")).to_have_text("45")
    await expect(clerk.locator("#balance-after")).to_have_text("25")
    await check_accessible(clerk, "the counter, 代办")
    await shoot(clerk, "counter-proxy")
    await clerk.locator("#scan").press("Enter")  # the empty field confirms
    await expect(clerk).to_have_url(re.compile(rf"/c/{slug}/receipts/\d+\?done=sale$"))
    await expect(clerk.locator("#receipt-member")).to_contain_text("赵玉梅")
    await expect(clerk.locator("#receipt")).to_contain_text("代办")
    await expect(clerk.locator("#receipt-total")).to_contain_text("20")
    grandma_now = await _ok(await admin.http.get(f"{base}/accounts/{grandma['wallet_account_id']}"))
    assert grandma_now["balance"] == 25
