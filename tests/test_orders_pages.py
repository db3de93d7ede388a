"""The public 晒单 page through HTTP (no browser), in both languages: anyone, signed out, reads the completed orders
with the unit's name, the category and place, the days it took, the resident's and workers' names masked, and the
months' counts; an order not yet confirmed is not on it. The browser's look is tests/test_browser_orders.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from points.earning.periods import COMMUNITY_TZ
from points.errors import problem_catalog
from tests.earning_world import Person, World, make_world
from tests.swap_world import png
from tests.test_orders import act, due, order, unit
from tests.test_pages import Client, csrf_of, text_of
from tests.test_pages_organize import as_admin, phone_of, signed_in
from tests.test_pages_shop import Browsers, browsers

__all__ = ["browsers"]  # the fixture, used by name


@pytest.fixture
async def world(client: Any, owner_conn: asyncpg.Connection, conn: Any) -> World:
    w = await make_world(client, owner_conn, conn, volunteers=3, budget=200)
    names = ["张桂英", "李秀兰", "王建军"]
    for person, name in zip(w.volunteers, names, strict=True):
        await owner_conn.execute("UPDATE points.members SET display_name = $2 WHERE id = $1", person.member_id, name)
    return w


@pytest.mark.parametrize(
    ("lang", "title", "same_day", "by_unit"),
    [("zh_CN", "晒单", "当天完成", "每月按承接单位"), ("en", "Services done", "done the day it was ordered",
                                                      "Each month, by unit")],
)  # fmt: skip
async def test_anyone_reads_the_shaidan_page_with_masked_names(
    world: World, browsers: Browsers, lang: str, title: str, same_day: str, by_unit: str
) -> None:
    resident, worker = world.volunteers[0], world.volunteers[1]
    company = await unit(world, "金牛物业", "property", [worker])
    made = await order(world, resident, description="3栋楼道多年没人打扫")
    await act(world, world.organizer, made["id"], "dispatch", {"due_at": due(), "unit_id": company["id"]})
    await act(world, worker, made["id"], "accept")
    await act(world, worker, made["id"], "done", {"note": "已清扫", "volunteer_ids": [worker.member_id]})
    waiting = await order(world, world.volunteers[2], description="换灯泡")  # not confirmed: not shown
    await act(world, resident, made["id"], "confirm")

    stranger = await browsers()
    stranger.cookies.set("lang", lang)
    page = await stranger.get(f"/c/{world.slug}/shaidan")
    assert page.status_code == 200, page.text
    text = text_of(page.text)
    assert title in text
    assert f'id="o{made["id"]}"' in page.text
    assert f'id="o{waiting["id"]}"' not in page.text
    assert "金牛物业" in text
    assert "张*英" in text
    assert "李*兰" in text
    assert "张桂英" not in page.text
    assert "李秀兰" not in page.text
    assert "3栋楼道多年没人打扫" not in page.text  # the need itself stays private: category and place only
    assert same_day in text
    assert by_unit in text


async def test_the_page_with_nothing_done_says_so(world: World, browsers: Browsers) -> None:
    stranger = await browsers()
    page = await stranger.get(f"/c/{world.slug}/shaidan")
    assert page.status_code == 200, page.text
    assert 'id="none-shown"' in page.text


# ---- the resident's, the unit's and the dispatcher's pages --------------------------------------------------------


async def _as(browsers: Browsers, w: World, who: Person, lang: str = "zh_CN") -> Client:
    return await signed_in(browsers, await phone_of(w, who), lang=lang)


async def _form(c: Client, page: str, action: str, data: dict[str, Any], **kw: Any) -> Any:
    """A form on ``page`` sent as a browser sends it, with that page's CSRF field (and files, if any)."""
    token = csrf_of((await c.get(page)).text)
    return await c.post(action, data={**data, "_csrf_token": token}, **kw)


def _order_id(location: str) -> int:
    found = re.search(r"/services/orders/([0-9]+)", location)
    assert found, location
    return int(found.group(1))


async def _state(w: World, order_id: int) -> str:
    found: str = await w.owner.fetchval("SELECT state FROM points.service_orders WHERE id = $1", order_id)
    return found


async def _orders(w: World) -> int:
    found: int = await w.owner.fetchval(
        "SELECT count(*) FROM points.service_orders WHERE community_id = $1", w.community_id
    )
    return found


async def test_an_order_from_the_residents_phone_to_shaidan_through_the_pages(world: World, browsers: Browsers) -> None:
    """The stairwell story through the pages alone: the resident orders with a photo, the dispatcher sends it to
    the property company, one of its people takes it and marks it done naming two who did it (with a photo of the
    result), the resident confirms, both are paid the category's points, and 晒单 shows it."""
    w = world
    resident, cleaner, helper = w.volunteers
    company = await unit(w, "金牛物业", "property", [cleaner, helper], type_ids=[w.types["cleanup"]["id"]])
    base = f"/c/{w.slug}/services"

    phone = await _as(browsers, w, resident)
    form = await phone.get(f"{base}/new")
    assert form.status_code == 200, form.text
    assert 'capture="environment"' in form.text  # the phone's camera first
    r = await _form(phone, f"{base}/new", f"{base}/orders", {
        "key": "page:resident-order-1", "type_id": str(w.types["cleanup"]["id"]),
        "description": "3栋2单元楼道堆满杂物多年", "place_id": "", "wished_at": "", "photos_public": "on"},
        files={"photo": ("stairs.png", png("gray"), "image/png")})  # fmt: skip
    assert r.status_code == 303, r.text
    made = _order_id(r.headers["location"])
    page = await phone.get(r.headers["location"])
    assert "你的点单已提交" in text_of(page.text)
    assert "等待派单" in text_of(page.text)
    assert "/photos/" in page.text  # the photo taken with the order
    mine = await phone.get(base)
    assert f'id="o{made}"' in mine.text

    dispatcher = await _as(browsers, w, w.organizer)
    lists = await dispatcher.get(f"{base}/dispatch")
    assert lists.status_code == 200, lists.text
    assert f'id="o{made}"' in lists.text.split('id="waiting"', 1)[1].split("</ul>", 1)[0]
    due = (datetime.now(UTC) + timedelta(days=1)).astimezone(COMMUNITY_TZ).strftime("%Y-%m-%dT%H:%M")
    order_page = f"{base}/orders/{made}"
    r = await _form(dispatcher, order_page, f"{order_page}/dispatch",
                    {"unit_id": str(company["id"]), "due_at": due, "points": "", "note": "请本周内处理"})  # fmt: skip
    assert r.status_code == 303, r.text
    assert await _state(w, made) == "dispatched"

    taker = await _as(browsers, w, cleaner)
    taken = await taker.get(f"{base}/taken")
    assert f'id="o{made}"' in taken.text.split('id="to-take"', 1)[1].split("</ul>", 1)[0]
    assert "金牛物业" in text_of(taken.text.split('id="our-record"', 1)[1])
    r = await _form(taker, order_page, f"{order_page}/accept", {})
    assert r.status_code == 303, r.text
    r = await _form(taker, order_page, f"{order_page}/done",
                    {"note": "杂物已清运，楼道已清扫", "doers": [str(cleaner.member_id), str(helper.member_id)]},
                    files=[("photo", ("after-1.png", png("white"), "image/png")),
                           ("photo", ("after-2.png", png("blue"), "image/png"))])  # fmt: skip
    assert r.status_code == 303, r.text
    assert await _state(w, made) == "done"

    before = [await w.balance(cleaner), await w.balance(helper)]
    page = await phone.get(order_page)
    assert 'id="confirm-order"' in page.text
    assert "杂物已清运" in text_of(page.text)
    r = await _form(phone, order_page, f"{order_page}/confirm", {})
    assert r.status_code == 303, r.text
    assert await _state(w, made) == "confirmed"
    points = w.types["cleanup"]["default_points"]
    assert [await w.balance(cleaner), await w.balance(helper)] == [before[0] + points, before[1] + points]
    page = await phone.get(order_page)
    assert f"+{points}" in text_of(page.text.split('id="workers"', 1)[1])

    stranger = await browsers()
    shown = await stranger.get(f"/c/{w.slug}/shaidan")
    assert f'id="o{made}"' in shown.text
    assert "金牛物业" in text_of(shown.text)
    # the resident agreed: the photo taken with the order and the two of the result, public
    pictures = re.findall(r'src="(/api/v1/communities/[^/]+/shaidan/photos/[0-9]+)"', shown.text)
    assert len(pictures) == 3
    for src in pictures:
        r = await stranger.get(src)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("image/")


async def test_only_those_it_concerns_open_an_order_and_only_staff_dispatch(world: World, browsers: Browsers) -> None:
    w = world
    resident, other, _ = w.volunteers
    made = await order(w, resident, description="换楼道灯泡")
    base = f"/c/{w.slug}/services"
    neighbour = await _as(browsers, w, other)
    assert (await neighbour.get(f"{base}/orders/{made['id']}")).status_code == 404  # as if there were none
    assert (await neighbour.get(f"{base}/dispatch")).status_code == 403
    r = await _form(neighbour, base, f"{base}/orders/{made['id']}/dispatch", {"unit_id": "", "due_at": "x"})
    assert r.status_code == 403
    assert await _state(w, made["id"]) == "ordered"
    nav = text_of((await neighbour.get(base)).text.split('aria-label="栏目"', 1)[1].split("</nav>", 1)[0])
    assert "点单" in nav
    assert "晒单" in nav
    assert "派单" not in nav
    resident_page = await (await _as(browsers, w, resident)).get(f"{base}/orders/{made['id']}")
    assert 'id="dispatch-order"' not in resident_page.text  # the resident may cancel, not dispatch
    assert 'id="cancel-order"' in resident_page.text
    signed_out = await browsers()
    assert (await signed_out.get(f"{base}/orders/{made['id']}")).status_code == 303


@pytest.mark.parametrize(("lang", "words"), [("zh_CN", "截止时间需晚于现在"), ("en", "Choose a due time after now")])
async def test_a_refused_dispatch_changes_nothing_and_keeps_what_was_typed(
    world: World, browsers: Browsers, lang: str, words: str
) -> None:
    w = world
    made = await order(w, w.volunteers[0])
    page = f"/c/{w.slug}/services/orders/{made['id']}"
    dispatcher = await _as(browsers, w, w.organizer, lang)
    past = (datetime.now(UTC) - timedelta(hours=2)).astimezone(COMMUNITY_TZ).strftime("%Y-%m-%dT%H:%M")
    company = await unit(w, "金牛物业", "property", [w.volunteers[1]])
    r = await _form(dispatcher, page, f"{page}/dispatch",
                    {"unit_id": str(company["id"]), "due_at": past, "points": "6", "note": "尽快"})  # fmt: skip
    assert r.status_code == 400, r.text
    assert words in text_of(r.text)
    assert 'id="dispatched-error"' in r.text
    assert 'value="尽快"' in r.text
    assert 'value="6"' in r.text
    assert await _state(w, made["id"]) == "ordered"
    r = await _form(dispatcher, page, f"{page}/dispatch", {"unit_id": "", "due_at": past})  # nobody to send it to
    assert r.status_code == 400, r.text
    assert await _state(w, made["id"]) == "ordered"


async def test_declined_from_the_page_goes_back_and_a_dispute_needs_a_reason(world: World, browsers: Browsers) -> None:
    w = world
    resident, worker, _ = w.volunteers
    company = await unit(w, "金牛物业", "property", [worker])
    made = await order(w, resident)
    page = f"/c/{w.slug}/services/orders/{made['id']}"
    await act(w, w.organizer, made["id"], "dispatch", {"due_at": due(), "unit_id": company["id"]})
    taker = await _as(browsers, w, worker)
    r = await _form(taker, page, f"{page}/decline", {"reason": ""})
    assert r.status_code == 400, r.text
    assert await _state(w, made["id"]) == "dispatched"
    r = await _form(taker, page, f"{page}/decline", {"reason": "本周人手不够"})
    assert r.status_code == 303, r.text
    assert await _state(w, made["id"]) == "ordered"
    history = await (await _as(browsers, w, resident)).get(page)
    assert "本周人手不够" in text_of(history.text.split('id="history"', 1)[1])

    await act(w, w.organizer, made["id"], "dispatch", {"due_at": due(), "unit_id": company["id"]})
    await act(w, worker, made["id"], "accept")
    await act(w, worker, made["id"], "done", {"note": "已清扫"})
    phone = await _as(browsers, w, resident)
    r = await _form(phone, page, f"{page}/dispute", {"reason": "  "})
    assert r.status_code == 400, r.text
    assert await _state(w, made["id"]) == "done"
    r = await _form(phone, page, f"{page}/dispute", {"reason": "二楼还堆着纸箱"})
    assert r.status_code == 303, r.text
    assert await _state(w, made["id"]) == "disputed"
    lists = await (await _as(browsers, w, w.organizer)).get(f"/c/{w.slug}/services/dispatch")
    assert f'id="o{made["id"]}"' in lists.text.split('id="waiting"', 1)[1].split("</ul>", 1)[0]


async def test_an_organizer_orders_for_a_resident_without_a_phone(world: World, browsers: Browsers) -> None:
    w = world
    elder = w.volunteers[2]
    base = f"/c/{w.slug}/services"
    organizer = await _as(browsers, w, w.organizer)
    found = await organizer.get(f"{base}/new", params={"q": "王建军"})
    assert f'name="member_id" value="{elder.member_id}"' in found.text
    before = await _orders(w)
    r = await _form(organizer, f"{base}/new", f"{base}/orders", {
        "key": "page:proxy-order-1", "q": "王建军", "member_id": str(elder.member_id),
        "type_id": str(w.types["elder_help"]["id"]), "description": "每周四陪同量血压"})  # fmt: skip
    assert r.status_code == 303, r.text
    made = _order_id(r.headers["location"])
    row = await w.owner.fetchrow("SELECT for_member_id, ordered_by_member_id FROM points.service_orders WHERE id = $1",
                                 made)  # fmt: skip
    assert (row["for_member_id"], row["ordered_by_member_id"]) == (elder.member_id, w.organizer.member_id)
    assert await _orders(w) == before + 1
    # a volunteer's form has no "for whom": a member_id sent anyway is not taken as 代办
    volunteer = await _as(browsers, w, w.volunteers[0])
    r = await _form(volunteer, f"{base}/new", f"{base}/orders", {
        "key": "page:proxy-order-2", "member_id": str(elder.member_id), "type_id": str(w.types["cleanup"]["id"]),
        "description": "楼下垃圾桶满了"})  # fmt: skip
    assert r.status_code == 303, r.text
    mine = _order_id(r.headers["location"])
    assert await w.owner.fetchval("SELECT for_member_id FROM points.service_orders WHERE id = $1", mine) == (
        w.volunteers[0].member_id
    )


async def test_a_refused_order_leaves_no_photo_behind(world: World, browsers: Browsers) -> None:
    w = world
    base = f"/c/{w.slug}/services"
    phone = await _as(browsers, w, w.volunteers[0], "en")
    photos_before = await w.owner.fetchval("SELECT count(*) FROM points.photos WHERE community_id = $1",
                                           w.community_id)  # fmt: skip
    r = await _form(phone, f"{base}/new", f"{base}/orders",
                    {"key": "page:refused-1", "type_id": str(w.types["cleanup"]["id"]), "description": "   "},
                    files={"photo": ("stairs.png", png("gray"), "image/png")})  # fmt: skip
    assert r.status_code == 400, r.text
    assert 'id="order-error"' in r.text
    assert await _orders(w) == 0
    assert await w.owner.fetchval("SELECT count(*) FROM points.photos WHERE community_id = $1",
                                  w.community_id) == photos_before  # fmt: skip


# ---- the co-building units and the timeouts -------------------------------------------------------------------


async def test_an_admin_adds_a_unit_changes_it_and_sets_the_timeouts(world: World, browsers: Browsers) -> None:
    w = world
    base = f"/c/{w.slug}/services/units"
    admin = await as_admin(browsers)
    found = await admin.get(base, params={"q": "李秀兰"})
    assert f'name="member_ids" value="{w.volunteers[1].member_id}"' in found.text
    r = await _form(admin, base, base, {"q": "李秀兰", "name": "金牛物业", "kind": "property", "contact": "物业办",
                                        "type_ids": [str(w.types["cleanup"]["id"])],
                                        "member_ids": [str(w.volunteers[1].member_id)]})  # fmt: skip
    assert r.status_code == 303, r.text
    row = await w.owner.fetchrow("SELECT id, type_ids FROM points.service_units WHERE community_id = $1 AND name = $2",
                                 w.community_id, "金牛物业")  # fmt: skip
    assert list(row["type_ids"]) == [w.types["cleanup"]["id"]]
    again = await _form(admin, base, base, {"name": "金牛物业", "kind": "property"})  # the name is taken
    assert again.status_code == 400, again.text
    assert 'id="unit-error"' in again.text
    assert await w.owner.fetchval("SELECT count(*) FROM points.service_units WHERE community_id = $1",
                                  w.community_id) == 1  # fmt: skip

    page = f"{base}/{row['id']}"
    shown = await admin.get(page)
    assert "checked> 李秀兰" in shown.text  # its member, ticked
    r = await _form(admin, page, page, {"name": "金牛物业服务中心", "kind": "property", "contact": "",
                                        "type_ids": [], "member_ids": [str(w.volunteers[1].member_id)]})  # fmt: skip
    assert r.status_code == 303, r.text
    unit_row = await w.owner.fetchrow("SELECT name, active FROM points.service_units WHERE id = $1", row["id"])
    assert (unit_row["name"], unit_row["active"]) == ("金牛物业服务中心", False)  # "takes orders" left unticked

    r = await _form(admin, base, f"/c/{w.slug}/services/settings", {"accept_hours": "0", "confirm_hours": "72"})
    assert r.status_code == 400, r.text
    assert 'id="hours-error"' in r.text
    assert await w.owner.fetchval("SELECT count(*) FROM points.order_settings WHERE community_id = $1",
                                  w.community_id) == 0  # fmt: skip
    r = await _form(admin, base, f"/c/{w.slug}/services/settings", {"accept_hours": "24", "confirm_hours": "48"})
    assert r.status_code == 303, r.text
    hours = await w.owner.fetchrow("SELECT accept_hours, confirm_hours FROM points.order_settings"
                                   " WHERE community_id = $1", w.community_id)  # fmt: skip
    assert (hours["accept_hours"], hours["confirm_hours"]) == (24, 48)


async def test_organizers_read_the_units_and_only_admins_change_them(world: World, browsers: Browsers) -> None:
    w = world
    company = await unit(w, "金牛物业", "property", [w.volunteers[1]])
    base = f"/c/{w.slug}/services/units"
    organizer = await _as(browsers, w, w.organizer)
    r = await organizer.get(base)
    assert r.status_code == 200, r.text
    assert "金牛物业" in text_of(r.text)
    assert 'aria-current="page">派单</a>' in r.text  # the units are the dispatchers' section of the nav
    assert 'id="create-unit"' not in r.text
    assert (await organizer.get(f"{base}/{company['id']}")).status_code == 200
    r = await _form(organizer, base, base, {"name": "实验小学", "kind": "school"})
    assert r.status_code == 403
    r = await _form(organizer, base, f"/c/{w.slug}/services/settings", {"accept_hours": "1", "confirm_hours": "1"})
    assert r.status_code == 403
    volunteer = await _as(browsers, w, w.volunteers[0])
    assert (await volunteer.get(base)).status_code == 403


async def test_a_refused_award_is_shown_on_the_order_in_words(world: World, browsers: Browsers) -> None:
    """The dispatcher sent it to themselves: the confirmation stands, nobody awards themselves, and the order says
    so in words."""
    w = world
    resident = w.volunteers[0]
    made = await order(w, resident)
    await act(w, w.organizer, made["id"], "dispatch", {"due_at": due(), "volunteer_ids": [w.organizer.member_id]})
    await act(w, w.organizer, made["id"], "accept")
    await act(w, w.organizer, made["id"], "done", {"note": "已清扫"})
    await act(w, resident, made["id"], "confirm")
    code = await w.owner.fetchval("SELECT award_refusal FROM points.service_order_workers WHERE order_id = $1",
                                  made["id"])  # fmt: skip
    assert code
    title = str(problem_catalog()[code]["title"])
    page = await (await _as(browsers, w, w.organizer, "en")).get(f"/c/{w.slug}/services/orders/{made['id']}")
    workers = text_of(page.text.split('id="workers"', 1)[1].split("</ul>", 1)[0])
    assert f"No award: {title}" in workers
    assert code not in workers


@pytest.mark.parametrize(("lang", "words"), [("zh_CN", "我的点单"), ("en", "My orders")])
async def test_every_service_page_renders_in_both_languages(
    world: World, browsers: Browsers, lang: str, words: str
) -> None:
    w = world
    company = await unit(w, "金牛物业", "property", [w.volunteers[1]])
    made = await order(w, w.volunteers[0])
    await act(w, w.organizer, made["id"], "dispatch", {"due_at": due(), "unit_id": company["id"]})
    base = f"/c/{w.slug}/services"
    pages = [(w.organizer, [base, f"{base}/new", f"{base}/orders/{made['id']}", f"{base}/dispatch",
                            f"{base}/units", f"{base}/units/{company['id']}"]),
             (w.volunteers[1], [f"{base}/taken", f"{base}/orders/{made['id']}"])]  # fmt: skip
    for who, urls in pages:
        reader = await _as(browsers, w, who, lang)
        for url in urls:
            r = await reader.get(url)
            assert r.status_code == 200, (url, r.text)
            assert words in text_of(r.text), url  # the sub-navigation, in the reader's language
            if lang == "en":
                assert "我的点单" not in r.text, url


async def test_a_double_tap_orders_once(world: World, browsers: Browsers) -> None:
    w = world
    base = f"/c/{w.slug}/services"
    phone = await _as(browsers, w, w.volunteers[0])
    form = {"key": "page:double-tap-0001", "type_id": str(w.types["cleanup"]["id"]), "description": "楼下垃圾桶满了"}
    photo = {"photo": ("bin.png", png("gray"), "image/png")}
    first = await _form(phone, f"{base}/new", f"{base}/orders", form, files=photo)
    second = await _form(phone, f"{base}/new", f"{base}/orders", form, files=photo)  # its photo sent again
    assert first.status_code == second.status_code == 303, second.text
    assert first.headers["location"] == second.headers["location"]  # the same order, shown again
    assert await _orders(w) == 1
    assert await w.owner.fetchval("SELECT count(*) FROM points.photos WHERE community_id = $1", w.community_id) == 1
    other = await _form(phone, f"{base}/new", f"{base}/orders", {**form, "description": "换灯泡"})
    assert other.status_code == 409, other.text  # the form's key, reused for another need: open it again
    assert "这个表单已提交过另一个点单" in text_of(other.text)
    assert await _orders(w) == 1


async def test_the_resident_shows_or_hides_the_photos_on_shaidan(world: World, browsers: Browsers) -> None:
    w = world
    resident, worker, _ = w.volunteers
    made = await order(w, resident)
    page = f"/c/{w.slug}/services/orders/{made['id']}"
    phone = await _as(browsers, w, resident)
    assert 'id="consent-on"' in (await phone.get(page)).text
    r = await _form(phone, page, f"{page}/consent", {"public": "on"})
    assert r.status_code == 303, r.text
    assert await w.owner.fetchval("SELECT photos_public FROM points.service_orders WHERE id = $1", made["id"])
    assert 'id="consent-off"' in (await phone.get(page)).text
    r = await _form(phone, page, f"{page}/consent", {"public": ""})
    assert r.status_code == 303, r.text
    assert not await w.owner.fetchval("SELECT photos_public FROM points.service_orders WHERE id = $1", made["id"])
    company = await unit(w, "金牛物业", "property", [worker])
    await act(w, w.organizer, made["id"], "dispatch", {"due_at": due(), "unit_id": company["id"]})
    taker = await _as(browsers, w, worker)
    assert 'id="consent-on"' not in (await taker.get(page)).text  # the taker does not decide it
    r = await _form(taker, page, f"{page}/consent", {"public": "on"})
    assert r.status_code == 403, r.text
    assert not await w.owner.fetchval("SELECT photos_public FROM points.service_orders WHERE id = $1", made["id"])


async def test_a_member_orders_for_the_unit_they_act_for(world: World, browsers: Browsers) -> None:
    w = world
    school = await unit(w, "阳光实验小学", "school", [w.volunteers[1]])
    base = f"/c/{w.slug}/services"
    teacher = await _as(browsers, w, w.volunteers[1])
    form_page = await teacher.get(f"{base}/new")
    assert f'<option value="{school["id"]}"' in form_page.text
    r = await _form(teacher, f"{base}/new", f"{base}/orders", {
        "key": "page:unit-order-0001", "unit_id": str(school["id"]), "type_id": str(w.types["cleanup"]["id"]),
        "description": "校门口人行道落叶清扫"})  # fmt: skip
    assert r.status_code == 303, r.text
    made = _order_id(r.headers["location"])
    assert await w.owner.fetchval("SELECT ordered_for_unit_id FROM points.service_orders WHERE id = $1",
                                  made) == school["id"]  # fmt: skip
    page = await teacher.get(f"{base}/orders/{made}")
    assert "阳光实验小学" in text_of(page.text.split('class="facts"', 1)[1].split("</dl>", 1)[0])
    neighbour = await _as(browsers, w, w.volunteers[0])  # not of the school: no such choice, and refused if sent
    assert f'<option value="{school["id"]}"' not in (await neighbour.get(f"{base}/new")).text
    r = await _form(neighbour, f"{base}/new", f"{base}/orders", {
        "key": "page:unit-order-0002", "unit_id": str(school["id"]), "type_id": str(w.types["cleanup"]["id"]),
        "description": "校门口人行道落叶清扫"})  # fmt: skip
    assert r.status_code in (400, 403), r.text
    assert await _orders(w) == 1
