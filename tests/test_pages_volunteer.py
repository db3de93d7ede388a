"""The volunteer's earning pages through HTTP (no browser): open activities and signing up, the waiting list,
check-in by code (and every refusal worded, nothing changed), check-out, my activities with the points and hours
an award paid, reports with and without a photo. The browser journeys are in tests/test_browser_volunteer.py."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from PIL import Image

from points.earning import checkin
from tests.earning_world import Person, World, make_world
from tests.test_pages import Client, csrf_of, text_of
from tests.test_pages import browser as browser

PASSWORD = "earning-pass-1"  # tests/earning_world.py's


@pytest.fixture
async def world(client: Any, owner_conn: asyncpg.Connection, conn: Any) -> World:
    return await make_world(client, owner_conn, conn, volunteers=3)


async def phone_of(w: World, who: Person) -> str:
    found: str = await w.owner.fetchval(
        "SELECT p.phone FROM points.people p JOIN points.members m ON m.person_id = p.id WHERE m.id = $1",
        who.member_id,
    )
    return found


async def sign_in(c: Client, w: World, who: Person, lang: str = "zh_CN") -> None:
    c.cookies.clear()
    c.cookies.set("lang", lang)
    form = await c.get("/login")
    body = {"phone": await phone_of(w, who), "password": PASSWORD, "_csrf_token": csrf_of(form.text)}
    r = await c.post("/login", data=body)
    assert r.status_code == 303, r.text


async def post_form(c: Client, page: str, action: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
    """A form on ``page`` sent as a browser sends it, with that page's CSRF field."""
    token = csrf_of((await c.get(page)).text)
    return await c.post(action, data={**(data or {}), "_csrf_token": token}, **kw)


async def open_activity(w: World, *, days: float = 1, capacity: int | None = None, **extra: Any) -> int:
    starts = datetime.now(UTC) + timedelta(days=days)
    body = {"type_id": w.types[extra.pop("type_code", "patrol")]["id"], "title": extra.pop("title", "治安巡逻 夜巡"),
            "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat(), "open": True,
            "capacity": capacity, **extra}  # fmt: skip
    r = await w.call(w.organizer, "POST", "/activities", json=body)
    assert r.status_code == 201, r.text
    activity_id: int = r.json()["id"]
    return activity_id


async def started(w: World, activity_id: int, minutes_ago: int = 5) -> bytes:
    """Move an open activity to have started a few minutes ago (as the owner: the API opens only future ones);
    its check-in secret."""
    secret: bytes = await w.owner.fetchval(
        "UPDATE points.activities SET starts_at = now() - make_interval(mins => $2), ends_at = now() +"
        " interval '2 hours' WHERE id = $1 RETURNING checkin_secret",
        activity_id,
        minutes_ago,
    )
    return bytes(secret)


def code_now(secret: bytes, steps_back: int = 0) -> str:
    return checkin.code_at(secret, checkin.step_of(datetime.now(UTC)) - steps_back)


async def attendance_rows(w: World, activity_id: int) -> int:
    found: int = await w.owner.fetchval("SELECT count(*) FROM points.attendance WHERE activity_id = $1", activity_id)
    return found


# ---- the list and one activity ---------------------------------------------------------------------------------


async def test_the_list_shows_open_activities_in_chinese_and_english(world: World, browser: Client) -> None:
    w = world
    activity = await open_activity(w, capacity=10, title="楼道清理")
    await sign_in(browser, w, w.volunteers[0])
    r = await browser.get(f"/c/{w.slug}/activities")
    assert r.status_code == 200, r.text
    seen = text_of(r.text)
    assert "楼道清理" in seen
    assert "剩 10 个（共 10 个）" in seen
    # in the community's time; an activity crossing midnight there names the end's day too
    assert re.search(r"时间 \d+月\d+日 \d{1,2}:\d{2}–(\d+月\d+日 )?\d{1,2}:\d{2}", seen), seen
    assert f'action="/c/{w.slug}/activities/{activity}/signup"' in r.text
    # the nav: a volunteer's sections, this one current, and no organizer's
    assert f'<a href="/c/{w.slug}/activities" aria-current="page">活动</a>' in r.text
    assert "我的活动" in seen
    assert "随手拍" in seen
    assert "签到" in seen
    assert "组织活动" not in seen
    await sign_in(browser, w, w.volunteers[0], lang="en")
    r = await browser.get(f"/c/{w.slug}/activities")
    seen = text_of(r.text)
    assert "10 of 10 left" in seen
    assert "Sign up" in seen
    assert "报名" not in seen  # the page's own words are English; the activity's title stays as typed


async def test_an_organizer_sees_the_organize_section_and_lands_on_it(world: World, browser: Client) -> None:
    w = world
    form = await browser.get("/login")
    r = await browser.post("/login", data={"phone": await phone_of(w, w.organizer), "password": PASSWORD,
                                           "_csrf_token": csrf_of(form.text)})  # fmt: skip
    assert r.headers["location"] == f"/c/{w.slug}/organize"
    r = await browser.get(f"/c/{w.slug}/activities")
    assert r.status_code == 200
    assert f'href="/c/{w.slug}/organize"' in r.text
    assert f'href="/c/{w.slug}/members"' not in r.text  # an admin's section


async def test_signing_up_the_waiting_list_and_cancelling(world: World, browser: Client) -> None:
    w = world
    first, second = w.volunteers[0], w.volunteers[1]
    activity = await open_activity(w, capacity=1)
    page = f"/c/{w.slug}/activities/{activity}"
    await sign_in(browser, w, first)
    r = await post_form(browser, page, f"{page}/signup", {"back": "activity"})
    assert r.status_code == 303
    assert r.headers["location"] == page
    seen = text_of((await browser.get(page)).text)
    assert "您已报名。" in seen
    assert "已满：新报名进入候补" in seen
    assert "取消报名" in seen

    await sign_in(browser, w, second)
    r = await post_form(browser, f"/c/{w.slug}/activities", f"{page}/signup", {"back": "list"})
    assert r.headers["location"] == f"/c/{w.slug}/activities#a{activity}"
    seen = text_of((await browser.get(f"/c/{w.slug}/activities")).text)
    assert "您在候补名单上：第 1 位。" in seen
    assert "已满：新报名进入候补 · 1 人候补" in seen

    await sign_in(browser, w, first)
    r = await post_form(browser, page, f"{page}/signup/cancel", {"back": "activity"})
    assert r.status_code == 303
    seen = text_of((await browser.get(page)).text)
    assert "您已报名。" not in seen
    assert "报名" in seen  # the button again
    await sign_in(browser, w, second)
    assert "您已报名。" in text_of((await browser.get(page)).text)  # the place went to the one waiting


async def test_signing_up_after_the_start_is_refused_in_words(world: World, browser: Client) -> None:
    w = world
    activity = await open_activity(w)
    await started(w, activity)
    page = f"/c/{w.slug}/activities/{activity}"
    await sign_in(browser, w, w.volunteers[0])
    r = await post_form(browser, page, f"{page}/signup", {"back": "activity"})
    assert r.status_code == 409
    assert "活动已经开始：报名和取消报名在开始时截止。" in text_of(r.text)
    assert await w.owner.fetchval("SELECT count(*) FROM points.signups WHERE activity_id = $1", activity) == 0


async def test_a_draft_is_not_shown_to_a_volunteer(world: World, browser: Client) -> None:
    w = world
    r = await w.call(w.organizer, "POST", "/activities", json={
        "type_id": w.types["patrol"]["id"], "title": "草稿活动",
        "starts_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
        "ends_at": (datetime.now(UTC) + timedelta(days=1, hours=1)).isoformat()})  # fmt: skip
    await sign_in(browser, w, w.volunteers[0])
    page = await browser.get(f"/c/{w.slug}/activities/{r.json()['id']}")
    assert page.status_code == 404
    assert "草稿活动" not in page.text


# ---- check-in ---------------------------------------------------------------------------------------------------


async def test_checking_in_with_the_code_on_the_screen(world: World, browser: Client) -> None:
    w = world
    activity = await open_activity(w)
    secret = await started(w, activity)
    page = f"/c/{w.slug}/activities/{activity}"
    await sign_in(browser, w, w.volunteers[0])
    shown = await browser.get(page)
    assert 'id="checkin-code"' in shown.text  # in its window, the activity page has the check-in form
    r = await post_form(browser, f"/c/{w.slug}/checkin", f"{page}/checkin",
                        {"code": code_now(secret), "back": "checkin"})  # fmt: skip
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"{page}?done=checkin"
    seen = text_of((await browser.get(r.headers["location"])).text)
    assert "签到成功，感谢您的参与！" in seen
    assert re.search(r"已于 \d+月\d+日 \d{1,2}:\d{2} 签到", seen), seen
    assert await attendance_rows(w, activity) == 1

    # twice: refused in words, on the page it came from, nothing changed
    r = await post_form(browser, f"/c/{w.slug}/checkin", f"{page}/checkin",
                        {"code": code_now(secret), "back": "checkin"})  # fmt: skip
    assert r.status_code == 409
    assert "您已经签到过这个活动了。" in text_of(r.text)
    assert await attendance_rows(w, activity) == 1


@pytest.mark.parametrize(
    ("what", "status", "words"),
    [
        ("wrong", 422, "这不是本活动的签到码，请核对屏幕上的 6 位数字。"),
        ("expired", 422, "签到码已过期，请输入组织者屏幕上现在显示的签到码。"),
        ("letters", 400, "签到码"),
    ],
)
async def test_a_refused_code_is_worded_keeps_what_was_typed_and_changes_nothing(
    world: World, browser: Client, what: str, status: int, words: str
) -> None:
    w = world
    activity = await open_activity(w)
    secret = await started(w, activity)
    page = f"/c/{w.slug}/activities/{activity}"
    good = code_now(secret)
    typed = {"wrong": str((int(good) + 1) % 1_000_000).zfill(6), "expired": code_now(secret, 4), "letters": "12ab56"}
    await sign_in(browser, w, w.volunteers[0])
    r = await post_form(browser, page, f"{page}/checkin", {"code": typed[what], "back": "activity"})
    assert r.status_code == status, r.text
    assert words in text_of(r.text)
    assert f'value="{typed[what]}"' in r.text
    assert 'aria-invalid="true"' in r.text
    assert await attendance_rows(w, activity) == 0


async def test_checking_in_outside_the_window_says_when_it_opens(world: World, browser: Client) -> None:
    w = world
    activity = await open_activity(w, days=1)
    secret: bytes = bytes(
        await w.owner.fetchval("SELECT checkin_secret FROM points.activities WHERE id = $1", activity)
    )
    page = f"/c/{w.slug}/activities/{activity}"
    await sign_in(browser, w, w.volunteers[0])
    assert 'id="checkin-code"' not in (await browser.get(page)).text  # no form outside the window
    r = await post_form(browser, page, f"{page}/checkin", {"code": code_now(secret), "back": "activity"})
    assert r.status_code == 409
    assert re.search(r"签到时间为 \d+月\d+日 \d{1,2}:\d{2} 至 \d+月\d+日 \d{1,2}:\d{2}。", text_of(r.text))
    assert await attendance_rows(w, activity) == 0


async def test_checking_in_to_a_full_activity_is_refused(world: World, browser: Client) -> None:
    w = world
    activity = await open_activity(w, capacity=1)
    r = await w.call(w.volunteers[1], "POST", f"/activities/{activity}/signup")
    assert r.status_code == 200, r.text
    secret = await started(w, activity)
    page = f"/c/{w.slug}/activities/{activity}"
    await sign_in(browser, w, w.volunteers[0])
    r = await post_form(browser, page, f"{page}/checkin", {"code": code_now(secret), "back": "activity"})
    assert r.status_code == 409
    assert "这个活动的名额已满。" in text_of(r.text)
    assert await attendance_rows(w, activity) == 0


async def test_the_qr_link_confirms_with_one_tap(world: World, browser: Client) -> None:
    w = world
    activity = await open_activity(w, title="助老 送餐")
    secret = await started(w, activity)
    code = code_now(secret)
    link = f"/c/{w.slug}/activities/{activity}/checkin?code={code}"
    await sign_in(browser, w, w.volunteers[0])
    shown = await browser.get(link)
    assert shown.status_code == 200
    assert "助老 送餐" in text_of(shown.text)
    assert f'value="{code}"' in shown.text
    assert await attendance_rows(w, activity) == 0  # opening the link writes nothing
    r = await post_form(browser, link, f"/c/{w.slug}/activities/{activity}/checkin", {"code": code, "back": "link"})
    assert r.status_code == 303, r.text
    assert await attendance_rows(w, activity) == 1
    assert "您已于" in text_of((await browser.get(link)).text)


async def test_the_checkin_page_lists_the_activities_in_their_window(world: World, browser: Client) -> None:
    w = world
    now_on = await open_activity(w, title="正在进行")
    await started(w, now_on)
    await open_activity(w, days=3, title="三天以后")
    await sign_in(browser, w, w.volunteers[0])
    r = await browser.get(f"/c/{w.slug}/checkin")
    seen = text_of(r.text)
    assert "正在进行" in seen
    assert "三天以后" not in seen
    assert 'label for="code-' in r.text
    assert "BarcodeDetector" in r.text  # the scan, for browsers that have it; no script from elsewhere
    assert '<script src="http' not in r.text


async def test_checking_out_of_a_per_hour_activity(world: World, browser: Client) -> None:
    w = world
    per_hour = next(t for t in w.types.values() if t["points_per_hour"])
    activity = await open_activity(w, type_code=per_hour["code"], per_hour=True, title="按时计分")
    secret = await started(w, activity)
    page = f"/c/{w.slug}/activities/{activity}"
    await sign_in(browser, w, w.volunteers[0])
    assert "每小时" in text_of((await browser.get(page)).text)
    r = await post_form(browser, page, f"{page}/checkin", {"code": code_now(secret), "back": "activity"})
    assert r.status_code == 303
    shown = await browser.get(page)
    assert 'id="checkout-code"' in shown.text
    r = await post_form(browser, page, f"{page}/checkout", {"code": code_now(secret)})
    assert r.status_code == 303, r.text
    seen = text_of((await browser.get(page)).text)
    assert re.search(r"\d{1,2}:\d{2} 签退", seen), seen
    r = await post_form(browser, page, f"{page}/checkout", {"code": code_now(secret)})
    assert r.status_code == 409
    assert "您已经签退过这个活动了。" in text_of(r.text)


# ---- my activities ----------------------------------------------------------------------------------------------


async def test_my_activities_show_the_points_and_hours_an_award_paid(world: World, browser: Client) -> None:
    w = world
    me = w.volunteers[0]
    done = await w.activity(attendees=[me], title="环境整治 清理")
    r = await w.call(w.organizer, "POST", f"/activities/{done}/award")
    assert r.status_code == 201, r.text
    paid = next(line for line in r.json()["lines"] if line["member_id"] == me.member_id)
    coming = await open_activity(w, title="下周巡逻")
    assert (await w.call(me, "POST", f"/activities/{coming}/signup")).status_code == 200
    await sign_in(browser, w, me)
    r = await browser.get(f"/c/{w.slug}/me/activities")
    assert r.status_code == 200, r.text
    seen = text_of(r.text)
    assert "环境整治 清理" in seen
    assert f"+{paid['points']} 积分 · 服务 120 分钟" in seen
    assert "2 小时 0 分钟" in seen  # the hours account, as hours and minutes
    assert "还没有星级" in seen
    assert "再服务 98 小时到 1 星（100 小时）。" in seen
    assert "不能消费或兑换" in seen
    upcoming = r.text.split('id="upcoming"')[1].split("</ul>")[0]
    assert "下周巡逻" in upcoming
    assert "您已报名。" in text_of(upcoming)
    await sign_in(browser, w, me, lang="en")
    seen = text_of((await browser.get(f"/c/{w.slug}/me/activities")).text)
    assert f"+{paid['points']} points · 120 min of service" in seen
    assert "2 h 0 min" in seen


# ---- reports ----------------------------------------------------------------------------------------------------


def png(width: int = 40, height: int = 30) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


async def counts(w: World) -> tuple[int, int]:
    row = await w.owner.fetchrow(
        "SELECT (SELECT count(*) FROM points.reports WHERE community_id = $1) AS reports,"
        " (SELECT count(*) FROM points.photos WHERE community_id = $1) AS photos",
        w.community_id,
    )
    return row["reports"], row["photos"]


async def test_a_report_without_a_photo_and_its_outcome(world: World, browser: Client) -> None:
    w = world
    me = w.volunteers[0]
    new = f"/c/{w.slug}/reports/new"
    await sign_in(browser, w, me)
    form = await browser.get(new)
    assert form.status_code == 200
    assert 'accept="image/jpeg,image/png,image/webp" capture="environment"' in form.text
    report_type = w.types["report"]["id"]
    data = {"type_id": str(report_type), "text": "3 号楼消防通道被堵", "place_id": ""}
    r = await post_form(browser, new, f"/c/{w.slug}/reports", data)
    assert r.status_code == 303, r.text
    assert await counts(w) == (1, 0)
    mine = await browser.get(f"/c/{w.slug}/me/reports")
    seen = text_of(mine.text)
    assert "3 号楼消防通道被堵" in seen
    assert "等待组织者核实" in seen
    report_id = int(r.headers["location"].rsplit("#r", 1)[1])
    r = await w.call(w.organizer, "POST", f"/reports/{report_id}/reject", json={"reason": "已有人报过"})
    assert r.status_code == 200, r.text
    seen = text_of((await browser.get(f"/c/{w.slug}/me/reports")).text)
    assert "未通过" in seen
    assert "原因：已有人报过" in seen


async def test_a_report_with_a_photo_from_the_camera(world: World, browser: Client) -> None:
    w = world
    new = f"/c/{w.slug}/reports/new"
    await sign_in(browser, w, w.volunteers[0])
    data = {"type_id": str(w.types["report"]["id"]), "text": "路灯坏了", "place_id": ""}
    r = await post_form(browser, new, f"/c/{w.slug}/reports", data, files={"photo": ("lamp.png", png(), "image/png")})
    assert r.status_code == 303, r.text
    assert await counts(w) == (1, 1)
    report_id = int(r.headers["location"].rsplit("#r", 1)[1])
    r = await w.call(w.organizer, "POST", f"/reports/{report_id}/verify", json={}, headers={"Idempotency-Key": "v1"})
    assert r.status_code == 201, r.text
    mine = await browser.get(f"/c/{w.slug}/me/reports")
    assert "已核实" in text_of(mine.text)
    assert re.search(r"\+\d+ 积分", text_of(mine.text))
    photo = re.search(r'<img class="thumb" src="([^"]+)"', mine.text)
    assert photo, "the report's photo is shown"
    shown = await browser.get(photo.group(1))
    assert shown.status_code == 200
    assert shown.headers["content-type"] == "image/png"


async def test_a_bad_photo_is_refused_in_words_and_nothing_is_stored(world: World, browser: Client) -> None:
    w = world
    new = f"/c/{w.slug}/reports/new"
    await sign_in(browser, w, w.volunteers[0])
    data = {"type_id": str(w.types["report"]["id"]), "text": "井盖松动", "place_id": ""}
    fake = ("photo.jpg", b"this is not an image at all", "image/jpeg")
    r = await post_form(browser, new, f"/c/{w.slug}/reports", data, files={"photo": fake})
    assert r.status_code == 400, r.text
    seen = text_of(r.text)
    assert "照片" in seen
    assert "井盖松动" in r.text  # what was typed stays
    assert "之前选的照片没有保留，请重新选择。" in seen
    assert await counts(w) == (0, 0)


async def test_an_empty_report_is_refused_and_a_good_photo_is_not_kept(world: World, browser: Client) -> None:
    w = world
    new = f"/c/{w.slug}/reports/new"
    await sign_in(browser, w, w.volunteers[0])
    data = {"type_id": str(w.types["report"]["id"]), "text": "   ", "place_id": ""}
    r = await post_form(browser, new, f"/c/{w.slug}/reports", data, files={"photo": ("a.png", png(), "image/png")})
    assert r.status_code == 400, r.text
    assert await counts(w) == (0, 0)  # the photo and the report are one write


async def test_the_volunteer_pages_send_the_anonymous_to_sign_in(world: World, browser: Client) -> None:
    for tail in ("activities", "checkin", "me/activities", "reports/new", "me/reports"):
        r = await browser.get(f"/c/{world.slug}/{tail}")
        assert r.status_code == 303
        assert r.headers["location"] == f"/login?next=/c/{world.slug}/{tail}"


async def test_checking_in_a_phoneless_member_of_ones_household(world: World, browser: Client) -> None:
    """代办: a member of my household who has no phone of their own is checked in by me, as by me for them."""
    w = world
    me = w.volunteers[0]
    household = await w.owner.fetchval(
        "SELECT h.label FROM points.households h JOIN points.members m ON m.household_id = h.id WHERE m.id = $1",
        me.member_id,
    )
    r = await w.client.post(f"{w.url}/members", json={"display_name": "王奶奶", "household": household})
    assert r.status_code == 201, r.text
    grandma = r.json()["id"]
    activity = await open_activity(w)
    secret = await started(w, activity)
    page = f"/c/{w.slug}/activities/{activity}"
    await sign_in(browser, w, me)
    shown = await browser.get(page)
    assert f'<option value="{grandma}"' in shown.text
    assert "王奶奶（本户代办）" in text_of(shown.text)
    r = await post_form(browser, page, f"{page}/checkin", {"code": code_now(secret), "for_member_id": str(grandma),
                                                           "back": "activity"})  # fmt: skip
    assert r.status_code == 303, r.text
    row = await w.owner.fetchrow(
        "SELECT method, recorded_by_member_id FROM points.attendance WHERE activity_id = $1 AND member_id = $2",
        activity,
        grandma,
    )
    assert (row["method"], row["recorded_by_member_id"]) == ("proxy", me.member_id)
    # and someone of another household is refused, nothing written
    other = w.volunteers[1].member_id
    r = await post_form(browser, page, f"{page}/checkin", {"code": code_now(secret), "for_member_id": str(other),
                                                           "back": "activity"})  # fmt: skip
    assert r.status_code == 403
    # and a for_member_id that is no member id is refused, not taken as "me"
    r = await post_form(browser, page, f"{page}/checkin", {"code": code_now(secret), "for_member_id": "王奶奶",
                                                           "back": "activity"})  # fmt: skip
    assert r.status_code == 400
    assert await attendance_rows(w, activity) == 1


async def test_an_admin_sees_every_section(world: World, browser: Client) -> None:
    w = world
    r = await w.client.post(f"{w.url}/members", json={"display_name": "周建华", "phone": "17" + "5" * 9,
                                                      "password": PASSWORD, "roles": ["admin"]})  # fmt: skip
    assert r.status_code == 201, r.text
    admin = Person(r.json()["id"], "", "周建华")
    await sign_in(browser, w, admin)
    r = await browser.get(f"/c/{w.slug}/me/reports")
    nav = r.text.split('aria-label="栏目"')[1].split("</nav>")[0]
    assert [text_of(a).strip() for a in re.findall(r"<a [^>]*>[^<]*</a>", nav)] == [
        "我的积分", "活动", "签到", "我的活动", "随手拍", "付款码", "积分超市", "收银台", "库存", "组织活动", "成员",
        "积分设置", "亲邻易物台", "易物台值班", "公示", "异议处理", "点单", "派单", "晒单",
    ]  # fmt: skip
    assert f'<a href="/c/{w.slug}/me/reports" aria-current="page">随手拍</a>' in nav
    r = await browser.get(f"/c/{w.slug}/reports/new")
    assert 'aria-current="page">随手拍</a>' in r.text  # a new report is in the reports' section


@pytest.mark.parametrize(("lang", "html_lang", "words"), [("zh_CN", "zh-CN", "随手拍"), ("en", "en", "Reports")])
async def test_every_volunteer_page_renders_in_both_languages(
    world: World, browser: Client, lang: str, html_lang: str, words: str
) -> None:
    w = world
    activity = await open_activity(w)
    secret = await started(w, activity)
    await sign_in(browser, w, w.volunteers[0], lang=lang)
    for tail in ("activities", f"activities/{activity}", "checkin", f"activities/{activity}/checkin?code="
                 f"{code_now(secret)}", "me/activities", "reports/new", "me/reports"):  # fmt: skip
        r = await browser.get(f"/c/{w.slug}/{tail}")
        assert r.status_code == 200, (tail, r.text)
        assert f'<html lang="{html_lang}">' in r.text
        assert f">{words}</a>" in r.text, tail  # the nav, in the reader's language
