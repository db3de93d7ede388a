"""The volunteer's supermarket pages in a real browser (Debian's chromium through Playwright, with
tests/test_browser.py's server, browser and admin fixtures and checks): on a phone, a volunteer opens 付款码 from
the nav, sees the digits, the QR and the balance; the code renews itself in place (the fragment swapped, the page
not reloaded); paid at the counter, the page says so with the receipt; the receipt, the receipts list and the
catalogue (stock, limits left) pass the label and contrast checks and are pictured (docs/screenshots/shop-*.png);
without JavaScript the code page reloads itself with the next code and the other pages read the same."""

from __future__ import annotations

import io
import re
import uuid
from typing import Any

import pytest
from PIL import Image
from playwright.async_api import Browser, Page, expect

from catalog import codes
from points.pages import shop as shop_pages
from tests.test_browser import PASSWORD, Admin, check_accessible, shoot, sign_in
from tests.test_browser import admin as admin  # the fixtures, used by name
from tests.test_browser import browser as browser
from tests.test_browser import server as server

pytestmark = pytest.mark.browser
PHONE = {"width": 412, "height": 915}


async def _ok(r: Any) -> Any:
    assert r.status_code in (200, 201), r.text
    return r.json()


async def shop_world(admin: Admin, name: str) -> tuple[str, str]:
    """A community with a stocked supermarket (soap 15, a cup 20, rice 44 one a household a month, with 3 bags
    left; towels out), a volunteer 李华 of household 3-201 with 200 points who signs in, and 李奶奶 of the same
    household, who has no phone and 60 points: (slug, 李华's phone)."""
    slug, _, _, issuance = await admin.community_with_volunteer(name)
    base = f"/api/v1/communities/{slug}"
    phone = "137" + str(uuid.uuid4().int)[:8]
    body = {"display_name": "李华", "phone": phone, "password": PASSWORD, "roles": ["volunteer"], "household": "3-201"}
    lihua = await _ok(await admin.http.post(f"{base}/members", json=body))
    body = {"display_name": "李奶奶", "roles": ["volunteer"], "household": "3-201"}
    grandma = await _ok(await admin.http.post(f"{base}/members", json=body))
    await admin.award(slug, issuance, lihua["wallet_account_id"], 200, "治安巡逻 夜巡")
    await admin.award(slug, issuance, grandma["wallet_account_id"], 60, "邻里互助")
    picture = io.BytesIO()
    Image.new("RGB", (320, 240), (210, 180, 120)).save(picture, format="PNG")
    headers = {"Content-Type": "image/png"}
    photo = await _ok(await admin.http.post(f"{base}/photos", content=picture.getvalue(), headers=headers))
    for good, stock in (
        ({"name": "肥皂", "price": 15, "category": "日用品", "barcode": "6901234567892", "photo_id": photo["id"]}, 50),
        ({"name": "杯子", "price": 20, "category": "日用品"}, 30),
        ({"name": "毛巾", "price": 25, "category": "日用品"}, 0),
        ({"name": "大米", "price": 44, "category": "粮油", "unit": "袋", "limit_per_household": 1,
          "limit_period": "month"}, 3),
    ):  # fmt: skip
        made = await _ok(await admin.http.post(f"{base}/goods", json=good))
        if stock:
            move = {"kind": "restock", "quantity": stock, "reason": "捐赠"}
            await _ok(await admin.http.post(f"{base}/goods/{made['id']}/movements", json=move))
    return slug, phone


async def pay_digits(page: Page) -> str:
    text = await page.locator("#pay-code").inner_text()
    digits = "".join(ch for ch in text if ch.isdigit())
    assert len(digits) == 18, text
    return digits


async def redeem(admin: Admin, slug: str, code: str, lines: list[tuple[str, int]]) -> dict[str, Any]:
    """The admin at the counter (a clerk's page is helper P2's), by the API."""
    base = f"/api/v1/communities/{slug}"
    goods = {g["name"]: g["id"] for g in await _ok(await admin.http.get(f"{base}/goods"))}
    body = {"payment_code": code, "lines": [{"good_id": goods[n], "quantity": q} for n, q in lines]}
    headers = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    receipt: dict[str, Any] = await _ok(
        await admin.http.post(f"{base}/counter/redemptions", json=body, headers=headers)
    )
    return receipt


async def test_a_volunteer_on_a_phone_opens_the_code_sees_it_renew_pays_and_finds_the_receipt(
    browser: Browser, server: str, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    slug, phone = await shop_world(admin, "幸福社区")
    page = await browser.new_page(viewport=PHONE)
    await sign_in(page, server, phone)
    await expect(page).to_have_url(f"{server}/c/{slug}/me")
    await page.get_by_role("navigation", name="栏目").get_by_role("link", name="付款码").click()
    await expect(page).to_have_url(f"{server}/c/{slug}/pay")
    await expect(page.locator("#pay-code")).to_have_text(re.compile(r"^\d{6} \d{6} \d{6}$"))
    await expect(page.locator(".pay-qr svg.qr")).to_be_visible()
    await expect(page.locator(".pay-wallet")).to_contain_text("可用：200 积分")
    await expect(page.locator(".pay-for")).to_contain_text("李奶奶")
    box = await page.locator(".pay-qr svg.qr").bounding_box()
    assert box is not None
    assert box["width"] >= 200  # big enough for the clerk's scanner, within the phone's width
    assert box["x"] + box["width"] <= PHONE["width"]
    await check_accessible(page, "the payment code")
    await shoot(page, "shop-pay")
    await page.set_viewport_size(PHONE)

    # the code renews itself in place: "near its end" stretched to its whole life, so the next poll renews it
    await page.evaluate("window.__same_page = true")
    before = await pay_digits(page)
    monkeypatch.setattr(shop_pages, "RENEW_AHEAD_S", codes.CODE_LIFETIME_S + 1)
    await expect(page.locator("#pay-code")).not_to_have_text(page_text(before), timeout=10_000)
    monkeypatch.undo()
    assert await page.evaluate("window.__same_page === true"), "the fragment was swapped, the page not reloaded"
    code = await pay_digits(page)
    assert code != before

    # paid at the counter: the phone says so by itself, and links the receipt
    receipt = await redeem(admin, slug, code, [("肥皂", 2), ("大米", 1)])
    done = page.locator("#pay-done")
    await expect(done).to_contain_text(f"已付款：小票 {receipt['number']} 号，74 积分", timeout=10_000)
    await expect(done).to_contain_text("现在可用 126 积分")
    await expect(page.locator(".pay-wallet")).to_have_count(0)  # no stale balance left above it
    await check_accessible(page, "the payment code, paid")
    await shoot(page, "shop-pay-paid")
    await page.set_viewport_size(PHONE)
    await done.get_by_role("link", name="查看小票").click()
    await expect(page).to_have_url(f"{server}/c/{slug}/me/receipts/{receipt['number']}")
    await expect(page.locator("#receipt-total")).to_have_text("74")
    await expect(page.locator(".receipt-lines tbody tr")).to_have_count(2)
    await check_accessible(page, "a receipt")
    await shoot(page, "shop-receipt")
    await page.set_viewport_size(PHONE)
    await page.get_by_role("link", name="我的小票").click()
    await expect(page.locator("#receipts .receipt-card")).to_have_count(1)
    await expect(page.locator("#receipts")).to_contain_text("-74")
    await check_accessible(page, "my receipts")
    await shoot(page, "shop-receipts")
    await page.set_viewport_size(PHONE)

    # the catalogue: the rice bought this month leaves none for the household, the towels are out
    await page.get_by_role("navigation", name="栏目").get_by_role("link", name="积分超市").click()
    await expect(page).to_have_url(f"{server}/c/{slug}/shop")
    await expect(page.locator(".good", has_text="大米")).to_contain_text("本户：本月还可买 0 袋（限 1 袋）")
    await expect(page.locator(".good", has_text="大米")).to_contain_text("仅剩 2 袋")
    await expect(page.locator(".good", has_text="毛巾")).to_contain_text("已售完")
    soap_photo = page.locator(".good", has_text="肥皂").get_by_role("img", name="肥皂的照片")
    await expect(soap_photo).to_be_visible()
    assert await soap_photo.evaluate("img => img.complete && img.naturalWidth === 320")  # served, re-encoded
    await check_accessible(page, "the catalogue")
    await shoot(page, "shop-catalogue")
    await page.set_viewport_size(PHONE)

    # 代办: the code shown for 李奶奶, from her points
    await page.goto(f"{server}/c/{slug}/pay")
    await page.locator(".pay-for").get_by_role("link", name="李奶奶").click()
    await expect(page.locator(".pay-wallet")).to_contain_text("李奶奶 可用 60 积分")
    await expect(page.locator(".pay-show")).to_contain_text("代办：为 李奶奶 付款")
    await check_accessible(page, "the payment code for a household member")
    await shoot(page, "shop-pay-daiban")
    await page.set_viewport_size(PHONE)
    await page.get_by_role("button", name="English").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Payment code")
    await shoot(page, "shop-pay-en")
    await page.close()


async def test_without_javascript_the_code_page_reloads_with_the_next_code_and_the_shop_reads_the_same(
    browser: Browser, server: str, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    slug, phone = await shop_world(admin, "和睦社区")
    context = await browser.new_context(java_script_enabled=False, viewport=PHONE)
    page = await context.new_page()
    await sign_in(page, server, phone)
    await page.goto(f"{server}/c/{slug}/pay")
    before = await pay_digits(page)
    monkeypatch.setattr(shop_pages, "RENEW_AHEAD_S", codes.CODE_LIFETIME_S + 1)  # the meta refresh in 1 s
    await page.reload()
    first = await pay_digits(page)
    assert first != before
    await expect(page.locator("#pay-code")).not_to_have_text(page_text(first), timeout=10_000)
    monkeypatch.undo()
    assert not await page.evaluate("typeof window.htmx !== 'undefined'")  # htmx really did not run
    await page.goto(f"{server}/c/{slug}/shop")
    await expect(page.locator(".good", has_text="肥皂")).to_contain_text("15 积分")
    await page.get_by_label("找商品").fill("米")
    await page.get_by_role("button", name="搜索").click()
    await expect(page.locator(".good")).to_have_count(1)
    await expect(page.locator(".good")).to_contain_text("本户：本月还可买 1 袋（限 1 袋）")
    await page.goto(f"{server}/c/{slug}/me/receipts")
    await expect(page.locator("main")).to_contain_text("还没有小票")
    await context.close()


def page_text(digits: str) -> str:
    """The digits as the page groups them."""
    return " ".join(digits[i : i + 6] for i in range(0, 18, 6))
