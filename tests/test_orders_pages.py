"""The public 晒单 page through HTTP (no browser), in both languages: anyone, signed out, reads the completed orders
with the unit's name, the category and place, the days it took, the resident's and workers' names masked, and the
months' counts; an order not yet confirmed is not on it. The browser's look is tests/test_browser_orders.py."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from tests.earning_world import World, make_world
from tests.test_orders import act, due, order, unit
from tests.test_pages import text_of
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
