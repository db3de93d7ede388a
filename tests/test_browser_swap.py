"""The swap table in a real browser, end to end (Debian's chromium through Playwright, with tests/test_browser.py's
server, browser and admin fixtures and checks): member B lists a rice cooker with a photo (the file control the
phone's camera fills, given a small PNG), member C lists a kettle and, on a phone-sized page (412 px), proposes
the kettle plus 10 points for the cooker; B accepts; the table's staff confirm the hand-over; both see the swap
handed over and B has +10 on 我的积分. Each page passes the label and contrast checks and is pictured at both
sizes (docs/screenshots/swap-*.png)."""

from __future__ import annotations

import io
import re
import uuid
from typing import Any

import pytest
from PIL import Image
from playwright.async_api import Browser, Page, expect

from tests.test_browser import PASSWORD, Admin, check_accessible, shoot, sign_in
from tests.test_browser import admin as admin  # the fixtures, used by name
from tests.test_browser import browser as browser
from tests.test_browser import server as server

pytestmark = pytest.mark.browser
PHONE = {"width": 412, "height": 915}
LAPTOP = {"width": 1366, "height": 768}


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "orange").save(out, "PNG")
    return out.getvalue()


async def _ok(r: Any) -> Any:
    assert r.status_code in (200, 201), r.text
    return r.json()


async def swap_world(admin: Admin, name: str) -> tuple[str, str, str, str]:
    """A community with B (刘志强, no points), C (张兰, 100 points) and a clerk (吴敏, the table's staff): (slug,
    B's phone, C's phone, the clerk's phone)."""
    slug, b_phone, _wallet, issuance = await admin.community_with_volunteer(name)
    base = f"/api/v1/communities/{slug}"
    phones = []
    for who, roles, household in (("张兰", ["volunteer"], "2-102"), ("吴敏", ["clerk"], "3-201")):
        phone = "137" + str(uuid.uuid4().int)[:8]
        body = {"display_name": who, "phone": phone, "password": PASSWORD, "roles": roles, "household": household}
        made = await _ok(await admin.http.post(f"{base}/members", json=body))
        if who == "张兰":
            await admin.award(slug, issuance, made["wallet_account_id"], 100, "打扫楼道")
        phones.append(phone)
    return slug, b_phone, phones[0], phones[1]


async def list_item(page: Page, server: str, slug: str, title: str, wants: str, photo: bool) -> int:
    await page.goto(f"{server}/c/{slug}/swap/new")
    await page.get_by_label("是什么物品？").fill(title)
    await page.get_by_label("成色").select_option("like_new")
    await page.get_by_label("想换什么？").fill(wants)
    if photo:
        await page.set_input_files("#photo", files=[{"name": "item.png", "mimeType": "image/png", "buffer": png()}])
    await page.get_by_role("button", name="放上易物台").click()
    await expect(page).to_have_url(re.compile(rf"/c/{slug}/swap/listings/\d+\?done=listed$"))
    await expect(page.locator("#listing-title")).to_have_text(title)
    return int(page.url.split("/listings/", 1)[1].split("?", 1)[0])


async def test_b_lists_a_cooker_c_proposes_a_kettle_and_10_points_b_accepts_and_staff_confirm(
    browser: Browser, server: str, admin: Admin
) -> None:
    slug, b_phone, c_phone, staff_phone = await swap_world(admin, "驿都社区")
    b = await browser.new_page(viewport=PHONE)
    await sign_in(b, server, b_phone)
    await b.goto(f"{server}/c/{slug}/swap/new")
    await expect(b.locator("#photo")).to_have_attribute("capture", "environment")
    await check_accessible(b, "list an item")
    await shoot(b, "swap-new")
    await b.set_viewport_size(PHONE)
    cooker = await list_item(b, server, slug, "电饭煲", "水壶", photo=True)
    photo = b.locator("img.good-photo")
    await expect(photo).to_be_visible()
    assert await photo.evaluate("img => img.naturalWidth") > 0, "the photo is served to the member"
    await check_accessible(b, "the listing")
    await shoot(b, "swap-listing")

    c = await browser.new_page(viewport=PHONE)
    await sign_in(c, server, c_phone)
    await list_item(c, server, slug, "电水壶", "电饭煲", photo=False)
    await c.goto(f"{server}/c/{slug}/swap")
    await expect(c.locator("#listings")).to_contain_text("电饭煲")
    await check_accessible(c, "the table")
    await shoot(c, "swap-browse")
    await c.set_viewport_size(PHONE)
    await c.get_by_role("link", name="电饭煲").click()
    await expect(c).to_have_url(f"{server}/c/{slug}/swap/listings/{cooker}")
    await c.get_by_label("电水壶").check()
    await c.get_by_label("和/或我付的积分（负数表示向对方要积分）").fill("10")
    await check_accessible(c, "the proposal form")
    await shoot(c, "swap-propose")
    await c.set_viewport_size(PHONE)
    await c.get_by_role("button", name="发送交换提议").click()
    await expect(c).to_have_url(f"{server}/c/{slug}/swap/mine?done=proposed")
    await expect(c.locator("#from-me")).to_contain_text("电水壶 + 10 积分")

    await b.goto(f"{server}/c/{slug}/swap/mine")
    await expect(b.locator("#to-me")).to_contain_text("张兰 提出")
    await check_accessible(b, "my swaps, a proposal to me")
    await shoot(b, "swap-mine")
    await b.set_viewport_size(PHONE)
    await b.get_by_role("button", name="接受").click()
    await expect(b.locator("#to-me")).to_contain_text("已接受：待交接")

    staff = await browser.new_page(viewport=LAPTOP)
    await sign_in(staff, server, staff_phone)
    await staff.goto(f"{server}/c/{slug}/swap/table")
    await expect(staff.locator("#pending")).to_contain_text("张兰 ⇄ 刘志强")
    await check_accessible(staff, "the table's staff")
    await shoot(staff, "swap-table")
    await staff.set_viewport_size(LAPTOP)
    await staff.get_by_role("button", name="确认交接").click()
    await expect(staff.locator("#done")).to_be_visible()
    await expect(staff.locator("main")).to_contain_text("没有待交接的交换。")

    for page, name in ((b, "#to-me"), (c, "#from-me")):
        await page.goto(f"{server}/c/{slug}/swap/mine")
        await expect(page.locator(name)).to_contain_text("已交接")
    await b.goto(f"{server}/c/{slug}/me")
    await expect(b.locator("#balance")).to_have_text("10")
    await expect(b.locator("#history")).to_contain_text("+10")
    await c.goto(f"{server}/c/{slug}/me")
    await expect(c.locator("#balance")).to_have_text("90")
    await shoot(b, "swap-my-points")
