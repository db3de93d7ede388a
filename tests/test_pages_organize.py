"""The organizer's and admin's earning pages through HTTP (no browser): who may open them, posting an activity
(and its refusals worded by field, nothing written), managing it up to the award (marks by hand, confirmation with
checkboxes, the award's lines with the cap's cut, a retried award paying once), the code page, ad-hoc awards above
the approval threshold (the maker cannot approve, a second organizer can), reports verified and rejected, and the
earning settings (caps, budgets, the threshold) with their refusals. The browser journey is in
tests/test_browser_earning.py."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from points.app import create_app
from points.earning.periods import COMMUNITY_TZ
from tests.conftest import OPERATOR_PASSWORD, OPERATOR_PHONE
from tests.conftest import test_settings as quiet_settings
from tests.earning_world import Person, World, make_world
from tests.test_pages import Client, csrf_of, text_of

PASSWORD = "earning-pass-1"  # tests/earning_world.py's
Browsers = Callable[[], Awaitable[Client]]


@pytest.fixture
async def world(client: Any, owner_conn: asyncpg.Connection, conn: Any) -> World:
    return await make_world(client, owner_conn, conn, volunteers=3)


@pytest.fixture
async def browsers(database_url: str) -> AsyncIterator[Browsers]:
    """Browsers of this test's own (one per person: each its own cookie jar and app, as tests/test_pages.py's
    ``browser``: a test client runs its app in a loop of its own), following no redirects."""
    opened: list[Any] = []

    async def new() -> Client:
        c = AsyncTestClient(app=create_app(quiet_settings(), database_url=database_url))
        await c.__aenter__()
        c.follow_redirects = False
        opened.append(c)
        return c

    yield new
    for c in reversed(opened):
        await c.__aexit__(None, None, None)


async def phone_of(w: World, who: Person) -> str:
    found: str = await w.owner.fetchval(
        "SELECT p.phone FROM points.people p JOIN points.members m ON m.person_id = p.id WHERE m.id = $1",
        who.member_id,
    )
    return found


async def signed_in(browsers: Browsers, phone: str, password: str = PASSWORD, lang: str = "zh_CN") -> Client:
    c = await browsers()
    c.cookies.set("lang", lang)
    form = await c.get("/login")
    r = await c.post("/login", data={"phone": phone, "password": password, "_csrf_token": csrf_of(form.text)})
    assert r.status_code == 303, r.text
    return c


async def as_(browsers: Browsers, w: World, who: Person, lang: str = "zh_CN") -> Client:
    return await signed_in(browsers, await phone_of(w, who), lang=lang)


async def as_admin(browsers: Browsers, lang: str = "zh_CN") -> Client:
    """The operator, who opened every test community and is its admin."""
    return await signed_in(browsers, OPERATOR_PHONE, OPERATOR_PASSWORD, lang)


async def post_form(c: Client, page: str, action: str, data: dict[str, Any] | None = None) -> Any:
    """A form on ``page`` sent as a browser sends it, with that page's CSRF field."""
    token = csrf_of((await c.get(page)).text)
    return await c.post(action, data={**(data or {}), "_csrf_token": token})


def local(moment: datetime) -> str:
    """As a datetime-local field holds it, in the community's time."""
    return moment.astimezone(COMMUNITY_TZ).strftime("%Y-%m-%dT%H:%M")


def activity_form(w: World, **changes: Any) -> dict[str, Any]:
    starts = datetime.now(UTC) + timedelta(days=2)
    form = {"type_id": str(w.types["patrol"]["id"]), "title": "治安巡逻 周五夜巡", "description": "", "place_id": "",
            "starts_at": local(starts), "ends_at": local(starts + timedelta(hours=2)), "capacity": "8",
            "reward": "fixed", "reward_points": "", "action": "open"}  # fmt: skip
    return {**form, **changes}


async def activities_count(w: World) -> int:
    found: int = await w.owner.fetchval(
        "SELECT count(*) FROM points.activities WHERE community_id = $1", w.community_id
    )
    return found


async def started_activity(w: World, *, reward_points: int = 5) -> int:
    """An open patrol, begun 10 minutes ago (the API opens activities only before their start: moved as the
    owner, as time would)."""
    starts = datetime.now(UTC) + timedelta(days=1)
    body = {"type_id": w.types["patrol"]["id"], "title": "治安巡逻 夜巡", "open": True, "reward_points": reward_points,
            "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat()}  # fmt: skip
    r = await w.call(w.organizer, "POST", "/activities", json=body)
    assert r.status_code == 201, r.text
    activity_id: int = r.json()["id"]
    await w.owner.execute(
        "UPDATE points.activities SET starts_at = now() - interval '10 minutes', ends_at = now() + interval '2 hours'"
        " WHERE id = $1",
        activity_id,
    )
    return activity_id


# ---- who may open them ------------------------------------------------------------------------------------------


async def test_the_organizer_pages_open_for_organizers_and_admins_only(world: World, browsers: Browsers) -> None:
    w = world
    activity_id = await started_activity(w)
    base = f"/c/{w.slug}/organize"
    one = f"{base}/activities/{activity_id}"
    pages = [base, f"{base}/activities/new", one, f"{one}/code", f"{base}/awards/new", f"{base}/reports",
             f"{base}/approvals"]  # fmt: skip
    organizer = await as_(browsers, w, w.organizer)
    admin = await as_admin(browsers)
    volunteer = await as_(browsers, w, w.volunteers[0])
    anonymous = await browsers()
    for url in pages:
        for c in (organizer, admin):
            r = await c.get(url)
            assert r.status_code == 200, (url, r.text)
            assert '<html lang="zh-CN">' in r.text
        r = await volunteer.get(url)
        assert r.status_code == 403, url
        assert "没有权限" in text_of(r.text)
        r = await anonymous.get(url)
        assert r.status_code == 303
        assert r.headers["location"].startswith("/login?next=")
    settings = f"/c/{w.slug}/settings/earning"
    assert (await admin.get(settings)).status_code == 200
    assert (await organizer.get(settings)).status_code == 403
    assert (await volunteer.get(settings)).status_code == 403
    # and a write by a volunteer is refused and changes nothing
    before = await activities_count(w)
    r = await post_form(volunteer, f"/c/{w.slug}/me", f"{base}/activities", activity_form(w))
    assert r.status_code == 403
    assert await activities_count(w) == before


async def test_an_organizer_lands_on_the_dashboard_which_speaks_chinese_and_english(
    world: World, browsers: Browsers
) -> None:
    w = world
    c = await browsers()
    form = await c.get("/login")
    body = {"phone": await phone_of(w, w.organizer), "password": PASSWORD, "_csrf_token": csrf_of(form.text)}
    r = await c.post("/login", data=body)
    assert r.headers["location"] == f"/c/{w.slug}/organize"
    seen = text_of((await c.get(r.headers["location"])).text)
    assert "组织活动" in seen
    assert "发布活动" in seen
    english = await as_(browsers, w, w.organizer, lang="en")
    seen = text_of((await english.get(f"/c/{w.slug}/organize")).text)
    assert "Post an activity" in seen
    assert "reports to verify" in seen
    settings = (await (await as_admin(browsers, "en")).get(f"/c/{w.slug}/settings/earning")).text
    assert "Activity types and caps" in text_of(settings)
    assert 'value="治安巡逻"' in settings  # the type's own name, as the community wrote it


# ---- posting an activity ------------------------------------------------------------------------------------------


async def test_posting_an_activity_opens_it_and_shows_its_page(world: World, browsers: Browsers) -> None:
    w = world
    c = await as_(browsers, w, w.organizer)
    new = f"/c/{w.slug}/organize/activities/new"
    page = text_of((await c.get(new)).text)
    assert "治安巡逻 · 5 积分" in page  # the type's default points, shown with it
    r = await post_form(c, new, f"/c/{w.slug}/organize/activities", activity_form(w))
    assert r.status_code == 303, r.text
    manage = r.headers["location"]
    activity_id = int(manage.rsplit("/", 1)[1])
    got = (await w.call(w.organizer, "GET", f"/activities/{activity_id}")).json()
    assert (got["state"], got["title"], got["capacity"], got["reward_points"]) == ("open", "治安巡逻 周五夜巡", 8, 5)
    starts = datetime.fromisoformat(got["starts_at"]).astimezone(COMMUNITY_TZ)
    assert starts.strftime("%Y-%m-%dT%H:%M") == activity_form(w)["starts_at"]  # typed in the community's time
    seen = text_of((await c.get(manage)).text)
    assert "治安巡逻 周五夜巡" in seen
    assert "报名中" in seen  # open
    # a draft stays a draft until opened from its page
    r = await post_form(c, new, f"/c/{w.slug}/organize/activities", activity_form(w, action="draft", title="草稿"))
    draft = int(r.headers["location"].rsplit("/", 1)[1])
    assert (await w.call(w.organizer, "GET", f"/activities/{draft}")).json()["state"] == "draft"
    r = await post_form(c, r.headers["location"], f"/c/{w.slug}/organize/activities/{draft}/open")
    assert r.status_code == 303
    assert (await w.call(w.organizer, "GET", f"/activities/{draft}")).json()["state"] == "open"


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"ends_at": "START-1H"}, "ends_at", "结束时间必须晚于开始时间"),
        ({"place_id": "999999"}, "place_id", "这个地点不是本社区的地点"),
        ({"title": "巡" * 101}, "title", "标题：最多 100 个字符"),
        ({"starts_at": "明天"}, "starts_at", "开始时间：不是有效的日期和时间"),
        ({"capacity": "八"}, "capacity", "名额：应为用数字书写的整数"),
    ],
)
async def test_a_refused_activity_says_which_field_keeps_what_was_typed_and_writes_nothing(
    world: World, browsers: Browsers, changes: dict[str, str], field: str, words: str
) -> None:
    w = world
    c = await as_(browsers, w, w.organizer)
    form = activity_form(w, title="楼道夜巡")
    if changes.get("ends_at") == "START-1H":
        starts = datetime.fromisoformat(form["starts_at"]).replace(tzinfo=COMMUNITY_TZ)
        changes = {"ends_at": local(starts - timedelta(hours=1))}
    form.update(changes)
    before = await activities_count(w)
    new = f"/c/{w.slug}/organize/activities/new"
    r = await post_form(c, new, f"/c/{w.slug}/organize/activities", form)
    assert r.status_code in (400, 404), r.text
    assert words in text_of(r.text)
    assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', r.text) or (
        field == "title" and "aria-invalid" in r.text
    )
    assert f'value="{form["title"]}"' in r.text  # what was typed stays
    assert await activities_count(w) == before


async def test_the_language_switch_on_a_refused_form_goes_back_to_the_form_page(
    world: World, browsers: Browsers
) -> None:
    """A refused form is re-rendered by its POST; switching the language there must come back to the page the form
    was on (the browser's Referer), never to the POST address, whose GET is 405."""
    w = world
    c = await as_(browsers, w, w.organizer)
    new = f"/c/{w.slug}/organize/activities/new"
    token = csrf_of((await c.get(new)).text)
    base = str(c.base_url).rstrip("/")
    form = {**activity_form(w, title="巡" * 101), "_csrf_token": token}
    refused = await c.post(f"/c/{w.slug}/organize/activities", data=form, headers={"referer": base + new})
    assert refused.status_code == 400
    assert re.search(rf'name="next" value="{re.escape(new)}"', refused.text)
    switched = await c.post("/lang", data={"lang": "en", "next": new, "_csrf_token": csrf_of(refused.text)})
    assert switched.headers["location"] == new
    assert (await c.get(new)).status_code == 200
    # a Referer from another site is never followed: the home page instead
    other = await c.post(
        f"/c/{w.slug}/organize/activities", data=form, headers={"referer": "https://evil.example" + new}
    )
    assert re.search(r'name="next" value="/"', other.text)


# ---- managing an activity: attendance, confirmation, award -----------------------------------------------------------


async def test_mark_confirm_and_award_on_the_page_with_the_cap_cut_and_a_retry_paying_once(
    world: World, browsers: Browsers
) -> None:
    w = world
    v = w.volunteers
    activity_id = await started_activity(w, reward_points=15)  # above patrol's cap of 10 a day
    c = await as_(browsers, w, w.organizer)
    manage = f"/c/{w.slug}/organize/activities/{activity_id}"
    base = f"/c/{w.slug}/organize/activities/{activity_id}"
    r = await w.call(v[2], "POST", f"/activities/{activity_id}/signup")
    assert r.status_code in (200, 409), r.text  # signed up before the start, or refused since it started
    for who, note in ((v[0], "忘带手机"), (v[1], "现场登记")):
        r = await post_form(c, manage, f"{base}/attendance", {"form": "mark", "member_id": str(who.member_id),
                                                                "note": note})  # fmt: skip
        assert r.status_code == 303, r.text
    seen = text_of((await c.get(manage)).text)
    assert "手工登记，登记人：李建国: 忘带手机" in seen
    # a mark without a note is refused in words and changes nothing
    r = await post_form(c, manage, f"{base}/attendance", {"form": "mark", "member_id": str(v[2].member_id), "note": ""})
    assert r.status_code == 400
    assert "备注：至少 1 个字符" in text_of(r.text)
    # confirm only volunteer 0: volunteer 1 is unticked
    r = await post_form(c, manage, f"{base}/confirm", {"member_ids": [str(v[0].member_id)]})
    assert r.status_code == 303, r.text
    listed = (await w.call(w.organizer, "GET", f"/activities/{activity_id}/attendance")).json()
    assert {row["member_id"]: row["confirmed"] for row in listed["rows"] if row["present"]} == {
        v[0].member_id: True,
        v[1].member_id: False,
    }
    before, entries = await w.balance(v[0]), await w.entries()
    page = await c.get(manage)
    token = csrf_of(page.text)
    first = await c.post(f"{base}/award", data={"_csrf_token": token})
    again = await c.post(f"{base}/award", data={"_csrf_token": token})  # the browser resends the same form
    assert (first.status_code, again.status_code) == (303, 303), again.text
    assert await w.balance(v[0]) == before + 10
    assert await w.entries() == entries + 1
    assert await w.balance(v[1]) == 0
    award = (await c.get(manage)).text
    line = text_of(award)
    assert "已发放" in line
    assert re.search(r"志愿者0 15 \+10 −5", line), line  # requested 15, paid 10, cut by the cap 5


async def test_an_activity_award_above_the_threshold_shows_it_waiting_for_a_second_organizer(
    world: World, browsers: Browsers
) -> None:
    w = world
    r = await w.client.put(f"{w.url}/earning-settings", json={"approval_threshold": 3})
    assert r.status_code == 200, r.text
    activity_id = await w.activity(attendees=w.volunteers[:2], reward_points=5)  # confirmed, as the owner
    c = await as_(browsers, w, w.organizer)
    manage = f"/c/{w.slug}/organize/activities/{activity_id}"
    r = await post_form(c, manage, f"{manage}/award")
    assert r.status_code == 303, r.text
    seen = text_of((await c.get(manage)).text)
    assert "等待第二位组织者审批 · 共 10 积分" in seen
    assert "有人获得超过 3 积分：须经第二位组织者审批后才发放" in seen
    assert await w.balance(w.volunteers[0]) == 0
    assert 'action="/c/' + w.slug + f'/organize/activities/{activity_id}/award"' not in (await c.get(manage)).text
    # the checker rejects it; the first form, sent again (a browser's retry), does not pay after all
    award_id = (await w.call(w.organizer, "GET", "/awards", params={"state": "pending_approval"})).json()[0]["id"]
    r = await w.call(w.checker, "POST", f"/awards/{award_id}/reject", json={"reason": "名单有误"})
    assert r.status_code == 200, r.text
    token = csrf_of((await c.get(manage)).text)
    r = await c.post(f"{manage}/award", data={"after": "0", "_csrf_token": token})
    assert r.status_code == 303
    assert await w.owner.fetchval("SELECT count(*) FROM points.awards WHERE activity_id = $1", activity_id) == 1
    # awarding again from the page as it stands now (after the rejection) makes a new award
    page = await c.get(manage)
    assert f'name="after" value="{award_id}"' in page.text
    r = await c.post(f"{manage}/award", data={"after": str(award_id), "_csrf_token": csrf_of(page.text)})
    assert r.status_code == 303
    assert await w.owner.fetchval("SELECT count(*) FROM points.awards WHERE activity_id = $1", activity_id) == 2


async def test_cancel_needs_a_reason_and_then_shows_it(world: World, browsers: Browsers) -> None:
    w = world
    c = await as_(browsers, w, w.organizer)
    r = await post_form(c, f"/c/{w.slug}/organize/activities/new", f"/c/{w.slug}/organize/activities", activity_form(w))
    manage = r.headers["location"]
    r = await post_form(c, manage, f"{manage}/cancel", {"reason": ""})
    assert r.status_code == 400
    assert "原因：至少 1 个字符" in text_of(r.text)
    r = await post_form(c, manage, f"{manage}/cancel", {"reason": "暴雨预警"})
    assert r.status_code == 303
    seen = text_of((await c.get(manage)).text)
    assert "已取消：暴雨预警" in seen


async def test_the_code_page_shows_the_current_code_its_qr_and_who_checked_in(world: World, browsers: Browsers) -> None:
    w = world
    activity_id = await started_activity(w)
    c = await as_(browsers, w, w.organizer)
    url = f"/c/{w.slug}/organize/activities/{activity_id}/code"
    r = await c.get(url)
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    code = (await w.call(w.organizer, "GET", f"/activities/{activity_id}/checkin-code")).json()["code"]
    digits = re.search(r'id="digits"[^>]*>(\d{3})<span class="gap"> </span>(\d{3})<', r.text)
    assert digits, r.text
    assert digits.group(1) + digits.group(2) in (code, await _code_now(w, activity_id))
    assert "<svg" in r.text
    assert 'http-equiv="refresh"' in r.text  # without JavaScript the page reloads when the code changes
    assert f'hx-get="{url}"' in r.text
    r = await w.call(w.volunteers[0], "POST", f"/activities/{activity_id}/checkin",
                     json={"code": await _code_now(w, activity_id)})  # fmt: skip
    assert r.status_code == 201, r.text
    fragment = await c.get(url, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text  # the fragment alone, for htmx to swap in
    assert re.search(r'id="checked-in-count">1<', fragment.text)
    assert "志愿者0" in text_of(fragment.text)


async def test_the_list_shows_a_proxy_check_in_as_by_whom_for_whom(world: World, browsers: Browsers) -> None:
    w = world
    activity_id = await started_activity(w)
    r = await w.client.post(f"{w.url}/members", json={"display_name": "王奶奶", "household": "9-000"})  # no phone
    assert r.status_code == 201, r.text
    grandma = r.json()["id"]
    code = await _code_now(w, activity_id)
    r = await w.call(w.volunteers[0], "POST", f"/activities/{activity_id}/checkin",
                     json={"code": code, "for_member_id": grandma})  # fmt: skip
    assert r.status_code == 201, r.text
    c = await as_(browsers, w, w.organizer)
    seen = text_of((await c.get(f"/c/{w.slug}/organize/activities/{activity_id}")).text)
    assert "代办：志愿者0 替 王奶奶 签到" in seen
    code_page = text_of((await c.get(f"/c/{w.slug}/organize/activities/{activity_id}/code")).text)
    assert "王奶奶" in code_page
    assert "代办" in code_page


async def _code_now(w: World, activity_id: int) -> str:
    code: str = (await w.call(w.organizer, "GET", f"/activities/{activity_id}/checkin-code")).json()["code"]
    return code


# ---- ad-hoc awards and approvals -------------------------------------------------------------------------------------


async def test_an_adhoc_award_above_the_threshold_waits_the_maker_cannot_approve_a_second_organizer_can(
    world: World, browsers: Browsers
) -> None:
    w = world
    r = await w.client.put(f"{w.url}/earning-settings", json={"approval_threshold": 20})
    assert r.status_code == 200, r.text
    maker = await as_(browsers, w, w.organizer)
    new = f"/c/{w.slug}/organize/awards/new"
    found = text_of((await maker.get(new, params={"q": "志愿者1"})).text)
    assert "志愿者1" in found
    assert "志愿者2" not in found
    page = await maker.get(new, params={"q": "志愿者1"})
    key = re.search(r'name="key" value="([^"]+)"', page.text)
    assert key
    form = {"key": key.group(1), "member_id": str(w.volunteers[1].member_id), "points": "30", "minutes": "90",
            "type_id": str(w.types["mediation"]["id"]), "reason": "调解邻里漏水纠纷"}  # fmt: skip
    token = csrf_of(page.text)
    r = await maker.post(f"/c/{w.slug}/organize/awards", data={**form, "_csrf_token": token})
    assert r.status_code == 303, r.text
    again = await maker.post(f"/c/{w.slug}/organize/awards", data={**form, "_csrf_token": token})
    assert again.status_code == 303  # the same form twice: one award
    assert again.headers["location"] == r.headers["location"]
    seen = text_of((await maker.get(r.headers["location"])).text)
    assert "等待第二位组织者审批" in seen
    pending = (await w.call(w.organizer, "GET", "/awards", params={"state": "pending_approval"})).json()
    assert len(pending) == 1
    award_id = pending[0]["id"]
    approvals = f"/c/{w.slug}/organize/approvals"
    mine = await maker.get(approvals)
    assert "你发起的：等待另一位组织者审批" in text_of(mine.text)
    assert f"/awards/{award_id}/approve" not in mine.text
    r = await post_form(maker, approvals, f"/c/{w.slug}/organize/awards/{award_id}/approve")
    assert r.status_code == 403
    assert await w.balance(w.volunteers[1]) == 0
    checker = await as_(browsers, w, w.checker)
    theirs = await checker.get(approvals)
    assert f"/awards/{award_id}/approve" in theirs.text
    assert "志愿者1" in text_of(theirs.text)  # whom it pays, from its lines
    r = await post_form(checker, approvals, f"/c/{w.slug}/organize/awards/{award_id}/approve")
    assert r.status_code == 303, r.text
    assert await w.balance(w.volunteers[1]) == 30
    assert "没有待审批的奖励" in text_of((await checker.get(approvals)).text)


async def test_the_dashboard_counts_only_the_awards_one_may_approve(world: World, browsers: Browsers) -> None:
    """Waiting awards the reader made, or that pay the reader's household, are another organizer's to decide: the
    dashboard's "for you to approve" leaves them out."""
    w = world
    await w.client.put(f"{w.url}/earning-settings", json={"approval_threshold": 5})
    r = await w.client.post(f"{w.url}/members", json={"display_name": "周小敏", "household": "7-101"})
    relative = r.json()["id"]  # of the checker's household
    for member_id, reason in ((w.volunteers[0].member_id, "调解纠纷"), (relative, "调解漏水")):
        body = {"member_id": member_id, "type_id": w.types["mediation"]["id"], "points": 10, "reason": reason}
        made = await w.call(w.organizer, "POST", "/awards", json=body, headers={"Idempotency-Key": f"dash-{member_id}"})
        assert (made.status_code, made.json()["state"]) == (201, "pending_approval"), made.text

    def waiting(page: str) -> str:
        found = re.search(r'id="approvals-waiting">(\d+)<', page)
        assert found, page
        return found.group(1)

    checker = await as_(browsers, w, w.checker)
    assert waiting((await checker.get(f"/c/{w.slug}/organize")).text) == "1"  # not the one paying 周小敏
    maker = await as_(browsers, w, w.organizer)
    assert waiting((await maker.get(f"/c/{w.slug}/organize")).text) == "0"  # both are the maker's own


async def test_an_adhoc_award_without_a_reason_or_member_is_refused_in_words(world: World, browsers: Browsers) -> None:
    w = world
    c = await as_(browsers, w, w.organizer)
    new = f"/c/{w.slug}/organize/awards/new"
    page = await c.get(new)
    key = re.search(r'name="key" value="([^"]+)"', page.text)
    assert key
    form = {"key": key.group(1), "member_id": str(w.volunteers[0].member_id),
            "type_id": str(w.types["mediation"]["id"]), "points": "5", "reason": ""}  # fmt: skip
    entries = await w.entries()
    r = await c.post(f"/c/{w.slug}/organize/awards", data={**form, "_csrf_token": csrf_of(page.text)})
    assert r.status_code == 400
    assert "原因：至少 1 个字符" in text_of(r.text)
    assert "志愿者0" in text_of(r.text)  # the member picked stays picked
    r = await c.post(f"/c/{w.slug}/organize/awards", data={**form, "member_id": "", "reason": "调解",
                                                            "_csrf_token": csrf_of(page.text)})  # fmt: skip
    assert r.status_code == 400
    assert "成员：必须填写" in text_of(r.text)
    # paying oneself is refused as the API refuses it
    own = {**form, "member_id": str(w.organizer.member_id), "reason": "自己", "_csrf_token": csrf_of(page.text)}
    r = await c.post(f"/c/{w.slug}/organize/awards", data=own)
    assert r.status_code == 403
    assert await w.entries() == entries


# ---- reports ---------------------------------------------------------------------------------------------------------


async def test_reports_are_verified_with_points_or_rejected_with_a_reason(world: World, browsers: Browsers) -> None:
    w = world
    v = w.volunteers
    ids = []
    for who, text in ((v[0], "3栋消防通道被电动车堵住"), (v[1], "路灯坏了"), (w.organizer, "井盖松动")):
        r = await w.call(who, "POST", "/reports", json={"type_id": w.types["report"]["id"], "text": text})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    c = await as_(browsers, w, w.organizer)
    page = f"/c/{w.slug}/organize/reports"
    seen = await c.get(page)
    assert "3栋消防通道被电动车堵住" in text_of(seen.text)
    assert f"/reports/{ids[2]}/verify" not in seen.text  # one's own report: another organizer decides
    assert "你自己的报告：由另一位组织者处理" in text_of(seen.text)
    r = await post_form(c, page, f"{page}/{ids[0]}/verify", {"key": "page:test-verify-1", "points": "3"})
    assert r.status_code == 303, r.text
    assert await w.balance(v[0]) == 3
    r = await post_form(c, page, f"{page}/{ids[0]}/verify", {"key": "page:test-verify-1", "points": "3"})
    assert r.status_code == 303  # a retry answers the same award
    assert await w.balance(v[0]) == 3
    r = await post_form(c, page, f"{page}/{ids[1]}/reject", {"reason": ""})
    assert r.status_code == 400
    assert "原因：至少 1 个字符" in text_of(r.text)
    r = await post_form(c, page, f"{page}/{ids[1]}/reject", {"reason": "已有人报修"})
    assert r.status_code == 303
    mine = (await w.call(v[1], "GET", "/me/reports")).json()
    assert (mine[0]["state"], mine[0]["decision_reason"]) == ("rejected", "已有人报修")
    after = text_of((await c.get(page)).text)
    assert "已驳回：已有人报修" in after
    assert await w.balance(v[1]) == 0


# ---- earning settings (admins) ---------------------------------------------------------------------------------------


async def test_the_admin_changes_a_cap_allots_a_budget_and_sets_the_threshold(world: World, browsers: Browsers) -> None:
    w = world
    c = await as_admin(browsers)
    page = f"/c/{w.slug}/settings/earning"
    patrol = w.types["patrol"]
    form = {"name": "治安巡逻", "default_points": "5", "points_per_hour": "", "cap_per_day": "12",
            "cap_per_month": "100", "active": "on"}  # fmt: skip
    r = await post_form(c, page, f"{page}/types/{patrol['id']}", form)
    assert r.status_code == 303, r.text
    types = {t["code"]: t for t in (await w.client.get(f"{w.url}/activity-types")).json()}
    assert (types["patrol"]["cap_per_day"], types["patrol"]["cap_per_month"]) == (12, 100)
    # a day's cap above the month's is refused in words, nothing changed
    r = await post_form(c, page, f"{page}/types/{patrol['id']}", {**form, "cap_per_day": "200"})
    assert r.status_code == 400
    assert 'value="200"' in r.text  # what was typed stays
    types = {t["code"]: t for t in (await w.client.get(f"{w.url}/activity-types")).json()}
    assert types["patrol"]["cap_per_day"] == 12
    # a budget of its own period, sent twice with the form's key: added once
    settings = await c.get(page)
    key = re.search(r'name="key" value="([^"]+)"', settings.text)
    assert key
    token = csrf_of(settings.text)
    for _attempt in range(2):
        r = await c.post(f"{page}/budgets", data={"key": key.group(1), "period": "2031-05", "points": "300",
                                                  "_csrf_token": token})  # fmt: skip
        assert r.status_code == 303, r.text
    budgets = {b["period"]: b for b in (await w.client.get(f"{w.url}/budgets")).json()}
    assert (budgets["2031-05"]["allotted"], budgets["2031-05"]["left"]) == (300, 300)
    assert re.search(r"2031-05 300 0 0 300", text_of((await c.get(page)).text))
    r = await post_form(c, page, f"{page}/budgets", {"key": "page:other", "period": "2031-13", "points": "10"})
    assert r.status_code == 400
    assert "期间：" in text_of(r.text)
    r = await post_form(c, page, f"{page}/threshold", {"approval_threshold": "30"})
    assert r.status_code == 303
    assert (await w.client.get(f"{w.url}/earning-settings")).json()["approval_threshold"] == 30
    r = await post_form(c, page, f"{page}/threshold", {"approval_threshold": "三十"})
    assert r.status_code == 400
    assert "审批门槛：应为用数字书写的整数" in text_of(r.text)
    r = await post_form(c, page, f"{page}/threshold", {"approval_threshold": ""})
    assert r.status_code == 303
    assert (await w.client.get(f"{w.url}/earning-settings")).json()["approval_threshold"] is None
    # a new type
    r = await post_form(c, page, f"{page}/types", {"code": "stairs", "name": "楼道清扫", "default_points": "2",
                                                   "cap_per_day": "4"})  # fmt: skip
    assert r.status_code == 303, r.text
    r = await post_form(c, page, f"{page}/types", {"code": "stairs", "name": "楼道清扫", "default_points": "2"})
    assert r.status_code == 409
    assert "本社区已有这个代码的活动类型" in text_of(r.text)
    assert 'value="stairs"' in r.text


async def test_an_organizer_cannot_change_the_settings(world: World, browsers: Browsers) -> None:
    w = world
    c = await as_(browsers, w, w.organizer)
    r = await post_form(c, f"/c/{w.slug}/organize", f"/c/{w.slug}/settings/earning/threshold",
                        {"approval_threshold": "1"})  # fmt: skip
    assert r.status_code == 403
    assert (await w.client.get(f"{w.url}/earning-settings")).json()["approval_threshold"] is None
