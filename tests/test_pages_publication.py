"""The 公示 pages through HTTP (no browser), in both languages: the public page (anyone, masked names, the note
about members who opted out of rankings, a sign-in link to object), a member's objection from it (and a worded
refusal that changes nothing), the admin's objections page (who may open it, uphold and dismiss, a refusal worded
beside the objection), the window setting page, and 我的积分 showing pending and voided awards. The browser
journey is tests/test_browser_publication.py."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from tests.conftest import OPERATOR_PASSWORD, OPERATOR_PHONE
from tests.earning_world import Person, World, make_world
from tests.test_pages import csrf_of, text_of
from tests.test_pages_shop import Browsers, browsers, signed_in
from tests.test_publication import adhoc, state_of

__all__ = ["browsers"]  # the fixture, used by name

PASSWORD = "earning-pass-1"  # tests/earning_world.py's people


@pytest.fixture
async def world(client: Any, owner_conn: asyncpg.Connection, conn: Any) -> World:
    w = await make_world(client, owner_conn, conn, budget=200)
    r = await client.put(f"{w.url}/publication-settings", json={"window_days": 7})
    assert r.status_code == 200, r.text
    await owner_conn.execute(
        "UPDATE points.members SET display_name = '张桂英' WHERE id = $1", w.volunteers[0].member_id
    )
    w.volunteers[0].name = "张桂英"
    return w


async def as_(browsers: Browsers, world: World, who: Person, lang: str = "zh_CN") -> Any:
    number: str = await world.owner.fetchval(
        "SELECT p.phone FROM points.people p JOIN points.members m ON m.person_id = p.id WHERE m.id = $1",
        who.member_id,
    )
    return await signed_in(browsers, number, PASSWORD, lang=lang)


async def objections(world: World) -> list[tuple[str, str | None]]:
    rows = await world.owner.fetch(
        "SELECT state, decision_reason FROM points.objections WHERE community_id = $1 ORDER BY id", world.community_id
    )
    return [(r["state"], r["decision_reason"]) for r in rows]


@pytest.mark.parametrize(
    ("lang", "note", "sign_in"),
    [("zh_CN", "姓名已部分隐去", "登录后提出异议"), ("en", "Names are masked", "Sign in to object")],
)
async def test_anyone_reads_the_public_page_with_masked_names(
    world: World, browsers: Browsers, lang: str, note: str, sign_in: str
) -> None:
    award = await adhoc(world, world.volunteers[0], 9, reason="调解3栋邻里噪音纠纷")
    stranger = await browsers()
    stranger.cookies.set("lang", lang)
    page = await stranger.get(f"/c/{world.slug}/gongshi")
    assert page.status_code == 200, page.text
    text = text_of(page.text)
    assert "张*英 +9" in text
    assert "张桂英" not in page.text
    assert "调解3栋邻里噪音纠纷" in text
    assert note in text
    assert sign_in in text
    assert f'id="a{award["id"]}"' in page.text
    assert "/object" not in page.text  # no objection form for someone signed out


@pytest.mark.parametrize(
    ("lang", "sent", "twice"),
    [("zh_CN", "异议已提交", "已经对这项奖励提出过异议"), ("en", "Your objection was sent", "objected to this award")],
)
async def test_a_member_objects_from_the_public_page(
    world: World, browsers: Browsers, lang: str, sent: str, twice: str
) -> None:
    award = await adhoc(world, world.volunteers[0], 9)
    neighbour = await as_(browsers, world, world.volunteers[1], lang)
    url = f"/c/{world.slug}/gongshi"
    page = await neighbour.get(url)
    assert f'action="{url}/{award["id"]}/object"' in page.text
    r = await neighbour.post(
        f"{url}/{award['id']}/object", data={"reason": "那天不在场", "_csrf_token": csrf_of(page.text)}
    )
    assert r.status_code == 303, r.text
    shown = await neighbour.get(r.headers["location"])
    assert sent in text_of(shown.text)
    assert await objections(world) == [("open", None)]
    # Once per member: the second is refused in words beside the award, with what was typed, and changes nothing.
    again = await neighbour.post(
        f"{url}/{award['id']}/object", data={"reason": "再说一遍", "_csrf_token": csrf_of(shown.text)}
    )
    assert again.status_code == 409, again.text
    assert twice in text_of(again.text)
    assert 'value="再说一遍"' in again.text
    assert await objections(world) == [("open", None)]
    # An empty reason never reaches the service.
    empty = await neighbour.post(
        f"{url}/{award['id']}/object", data={"reason": " ", "_csrf_token": csrf_of(shown.text)}
    )
    assert empty.status_code == 400, empty.text
    assert await objections(world) == [("open", None)]


@pytest.mark.parametrize(("lang", "voided"), [("zh_CN", "因异议作废"), ("en", "Voided after an objection")])
async def test_the_admin_upholds_on_the_page_and_the_member_sees_why(
    world: World, browsers: Browsers, lang: str, voided: str
) -> None:
    v = world.volunteers[0]
    award = await adhoc(world, v, 9)
    r = await world.call(world.volunteers[1], "POST", f"/awards/{award['id']}/objections", json={"reason": "不在场"})
    objection_id = r.json()["id"]
    # Only admins open the objections.
    volunteer = await as_(browsers, world, world.volunteers[2], lang)
    assert (await volunteer.get(f"/c/{world.slug}/objections")).status_code == 403
    admin = await signed_in(browsers, OPERATOR_PHONE, OPERATOR_PASSWORD, lang=lang)
    page = await admin.get(f"/c/{world.slug}/objections")
    assert page.status_code == 200, page.text
    assert "张桂英" in text_of(page.text)  # the admin sees whom it pays
    assert "不在场" in text_of(page.text)
    # No reason: refused beside it, nothing changes.
    base = f"/c/{world.slug}/objections/{objection_id}"
    bad = await admin.post(f"{base}/uphold", data={"reason": "", "_csrf_token": csrf_of(page.text)})
    assert bad.status_code == 400, bad.text
    assert await state_of(world, award["id"]) == "published"
    r = await admin.post(f"{base}/uphold", data={"reason": "经核实当天未参加", "_csrf_token": csrf_of(page.text)})
    assert r.status_code == 303, r.text
    assert await state_of(world, award["id"]) == "voided"
    after = await admin.get(f"/c/{world.slug}/objections")
    assert "经核实当天未参加" in text_of(after.text)
    # Deciding again is refused in words.
    again = await admin.post(f"{base}/dismiss", data={"reason": "改主意", "_csrf_token": csrf_of(after.text)})
    assert again.status_code == 409, again.text
    member = await as_(browsers, world, v, lang)
    mine = await member.get(f"/c/{world.slug}/me")
    assert voided in text_of(mine.text)
    assert "经核实当天未参加" in text_of(mine.text)


@pytest.mark.parametrize(("lang", "pending"), [("zh_CN", "公示中"), ("en", "Pending (公示)")])
async def test_my_points_shows_pending_awards_with_their_end(
    world: World, browsers: Browsers, lang: str, pending: str
) -> None:
    v = world.volunteers[0]
    award = await adhoc(world, v, 9, reason="宣传单张贴")
    await world.call(world.volunteers[1], "POST", f"/awards/{award['id']}/objections", json={"reason": "数量不对"})
    member = await as_(browsers, world, v, lang)
    page = await member.get(f"/c/{world.slug}/me")
    text = text_of(page.text)
    assert pending in text
    assert "+9" in text
    assert "宣传单张贴" in text
    assert "数量不对" in text  # the objection's reason, not who made it
    assert world.volunteers[1].name not in text


@pytest.mark.parametrize(
    ("lang", "saved", "refused"),
    [("zh_CN", "奖励先公示 3 天", "公示期"), ("en", "Awards are published for 3 days", "Window")],
)
async def test_the_admin_sets_the_window_on_the_page(
    world: World, browsers: Browsers, lang: str, saved: str, refused: str
) -> None:
    admin = await signed_in(browsers, OPERATOR_PHONE, OPERATOR_PASSWORD, lang=lang)
    url = f"/c/{world.slug}/settings/publication"
    page = await admin.get(url)
    assert page.status_code == 200, page.text
    r = await admin.post(url, data={"on": "on", "window_days": "3", "_csrf_token": csrf_of(page.text)})
    assert r.status_code == 303, r.text
    shown = await admin.get(url)
    assert saved in text_of(shown.text)
    bad = await admin.post(url, data={"on": "on", "window_days": "30", "_csrf_token": csrf_of(shown.text)})
    assert bad.status_code == 400, bad.text
    assert refused in text_of(bad.text)
    assert 'value="30"' in bad.text
    days = await world.owner.fetchval(
        "SELECT window_days FROM points.publication_settings WHERE community_id = $1", world.community_id
    )
    assert days == 3
    off = await admin.post(url, data={"on": "off", "window_days": "3", "_csrf_token": csrf_of(shown.text)})
    assert off.status_code == 303
    days = await world.owner.fetchval(
        "SELECT window_days FROM points.publication_settings WHERE community_id = $1", world.community_id
    )
    assert days is None
    volunteer = await as_(browsers, world, world.volunteers[0], lang)
    assert (await volunteer.get(url)).status_code == 403


async def test_an_activitys_published_award_reads_as_pending_on_my_activities(world: World, browsers: Browsers) -> None:
    v = world.volunteers[0]
    activity_id = await world.activity(attendees=[v], reward_points=5, title="环境整治 · 楼道")
    r = await world.call(world.organizer, "POST", f"/activities/{activity_id}/award")
    assert (r.status_code, r.json()["state"]) == (201, "published")
    member = await as_(browsers, world, v)
    text = text_of((await member.get(f"/c/{world.slug}/me/activities")).text)
    assert "公示中：5 积分，待生效" in text
    text = text_of((await member.get(f"/c/{world.slug}/activities/{activity_id}")).text)
    assert "公示中：5 积分，待生效" in text
