"""The public 晒单 page in a real browser (Debian's chromium through Playwright, with tests/test_browser.py's server,
browser and admin fixtures and checks): an order placed, dispatched to the property company, taken, done and
confirmed through the API; a neighbour opens 晒单 on a 412 px phone, signed out, and sees it with the unit's name
and the names masked, without scrolling sideways. The page passes the label and contrast checks and is pictured
at both sizes (docs/screenshots/orders-shaidan-*.png). And the whole journey through the pages: a resident's order
on a phone, with a photo, dispatched on a laptop, taken and done with a photo on the unit's phone, confirmed, paid,
and on 晒单 with the photos the resident agreed to show (docs/screenshots/orders-order-*.png,
orders-dispatch-*.png); an admin adding a co-building unit (orders-units-*.png)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Browser, expect

from tests.swap_world import png
from tests.test_browser import Admin, check_accessible, shoot, sign_in
from tests.test_browser import admin as admin  # the fixtures, used by name
from tests.test_browser import browser as browser
from tests.test_browser import server as server
from tests.test_browser_earning import earning_world

pytestmark = pytest.mark.browser
PHONE = {"width": 412, "height": 915}
LAPTOP = {"width": 1280, "height": 800}


async def test_a_neighbour_reads_shaidan_on_a_phone(browser: Browser, server: str, admin: Admin) -> None:
    slug, _, _, _ = await admin.community_with_volunteer("晒单社区")
    api = f"/api/v1/communities/{slug}"
    me = (await admin.http.get(f"{api}/members", params={"q": "王秀英"})).json()[0]
    worker = (await admin.http.get(f"{api}/members", params={"q": "刘志强"})).json()[0]
    types = (await admin.http.get(f"{api}/activity-types")).json()
    cleanup = next(t for t in types if t["code"] == "cleanup")
    company = await admin.ok(await admin.http.post(f"{api}/service-units", json={
        "name": "金牛物业", "kind": "property", "type_ids": [cleanup["id"]], "member_ids": [me["id"]]}))  # fmt: skip
    made = await admin.ok(
        await admin.http.post(f"{api}/service-orders", json={"type_id": cleanup["id"], "description": "楼道堆满杂物"})
    )
    due = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    base = f"{api}/service-orders/{made['id']}"
    await admin.ok(await admin.http.post(f"{base}/dispatch", json={"due_at": due, "unit_id": company["id"]}))
    await admin.ok(await admin.http.post(f"{base}/accept"))
    await admin.ok(await admin.http.post(f"{base}/done", json={"note": "已清运", "volunteer_ids": [worker["id"]]}))
    confirmed = await admin.ok(await admin.http.post(f"{base}/confirm"))
    assert confirmed["state"] == "confirmed"

    phone = await browser.new_page(viewport=PHONE)
    await phone.goto(f"{server}/c/{slug}/shaidan")
    card = phone.locator(f"#o{made['id']}")
    await expect(card).to_contain_text("金牛物业")
    await expect(card).to_contain_text("刘*强")
    await expect(card).to_contain_text("王*英")
    await expect(card).to_contain_text("当天完成")
    await expect(phone.locator("#per-unit")).to_contain_text("金牛物业")
    await expect(phone.locator("#masked-note")).to_be_visible()
    assert "刘志强" not in await phone.content()
    await check_accessible(phone, "the public 晒单 page")
    await shoot(phone, "orders-shaidan")
    await phone.set_viewport_size(PHONE)
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the 晒单 page scrolls sideways on a phone: {width} px"


async def test_a_residents_order_from_the_phone_through_to_shaidan(browser: Browser, server: str, admin: Admin) -> None:
    """刘志强 orders stairwell cleaning on his phone with a photo; 孙丽 dispatches it to 金牛物业 on her laptop; 陈芳,
    who acts for the company, takes it on her phone and marks it done with a photo of the result; 刘志强 confirms,
    陈芳 sees her points, and a neighbour, signed out, finds it on 晒单."""
    slug, phones, kinds = await earning_world(admin, "点单社区")
    api = f"/api/v1/communities/{slug}"
    chen = (await admin.http.get(f"{api}/members", params={"q": "陈芳"})).json()[0]
    company = {"name": "金牛物业", "kind": "property", "type_ids": [kinds["cleanup"]["id"]], "member_ids": [chen["id"]]}
    await admin.ok(await admin.http.post(f"{api}/service-units", json=company))

    resident = await browser.new_page(viewport=PHONE)
    await sign_in(resident, server, phones["volunteer"])
    await resident.goto(f"{server}/c/{slug}/services")
    await resident.locator("#order-new").click()
    await resident.get_by_label("服务类别").select_option(label=kinds["cleanup"]["name"])
    await resident.get_by_label("需要做什么？").fill("3栋2单元楼道堆满杂物多年，请帮忙清理")
    await resident.set_input_files("#photo", files=[{"name": "stairs.png", "mimeType": "image/png", "buffer": png()}])
    await expect(resident.locator("#photo-name")).to_have_text("stairs.png")
    await resident.get_by_label("同意在晒单页公开这个点单的照片（办理前后）").check()
    await check_accessible(resident, "the order form")
    await resident.locator("#place-order").click()
    await expect(resident.locator("#done")).to_contain_text("你的点单已提交")
    await expect(resident.locator("#state")).to_contain_text("等待派单")
    order_url = resident.url.split("?")[0]
    order_id = int(order_url.rsplit("/", 1)[1])
    await shoot(resident, "orders-order")
    await resident.set_viewport_size(PHONE)
    assert await resident.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    dispatcher = await browser.new_page(viewport=LAPTOP)
    await sign_in(dispatcher, server, phones["organizer"])
    await dispatcher.goto(f"{server}/c/{slug}/services/dispatch")
    await check_accessible(dispatcher, "the dispatch page")
    await shoot(dispatcher, "orders-dispatch")
    await dispatcher.set_viewport_size(LAPTOP)
    await dispatcher.locator(f"#waiting #o{order_id} a").click()
    await dispatcher.get_by_label("派给", exact=True).select_option(label="金牛物业 · 物业公司")
    await check_accessible(dispatcher, "the order page, for a dispatcher")
    await dispatcher.locator("#dispatch-order").click()
    await expect(dispatcher.locator("#state")).to_contain_text("已派单，等待接单")

    taker = await browser.new_page(viewport=PHONE)
    await sign_in(taker, server, phones["volunteer2"])
    await taker.goto(f"{server}/c/{slug}/services/taken")
    await expect(taker.locator("#our-record")).to_contain_text("金牛物业")
    await taker.locator(f"#to-take #o{order_id} a").click()
    await taker.locator("#accept-order").click()
    await expect(taker.locator("#done")).to_contain_text("你已接单")
    await taker.get_by_label("做了什么？").fill("杂物已清运，楼道已清扫")
    await expect(taker.get_by_label("陈芳")).to_be_checked()  # the unit's people who did it, ticked to start with
    after = [{"name": f"after-{n}.png", "mimeType": "image/png", "buffer": png(color)}
             for n, color in enumerate(("white", "blue"), 1)]  # fmt: skip
    await taker.set_input_files("#photo", files=after)
    await expect(taker.locator("#photo-name")).to_have_text("after-1.png, after-2.png")
    await check_accessible(taker, "the order page, for the unit")
    await taker.locator("#done-order").click()
    await expect(taker.locator("#state")).to_contain_text("已完成，等待居民确认")

    await resident.goto(order_url)
    await expect(resident.locator("#done-note")).to_contain_text("杂物已清运")
    await expect(resident.locator("#photos img")).to_have_count(3)  # before, and the two after
    await check_accessible(resident, "the order page, for the resident confirming")
    await resident.locator("#confirm-order").click()
    await expect(resident.locator("#state")).to_contain_text("已确认")
    points = kinds["cleanup"]["default_points"]
    await expect(resident.locator("#workers")).to_contain_text(f"+{points}")
    await taker.goto(f"{server}/c/{slug}/me")
    await expect(taker.locator("main")).to_contain_text(str(points))

    neighbour = await (await browser.new_context(viewport=PHONE)).new_page()
    await neighbour.goto(f"{server}/c/{slug}/shaidan")
    card = neighbour.locator(f"#o{order_id}")
    await expect(card).to_contain_text("金牛物业")
    await expect(card).to_contain_text("刘*强")
    assert "3栋2单元楼道堆满杂物多年" not in await neighbour.content()
    pictures = card.locator("img")
    await expect(pictures).to_have_count(3)  # the resident agreed to show them
    for n in range(3):
        assert await pictures.nth(n).evaluate("img => img.complete && img.naturalWidth > 0"), "a photo did not load"
    await check_accessible(neighbour, "晒单 with photos")


async def test_an_admin_adds_a_co_building_unit_on_a_laptop(browser: Browser, server: str, admin: Admin) -> None:
    slug, phones, kinds = await earning_world(admin, "共建社区")
    page = await browser.new_page(viewport=LAPTOP)
    await sign_in(page, server, phones["admin"])
    await page.goto(f"{server}/c/{slug}/services/dispatch")
    await page.locator("#units-link").click()
    await expect(page.locator("#no-units")).to_be_visible()
    await page.get_by_label("按姓名或手机号查找单位联系人").fill("陈芳")
    await page.get_by_role("button", name="搜索").click()
    await page.get_by_label("单位名称").fill("阳光实验小学")
    await page.get_by_label("类型", exact=True).select_option(label="学校")
    await page.get_by_label(kinds["elder_help"]["name"]).check()
    await page.get_by_label("陈芳").check()
    await check_accessible(page, "the co-building units page")
    await page.locator("#create-unit").click()
    await expect(page.locator("#done")).to_be_visible()
    await expect(page.locator("#units")).to_contain_text("阳光实验小学")
    await expect(page.locator("#units")).to_contain_text("陈芳")
    await shoot(page, "orders-units")
