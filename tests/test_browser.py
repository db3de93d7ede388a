"""Journeys in a real browser: Debian's chromium, headless, driven by Playwright (which never downloads one).

The app is served by uvicorn on 127.0.0.1 in a thread; people, communities and awards are made through the API,
as an admin would. Screenshots of the pages at a phone's 412×915 and a counter laptop's 1366×768 are written to
docs/screenshots/.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from playwright.async_api import Browser, Page, async_playwright, expect

from points.app import create_app
from tests.conftest import test_settings as quiet_settings

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
SIZES = {"phone": (412, 915), "laptop": (1366, 768)}
PASSWORD = "browser-password-1"

if not Path(CHROMIUM).exists() and os.environ.get("CI") != "true":  # CI installs it (.ci/run) and must run these
    pytest.skip(f"no {CHROMIUM} (apt-get install chromium fonts-noto-cjk)", allow_module_level=True)

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[str]:
    """The app over real HTTP, for the browser."""
    port = _free_port()
    config = uvicorn.Config(
        create_app(quiet_settings(), database_url=database_url), host="127.0.0.1", port=port, log_level="warning"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        await b.close()


class Admin:
    """The operator, through the API: opens a community and awards points, as an admin would."""

    def __init__(self, base: str, token: str) -> None:
        self.http = httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"})

    async def ok(self, r: httpx.Response) -> dict[str, Any]:
        assert r.status_code in (200, 201), r.text
        body: dict[str, Any] = r.json()
        return body

    async def community_with_volunteer(self, name: str) -> tuple[str, str, int, int]:
        """(slug, phone, wallet, issuance account) of a new community with one volunteer who can sign in."""
        slug = f"b-{uuid.uuid4().hex[:8]}"
        admin = {"display_name": "王秀英", "phone": "19900000000"}
        await self.ok(await self.http.post("/api/v1/communities", json={"slug": slug, "name": name, "admin": admin}))
        issuance = await self.ok(
            await self.http.post(
                f"/api/v1/communities/{slug}/accounts",
                json={"code": "issuance", "normal_side": "debit", "lower_bound": None},
            )
        )
        phone = "135" + str(uuid.uuid4().int)[:8]
        member = await self.ok(
            await self.http.post(
                f"/api/v1/communities/{slug}/members",
                json={"display_name": "刘志强", "phone": phone, "password": PASSWORD, "roles": ["volunteer"]},
            )
        )
        return slug, phone, member["wallet_account_id"], issuance["id"]

    async def community_with_roles(self, name: str) -> tuple[str, dict[str, str]]:
        """(slug, phone by role) of a new community with a member for each demo role, each able to sign in."""
        slug, volunteer, _, _ = await self.community_with_volunteer(name)
        phones = {"volunteer": volunteer}
        for role, who in (("admin", "周建华"), ("organizer", "孙丽"), ("clerk", "吴敏")):
            phones[role] = "136" + str(uuid.uuid4().int)[:8]
            body = {"display_name": who, "phone": phones[role], "password": PASSWORD, "roles": [role]}
            await self.ok(await self.http.post(f"/api/v1/communities/{slug}/members", json=body))
        return slug, phones

    async def set_status(self, slug: str, name: str, status: str) -> None:
        r = await self.http.get(f"/api/v1/communities/{slug}/members", params={"q": name})
        member = r.json()[0]
        await self.ok(await self.http.post(f"/api/v1/communities/{slug}/members/{member['id']}/status",
                                           json={"status": status}))  # fmt: skip

    async def member_names(self, slug: str) -> list[str]:
        r = await self.http.get(f"/api/v1/communities/{slug}/members", params={"limit": 200})
        assert r.status_code == 200, r.text
        return [m["display_name"] for m in r.json()]

    async def award(self, slug: str, issuance: int, wallet: int, points: int, memo: str) -> None:
        body = {
            "kind": "award",
            "memo": memo,
            "postings": [{"account_id": issuance, "amount": -points}, {"account_id": wallet, "amount": points}],
        }
        headers = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
        await self.ok(await self.http.post(f"/api/v1/communities/{slug}/entries", json=body, headers=headers))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def admin(server: str, operator_token: str) -> AsyncIterator[Admin]:
    a = Admin(server, operator_token)
    yield a
    await a.http.aclose()


async def shoot(page: Page, name: str) -> None:
    """The page at both sizes, into docs/screenshots/<name>-<size>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for size, (width, height) in SIZES.items():
        await page.set_viewport_size({"width": width, "height": height})
        await page.screenshot(path=str(SCREENSHOTS / f"{name}-{size}.png"))


async def sign_in(page: Page, base: str, phone: str, password: str = PASSWORD) -> None:
    await page.goto(f"{base}/login")
    await page.get_by_label("手机号").fill(phone)
    await page.get_by_label("密码").fill(password)
    await page.get_by_role("button", name="登录").click()


async def test_a_volunteer_signs_in_sees_the_balance_and_a_new_award(
    browser: Browser, server: str, admin: Admin
) -> None:
    slug, phone, wallet, issuance = await admin.community_with_volunteer("阳光社区")
    await admin.award(slug, issuance, wallet, 5, "治安巡逻 夜巡")
    await admin.award(slug, issuance, wallet, 3, "环境整治 楼道清理")
    page = await browser.new_page(viewport={"width": 412, "height": 915})
    await page.goto(f"{server}/login")
    await shoot(page, "login")
    await sign_in(page, server, phone)
    await expect(page).to_have_url(f"{server}/c/{slug}/me")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("我的积分")
    await expect(page.locator("#balance")).to_have_text("8")
    await expect(page.locator("#available")).to_have_text("8")

    await admin.award(slug, issuance, wallet, 10, "助老 陪同就医")
    await page.reload()
    await expect(page.locator("#balance")).to_have_text("18")
    newest = page.locator(".history .line").first
    await expect(newest).to_contain_text(re.compile(r"助老 陪同就医 · \d+月\d+日 · \+10"))
    await expect(newest).to_contain_text("余额 18")
    await shoot(page, "my-points")
    await page.close()


async def test_five_wrong_passwords_show_the_lockout(browser: Browser, server: str, admin: Admin) -> None:
    _, phone, _, _ = await admin.community_with_volunteer("星光社区")
    page = await browser.new_page(viewport={"width": 412, "height": 915})
    for _attempt in range(4):
        await sign_in(page, server, phone, "wrong-password")
        await expect(page.get_by_role("alert")).to_contain_text("手机号或密码错误")
        await expect(page.get_by_label("手机号")).to_have_value(phone)  # what was typed stays
    await sign_in(page, server, phone, "wrong-password")
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("账户已暂时锁定")
    await expect(alert).to_contain_text(re.compile(r"请在 \d{1,2}:\d{2} 之后再试"))
    await shoot(page, "login-locked")
    await page.close()


async def test_the_language_switch_shows_english_and_back(browser: Browser, server: str, admin: Admin) -> None:
    slug, phone, wallet, issuance = await admin.community_with_volunteer("和平社区")
    await admin.award(slug, issuance, wallet, 1200, "宣传 防诈骗讲座")
    page = await browser.new_page(viewport={"width": 1366, "height": 768})
    await sign_in(page, server, phone)
    await page.get_by_role("button", name="English").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("My points")
    await expect(page.locator("#balance")).to_have_text("1,200")
    await expect(page.locator(".history .line").first).to_contain_text(
        re.compile(r"宣传 防诈骗讲座 · [A-Z][a-z]{2} \d+ · \+1,200")
    )
    await shoot(page, "my-points-en")
    await page.get_by_role("button", name="中文").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("我的积分")
    await page.close()


async def test_each_role_signs_in_and_lands_on_its_page(browser: Browser, server: str, admin: Admin) -> None:
    slug, phones = await admin.community_with_roles("幸福社区")
    for role, phone in phones.items():
        page = await browser.new_page(viewport={"width": 412, "height": 915})
        await sign_in(page, server, phone)
        if role == "admin":  # an admin's work is the member register
            await expect(page).to_have_url(f"{server}/c/{slug}/members")
            await expect(page.get_by_role("heading", level=1)).to_contain_text("成员")
        elif role == "organizer":  # an organizer's, the activities they run
            await expect(page).to_have_url(f"{server}/c/{slug}/organize")
        elif role == "clerk":  # a clerk's, the counter
            await expect(page).to_have_url(f"{server}/c/{slug}/counter")
            await expect(page.get_by_role("heading", level=1)).to_contain_text("收银台")
        else:
            await expect(page).to_have_url(f"{server}/c/{slug}/me")
            await expect(page.get_by_role("heading", level=1)).to_contain_text("我的积分")
        await page.close()


async def test_an_admin_imports_a_csv_with_a_bad_row_fixes_it_and_imports(
    browser: Browser, server: str, admin: Admin
) -> None:
    slug, phones = await admin.community_with_roles("团结社区")
    before = await admin.member_names(slug)
    page = await browser.new_page(viewport={"width": 1366, "height": 768})
    await sign_in(page, server, phones["admin"])
    await expect(page).to_have_url(f"{server}/c/{slug}/members")
    await page.get_by_role("link", name="从 CSV 导入").click()
    good = "137" + str(uuid.uuid4().int)[:8]
    bad_csv = f"name,phone,household,roles\n黄志明,{good},6-601,volunteer\n林淑芬,1370000abcd,6-602,volunteer\n"
    await page.get_by_label("粘贴 CSV").fill(bad_csv)
    await page.get_by_role("button", name="导入", exact=True).click()
    report = page.locator("#report")
    await expect(report).to_contain_text("有误的行：1。一行也没有导入。")
    await expect(report.locator(".bad-line")).to_have_count(1)
    await expect(report.locator(".bad-line")).to_contain_text("第 3 行")
    await expect(report.locator(".bad-line")).to_contain_text("手机号（phone 列）：应为 6 到 20 位数字")
    await shoot(page, "members-import-report")
    assert await admin.member_names(slug) == before  # nothing imported

    fixed = bad_csv.replace("1370000abcd", "137" + str(uuid.uuid4().int)[:8])
    await page.get_by_label("粘贴 CSV").fill(fixed)
    await page.get_by_role("button", name="导入", exact=True).click()
    await expect(page.locator("#report")).to_contain_text("已导入成员：2 名。")
    assert {"黄志明", "林淑芬"} <= set(await admin.member_names(slug))

    await page.get_by_role("link", name="返回成员列表").click()
    await expect(page.locator("#members")).to_contain_text("林淑芬")
    await expect(page.locator("#members")).to_contain_text("户 6-602")
    await shoot(page, "members")
    await page.get_by_label("按姓名或手机号搜索").fill(good[:3] + "****" + good[-4:])
    await page.get_by_role("button", name="搜索").click()
    await expect(page.locator("#members .member")).to_have_count(1)
    await expect(page.locator("#members")).to_contain_text("黄志明")
    await page.close()


# ---- accessibility and reading without JavaScript -----------------------------------------------------------

# Every visible form control's accessible name, as a screen reader would announce it: <label for>, a wrapping
# <label>, aria-label or aria-labelledby, or a button's own text.
UNLABELLED_JS = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter(el => el.type !== 'hidden' && el.getClientRects().length > 0)
  .filter(el => {
    const named = (el.labels && [...el.labels].some(l => l.textContent.trim()))
      || (el.getAttribute('aria-label') || '').trim()
      || (el.getAttribute('aria-labelledby') || '').split(/\\s+/).some(id => id && document.getElementById(id))
      || (el.tagName === 'BUTTON' && el.textContent.trim());
    return !named;
  })
  .map(el => el.outerHTML.slice(0, 120))"""

# WCAG 2 contrast of every visible piece of text against its effective background (the first ancestor with an
# opaque background colour; the page's white otherwise): the pieces below 4.5:1.
LOW_CONTRAST_JS = """() => {
  const rgb = s => { const m = s.match(/[\\d.]+/g).map(Number);
                     return {r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1}; };
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
                     return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
  const background = el => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
                                if (c.a > 0.5) return c; } return {r: 255, g: 255, b: 255, a: 1}; };
  const low = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || el.getClientRects().length === 0) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || parseFloat(style.opacity) === 0) continue;
    const rect = el.getBoundingClientRect();
    if (rect.right < 0 || rect.bottom < 0) continue;  // the skip link waits off screen until focused
    const fg = lum(rgb(style.color)), bg = lum(background(el));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    const text = el.textContent.trim().slice(0, 40);
    if (ratio < 4.5) low.push(`${ratio.toFixed(2)} ${el.tagName}.${el.className}: ${text}`);
  }
  return low;
}"""

FOCUS_JS = """() => { const el = document.activeElement; const s = getComputedStyle(el);
  return {id: el.id, tag: el.tagName, outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2}; }"""


async def check_accessible(page: Page, where: str) -> None:
    """Every control labelled and every text at least 4.5:1, on the page as it stands."""
    assert await page.evaluate(UNLABELLED_JS) == [], f"unlabelled controls on {where}"
    assert await page.evaluate(LOW_CONTRAST_JS) == [], f"text below 4.5:1 on {where}"


async def test_every_page_is_labelled_and_readable_in_contrast(browser: Browser, server: str, admin: Admin) -> None:
    slug, phones = await admin.community_with_roles("明德社区")
    page = await browser.new_page(viewport={"width": 412, "height": 915})
    for url in ("/", "/login"):
        await page.goto(f"{server}{url}")
        await check_accessible(page, url)
    await sign_in(page, server, "13000000000", "wrong-password")  # an error box has its own colours
    await expect(page.get_by_role("alert")).to_be_visible()
    await check_accessible(page, "/login with an error")
    await sign_in(page, server, phones["admin"])
    await expect(page).to_have_url(f"{server}/c/{slug}/members")
    await admin.set_status(slug, "孙丽", "suspended")  # a suspended member's status pill has its own colours
    for url in (f"/c/{slug}/members", f"/c/{slug}/members/import", f"/c/{slug}/me", "/password", "/"):
        await page.goto(f"{server}{url}")
        await check_accessible(page, url)
    await page.goto(f"{server}/c/{slug}/members")
    await page.get_by_label("姓名", exact=True).fill("林淑芬")
    await page.get_by_label("手机号（可选：没有手机号的成员不能登录）").fill("12ab")
    await page.get_by_role("button", name="添加", exact=True).click()
    await expect(page.locator("#add-error")).to_contain_text("手机号：应为 6 到 20 位数字")
    await check_accessible(page, "the member register with a refused form")
    # the checks themselves notice a pale text and a control without a label
    await page.evaluate(
        """() => document.querySelector('main').insertAdjacentHTML('beforeend',
             '<p style="color:#999">浅灰色的字</p><input type="text" name="nameless">')"""
    )
    assert [low.split(" ", 1)[1] for low in await page.evaluate(LOW_CONTRAST_JS)] == ["P.: 浅灰色的字"]
    assert await page.evaluate(UNLABELLED_JS) == ['<input type="text" name="nameless">']
    await page.close()


async def test_sign_in_by_keyboard_alone_with_the_focus_always_outlined(
    browser: Browser, server: str, admin: Admin
) -> None:
    slug, phone, _, _ = await admin.community_with_volunteer("博爱社区")
    page = await browser.new_page(viewport={"width": 412, "height": 915})
    await page.goto(f"{server}/login")
    seen: list[str] = []
    for _step in range(12):  # the skip link, the brand, the language switch, the sign-in link, then the form
        await page.keyboard.press("Tab")
        focused = await page.evaluate(FOCUS_JS)
        assert focused["outline"], f"the focus on {focused} is not outlined"
        seen.append(focused["id"] or focused["tag"])
        if focused["id"] == "phone":
            break
    assert seen[0] == "A", seen  # the skip link first
    assert seen[-1] == "phone", seen
    await page.keyboard.type(phone)
    await page.keyboard.press("Tab")
    assert (await page.evaluate(FOCUS_JS))["id"] == "password"
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(f"{server}/c/{slug}/me")
    # on the reading page too, every stop of the keyboard is outlined, up to the last one
    stops = 0
    for _step in range(30):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(FOCUS_JS)
        if focused["tag"] == "BODY":  # past the last stop, the focus leaves the page
            break
        assert focused["outline"], f"the focus on {focused} is not outlined"
        stops += 1
    assert stops >= 4, "the skip link, the brand, the language switch and the account links at least"
    await page.close()


async def test_the_reading_pages_work_without_javascript(browser: Browser, server: str, admin: Admin) -> None:
    slug, phones = await admin.community_with_roles("和睦社区")
    context = await browser.new_context(java_script_enabled=False, viewport={"width": 412, "height": 915})
    page = await context.new_page()
    await page.goto(f"{server}/")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("邻里积分")
    await page.get_by_role("link", name="登录").first.click()
    await sign_in(page, server, phones["volunteer"])
    await expect(page).to_have_url(f"{server}/c/{slug}/me")
    await expect(page.locator("#balance")).to_have_text("0")
    await page.get_by_role("button", name="English").click()  # a form post, no script needed
    await expect(page.get_by_role("heading", level=1)).to_contain_text("My points")
    await page.get_by_role("button", name="中文").click()
    await page.get_by_role("button", name="退出").click()
    await sign_in(page, server, phones["admin"])
    await expect(page).to_have_url(f"{server}/c/{slug}/members")
    await page.get_by_label("按姓名或手机号搜索").fill("孙丽")
    await page.get_by_role("button", name="搜索").click()
    await expect(page.locator("#members .member")).to_have_count(1)
    assert not await page.evaluate("typeof window.htmx !== 'undefined'")  # htmx really did not run
    await context.close()


async def test_screenshots_of_every_page(browser: Browser, server: str, admin: Admin) -> None:
    """Every page at both sizes, in Chinese, and the admin's pages in English too (docs/screenshots/)."""
    slug, phones = await admin.community_with_roles("朝阳社区")
    page = await browser.new_page(viewport={"width": 412, "height": 915})
    await page.goto(f"{server}/")
    await shoot(page, "home")
    await sign_in(page, server, phones["admin"])
    await expect(page).to_have_url(f"{server}/c/{slug}/members")
    for name, url in (
        ("home-signed-in", "/"),
        ("password", "/password"),
        ("my-points-admin", f"/c/{slug}/me"),
        ("members-zh", f"/c/{slug}/members"),
        ("members-import", f"/c/{slug}/members/import"),
    ):
        await page.goto(f"{server}{url}")
        await expect(page.get_by_role("heading", level=1)).to_be_visible()
        await shoot(page, name)
    await page.get_by_role("button", name="English").click()
    for name, url in (("members-en", f"/c/{slug}/members"), ("members-import-en", f"/c/{slug}/members/import")):
        await page.goto(f"{server}{url}")
        await expect(page.get_by_role("heading", level=1)).to_contain_text(
            "Members" if "import" not in url else "Import"
        )
        await shoot(page, name)
    await page.close()
