"""The public 晒单 page in a real browser (Debian's chromium through Playwright, with tests/test_browser.py's server,
browser and admin fixtures and checks): an order placed, dispatched to the property company, taken, done and
confirmed through the API; a neighbour opens 晒单 on a 412 px phone, signed out, and sees it with the unit's name
and the names masked, without scrolling sideways. The page passes the label and contrast checks and is pictured
at both sizes (docs/screenshots/orders-shaidan-*.png). The resident's order form and the dispatcher's and unit's
pages are still to come (docs/ORDERS.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Browser, expect

from tests.test_browser import Admin, check_accessible, shoot
from tests.test_browser import admin as admin  # the fixtures, used by name
from tests.test_browser import browser as browser
from tests.test_browser import server as server

pytestmark = pytest.mark.browser
PHONE = {"width": 412, "height": 915}


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
