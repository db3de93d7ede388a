"""The 公示 window in a real browser (Debian's chromium through Playwright, with tests/test_browser.py's server,
browser and admin fixtures and checks): a neighbour opens the community's public 公示 page on a 412 px phone,
signed out; sees the award with the volunteer's name masked; signs in from the page and comes back to it; objects.
The admin, on a laptop, finds the objection and upholds it with a reason. The volunteer, on a phone, sees the award
voided with that reason on 我的积分. Every page passes the label and contrast checks and is pictured at both sizes
(docs/screenshots/publication-*.png)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from playwright.async_api import Browser, expect

from points.earning.periods import community_day
from tests.test_browser import PASSWORD, Admin, check_accessible, shoot, sign_in
from tests.test_browser import admin as admin  # the fixtures, used by name
from tests.test_browser import browser as browser
from tests.test_browser import server as server

pytestmark = pytest.mark.browser
PHONE = {"width": 412, "height": 915}
LAPTOP = {"width": 1366, "height": 768}


async def test_a_neighbour_objects_the_admin_upholds_the_volunteer_sees_why(
    browser: Browser, server: str, admin: Admin
) -> None:
    slug, phones = await admin.community_with_roles("公示社区")
    api = f"/api/v1/communities/{slug}"
    volunteer = (await admin.http.get(f"{api}/members", params={"q": "刘志强"})).json()[0]
    types = await admin.http.get(f"{api}/activity-types")
    mediation = next(t for t in types.json() if t["code"] == "mediation")
    period = community_day(datetime.now(UTC)).isoformat()[:7]
    await admin.ok(await admin.http.post(f"{api}/budgets", json={"period": period, "points": 500},
                                         headers={"Idempotency-Key": f"k-{uuid.uuid4()}"}))  # fmt: skip
    await admin.ok(await admin.http.put(f"{api}/publication-settings", json={"window_days": 7}))
    body = {"member_id": volunteer["id"], "type_id": mediation["id"], "points": 12, "reason": "调解5栋漏水纠纷"}
    award = await admin.ok(
        await admin.http.post(f"{api}/awards", json=body, headers={"Idempotency-Key": f"k-{uuid.uuid4()}"})
    )
    assert award["state"] == "published"

    # A neighbour (the clerk 吴敏, a resident too) on a phone, signed out.
    phone = await browser.new_page(viewport=PHONE)
    await phone.goto(f"{server}/c/{slug}/gongshi")
    card = phone.locator(f"#a{award['id']}")
    await expect(card).to_contain_text("刘*强")
    await expect(card).to_contain_text("+12")
    await expect(card).to_contain_text("调解5栋漏水纠纷")
    await expect(phone.locator("#masked-note")).to_be_visible()
    await check_accessible(phone, "the public 公示 page")
    await shoot(phone, "publication-public")
    await phone.set_viewport_size(PHONE)
    await phone.get_by_role("link", name="登录后提出异议").click()
    await phone.get_by_label("手机号").fill(phones["clerk"])
    await phone.get_by_label("密码").fill(PASSWORD)
    await phone.get_by_role("button", name="登录").click()
    await expect(phone).to_have_url(f"{server}/c/{slug}/gongshi")
    await phone.get_by_label("您的异议").fill("那天调解的是物业，不是他")
    await phone.get_by_role("button", name="提出异议").click()
    await expect(phone.locator("#objected")).to_contain_text("异议已提交")
    await expect(phone.locator(f"#a{award['id']}")).to_contain_text("有异议待管理员处理")
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the 公示 page scrolls sideways on a phone: {width} px"

    # The admin, on a laptop, upholds it with a reason.
    laptop = await browser.new_page(viewport=LAPTOP)
    await sign_in(laptop, server, phones["admin"])
    await laptop.goto(f"{server}/c/{slug}/me")
    await laptop.get_by_role("link", name="异议处理").click()
    await expect(laptop).to_have_url(f"{server}/c/{slug}/objections")
    waiting = laptop.locator("#waiting li")
    await expect(waiting).to_have_count(1)
    await expect(waiting).to_contain_text("那天调解的是物业，不是他")
    await expect(waiting).to_contain_text("刘志强")
    await check_accessible(laptop, "the objections page")
    await shoot(laptop, "publication-objections")
    await laptop.set_viewport_size(LAPTOP)
    await laptop.get_by_label("原因").fill("经核实，调解由物业完成")
    await laptop.get_by_role("button", name="异议成立：作废奖励").click()
    await expect(laptop.locator("#none-waiting")).to_be_visible()
    await expect(laptop.locator("#decided")).to_contain_text("经核实，调解由物业完成")

    # The volunteer sees it voided, with the reason; nothing was paid.
    mine = await browser.new_page(viewport=PHONE)
    await sign_in(mine, server, phones["volunteer"])
    await expect(mine).to_have_url(f"{server}/c/{slug}/me")
    voided = mine.locator(f"#voided-{award['id']}")
    await expect(voided).to_contain_text("经核实，调解由物业完成")
    await expect(voided).to_contain_text("12")
    await expect(mine.locator("#balance")).to_have_text("0")
    await check_accessible(mine, "我的积分 with a voided award")
    await shoot(mine, "publication-voided")
