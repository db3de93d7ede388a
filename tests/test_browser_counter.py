"""The supermarket counter in a real browser, end to end (Debian's chromium through Playwright, with
tests/test_browser.py's server, browser and admin fixtures and checks): a volunteer opens 付款码 on a phone; the
clerk, on a laptop and with the keyboard only, types the code into the focused field and Enter, scans soap's
barcode and Enter, types part of a cup's name and Enter, reads the total and the balance after, and confirms with
Enter on the empty field; the receipt shows. The volunteer sees the new balance on 我的积分 and the receipt. Then a
refusal (a good that does not exist; an empty stock) keeps the basket; the receipt is reprinted at 58 mm; the
stock, receipts and day pages pass the label and contrast checks and are pictured at both sizes
(docs/screenshots/counter-*.png)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests.test_browser import PASSWORD, Admin, check_accessible, shoot, sign_in
from tests.test_browser import admin as admin  # the fixtures, used by name
from tests.test_browser import browser as browser
from tests.test_browser import server as server

pytestmark = pytest.mark.browser
PHONE = {"width": 412, "height": 915}
LAPTOP = {"width": 1366, "height": 768}
SOAP_BARCODE = "6901234567892"


async def _ok(r: Any) -> Any:
    assert r.status_code in (200, 201), r.text
    return r.json()


async def shop_world(admin: Admin, name: str) -> tuple[str, str, str]:
    """A community with a volunteer (刘志强, 100 points), a clerk (吴敏) and a stocked supermarket: (slug, the
    volunteer's phone, the clerk's phone)."""
    slug, volunteer, wallet, issuance = await admin.community_with_volunteer(name)
    await admin.award(slug, issuance, wallet, 100, "打扫楼道")
    base = f"/api/v1/communities/{slug}"
    clerk = "136" + str(uuid.uuid4().int)[:8]
    body = {"display_name": "吴敏", "phone": clerk, "password": PASSWORD, "roles": ["clerk"], "household": "3-201"}
    await _ok(await admin.http.post(f"{base}/members", json=body))
    for good, stock in (
        ({"name": "肥皂", "price": 15, "category": "日用品", "barcode": SOAP_BARCODE}, 20),
        ({"name": "陶瓷杯", "price": 20, "category": "日用品"}, 10),
        ({"name": "食用油 1.8L", "price": 30, "category": "粮油", "unit": "瓶"}, 2),
        ({"name": "大米 5kg", "price": 44, "category": "粮油", "unit": "袋", "limit_per_household": 1,
          "limit_period": "month"}, 8),
    ):  # fmt: skip
        made = await _ok(await admin.http.post(f"{base}/goods", json=good))
        move = {"kind": "restock", "quantity": stock, "reason": "居民捐赠"}
        await _ok(await admin.http.post(f"{base}/goods/{made['id']}/movements", json=move))
    return slug, volunteer, clerk


async def keyboard_sign_in(page: Page, base: str, phone: str, then: str) -> None:
    """The sign-in form, typed: the clerk's hands stay on the keyboard."""
    await page.goto(f"{base}/login?next={then}")
    await page.get_by_label("手机号").focus()
    await page.keyboard.type(phone)
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(f"{base}{then}")


async def test_a_volunteer_pays_by_phone_and_the_clerk_rings_up_two_goods_with_the_keyboard(
    browser: Browser, server: str, admin: Admin
) -> None:
    slug, volunteer_phone, clerk_phone = await shop_world(admin, "幸福社区")
    phone = await browser.new_page(viewport=PHONE)
    await sign_in(phone, server, volunteer_phone)
    await phone.goto(f"{server}/c/{slug}/pay")
    await expect(phone.locator("#pay-code")).to_have_text(re.compile(r"^[\d\s]{18,}$"))
    digits = re.sub(r"\D", "", await phone.locator("#pay-code").inner_text())
    assert len(digits) == 18

    clerk = await browser.new_page(viewport=LAPTOP)
    counter = f"/c/{slug}/counter"
    await keyboard_sign_in(clerk, server, clerk_phone, counter)
    await expect(clerk.locator("#code")).to_be_focused()  # ready for the scanner
    await clerk.evaluate("window.__same_page = true")  # htmx swaps the screen; the page itself stays
    await check_accessible(clerk, "the counter, waiting for a code")
    await shoot(clerk, "counter-start")
    await clerk.keyboard.type(digits)  # a scanner types like a keyboard and ends with Enter
    await clerk.keyboard.press("Enter")
    await expect(clerk.locator("#member-name")).to_have_text("刘志强")
    await expect(clerk.locator("#balance-before")).to_have_text("100")
    await expect(clerk.locator("#scan")).to_be_focused()
    await clerk.keyboard.type(SOAP_BARCODE)
    await clerk.keyboard.press("Enter")
    await expect(clerk.locator("#basket-lines")).to_contain_text("肥皂")
    await expect(clerk.locator("#scan")).to_be_focused()
    await clerk.keyboard.type("杯")  # by name: the one good that matches is added
    await clerk.keyboard.press("Enter")
    await expect(clerk.locator("#basket-lines")).to_contain_text("陶瓷杯")
    await expect(clerk.locator("#total")).to_have_text("35")
    await expect(clerk.locator("#balance-after")).to_have_text("65")
    await check_accessible(clerk, "the counter with a basket")
    await shoot(clerk, "counter-basket")

    # a mistake: nothing matches; the refusal says so and the basket stays
    await expect(clerk.locator("#scan")).to_be_focused()
    await clerk.keyboard.type("不存在的东西")
    await clerk.keyboard.press("Enter")
    await expect(clerk.get_by_role("alert")).to_contain_text("没有在售商品符合")
    await expect(clerk.locator("#basket-lines")).to_contain_text("陶瓷杯")
    await expect(clerk.locator("#member-name")).to_have_text("刘志强")  # and the member stays identified
    await check_accessible(clerk, "the counter with a refusal")
    assert await clerk.evaluate("window.__same_page === true"), "each step swapped the screen, no reload"
    await shoot(clerk, "counter-refusal")
    await clerk.locator("#scan").focus()
    await clerk.keyboard.press("Control+A")
    await clerk.keyboard.press("Delete")
    await clerk.keyboard.press("Enter")  # Enter on the empty field confirms
    await expect(clerk).to_have_url(re.compile(rf"/c/{slug}/receipts/\d+\?done=sale$"))
    await expect(clerk.locator("#receipt-total")).to_contain_text("35")
    await expect(clerk.locator("#receipt-member")).to_contain_text("刘志强")
    number = int(clerk.url.split("/receipts/", 1)[1].split("?", 1)[0])
    await check_accessible(clerk, "the receipt")
    await shoot(clerk, "counter-receipt")
    await clerk.goto(f"{server}/c/{slug}/receipts/{number}?width=58")
    await expect(clerk.locator("#receipt")).to_contain_text("陶瓷杯")
    await check_accessible(clerk, "the 58 mm receipt")
    await shoot(clerk, "counter-receipt-58")

    # the volunteer's side: the new balance and the receipt
    await phone.goto(f"{server}/c/{slug}/me")
    await expect(phone.locator("main")).to_contain_text("65")
    await phone.goto(f"{server}/c/{slug}/me/receipts")
    await expect(phone.locator("main")).to_contain_text(str(number))
    await expect(phone.locator("main")).to_contain_text("35")

    # the clerk's other pages
    for path, name in (("/stock", "counter-stock"), ("/receipts", "counter-receipts"),
                       ("/counter/today", "counter-today")):  # fmt: skip
        await clerk.set_viewport_size(LAPTOP)
        await clerk.goto(f"{server}/c/{slug}{path}")
        await expect(clerk.get_by_role("heading", level=1)).to_be_visible()
        await check_accessible(clerk, path)
        await shoot(clerk, name)
    await expect(clerk.locator("#agrees")).to_contain_text("一致")
