"""The swap table's staff and admin in a real browser (Debian's chromium through Playwright, with
tests/test_browser.py's server, browser and admin fixtures and checks): the clerk 吴敏 takes 刘志强's old books in
at the table by typing his name, then takes them off the table: a reason of spaces only is refused in words and
the books stay; with a reason they go, and the item is gone from the table. The admin 周建华 sets the listings'
lifetime to 30 days (a lifetime over a year is refused in words first) and the clerk reads the missed hand-overs.
Each page passes the label and contrast checks and is pictured at both sizes (docs/screenshots/swap-staff-*.png,
swap-settings-*.png)."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.test_browser import Admin, check_accessible, shoot, sign_in
from tests.test_browser import admin as admin  # the fixtures, used by name
from tests.test_browser import browser as browser
from tests.test_browser import server as server

pytestmark = pytest.mark.browser
LAPTOP = {"width": 1366, "height": 768}


async def test_staff_take_in_and_withdraw_and_the_admin_sets_the_lifetime(
    browser: Browser, server: str, admin: Admin
) -> None:
    slug, phones = await admin.community_with_roles("驿都社区")
    staff = await browser.new_page(viewport=LAPTOP)
    await sign_in(staff, server, phones["clerk"])
    await staff.goto(f"{server}/c/{slug}/swap/table")
    await staff.get_by_label("成员：姓名或编号").fill("刘志强")
    await staff.get_by_label("是什么物品？").fill("旧书二十本")
    await staff.get_by_label("成色").select_option("fair")
    await staff.get_by_role("button", name="收进").click()
    await expect(staff.locator("#on-table")).to_contain_text("旧书二十本 · 刘志强")
    await check_accessible(staff, "the table with an item to take off")
    await shoot(staff, "swap-staff-table")
    await staff.set_viewport_size(LAPTOP)

    reason = staff.locator("#on-table").get_by_label("撤下原因")
    await reason.fill("   ")
    await staff.locator("#on-table").get_by_role("button", name="撤下").click()
    await expect(staff.get_by_role("alert")).to_contain_text("撤下原因")
    await expect(staff.locator("#on-table")).to_contain_text("旧书二十本")
    await check_accessible(staff, "a withdrawal refused")
    await staff.get_by_role("alert").scroll_into_view_if_needed()
    await shoot(staff, "swap-staff-withdraw-refused")
    await staff.set_viewport_size(LAPTOP)
    await staff.locator("#on-table").get_by_label("撤下原因").fill("书页发霉，不宜交换")
    await staff.locator("#on-table").get_by_role("button", name="撤下").click()
    await expect(staff.locator("#done")).to_be_visible()
    await expect(staff.locator("main")).to_contain_text("还没有收进物品。")

    await staff.get_by_role("link", name="错过交接").click()
    await expect(staff.locator("#missed-none")).to_be_visible()
    await check_accessible(staff, "the missed hand-overs")
    await shoot(staff, "swap-staff-missed")

    boss = await browser.new_page(viewport=LAPTOP)
    await sign_in(boss, server, phones["admin"])
    await boss.goto(f"{server}/c/{slug}/swap/table")
    await boss.get_by_role("link", name="易物台设置").click()
    await expect(boss.get_by_label("物品展示天数")).to_have_value("60")
    await boss.get_by_label("物品展示天数").fill("400")
    await boss.get_by_role("button", name="保存").click()
    await expect(boss.get_by_role("alert")).to_contain_text("物品展示天数")
    await check_accessible(boss, "the swap settings refused")
    await boss.get_by_label("物品展示天数").fill("30")
    await boss.get_by_role("button", name="保存").click()
    await expect(boss.locator("#done")).to_be_visible()
    await expect(boss.locator("#settings-now")).to_contain_text("物品在易物台上展示 30 天")
    await check_accessible(boss, "the swap settings")
    await shoot(boss, "swap-settings")
