"""The volunteer's earning pages in a real browser (Debian's chromium through Playwright, as tests/test_browser.py,
whose server, browser and admin fixtures and checks these reuse): on a phone, a volunteer signs up for an
activity and checks in by typing the code on the organizer's screen, and sends a report with a photo; every page
passes the label and contrast checks; the list and an activity work with JavaScript off. Screenshots go to
docs/screenshots/volunteer-<page>-<size>.png."""

from __future__ import annotations

import io
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PIL import Image
from playwright.async_api import Browser, Page, expect

from tests.test_browser import Admin, check_accessible, shoot, sign_in
from tests.test_browser import admin as admin  # the fixtures, used by name
from tests.test_browser import browser as browser
from tests.test_browser import server as server

pytestmark = pytest.mark.browser
PHONE = {"width": 412, "height": 915}


async def _ok(r: Any) -> Any:
    assert r.status_code in (200, 201), r.text
    return r.json()


async def volunteer_world(admin: Admin, name: str) -> tuple[str, str, int]:
    """A community with a volunteer who signs in, this month's budget and an activity taking check-ins from now
    (it starts in ten minutes: check-ins open half an hour before): (slug, phone, activity id)."""
    slug, phone, _, _ = await admin.community_with_volunteer(name)
    base = f"/api/v1/communities/{slug}"
    kinds = {t["code"]: t for t in await _ok(await admin.http.get(f"{base}/activity-types"))}
    month = datetime.now(UTC).astimezone().strftime("%Y-%m")
    await _ok(await admin.http.post(f"{base}/budgets", json={"period": month, "points": 1000},
                                    headers={"Idempotency-Key": f"b-{uuid.uuid4()}"}))  # fmt: skip
    starts = datetime.now(UTC) + timedelta(minutes=10)
    body = {"type_id": kinds["patrol"]["id"], "title": "治安巡逻 夜巡", "description": "在小区东门集合，带好手电筒。",
            "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat(), "capacity": 8,
            "open": True}  # fmt: skip
    activity = (await _ok(await admin.http.post(f"{base}/activities", json=body)))["id"]
    later = datetime.now(UTC) + timedelta(days=2)
    await _ok(await admin.http.post(f"{base}/activities", json={
        "type_id": kinds["cleanup"]["id"],
        "title": "环境整治 楼道清理", "starts_at": later.isoformat(),
        "ends_at": (later + timedelta(hours=3)).isoformat(), "capacity": 1, "open": True}))  # fmt: skip
    return slug, phone, activity


async def code_of(admin: Admin, slug: str, activity: int) -> str:
    found = await _ok(await admin.http.get(f"/api/v1/communities/{slug}/activities/{activity}/checkin-code"))
    code: str = found["code"]
    return code


def photo_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (180, 60, 40)).save(out, format="PNG")
    return out.getvalue()


async def nav_to(page: Page, words: str) -> None:
    await page.get_by_role("navigation", name="栏目").get_by_role("link", name=words, exact=True).click()


async def test_a_phone_volunteer_signs_up_and_checks_in_by_typing_the_code(
    browser: Browser, server: str, admin: Admin
) -> None:
    slug, phone, activity = await volunteer_world(admin, "向阳社区")
    page = await browser.new_page(viewport=PHONE)
    await sign_in(page, server, phone)
    await expect(page).to_have_url(f"{server}/c/{slug}/me")
    await nav_to(page, "活动")
    await expect(page).to_have_url(f"{server}/c/{slug}/activities")
    card = page.locator(f"#a{activity}")
    await expect(card).to_contain_text("剩 8 个（共 8 个）")
    await card.get_by_role("button", name="报名").click()
    await expect(page.locator(f"#a{activity}")).to_contain_text("您已报名。")
    await expect(page.locator(f"#a{activity}")).to_contain_text("剩 7 个（共 8 个）")

    await nav_to(page, "签到")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("签到")
    wrong = str((int(await code_of(admin, slug, activity)) + 1) % 1_000_000).zfill(6)
    await page.get_by_label("「治安巡逻 夜巡」的签到码").fill(wrong)
    await page.get_by_role("button", name="签到", exact=True).click()
    await expect(page.get_by_role("alert")).to_contain_text("这不是本活动的签到码")
    await check_accessible(page, "the check-in page with a wrong code")
    await page.get_by_label("「治安巡逻 夜巡」的签到码").fill(await code_of(admin, slug, activity))
    await page.get_by_role("button", name="签到", exact=True).click()
    await expect(page).to_have_url(f"{server}/c/{slug}/activities/{activity}?done=checkin")
    await expect(page.get_by_role("status")).to_contain_text("签到成功")
    await expect(page.locator("main")).to_contain_text("签到码")
    await page.close()


async def test_a_volunteer_sends_a_report_with_a_photo(browser: Browser, server: str, admin: Admin) -> None:
    slug, phone, _ = await volunteer_world(admin, "春晖社区")
    page = await browser.new_page(viewport=PHONE)
    await sign_in(page, server, phone)
    await nav_to(page, "随手拍")
    await page.get_by_role("link", name="新建随手拍").click()
    await expect(page).to_have_url(f"{server}/c/{slug}/reports/new")
    await page.get_by_label("看到了什么？").fill("5 号楼消防通道堆了自行车")
    await page.get_by_label("照片（可选，最大 5 MB）").set_input_files(
        {"name": "hazard.png", "mimeType": "image/png", "buffer": photo_png()}
    )
    await page.get_by_role("button", name="提交").click()
    await expect(page).to_have_url(re.compile(rf"{server}/c/{slug}/me/reports#r[0-9]+$"))  # the new report
    row = page.locator(".report-row").first
    await expect(row).to_contain_text("5 号楼消防通道堆了自行车")
    await expect(row).to_contain_text("等待组织者核实")
    thumb = row.locator("img.thumb")
    await expect(thumb).to_be_visible()
    assert await thumb.evaluate("img => img.complete && img.naturalWidth > 0"), "the photo loads"
    await page.close()


async def test_the_volunteer_pages_are_labelled_readable_and_pictured(
    browser: Browser, server: str, admin: Admin
) -> None:
    slug, phone, activity = await volunteer_world(admin, "晨光社区")
    base = f"/api/v1/communities/{slug}"
    # a report and an award with hours, so that every page has something to show
    members = await _ok(await admin.http.get(f"{base}/members", params={"q": "刘志强"}))
    kinds = await _ok(await admin.http.get(f"{base}/activity-types"))
    award = {"member_id": members[0]["id"], "type_id": kinds[0]["id"], "points": 10, "reason": "帮邻居修水管",
             "minutes": 150}  # fmt: skip
    await _ok(await admin.http.post(f"{base}/awards", json=award, headers={"Idempotency-Key": f"a-{uuid.uuid4()}"}))
    page = await browser.new_page(viewport=PHONE, locale="zh-CN")  # the browser's own words (a file input's) too
    await sign_in(page, server, phone)
    await page.goto(f"{server}/c/{slug}/activities/{activity}")
    await page.get_by_role("button", name="报名").click()
    await page.goto(f"{server}/c/{slug}/reports/new")
    await page.get_by_label("看到了什么？").fill("路灯不亮了，晚上很黑")
    await page.get_by_label("照片（可选，最大 5 MB）").set_input_files(
        {"name": "lamp.png", "mimeType": "image/png", "buffer": photo_png()}
    )
    await page.get_by_role("button", name="提交").click()
    await expect(page.locator(".report-row")).to_have_count(1)
    code = await code_of(admin, slug, activity)
    pages = (
        ("activities", f"/c/{slug}/activities"),
        ("activity", f"/c/{slug}/activities/{activity}"),
        ("checkin", f"/c/{slug}/checkin"),
        ("checkin-link", f"/c/{slug}/activities/{activity}/checkin?code={code}"),
        ("my-activities", f"/c/{slug}/me/activities"),
        ("report-new", f"/c/{slug}/reports/new"),
        ("my-reports", f"/c/{slug}/me/reports"),
    )
    for name, url in pages:
        await page.set_viewport_size(PHONE)
        await page.goto(f"{server}{url}")
        await expect(page.get_by_role("heading", level=1)).to_be_visible()
        await check_accessible(page, url)
        wide = await page.evaluate("document.documentElement.scrollWidth")
        assert wide <= PHONE["width"], f"{url} is {wide} px wide on a 412 px phone"
        await shoot(page, f"volunteer-{name}")
    await expect(page.locator("main")).not_to_contain_text("Sign")  # a Chinese page, no English words
    await page.get_by_role("button", name="English").click()
    for name, url in (("activity-en", pages[1][1]), ("my-activities-en", pages[4][1])):
        await page.goto(f"{server}{url}")
        await check_accessible(page, url)
        await shoot(page, f"volunteer-{name}")
    await expect(page.locator("main")).to_contain_text("Service hours")
    await page.close()


async def test_the_list_and_an_activity_work_without_javascript(browser: Browser, server: str, admin: Admin) -> None:
    slug, phone, activity = await volunteer_world(admin, "和风社区")
    context = await browser.new_context(java_script_enabled=False, viewport=PHONE)
    page = await context.new_page()
    await sign_in(page, server, phone)
    await nav_to(page, "活动")
    await page.get_by_role("link", name="治安巡逻 夜巡").click()
    await expect(page).to_have_url(f"{server}/c/{slug}/activities/{activity}")
    await page.get_by_role("button", name="报名").click()
    await expect(page.locator("main")).to_contain_text("您已报名。")
    await page.get_by_role("button", name="取消报名").click()
    await expect(page.locator("main")).not_to_contain_text("您已报名。")
    await page.get_by_label("签到码（6 位数字）").fill(await code_of(admin, slug, activity))
    await page.get_by_role("button", name="签到", exact=True).click()
    await expect(page.get_by_role("status")).to_contain_text("签到成功")
    assert not await page.evaluate("typeof window.htmx !== 'undefined'")  # htmx really did not run
    await context.close()


# The camera and the detector, stood in for: headless chromium has neither. The detector "sees" window.qrText.
FAKE_CAMERA = """
window.BarcodeDetector = class { async detect() { return window.qrText ? [{ rawValue: window.qrText }] : []; } };
navigator.mediaDevices.getUserMedia = async () => new MediaStream();
HTMLMediaElement.prototype.play = async function () {};
"""


async def test_scanning_the_qr_opens_its_check_in_and_nothing_else(browser: Browser, server: str, admin: Admin) -> None:
    slug, phone, activity = await volunteer_world(admin, "青松社区")
    context = await browser.new_context(viewport=PHONE)
    await context.add_init_script(FAKE_CAMERA)
    page = await context.new_page()
    await sign_in(page, server, phone)
    await page.goto(f"{server}/c/{slug}/checkin")
    await page.evaluate("window.qrText = 'https://evil.example/c/x/activities/1/checkin?code=123456'")
    await page.get_by_role("button", name="用摄像头扫二维码").click()
    await expect(page.locator("#scan-status")).to_have_text("这个二维码不是本站的签到码。")
    await expect(page).to_have_url(f"{server}/c/{slug}/checkin")  # another site's QR is not followed
    code = await code_of(admin, slug, activity)
    await page.evaluate(f"window.qrText = '{server}/c/{slug}/activities/{activity}/checkin?code={code}'")
    await expect(page).to_have_url(f"{server}/c/{slug}/activities/{activity}/checkin?code={code}")
    await expect(page.get_by_label("签到码（6 位数字）")).to_have_value(code)
    await page.get_by_role("button", name="签到", exact=True).click()  # the one tap
    await expect(page.get_by_role("status")).to_contain_text("签到成功")
    await context.close()


async def test_without_a_detector_the_scan_button_is_not_shown(browser: Browser, server: str, admin: Admin) -> None:
    slug, phone, _ = await volunteer_world(admin, "翠竹社区")
    page = await browser.new_page(viewport=PHONE)
    await page.add_init_script("delete window.BarcodeDetector")
    await sign_in(page, server, phone)
    await page.goto(f"{server}/c/{slug}/checkin")
    await expect(page.get_by_role("button", name="用摄像头扫二维码")).to_be_hidden()
    await expect(page.get_by_label("「治安巡逻 夜巡」的签到码")).to_be_visible()  # typing always works
    await page.close()
