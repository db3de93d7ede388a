"""The pages through HTTP (no browser): sign-in, 我的积分, the language switch, errors in words, and the
policy table behind every page. The browser journeys are in tests/test_browser.py."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from litestar.testing import AsyncTestClient

from points.app import create_app
from points.auth.policy import POLICY
from points.pages.i18n import LOCALE_DIR
from tests.conftest import test_settings as quiet_settings
from tests.test_api import API, create_community, open_account, post_entry
from tests.test_auth_flows import PASSWORD, add_member, new_phone

Client = AsyncTestClient[Any]


@pytest.fixture
async def browser(database_url: str) -> AsyncIterator[Client]:
    """An app of this test's own, like a browser: its own cookie jar and login limiter; follows no redirects."""
    async with AsyncTestClient(app=create_app(quiet_settings(), database_url=database_url)) as c:
        c.follow_redirects = False  # the tests look at where each redirect goes
        yield c


async def member_with_points(client: Client, points: int, memo: str = "治安巡逻 夜巡") -> tuple[str, str, int]:
    """A community, a volunteer in it who can sign in, and an award of ``points`` to them: (slug, phone, wallet)."""
    slug = await create_community(client)
    issuance = await open_account(client, slug, "issuance", normal_side="debit", lower_bound=None)
    phone = new_phone()
    member = await add_member(client, slug, phone=phone, password=PASSWORD)
    wallet: int = member["wallet_account_id"]
    if points:
        r = await post_entry(client, slug, [(issuance["id"], -points), (wallet, points)], memo=memo)
        assert r.status_code == 201, r.text
    return slug, phone, wallet


async def sign_in(c: Client, phone: str, password: str = PASSWORD, next_: str = "") -> Any:
    """Fill in and send the sign-in form, as a browser does (with the form's CSRF field)."""
    form = await c.get("/login")
    body = {"phone": phone, "password": password, "next": next_, "_csrf_token": csrf_of(form.text)}
    return await c.post("/login", data=body)


def text_of(html: str) -> str:
    """What a reader sees, roughly: the tags gone, the spaces squeezed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def csrf_of(html: str) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]*)"', html)
    assert found, "every form carries the CSRF token"
    return found.group(1)


# ---- the policy table covers the pages --------------------------------------------------------------


def page_handlers() -> list[Any]:
    app = create_app(quiet_settings(), database_url="postgresql://unused/none")
    return [
        h
        for route in app.routes
        if not route.path.startswith("/schema")  # the OpenAPI document itself: public by path (points/auth/access.py)
        for h in getattr(route, "route_handlers", [])
        if not h.resolve_include_in_schema() and "OPTIONS" not in getattr(h, "http_methods", ())
    ]


def test_every_page_handler_has_an_operation_id_with_a_policy() -> None:
    handlers = page_handlers()
    ids = {h.operation_id for h in handlers}
    assert {"pageHome", "pageLogin", "pageLoginSubmit", "pageLogout", "pageLanguage", "pageMyPoints"} <= ids
    assert {"pageMembers", "pageMemberAdd", "pageMembersImportSubmit", "pagePasswordSubmit"} <= ids
    missing = sorted(str(h) for h in handlers if h.operation_id not in POLICY)
    assert not missing, f"page handlers without a rule in points/auth/policy.py: {missing}"


async def test_pages_stay_out_of_the_openapi_document(anonymous_client: Client) -> None:
    paths = (await anonymous_client.get("/schema/openapi.json")).json()["paths"]
    assert "/login" not in paths
    assert "/c/{slug}/me" not in paths
    assert "/api/v1/communities/{slug}/me/wallet" in paths


# ---- sign-in ------------------------------------------------------------------------------------------


async def test_the_login_page_is_in_chinese_with_every_control_labelled(browser: Client) -> None:
    r = await browser.get("/login")
    assert r.status_code == 200
    assert '<html lang="zh-CN">' in r.text
    assert "手机号" in r.text
    assert "密码" in r.text
    for control in re.findall(r'<input id="([^"]+)"', r.text):
        assert f'<label for="{control}">' in r.text, control
    assert 'href="/static/app.css"' in r.text
    assert (await browser.get("/static/htmx.min.js")).status_code == 200


async def test_signing_in_lands_on_my_points_with_the_balance(client: Client, browser: Client) -> None:
    slug, phone, _ = await member_with_points(client, 5)
    r = await sign_in(browser, phone)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/c/{slug}/me"
    page = await browser.get(r.headers["location"])
    assert page.status_code == 200, page.text
    seen = text_of(page.text)
    assert "我的积分" in seen
    assert re.search(r'id="balance">5<', page.text)
    assert re.search(r"治安巡逻 夜巡 · \d+月\d+日 · \+5", seen), seen
    assert "余额 5" in seen


async def test_a_wrong_password_says_so_and_keeps_the_phone(client: Client, browser: Client) -> None:
    _, phone, _ = await member_with_points(client, 0)
    r = await sign_in(browser, phone, "not-the-password")
    assert r.status_code == 401
    assert "手机号或密码错误" in r.text  # the API's login_failed title, in Chinese
    assert f'value="{phone}"' in r.text
    assert "not-the-password" not in r.text


async def test_five_wrong_passwords_show_the_lockout_with_its_end(client: Client, browser: Client) -> None:
    _, phone, _ = await member_with_points(client, 0)
    for _attempt in range(4):
        assert (await sign_in(browser, phone, "wrong")).status_code == 401
    r = await sign_in(browser, phone, "wrong")
    assert r.status_code == 423
    assert "账户已暂时锁定" in r.text
    assert re.search(r"请在 \d{1,2}:\d{2} 之后再试", text_of(r.text)), text_of(r.text)
    # and the right password does not get in while it lasts
    assert (await sign_in(browser, phone)).status_code == 423


async def test_a_page_needing_a_session_sends_the_anonymous_to_sign_in_and_back(
    client: Client, browser: Client
) -> None:
    slug, phone, _ = await member_with_points(client, 3)
    r = await browser.get(f"/c/{slug}/me")
    assert r.status_code == 303
    assert r.headers["location"] == f"/login?next=/c/{slug}/me"
    signed = await sign_in(browser, phone, next_=f"/c/{slug}/me")
    assert signed.headers["location"] == f"/c/{slug}/me"
    # a next that leaves the site is ignored
    await browser.post("/logout", data={"_csrf_token": csrf_of((await browser.get("/")).text)})
    away = await sign_in(browser, phone, next_="//evil.example/")
    assert away.headers["location"] == f"/c/{slug}/me"


async def test_another_communitys_page_is_a_page_not_found(client: Client, browser: Client) -> None:
    _, phone, _ = await member_with_points(client, 0)
    other = await create_community(client)
    await sign_in(browser, phone)
    r = await browser.get(f"/c/{other}/me")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert "没有这个社区" in r.text


async def test_sign_out_needs_the_forms_csrf_token(client: Client, browser: Client) -> None:
    slug, phone, _ = await member_with_points(client, 0)
    await sign_in(browser, phone)
    page = await browser.get(f"/c/{slug}/me")
    refused = await browser.post("/logout", data={})
    assert refused.status_code == 403
    assert (await browser.get(f"/c/{slug}/me")).status_code == 200  # still signed in
    out = await browser.post("/logout", data={"_csrf_token": csrf_of(page.text)})
    assert out.status_code == 303
    assert (await browser.get(f"/c/{slug}/me")).status_code == 303  # to the sign-in page


# ---- 我的积分 ----------------------------------------------------------------------------------------


async def test_history_pages_newest_first_with_a_next_link(client: Client, browser: Client) -> None:
    slug, phone, wallet = await member_with_points(client, 1, memo="第1次")
    issuance = next(a for a in (await client.get(f"{API}/{slug}/accounts")).json() if a["code"] == "issuance")
    for n in range(2, 23):
        r = await post_entry(client, slug, [(issuance["id"], -1), (wallet, 1)], memo=f"第{n}次")
        assert r.status_code == 201
    await sign_in(browser, phone)
    first = text_of((await browser.get(f"/c/{slug}/me")).text)
    assert first.index("第22次") < first.index("第21次")
    assert "第2次" not in first.replace("第22次", "").replace("第21次", "").replace("第20次", "")
    more = re.search(r'href="(/c/[^"]+\?cursor=[^"]+)"', (await browser.get(f"/c/{slug}/me")).text)
    assert more, "a next-page link"
    second = text_of((await browser.get(more.group(1).replace("&amp;", "&"))).text)
    assert "第1次" in second
    assert "第22次" not in second
    assert "余额 1" in second  # the running balance after the first award


async def test_a_person_in_two_communities_switches_between_them(client: Client, browser: Client) -> None:
    slug, phone, _ = await member_with_points(client, 2)
    other = await create_community(client)
    await add_member(client, other, phone=phone)
    await sign_in(browser, phone)
    page = await browser.get(f"/c/{slug}/me")
    assert f'href="/c/{other}/me"' in page.text
    assert (await browser.get(f"/c/{other}/me")).status_code == 200


async def test_the_api_twin_reads_my_own_wallet(client: Client, browser: Client) -> None:
    slug, phone, wallet = await member_with_points(client, 7)
    r = await browser.post("/api/v1/login", json={"phone": phone, "password": PASSWORD})
    assert r.status_code == 200, r.text
    mine = await browser.get(f"{API}/{slug}/me/wallet")
    assert mine.status_code == 200, mine.text
    assert mine.json() == {"account_id": wallet, "unit": "points", "balance": 7, "held": 0, "available": 7}
    history = await browser.get(f"{API}/{slug}/me/wallet/history", params={"limit": 1})
    assert history.status_code == 200, history.text
    assert [ln["amount"] for ln in history.json()["lines"]] == [7]
    assert history.json()["lines"][0]["memo"] == "治安巡逻 夜巡"


# ---- languages ------------------------------------------------------------------------------------


async def test_the_language_switch_shows_english_and_back(client: Client, browser: Client) -> None:
    slug, phone, _ = await member_with_points(client, 1234)
    await sign_in(browser, phone)
    page = await browser.get(f"/c/{slug}/me")
    r = await browser.post("/lang", data={"lang": "en", "next": f"/c/{slug}/me", "_csrf_token": csrf_of(page.text)})
    assert r.status_code == 303
    assert r.headers["location"] == f"/c/{slug}/me"
    english = await browser.get(f"/c/{slug}/me")
    seen = text_of(english.text)
    assert '<html lang="en">' in english.text
    assert "My points" in seen
    assert "我的积分" not in seen
    assert re.search(r"治安巡逻 夜巡 · [A-Z][a-z]{2} \d+ · \+1,234", seen), seen
    assert "Balance 1,234" in seen
    back = await browser.post("/lang", data={"lang": "zh_CN", "next": "/", "_csrf_token": csrf_of(english.text)})
    assert back.status_code == 303
    assert "我的社区" in (await browser.get("/")).text


async def test_the_language_chosen_comes_back_at_the_next_sign_in_elsewhere(
    client: Client, browser: Client, database_url: str, owner_conn: Any
) -> None:
    """A volunteer picks English on their phone; signing in later on the station's computer (no cookie there), the
    pages are in English without asking again. Choosing while signed out changes nobody."""
    slug, phone, _ = await member_with_points(client, 5)
    await sign_in(browser, phone)
    page = await browser.get(f"/c/{slug}/me")
    await browser.post("/lang", data={"lang": "en", "next": "/", "_csrf_token": csrf_of(page.text)})
    stored = await owner_conn.fetchval("SELECT locale FROM points.people WHERE phone = $1", phone)
    assert stored == "en"
    async with AsyncTestClient(app=create_app(quiet_settings(), database_url=database_url)) as elsewhere:
        elsewhere.follow_redirects = False
        signed_in = await sign_in(elsewhere, phone)
        assert signed_in.status_code == 303
        assert "lang=en" in signed_in.headers.get("set-cookie", "")
        seen = text_of((await elsewhere.get(f"/c/{slug}/me")).text)
        assert "My points" in seen
        assert "我的积分" not in seen
    async with AsyncTestClient(app=create_app(quiet_settings(), database_url=database_url)) as stranger:
        stranger.follow_redirects = False
        assert (await stranger.post("/lang", data={"lang": "zh_CN", "next": "/"})).status_code == 303
    assert await owner_conn.fetchval("SELECT locale FROM points.people WHERE phone = $1", phone) == "en"


def test_every_message_has_a_chinese_translation_and_the_compiled_catalogues_are_current() -> None:
    for locale in ("zh_CN", "en"):
        folder = LOCALE_DIR / locale / "LC_MESSAGES"
        with (folder / "messages.po").open("rb") as f:
            po = read_po(f, locale=locale)
        with (folder / "messages.mo").open("rb") as f:
            mo = read_mo(f)
        written = {m.id: m.string for m in po if m.id and m.string}
        compiled = {m.id: m.string for m in mo if m.id and m.string}
        assert written == compiled, f"{locale}: messages.mo is older than messages.po; run python3 dev.py i18n"
        if locale == "zh_CN":
            untranslated = [m.id for m in po if m.id and not m.string]
            assert not untranslated, f"no Chinese for: {untranslated}"
    with (LOCALE_DIR / "messages.pot").open("rb") as f:
        extracted = {m.id for m in read_po(f) if m.id}
    with (LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        known = {m.id for m in read_po(f) if m.id}
    assert extracted <= known, "run python3 dev.py i18n update: messages.po lacks messages the pages use"


# ---- the member register (admins) ---------------------------------------------------------------------


async def admin_signed_in(client: Client, browser: Client) -> tuple[str, str]:
    """A community, an admin of it signed in on ``browser`` (landing on the register): (slug, admin phone)."""
    slug = await create_community(client)
    phone = new_phone()
    await add_member(client, slug, roles=["admin"], phone=phone, password=PASSWORD)
    r = await sign_in(browser, phone)
    assert r.headers["location"] == f"/c/{slug}/members"
    return slug, phone


async def members_of(client: Client, slug: str, **params: str) -> list[dict[str, Any]]:
    r = await client.get(f"{API}/{slug}/members", params=params)
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()
    return found


async def post_form(c: Client, page_url: str, action: str, fields: dict[str, Any]) -> Any:
    """Send a form from ``page_url``, as a browser does (with the page's CSRF field)."""
    page = await c.get(page_url)
    return await c.post(action, data={**fields, "_csrf_token": csrf_of(page.text)})


async def test_the_members_page_searches_by_name_and_by_masked_phone(client: Client, browser: Client) -> None:
    slug, _ = await admin_signed_in(client, browser)
    phone = new_phone()
    r = await client.post(f"{API}/{slug}/members", json={"display_name": "张桂兰", "phone": phone})
    assert r.status_code == 201
    await client.post(f"{API}/{slug}/members", json={"display_name": "李建国"})
    everyone = text_of((await browser.get(f"/c/{slug}/members")).text)
    assert "张桂兰" in everyone
    assert "李建国" in everyone
    by_name = text_of((await browser.get(f"/c/{slug}/members", params={"q": "桂兰"})).text)
    assert "张桂兰" in by_name
    assert "李建国" not in by_name
    masked = phone[:3] + "****" + phone[-4:]
    by_phone = text_of((await browser.get(f"/c/{slug}/members", params={"q": masked})).text)
    assert "张桂兰" in by_phone
    assert "李建国" not in by_phone
    nobody = text_of((await browser.get(f"/c/{slug}/members", params={"q": "不存在的人"})).text)
    assert "没有找到匹配的成员" in nobody
    assert "张桂兰" not in nobody
    # the API's listMembers answers the same search, by the same service
    assert [m["display_name"] for m in await members_of(client, slug, q=masked)] == ["张桂兰"]
    assert [m["display_name"] for m in await members_of(client, slug, q="建国")] == ["李建国"]
    assert await members_of(client, slug, q="%") == []  # a LIKE wildcard typed is just a character


async def test_adding_a_member_through_the_page_shows_in_the_api(client: Client, browser: Client) -> None:
    slug, _ = await admin_signed_in(client, browser)
    phone = new_phone()
    fields = {"display_name": "陈美华", "phone": phone, "password": "", "household": "3-201", "roles": ["organizer"]}
    r = await post_form(browser, f"/c/{slug}/members", f"/c/{slug}/members", fields)
    assert r.status_code == 303, r.text
    added = [m for m in await members_of(client, slug) if m["display_name"] == "陈美华"]
    assert len(added) == 1
    assert added[0]["roles"] == ["organizer"]
    assert added[0]["phone"] == phone
    assert added[0]["household_id"] is not None
    page = text_of((await browser.get(r.headers["location"].split("#")[0])).text)
    assert "陈美华" in page
    assert "户 3-201" in page
    assert "组织者" in page


async def test_a_taken_phone_is_said_in_words_and_the_form_keeps_what_was_typed(
    client: Client, browser: Client
) -> None:
    slug, admin_phone = await admin_signed_in(client, browser)
    fields = {"display_name": "重复的人", "phone": admin_phone, "household": "5-502", "roles": ["clerk"]}
    r = await post_form(browser, f"/c/{slug}/members", f"/c/{slug}/members", fields)
    assert r.status_code == 409
    seen = text_of(r.text)
    assert "这个手机号已经是本社区的成员" in seen
    assert 'value="重复的人"' in r.text
    assert f'value="{admin_phone}"' in r.text
    assert 'value="5-502"' in r.text
    assert re.search(r'value="clerk"\s+checked', r.text)
    assert not [m for m in await members_of(client, slug) if m["display_name"] == "重复的人"]


async def test_a_too_long_name_and_a_malformed_phone_are_said_in_chinese_by_their_fields(
    client: Client, browser: Client
) -> None:
    slug, _ = await admin_signed_in(client, browser)
    page = f"/c/{slug}/members"
    long_name = "长" * 101
    r = await post_form(browser, page, page, {"display_name": long_name, "phone": "", "roles": ["volunteer"]})
    assert r.status_code == 400
    seen = text_of(r.text)
    assert "姓名：最多 100 个字符" in seen, seen
    assert "must" not in seen
    assert "display_name" not in seen
    assert re.search(r'id="display_name"[^>]*aria-invalid="true"', r.text)
    assert f'value="{long_name}"' in r.text  # what was typed stays
    r = await post_form(browser, page, page, {"display_name": "林淑芬", "phone": "1370000abcd", "roles": ["clerk"]})
    assert r.status_code == 400
    seen = text_of(r.text)
    assert "手机号：应为 6 到 20 位数字" in seen, seen
    assert "phone number is" not in seen
    assert re.search(r'id="phone"[^>]*aria-invalid="true"', r.text)
    assert not [m for m in await members_of(client, slug) if m["display_name"] in ("林淑芬", long_name)]
    # the same problem in English on an English page
    await post_form(browser, page, "/lang", {"lang": "en", "next": page})
    r = await post_form(browser, page, page, {"display_name": "林淑芬", "phone": "12ab", "roles": ["clerk"]})
    assert "Phone number: must be 6 to 20 digits" in text_of(r.text)


async def test_status_and_roles_change_through_the_page_as_the_api_shows(client: Client, browser: Client) -> None:
    slug, _ = await admin_signed_in(client, browser)
    member = await add_member(client, slug)
    mid = member["id"]
    page = f"/c/{slug}/members"
    r = await post_form(browser, page, f"{page}/{mid}/status", {"status": "suspended"})
    assert r.status_code == 303, r.text
    r = await post_form(browser, page, f"{page}/{mid}/roles", {"role": "clerk"})
    assert r.status_code == 303, r.text
    r = await post_form(browser, page, f"{page}/{mid}/roles/revoke", {"role": "volunteer"})
    assert r.status_code == 303, r.text
    now = (await client.get(f"{API}/{slug}/members/{mid}")).json()
    assert now["status"] == "suspended"
    assert now["roles"] == ["clerk"]
    # a role the member does not hold: the API's not_found, in words, by that member's row
    r = await post_form(browser, page, f"{page}/{mid}/roles/revoke", {"role": "organizer"})
    assert r.status_code == 404
    assert f'id="m{mid}-error"' in r.text
    assert "找不到" in text_of(r.text)
    bad = await post_form(browser, page, f"{page}/{mid}/status", {"status": "gone"})
    assert bad.status_code == 400
    assert "状态：只能是以下之一：在册、已暂停、已迁出" in text_of(bad.text)


async def test_the_member_pages_refuse_a_non_admin(client: Client, browser: Client) -> None:
    slug, phone, _ = await member_with_points(client, 0)
    await sign_in(browser, phone)
    for url in (f"/c/{slug}/members", f"/c/{slug}/members/import"):
        r = await browser.get(url)
        assert r.status_code == 403, url
        assert "没有权限" in text_of(r.text)
    member = (await members_of(client, slug))[-1]
    r = await post_form(browser, "/", f"/c/{slug}/members/{member['id']}/roles", {"role": "admin"})
    assert r.status_code == 403
    assert (await client.get(f"{API}/{slug}/members/{member['id']}")).json()["roles"] == ["volunteer"]


async def test_the_import_dry_run_lists_the_bad_line_and_imports_nothing(client: Client, browser: Client) -> None:
    slug, _ = await admin_signed_in(client, browser)
    before = len(await members_of(client, slug))
    csv = f"name,phone,household,roles\n赵一,{new_phone()},1-101,volunteer\n钱二,12ab,1-102,volunteer\n"
    page = f"/c/{slug}/members/import"
    for action in ("check", "import"):
        r = await post_form(browser, page, page, {"csv": csv, "action": action})
        assert r.status_code == 200, r.text
        seen = text_of(r.text)
        assert "有误的行：1。一行也没有导入" in seen, seen
        assert re.search(r"第 3 行\s*：\s*手机号（phone 列）：应为 6 到 20 位数字", seen), seen
        assert "must be" not in seen  # no English sentence on a Chinese page
        assert "赵一" in r.text  # the textarea keeps the CSV to fix
    assert len(await members_of(client, slug)) == before


async def test_a_clean_import_imports(client: Client, browser: Client) -> None:
    slug, _ = await admin_signed_in(client, browser)
    csv = f"name,phone,household,roles\n孙三,{new_phone()},2-201,volunteer\n周四,,2-202,clerk\n"
    page = f"/c/{slug}/members/import"
    checked = await post_form(browser, page, page, {"csv": csv, "action": "check"})
    assert "已检查 2 行，全部无误" in text_of(checked.text)
    assert not [m for m in await members_of(client, slug) if m["display_name"] == "孙三"]
    done = await post_form(browser, page, page, {"csv": csv, "action": "import"})
    assert "已导入成员：2" in text_of(done.text)
    names = {m["display_name"]: m["roles"] for m in await members_of(client, slug)}
    assert names["孙三"] == ["volunteer"]
    assert names["周四"] == ["clerk"]


async def test_an_uploaded_gb18030_file_is_read(client: Client, browser: Client) -> None:
    slug, _ = await admin_signed_in(client, browser)
    page = f"/c/{slug}/members/import"
    form = await browser.get(page)
    raw = "name,phone,household,roles\n吴五,,3-301,volunteer\n".encode("gb18030")
    r = await browser.post(
        page,
        data={"csv": "", "action": "import", "_csrf_token": csrf_of(form.text)},
        files={"file": ("members.csv", raw, "text/csv")},
    )
    assert "已导入成员：1" in text_of(r.text), text_of(r.text)
    assert "吴五" in {m["display_name"] for m in await members_of(client, slug)}


# ---- change password ------------------------------------------------------------------------------------


async def test_changing_the_password_through_the_page(client: Client, browser: Client) -> None:
    _, phone, _ = await member_with_points(client, 0)
    await sign_in(browser, phone)
    wrong = {"current_password": "not-it", "new_password": "a-new-password-2", "new_password_again": "a-new-password-2"}
    r = await post_form(browser, "/password", "/password", wrong)
    assert r.status_code == 401
    assert "当前密码不正确" in text_of(r.text)
    differ = {"current_password": PASSWORD, "new_password": "a-new-password-2", "new_password_again": "other"}
    r = await post_form(browser, "/password", "/password", differ)
    assert r.status_code == 400
    assert "两次输入的新密码不一致" in text_of(r.text)
    ok = {"current_password": PASSWORD, "new_password": "a-new-password-2", "new_password_again": "a-new-password-2"}
    r = await post_form(browser, "/password", "/password", ok)
    assert r.status_code == 303
    assert r.headers["location"] == "/password?done=true"
    assert "密码已修改" in text_of((await browser.get("/password?done=true")).text)
    await post_form(browser, "/", "/logout", {})
    assert (await sign_in(browser, phone)).status_code == 401  # the old password no longer works
    assert (await sign_in(browser, phone, "a-new-password-2")).status_code == 303


async def test_the_password_page_needs_a_session(browser: Client) -> None:
    r = await browser.get("/password")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/password"
