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
