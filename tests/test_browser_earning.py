"""Earning points in a real browser, end to end (Debian's chromium through Playwright, with tests/test_browser.py's
server, browser and admin fixtures and checks): an organizer posts a patrol on the page and opens its code page;
two volunteers on phones check in by typing the digits the organizer's screen shows; the code renews itself; the
organizer confirms who came and awards; each volunteer sees +5 on 我的积分. Then every organizer and admin page
passes the label and contrast checks, and is pictured at both sizes (docs/screenshots/organize-*.png,
settings-*.png)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from points.earning.periods import COMMUNITY_TZ
from tests.test_browser import PASSWORD, Admin, check_accessible, shoot, sign_in
from tests.test_browser import admin as admin  # the fixtures, used by name
from tests.test_browser import browser as browser
from tests.test_browser import server as server

pytestmark = pytest.mark.browser
PHONE = {"width": 412, "height": 915}
LAPTOP = {"width": 1366, "height": 768}


async def _ok(r: Any) -> Any:
    assert r.status_code in (200, 201), r.text
    return r.json()


async def earning_world(admin: Admin, name: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """A community with an organizer (孙丽), an admin, two volunteers who sign in (刘志强, 陈芳) and this month's
    budget: (slug, phone by role, the activity types by code)."""
    slug, phones = await admin.community_with_roles(name)
    base = f"/api/v1/communities/{slug}"
    phones["volunteer2"] = "138" + str(uuid.uuid4().int)[:8]
    body = {"display_name": "陈芳", "phone": phones["volunteer2"], "password": PASSWORD, "roles": ["volunteer"],
            "household": "8-102"}  # fmt: skip
    await _ok(await admin.http.post(f"{base}/members", json=body))
    month = datetime.now(COMMUNITY_TZ).strftime("%Y-%m")
    await _ok(await admin.http.post(f"{base}/budgets", json={"period": month, "points": 1000},
                                    headers={"Idempotency-Key": f"b-{uuid.uuid4()}"}))  # fmt: skip
    kinds = {t["code"]: t for t in await _ok(await admin.http.get(f"{base}/activity-types"))}
    return slug, phones, kinds


def _minute(moment: datetime) -> str:
    return moment.astimezone(COMMUNITY_TZ).strftime("%Y-%m-%dT%H:%M")


async def _digits(page: Page) -> str:
    text = await page.locator("#digits").inner_text()
    return "".join(ch for ch in text if ch.isdigit())


async def test_an_organizer_posts_a_patrol_two_phones_check_in_by_its_code_and_get_5_points(
    browser: Browser, server: str, admin: Admin
) -> None:
    slug, phones, kinds = await earning_world(admin, "平安社区")
    organizer = await browser.new_page(viewport=LAPTOP)
    await sign_in(organizer, server, phones["organizer"])
    await expect(organizer).to_have_url(f"{server}/c/{slug}/organize")  # an organizer lands on the dashboard
    await organizer.get_by_role("navigation", name="组织活动").get_by_role("link", name="发布活动").click()
    await expect(organizer).to_have_url(f"{server}/c/{slug}/organize/activities/new")

    # It starts at the next whole minute at least 20 s away (a page opens an activity only before its start, and
    # takes minutes), so that it has started, and can be confirmed, a minute or so later; check-ins open before.
    starts = (datetime.now(UTC) + timedelta(seconds=80)).replace(second=0, microsecond=0)
    await organizer.get_by_label("类型", exact=True).select_option(str(kinds["patrol"]["id"]))
    await organizer.get_by_label("标题", exact=True).fill("治安巡逻 · 东门夜巡")
    await organizer.get_by_label("开始时间（社区时间）").fill(_minute(starts))
    await organizer.get_by_label("结束时间（社区时间）").fill(_minute(starts + timedelta(hours=2)))
    await organizer.get_by_label("名额（留空：不限）").fill("6")
    await check_accessible(organizer, "the new activity form")
    await organizer.get_by_role("button", name="开放报名").click()
    await expect(organizer.get_by_role("heading", level=1)).to_contain_text("治安巡逻 · 东门夜巡")
    activity = int(organizer.url.rsplit("/", 1)[1])
    await expect(organizer.locator("h1 .state")).to_have_text("报名中")
    await organizer.get_by_role("link", name="显示签到码").click()
    await expect(organizer).to_have_url(f"{server}/c/{slug}/organize/activities/{activity}/code")
    await expect(organizer.locator("#digits")).to_have_text(re.compile(r"^\d{3}\s*\d{3}$"))
    await expect(organizer.locator("svg.qr")).to_be_visible()

    # two volunteers, each on a phone, type the digits the organizer's screen shows
    for who in ("volunteer", "volunteer2"):
        phone = await browser.new_page(viewport=PHONE)
        await sign_in(phone, server, phones[who])
        await phone.goto(f"{server}/c/{slug}/activities/{activity}")
        await phone.locator("#checkin-code").fill(await _digits(organizer))
        await phone.locator("form.code-form").get_by_role("button", name="签到", exact=True).click()
        await expect(phone).to_have_url(f"{server}/c/{slug}/activities/{activity}?done=checkin")
        await expect(phone.get_by_role("status")).to_contain_text("签到成功")
        await phone.close()
    # the organizer's screen lists them without a reload (htmx polls the fragment)
    await expect(organizer.locator("#checked-in-count")).to_have_text("2", timeout=10_000)
    await expect(organizer.locator("#checked-in-list")).to_contain_text("刘志强")
    await expect(organizer.locator("#checked-in-list")).to_contain_text("陈芳")
    await check_accessible(organizer, "the code page")
    await shoot(organizer, "organize-code")

    # the code renews itself when its 30 s are up, with no reload of the page
    await organizer.evaluate("window.__same_page = true")
    before = await _digits(organizer)
    await expect(organizer.locator("#digits")).not_to_have_text(before, timeout=35_000)
    assert await organizer.evaluate("window.__same_page === true"), "the fragment was swapped, the page not reloaded"

    # once it has started, the organizer confirms who came (both ticked) and awards
    wait_s = (starts - datetime.now(UTC)).total_seconds() + 1
    if wait_s > 0:
        await organizer.wait_for_timeout(wait_s * 1000)
    await organizer.get_by_role("link", name="返回活动").click()
    await expect(organizer.locator("#confirm-form input[name=member_ids]:checked")).to_have_count(2)
    await expect(organizer.locator("#confirm-form")).to_contain_text("签到码")  # how each checked in
    await organizer.get_by_role("button", name="确认到场人员").click()
    await expect(organizer.locator("h1 .state")).to_have_text("已确认到场")
    await organizer.get_by_role("button", name="发放积分").click()
    result = organizer.locator("#award-result")
    await expect(result).to_contain_text("已发放")
    await expect(result).to_contain_text("共 10 积分")
    await expect(result.locator("tbody tr")).to_have_count(2)
    await check_accessible(organizer, "the activity, awarded")
    await shoot(organizer, "organize-activity")
    await organizer.close()

    for who in ("volunteer", "volunteer2"):
        phone = await browser.new_page(viewport=PHONE)
        await sign_in(phone, server, phones[who])
        await expect(phone).to_have_url(f"{server}/c/{slug}/me")
        await expect(phone.locator("#balance")).to_have_text("5")
        await expect(phone.locator(".history .line").first).to_contain_text("+5")
        await phone.close()


async def test_every_organizer_and_admin_page_is_labelled_readable_and_pictured(
    browser: Browser, server: str, admin: Admin
) -> None:
    slug, phones, kinds = await earning_world(admin, "和谐社区")
    base = f"/api/v1/communities/{slug}"
    volunteers = {m["display_name"]: m for m in await _ok(await admin.http.get(f"{base}/members"))}
    # something waiting on every page: a report to verify, an award above the threshold to approve
    await _ok(await admin.http.put(f"{base}/earning-settings", json={"approval_threshold": 20}))
    await _ok(await admin.http.post(f"{base}/reports", json={"type_id": kinds["report"]["id"],
                                                             "text": "5号楼消防通道被电动车堵住"}))  # fmt: skip
    award = {"member_id": volunteers["陈芳"]["id"], "type_id": kinds["mediation"]["id"], "points": 30,
             "reason": "调解邻里漏水纠纷"}  # fmt: skip
    await _ok(await admin.http.post(f"{base}/awards", json=award, headers={"Idempotency-Key": f"a-{uuid.uuid4()}"}))
    later = datetime.now(UTC) + timedelta(days=2)
    draft = {"type_id": kinds["cleanup"]["id"], "title": "环境整治 · 3栋楼道清理", "capacity": 10,
             "starts_at": later.isoformat(), "ends_at": (later + timedelta(hours=2)).isoformat()}  # fmt: skip
    activity = (await _ok(await admin.http.post(f"{base}/activities", json=draft)))["id"]

    page = await browser.new_page(viewport=PHONE)
    await sign_in(page, server, phones["organizer"])
    organize = f"/c/{slug}/organize"
    for name, url in (
        ("organize-dashboard", organize),
        ("organize-new", f"{organize}/activities/new"),
        ("organize-draft", f"{organize}/activities/{activity}"),
        ("organize-award", f"{organize}/awards/new?q=陈"),
        ("organize-reports", f"{organize}/reports"),
        ("organize-approvals", f"{organize}/approvals"),
    ):
        await page.goto(f"{server}{url}")
        await expect(page.get_by_role("heading", level=1)).to_be_visible()
        await check_accessible(page, url)
        await shoot(page, name)
    # a refused form has its own colours, and keeps what was typed
    await page.goto(f"{server}{organize}/activities/new")
    starts = datetime.now(UTC) + timedelta(days=1)
    await page.get_by_label("标题", exact=True).fill("夜巡")
    await page.get_by_label("开始时间（社区时间）").fill(_minute(starts))
    await page.get_by_label("结束时间（社区时间）").fill(_minute(starts - timedelta(hours=1)))
    await page.get_by_role("button", name="开放报名").click()
    await expect(page.get_by_role("alert")).to_contain_text("结束时间必须晚于开始时间")
    await expect(page.get_by_label("标题", exact=True)).to_have_value("夜巡")
    await check_accessible(page, "the new activity form, refused")
    await shoot(page, "organize-new-refused")
    # the approval waits for this organizer (the admin made it), who approves it
    await page.goto(f"{server}{organize}/approvals")
    await page.get_by_role("button", name="批准并发放").click()
    await expect(page.locator("main")).to_contain_text("没有待审批的奖励")
    await page.close()

    page = await browser.new_page(viewport=PHONE)
    await sign_in(page, server, phones["admin"])
    await page.goto(f"{server}/c/{slug}/settings/earning")
    await check_accessible(page, "the earning settings")
    await shoot(page, "settings-earning")
    await page.locator("#type-{}".format(kinds["patrol"]["id"])).get_by_label("每日上限").fill("200")
    await page.locator("#type-{}".format(kinds["patrol"]["id"])).get_by_role("button", name="保存").click()
    await expect(page.get_by_role("alert")).to_be_visible()
    await check_accessible(page, "the earning settings, refused")
    await shoot(page, "settings-earning-refused")
    await page.goto(f"{server}/c/{slug}/settings/earning")
    await page.get_by_role("button", name="English").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Earning settings")
    await shoot(page, "settings-earning-en")
    await page.close()


async def test_without_javascript_the_code_page_reloads_itself_with_the_next_code(
    browser: Browser, server: str, admin: Admin
) -> None:
    slug, phones, kinds = await earning_world(admin, "友爱社区")
    starts = datetime.now(UTC) + timedelta(minutes=10)  # check-ins, and the code, from 30 minutes before
    body = {"type_id": kinds["patrol"]["id"], "title": "治安巡逻 · 西门夜巡", "open": True,
            "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat()}  # fmt: skip
    activity = (await _ok(await admin.http.post(f"/api/v1/communities/{slug}/activities", json=body)))["id"]
    context = await browser.new_context(java_script_enabled=False, viewport=LAPTOP)
    page = await context.new_page()
    await sign_in(page, server, phones["organizer"])
    await page.goto(f"{server}/c/{slug}/organize/activities/{activity}")
    await page.get_by_role("link", name="显示签到码").click()
    before = await _digits(page)
    assert len(before) == 6
    await expect(page.locator("#digits")).not_to_have_text(before, timeout=35_000)  # the meta refresh reloaded it
    assert not await page.evaluate("typeof window.htmx !== 'undefined'")  # htmx really did not run
    await context.close()
