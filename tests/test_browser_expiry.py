"""Points expiry in a real browser (Debian's chromium through Playwright, with tests/test_browser.py's server,
browser and admin fixtures and checks): an admin switches expiry on (points expire a month after they were earned)
on the settings page, a wrong reset day refused in words first; a volunteer on a 412 px phone then sees on 我的积分
the points about to expire, with their date. Both pages pass the label and contrast checks and are pictured at both
sizes (docs/screenshots/expiry-*.png)."""

from __future__ import annotations

from datetime import datetime

import pytest
from playwright.async_api import Browser, expect

from points.expiry.model import COMMUNITY_TIME, add_months
from tests.test_browser import Admin, check_accessible, shoot, sign_in
from tests.test_browser import admin as admin  # the fixtures, used by name
from tests.test_browser import browser as browser
from tests.test_browser import server as server

pytestmark = pytest.mark.browser
PHONE = {"width": 412, "height": 915}
LAPTOP = {"width": 1366, "height": 768}


async def test_an_admin_switches_expiry_on_and_a_volunteer_sees_what_expires(
    browser: Browser, server: str, admin: Admin
) -> None:
    slug, phones = await admin.community_with_roles("晨光社区")
    r = await admin.http.get(f"/api/v1/communities/{slug}/members", params={"q": "刘志强"})
    wallet = r.json()[0]["wallet_account_id"]
    accounts = (await admin.http.get(f"/api/v1/communities/{slug}/accounts")).json()
    issuance = next(a["id"] for a in accounts if a["code"] == "issuance")
    await admin.award(slug, issuance, wallet, 8, "治安巡逻 夜巡")

    page = await browser.new_page(viewport=LAPTOP)
    await sign_in(page, server, phones["admin"])
    await page.goto(f"{server}/c/{slug}/settings/earning")
    await page.get_by_role("link", name="积分过期").click()
    await expect(page).to_have_url(f"{server}/c/{slug}/settings/expiry")
    await expect(page.locator("#expiry-now")).to_have_text("积分不过期。")
    await page.get_by_label("每年固定清零日").check()
    await page.get_by_label("清零日（月-日，如 12-31）").fill("02-29")
    await page.get_by_role("button", name="保存").click()
    await expect(page.get_by_role("alert")).to_be_visible()  # not a day every year has
    await expect(page.locator("#expiry-now")).to_have_text("积分不过期。")
    await page.get_by_label("获得后若干个月").check()
    await page.get_by_label("月数（1 至 120）").fill("1")
    await page.get_by_label("清零日（月-日，如 12-31）").fill("")
    await check_accessible(page, "the expiry settings")
    await page.get_by_role("button", name="保存").click()
    await expect(page.locator("#expiry-now")).to_have_text("积分在获得 1 个月后过期。")
    await shoot(page, "expiry-settings")

    setting = (await admin.http.get(f"/api/v1/communities/{slug}/expiry-settings")).json()
    due = add_months(datetime.fromisoformat(setting["since"]).astimezone(COMMUNITY_TIME).replace(tzinfo=None), 1)

    phone = await browser.new_page(viewport=PHONE)
    await sign_in(phone, server, phones["volunteer"])
    await phone.goto(f"{server}/c/{slug}/me")
    soon = phone.locator("#expiries")
    await expect(soon.get_by_role("heading", name="即将到期")).to_be_visible()
    await expect(soon.locator("li")).to_have_count(1)
    await expect(soon.locator("li")).to_contain_text("8")
    await expect(soon.locator("li")).to_contain_text(f"{due.month}月{due.day}日")
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"我的积分 scrolls sideways on a phone: {width} px"
    await check_accessible(phone, "我的积分 with expiries")
    await shoot(phone, "expiry-me")
