"""The swap table's pages through HTTP (no browser): who may open them (members browse, wallet holders list and
propose, table staff work the table, admins set it up; signed out and strangers refused); each form's success
(list with a photo, propose with the form's key (posted twice, one proposal), accept, decline, counter, cancel,
withdraw, both members' hand-over, the staff's hand-over, intake by name or number, the staff's withdrawal with
a reason, listing an expired listing again, the admin's settings) and a refusal worded in both languages that
changes nothing and keeps what was typed; the missed hand-overs; paging past a hundred listings and proposals.
The browser journeys are in tests/test_browser_swap.py and tests/test_browser_swap_staff.py."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
import pytest

from points.jobs import tasks
from tests.supermarket_world import make_shop, person
from tests.swap_world import Table, png
from tests.test_api import create_community
from tests.test_pages import Client, csrf_of, text_of
from tests.test_pages_shop import Browsers, as_, main_of
from tests.test_pages_shop import browsers as browsers  # the fixture, used by name


@pytest.fixture
async def table(client: Any, owner_conn: asyncpg.Connection, conn: Any) -> Table:
    return Table(await make_shop(client, owner_conn, conn))


async def _as(browsers: Browsers, t: Table, n: int | None, lang: str = "zh_CN") -> Client:
    return await as_(browsers, t.shop, t.staff if n is None else t.v(n), lang=lang)


async def _post(c: Client, page: str, action: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
    token = csrf_of((await c.get(page)).text)
    return await c.post(action, data={**(data or {}), "_csrf_token": token}, **kw)


def key_of(html: str) -> str:
    found = re.search(r'name="key" value="(page:[^"]+)"', html)
    assert found, "the form carries its idempotency key"
    return found.group(1)


async def count(t: Table, table_name: str) -> int:
    found: int = await t.shop.owner.fetchval(
        f"SELECT count(*) FROM points.{table_name} WHERE community_id = $1", t.shop.community_id
    )
    return found


async def test_the_pages_open_for_their_readers_and_refuse_others(table: Table, browsers: Browsers, conn: Any) -> None:
    t = table
    s = t.shop
    cooker = await t.list_item(t.v(0), "电饭煲", wants="水壶")
    member_pages = [f"/c/{s.slug}/swap", f"/c/{s.slug}/swap/listings/{cooker['id']}", f"/c/{s.slug}/swap/new",
                    f"/c/{s.slug}/swap/mine"]  # fmt: skip
    staff_pages = [f"/c/{s.slug}/swap/table"]
    volunteer = await _as(browsers, t, 1)
    for url in member_pages:
        r = await volunteer.get(url)
        assert r.status_code == 200, (url, r.text)
        nav = text_of(r.text.split('aria-label="栏目"', 1)[1].split("</nav>", 1)[0])
        assert "亲邻易物台" in nav
        assert "易物台值班" not in nav
    r = await volunteer.get(f"/c/{s.slug}/swap")
    assert "电饭煲" in main_of(r.text)
    assert "想换：水壶" in main_of(r.text)
    for url in staff_pages:
        assert (await volunteer.get(url)).status_code == 403, url
    staff = await _as(browsers, t, None)
    for url in member_pages + staff_pages:
        r = await staff.get(url)
        assert r.status_code == 200, (url, r.text)
    assert "易物台值班" in text_of(r.text)
    anonymous = await browsers()
    for url in member_pages + staff_pages:
        r = await anonymous.get(url)
        assert r.status_code == 303
        assert r.headers["location"].startswith("/login?next=")
    elsewhere = await create_community(s.client)
    stranger = await person(s.client, s.owner, conn, elsewhere, "外人", "9-999", ["volunteer"])
    outsider = await as_(browsers, s, stranger)
    refused = await outsider.get(f"/c/{s.slug}/me")
    assert refused.status_code in (403, 404)
    for url in member_pages + staff_pages:
        r = await outsider.get(url)
        assert r.status_code == refused.status_code, url
    english = await _as(browsers, t, 2, lang="en")
    r = await english.get(f"/c/{s.slug}/swap")
    assert "Swap table" in text_of(r.text)
    assert "Wants: 水壶" in main_of(r.text)


async def test_listing_an_item_with_a_photo_and_a_refusal_that_keeps_what_was_typed(
    table: Table, browsers: Browsers
) -> None:
    t = table
    s = t.shop
    new = f"/c/{s.slug}/swap/new"
    b = await _as(browsers, t, 0)
    page = await b.get(new)
    assert 'accept="image/*" capture="environment"' in page.text
    files = {"photo": ("cooker.png", png(), "image/png")}
    form = {"title": "电饭煲", "condition": "like_new", "wants": "水壶", "description": "三升"}
    r = await _post(b, new, f"/c/{s.slug}/swap/listings", form, files=files)
    assert r.status_code == 303, r.text
    shown = await b.get(r.headers["location"])
    assert "电饭煲" in main_of(shown.text)
    assert "几乎全新" in main_of(shown.text)
    assert re.search(r'<img class="good-photo" src="/api/v1/communities/[^/]+/photos/\d+"', shown.text)
    assert await count(t, "photos") == 1
    # refused: a fake image; nothing stored (not the photo either), the text kept, the problem in words
    before = (await count(t, "photos"), await count(t, "swap_listings"))
    fake = {"photo": ("cooker.png", b"not an image at all", "image/png")}
    r = await _post(b, new, f"/c/{s.slug}/swap/listings", {**form, "title": "旧台灯"}, files=fake)
    assert r.status_code == 400
    assert 'value="旧台灯"' in r.text
    assert "照片" in text_of(r.text.split('role="alert"', 1)[1].split("</div>", 1)[0])
    assert (await count(t, "photos"), await count(t, "swap_listings")) == before
    # refused: no title; in English
    english = await _as(browsers, t, 1, lang="en")
    r = await _post(english, new, f"/c/{s.slug}/swap/listings", {"title": "  ", "condition": "good", "wants": "书"})
    assert r.status_code == 400
    alert = text_of(r.text.split('role="alert"', 1)[1].split("</div>", 1)[0])
    assert "What is it?" in alert
    assert 'value="书"' in r.text
    assert (await count(t, "photos"), await count(t, "swap_listings")) == before


async def test_propose_accept_and_both_members_hand_over_points_once(table: Table, browsers: Browsers) -> None:
    t = table
    s = t.shop
    cooker = await t.list_item(t.v(0), "电饭煲")
    kettle = await t.list_item(t.v(1), "电水壶")
    c = await _as(browsers, t, 1)
    page = f"/c/{s.slug}/swap/listings/{cooker['id']}"
    shown = await c.get(page)
    assert "电水壶" in main_of(shown.text)  # mine, to offer
    form = {"key": key_of(shown.text), "give": [str(kettle["id"])], "points": "10", "note": "九成新"}
    action = f"{page}/propose"
    r = await _post(c, page, action, form)
    assert r.status_code == 303, r.text
    assert r.headers["location"].endswith("/mine?done=proposed")
    again = await _post(c, page, action, form)  # a double tap: the same key, one proposal
    assert again.status_code == 303
    assert await count(t, "swap_proposals") == 1
    b = await _as(browsers, t, 0)
    mine = await b.get(f"/c/{s.slug}/swap/mine")
    pid = int(re.search(r'id="accept-(\d+)"', mine.text).group(1))  # type: ignore[union-attr]
    assert "居民1 提出" in main_of(mine.text)
    assert "10 积分" in main_of(mine.text)
    r = await _post(b, f"/c/{s.slug}/swap/mine", f"/c/{s.slug}/swap/proposals/{pid}/accept")
    assert r.status_code == 303, r.text
    assert await t.status(pid) == "accepted"
    assert await t.available(t.v(1)) == 190
    for who in (b, c):
        r = await _post(who, f"/c/{s.slug}/swap/mine", f"/c/{s.slug}/swap/proposals/{pid}/handover")
        assert r.status_code == 303, r.text
    assert await t.status(pid) == "swapped"
    assert await s.balance(t.v(0)) == 210
    assert await s.balance(t.v(1)) == 190
    # refused: declining it now, worded in both languages, nothing changed (accepting again answers it as it is)
    r = await _post(b, f"/c/{s.slug}/swap/mine", f"/c/{s.slug}/swap/proposals/{pid}/decline")
    assert r.status_code == 409
    assert "这个提议的状态已经变了" in text_of(r.text)
    english = await _as(browsers, t, 0, lang="en")
    r = await _post(english, f"/c/{s.slug}/swap/mine", f"/c/{s.slug}/swap/proposals/{pid}/decline")
    assert r.status_code == 409
    assert "This proposal has moved on already" in text_of(r.text)
    assert await s.balance(t.v(0)) == 210


async def test_a_proposal_refused_keeps_the_form_and_points_typed(table: Table, browsers: Browsers) -> None:
    t = table
    s = t.shop
    cooker = await t.list_item(t.v(0), "电饭煲")
    page = f"/c/{s.slug}/swap/listings/{cooker['id']}"
    for lang, words in (("zh_CN", "积分"), ("en", "Points")):
        c = await _as(browsers, t, 1, lang=lang)
        shown = await c.get(page)
        r = await _post(c, page, f"{page}/propose", {"key": key_of(shown.text), "points": "十", "note": "急用"})
        assert r.status_code == 400, r.text
        alert = text_of(r.text.split('role="alert"', 1)[1].split("</div>", 1)[0])
        assert words in alert
        assert 'value="十"' in r.text
        assert 'value="急用"' in r.text
    c = await _as(browsers, t, 1)
    shown = await c.get(page)
    r = await _post(c, page, f"{page}/propose", {"key": key_of(shown.text), "points": "5000"})
    assert r.status_code == 422, r.text  # more than the 200 points C has
    assert await count(t, "swap_proposals") == 0


async def test_decline_counter_cancel_and_withdraw(table: Table, browsers: Browsers) -> None:
    t = table
    s = t.shop
    mine = f"/c/{s.slug}/swap/mine"
    cooker = await t.list_item(t.v(0), "电饭煲")
    kettle = await t.list_item(t.v(1), "电水壶")
    first = await t.proposal(t.v(1), [cooker["id"]], [kettle["id"]])
    b = await _as(browsers, t, 0)
    r = await _post(b, mine, f"/c/{s.slug}/swap/proposals/{first}/decline")
    assert r.status_code == 303
    assert await t.status(first) == "declined"
    second = await t.proposal(t.v(1), [cooker["id"]], [kettle["id"]])
    counter = f"/c/{s.slug}/swap/proposals/{second}/counter"
    shown = await b.get(counter)
    assert shown.status_code == 200
    r = await _post(b, counter, counter, {"key": key_of(shown.text), "take": [str(kettle["id"])],
                                          "give": [str(cooker["id"])], "points": "-5"})  # fmt: skip
    assert r.status_code == 303, r.text
    assert await t.status(second) == "countered"
    c = await _as(browsers, t, 1)
    page = await c.get(mine)
    countered = int(re.search(r'id="accept-(\d+)"', page.text).group(1))  # type: ignore[union-attr]
    # refused: C cancels B's open counter-proposal (C declines it, or accepts), worded; it stays open
    r = await _post(c, mine, f"/c/{s.slug}/swap/proposals/{countered}/cancel")
    assert r.status_code == 403
    assert "这不是你能做的" in text_of(r.text)
    assert await t.status(countered) == "open"
    r = await _post(b, mine, f"/c/{s.slug}/swap/proposals/{countered}/cancel")
    assert r.status_code == 303
    assert await t.status(countered) == "cancelled"
    # C withdraws the kettle; withdrawing B's cooker is refused
    r = await _post(c, mine, f"/c/{s.slug}/swap/listings/{kettle['id']}/withdraw")
    assert r.status_code == 303
    assert await t.listing_status(kettle["id"]) == "withdrawn"
    r = await _post(c, mine, f"/c/{s.slug}/swap/listings/{cooker['id']}/withdraw")
    assert r.status_code == 403
    assert "这不是你能做的" in text_of(r.text)
    assert await t.listing_status(cooker["id"]) == "open"
    # refused: the counter form without a take (in English)
    third = await t.proposal(t.v(2), [cooker["id"]], points=5)
    english = await _as(browsers, t, 0, lang="en")
    counter = f"/c/{s.slug}/swap/proposals/{third}/counter"
    shown = await english.get(counter)
    r = await _post(english, counter, counter, {"key": key_of(shown.text), "points": "3"})
    assert r.status_code == 400, r.text
    assert "Their listings" in text_of(r.text.split('role="alert"', 1)[1].split("</div>", 1)[0])
    assert await t.status(third) == "open"


async def test_the_table_staff_take_in_and_confirm_a_hand_over(table: Table, browsers: Browsers) -> None:
    t = table
    s = t.shop
    page = f"/c/{s.slug}/swap/table"
    staff = await _as(browsers, t, None)
    form = {"member_id": str(t.v(2).member_id), "title": "旧书", "condition": "fair", "free": "on"}
    files = {"photo": ("book.png", png("blue"), "image/png")}
    r = await _post(staff, page, f"/c/{s.slug}/swap/intake", form, files=files)
    assert r.status_code == 303, r.text
    shown = await staff.get(r.headers["location"])
    assert "旧书" in text_of(shown.text.split('id="on-table"', 1)[1])
    # refused: no member named, in both languages, nothing listed
    before = await count(t, "swap_listings")
    for lang, words in (("zh_CN", "姓名或编号"), ("en", "name or number")):
        who = await _as(browsers, t, None, lang=lang)
        r = await _post(who, page, f"/c/{s.slug}/swap/intake", {**form, "member_id": ""})
        assert r.status_code == 400, r.text
        assert words in text_of(r.text.split('role="alert"', 1)[1].split("</div>", 1)[0])
        assert 'value="旧书"' in r.text
    assert await count(t, "swap_listings") == before
    cooker = await t.list_item(t.v(0), "电饭煲")
    pid = await t.proposal(t.v(1), [cooker["id"]], points=10)
    assert (await t.act(t.v(0), pid, "accept")).status_code == 200
    shown = await staff.get(page)
    assert f'id="staff-handover-{pid}"' in shown.text
    r = await _post(staff, page, f"/c/{s.slug}/swap/table/proposals/{pid}/handover")
    assert r.status_code == 303, r.text
    assert await t.status(pid) == "swapped"
    assert await s.balance(t.v(0)) == 210
    r = await _post(staff, page, f"/c/{s.slug}/swap/table/proposals/{pid}/handover")  # again: posts nothing more
    assert r.status_code == 303
    assert await s.balance(t.v(0)) == 210
    # refused: a hand-over of a proposal that was declined, worded
    other = await t.list_item(t.v(2), "台灯")
    declined = await t.proposal(t.v(1), [other["id"]], points=3)
    assert (await t.act(t.v(2), declined, "decline")).status_code == 200
    r = await _post(staff, page, f"/c/{s.slug}/swap/table/proposals/{declined}/handover")
    assert r.status_code == 409
    assert "这个提议的状态已经变了" in text_of(r.text)
    volunteer = await _as(browsers, t, 1)
    r = await _post(volunteer, f"/c/{s.slug}/swap", f"/c/{s.slug}/swap/table/proposals/{pid}/handover")
    assert r.status_code == 403


def alert_of(html: str) -> str:
    return text_of(html.split('role="alert"', 1)[1].split("</div>", 1)[0])


async def _admin(browsers: Browsers, t: Table, conn: Any, lang: str = "zh_CN") -> Client:
    s = t.shop
    admin = await person(s.client, s.owner, conn, s.slug, "社区管理员", None, ["admin", "volunteer"])
    return await as_(browsers, s, admin, lang=lang)


async def audit_lines(t: Table, action: str) -> list[Any]:
    return list(await t.shop.owner.fetch(
        "SELECT subject, detail FROM points.audit_log WHERE community_id = $1 AND action = $2 ORDER BY id",
        t.shop.community_id, action,
    ))  # fmt: skip


async def test_staff_take_a_listing_off_the_table_saying_why(table: Table, browsers: Browsers) -> None:
    t = table
    s = t.shop
    page = f"/c/{s.slug}/swap/table"
    r = await t.call(
        t.staff, "POST", "/intake", json={"member_id": t.v(0).member_id, "title": "旧书", "condition": "fair"}
    )
    book = r.json()["id"]
    pid = await t.proposal(t.v(1), [book])
    staff = await _as(browsers, t, None)
    shown = await staff.get(page)
    assert f'id="staff-withdraw-{book}"' in shown.text
    # refused: no reason (spaces only), in both languages; nothing changed, nothing audited
    for lang, words in (("zh_CN", "撤下原因"), ("en", "Why is it taken off the table?")):
        who = await _as(browsers, t, None, lang=lang)
        r = await _post(who, page, f"/c/{s.slug}/swap/table/listings/{book}/withdraw", {"reason": "   "})
        assert r.status_code == 400, r.text
        assert words in alert_of(r.text)
    assert await t.listing_status(book) == "open"
    assert await audit_lines(t, "swap.listing_withdrawn") == []
    # a volunteer may not
    volunteer = await _as(browsers, t, 2)
    r = await _post(volunteer, f"/c/{s.slug}/swap", f"/c/{s.slug}/swap/table/listings/{book}/withdraw",
                    {"reason": "不要了"})  # fmt: skip
    assert r.status_code == 403
    assert await t.listing_status(book) == "open"
    r = await _post(staff, page, f"/c/{s.slug}/swap/table/listings/{book}/withdraw", {"reason": "书页发霉，不宜交换"})
    assert r.status_code == 303, r.text
    assert r.headers["location"].endswith("/table?done=withdrawn")
    assert await t.listing_status(book) == "withdrawn"
    assert await t.status(pid) == "superseded"
    [line] = await audit_lines(t, "swap.listing_withdrawn")
    assert line["subject"] == f"swap listing {book}"
    assert "书页发霉，不宜交换" in line["detail"]
    # its member reads why, on 我的易物 and in the API (migration 0019)
    owner = await _as(browsers, t, 0)
    mine = await owner.get(f"/c/{s.slug}/swap/mine")
    assert "书页发霉，不宜交换" in mine.text
    assert f'id="why-{book}"' in mine.text
    r = await t.call(t.v(0), "GET", f"/listings/{book}")
    assert r.json()["withdraw_reason"] == "书页发霉，不宜交换"
    # from the listing's own page; a refusal there is shown there (it is withdrawn already: answered as it is)
    lamp = (await t.list_item(t.v(1), "台灯"))["id"]
    listing = f"/c/{s.slug}/swap/listings/{lamp}"
    assert f'id="staff-withdraw-{lamp}"' in (await staff.get(listing)).text
    assert f'id="staff-withdraw-{lamp}"' not in (await volunteer.get(listing)).text
    r = await _post(
        staff, listing, f"/c/{s.slug}/swap/table/listings/{lamp}/withdraw", {"reason": "", "back": "listing"}
    )
    assert r.status_code == 400
    assert "撤下原因" in alert_of(r.text)
    assert 'id="listing-title"' in r.text
    r = await _post(staff, listing, f"/c/{s.slug}/swap/table/listings/{lamp}/withdraw",
                    {"reason": "重复登记", "back": "listing"})  # fmt: skip
    assert r.status_code == 303
    assert r.headers["location"].endswith(f"/listings/{lamp}?done=withdrawn")
    assert await t.listing_status(lamp) == "withdrawn"


async def test_intake_finds_the_member_by_name_or_number(table: Table, browsers: Browsers) -> None:
    t = table
    s = t.shop
    page = f"/c/{s.slug}/swap/table"
    staff = await _as(browsers, t, None)
    item = {"title": "旧书", "condition": "fair"}

    async def owner_of_newest() -> int:
        found: int = await s.owner.fetchval(
            "SELECT member_id FROM points.swap_listings WHERE community_id = $1 ORDER BY id DESC LIMIT 1",
            s.community_id,
        )
        return found

    r = await _post(staff, page, f"/c/{s.slug}/swap/intake", {**item, "member": "居民2"})  # a name
    assert r.status_code == 303, r.text
    assert await owner_of_newest() == t.v(2).member_id
    r = await _post(staff, page, f"/c/{s.slug}/swap/intake", {**item, "member": str(t.v(1).member_id)})  # a number
    assert r.status_code == 303, r.text
    assert await owner_of_newest() == t.v(1).member_id
    # several match: refused, with them to choose from; nothing listed; then one chosen
    before = await count(t, "swap_listings")
    for lang, words in (("zh_CN", "有几位成员符合"), ("en", "Several members match")):
        who = await _as(browsers, t, None, lang=lang)
        r = await _post(who, page, f"/c/{s.slug}/swap/intake", {**item, "member": "居民"})
        assert r.status_code == 400, r.text
        assert words in alert_of(r.text)
        assert 'id="member-matches"' in r.text
        assert f'name="member_id" value="{t.v(0).member_id}"' in r.text
        assert 'value="旧书"' in r.text
    r = await _post(who, page, f"/c/{s.slug}/swap/intake", {**item, "member": "不存在的人"})
    assert r.status_code == 400
    assert "No active member has that name or number" in alert_of(r.text)
    assert await count(t, "swap_listings") == before
    r = await _post(
        staff, page, f"/c/{s.slug}/swap/intake", {**item, "member": "居民", "member_id": str(t.v(0).member_id)}
    )
    assert r.status_code == 303, r.text
    assert await owner_of_newest() == t.v(0).member_id
    # the API's lookup, for table staff
    found = (await t.call(t.staff, "GET", "/table/members", params={"q": "居民"})).json()
    assert {m["id"] for m in found} >= {t.v(n).member_id for n in range(3)}
    assert (await t.call(t.staff, "GET", "/table/members", params={"q": str(t.v(1).member_id)})).json()[0]["id"] == (
        t.v(1).member_id
    )


async def test_the_missed_hand_overs_per_member(table: Table, browsers: Browsers, engine: Any) -> None:
    t = table
    s = t.shop
    page = f"/c/{s.slug}/swap/table/missed"
    staff = await _as(browsers, t, None)
    r = await staff.get(page)
    assert r.status_code == 200
    assert 'id="missed-none"' in r.text
    cooker = await t.list_item(t.v(0), "电饭煲")
    pid = await t.proposal(t.v(1), [cooker["id"]])
    assert (await t.act(t.v(0), pid, "accept")).status_code == 200
    assert (await t.act(t.v(0), pid, "handover")).status_code == 200  # B came; C never did
    await t.overdue(pid)
    assert await tasks.time_out_swaps(engine) == 1
    shown = text_of((await staff.get(page)).text.split('id="missed"', 1)[1].split("</table>", 1)[0])
    assert "居民1" in shown
    assert "居民0" not in shown
    english = await _as(browsers, t, None, lang="en")
    assert "Missed hand-overs" in text_of((await english.get(page)).text)
    assert (await (await _as(browsers, t, 1)).get(page)).status_code == 403
    assert (await (await browsers()).get(page)).status_code == 303


async def test_the_admin_sets_the_swap_table_up(table: Table, browsers: Browsers, conn: Any) -> None:
    t = table
    s = t.shop
    page = f"/c/{s.slug}/swap/table/settings"
    admin = await _admin(browsers, t, conn)
    shown = await admin.get(page)
    assert shown.status_code == 200
    assert 'name="listing_days"' in shown.text
    assert 'value="60"' in shown.text
    assert (await (await _as(browsers, t, None)).get(page)).status_code == 403  # the clerk works the table only
    assert (await (await _as(browsers, t, 1)).get(page)).status_code == 403
    patrol = (await s.client.get(f"{s.url}/activity-types")).json()[0]["id"]
    form = {"handover_days": "5", "listing_days": "30", "bonus_points": "5", "bonus_cap_per_month": "2",
            "bonus_type_id": str(patrol)}  # fmt: skip
    r = await _post(admin, page, page, form)
    assert r.status_code == 303, r.text
    now = (await t.call(t.staff, "GET", "/settings")).json()
    assert now == {"handover_days": 5, "listing_days": 30, "bonus_points": 5, "bonus_cap_per_month": 2,
                   "bonus_type_id": patrol}  # fmt: skip
    # refused, in both languages, nothing changed and what was typed kept: a lifetime over a year; half a bonus
    for lang, words in (("zh_CN", "物品展示天数"), ("en", "Days a listing stays on the table")):
        who = await _admin(browsers, t, conn, lang=lang)
        r = await _post(who, page, page, {**form, "listing_days": "366"})
        assert r.status_code == 400, r.text
        assert words in alert_of(r.text)
        assert 'value="366"' in r.text
    r = await _post(admin, page, page, {**form, "bonus_points": "", "listing_days": "十"})
    assert r.status_code == 400
    assert 'value="十"' in r.text
    r = await _post(admin, page, page, {**form, "bonus_cap_per_month": ""})
    assert r.status_code == 400
    assert "赠送奖励积分" in alert_of(r.text)
    assert (await t.call(t.staff, "GET", "/settings")).json() == now
    r = await _post(admin, page, page, {**form, "bonus_points": "", "bonus_cap_per_month": "", "bonus_type_id": ""})
    assert r.status_code == 303  # no bonus
    assert (await t.call(t.staff, "GET", "/settings")).json()["bonus_points"] is None


async def test_an_expired_listing_is_listed_again_from_my_swaps(table: Table, browsers: Browsers, engine: Any) -> None:
    t = table
    s = t.shop
    mine = f"/c/{s.slug}/swap/mine"
    lamp = await t.old_listing(t.v(0), "旧台灯", days=61)
    b = await _as(browsers, t, 0)
    assert "展示到" in text_of((await b.get(mine)).text.split(f'id="l{lamp}"', 1)[1].split("</li>", 1)[0])
    assert await tasks.expire_swap_listings(engine) == 1
    row = text_of((await b.get(mine)).text.split(f'id="l{lamp}"', 1)[1].split("</li>", 1)[0])
    assert "已过期" in row
    assert "重新登记" in row
    # refused: someone else's, worded in both languages; nothing listed
    before = await count(t, "swap_listings")
    for lang, words in (("zh_CN", "这不是你能做的"), ("en", "This is not yours to do")):
        c = await _as(browsers, t, 1, lang=lang)
        r = await _post(c, mine, f"/c/{s.slug}/swap/listings/{lamp}/relist")
        assert r.status_code == 403
        assert words in text_of(r.text)
    assert await count(t, "swap_listings") == before
    r = await _post(b, mine, f"/c/{s.slug}/swap/listings/{lamp}/relist")
    assert r.status_code == 303, r.text
    again = await b.get(r.headers["location"])
    assert "旧台灯" in main_of(again.text)
    assert "可交换" in text_of(again.text.split('id="listing-status"', 1)[1].split("</dd>", 1)[0])
    assert "已重新登记" in text_of((await b.get(mine)).text.split(f'id="l{lamp}"', 1)[1].split("</li>", 1)[0])
    r = await _post(b, mine, f"/c/{s.slug}/swap/listings/{lamp}/relist")  # a double tap: the same new listing
    assert r.status_code == 303
    assert await count(t, "swap_listings") == before + 1


async def test_browse_and_my_swaps_page_past_a_hundred(table: Table, browsers: Browsers) -> None:
    t = table
    s = t.shop
    await s.owner.execute(
        "INSERT INTO points.swap_listings (community_id, member_id, title, condition)"
        " SELECT $1, $2, '书' || n, 'good' FROM generate_series(1, 104) AS n",
        s.community_id,
        t.v(0).member_id,
    )
    c = await _as(browsers, t, 1)
    first = await c.get(f"/c/{s.slug}/swap")
    titles = re.findall(r'class="good-name"><a [^>]*>书(\d+)<', first.text)
    assert [int(n) for n in titles] == list(range(104, 4, -1))
    more = re.search(r'id="more" rel="next" href="([^"]+)"', first.text)
    assert more
    second = await c.get(more.group(1).replace("&amp;", "&"))
    assert [int(n) for n in re.findall(r'class="good-name"><a [^>]*>书(\d+)<', second.text)] == [4, 3, 2, 1]
    assert 'id="more"' not in second.text
    searched = await c.get(f"/c/{s.slug}/swap", params={"q": "书"})
    assert "q=%E4%B9%A6&amp;before=" in searched.text  # the search goes on with the next page
    # my swaps: 104 listings and 101 proposals, each a hundred at a time
    target = (await t.list_item(t.v(1), "电水壶"))["id"]
    for _ in range(101):
        await t.proposal(t.v(0), [target])
    b = await _as(browsers, t, 0)
    mine = await b.get(f"/c/{s.slug}/swap/mine")
    assert mine.text.count('class="proposal"') == 100
    assert main_of(mine.text).count("书") == 100
    older = re.search(r'id="more-proposals" href="([^"]+)"', mine.text)
    assert older
    rest = await b.get(older.group(1).replace("&amp;", "&"))
    assert rest.text.count('class="proposal"') == 1
    listings = re.search(r'id="more-listings" href="([^"]+)"', mine.text)
    assert listings
    rest = await b.get(listings.group(1).replace("&amp;", "&"))
    assert len(re.findall(r'<li id="l\d+">', rest.text)) == 4
