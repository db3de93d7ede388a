"""The points-expiry pages through HTTP (no browser), in both languages: the admin's setting page (who may open
it, a saved setting shown in words, a refused form worded beside it with what was typed, nothing changed), and
我的积分 showing what expires soon and the points expired per month. The browser journey is
tests/test_browser_expiry.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from points.expiry.model import COMMUNITY_TIME
from tests.conftest import OPERATOR_PASSWORD, OPERATOR_PHONE
from tests.earning_world import Person, phone
from tests.expiry_world import earn, expire_at, months_ago, set_expiry
from tests.supermarket_world import Shop, make_shop
from tests.test_pages import csrf_of, text_of
from tests.test_pages_shop import PASSWORD, Browsers, browsers, signed_in

__all__ = ["browsers"]  # the fixture, used by name


@pytest.fixture
async def shop(client: Any, owner_conn: asyncpg.Connection, conn: Any) -> Shop:
    return await make_shop(client, owner_conn, conn, volunteers=1)


async def _volunteer_with_phone(shop: Shop) -> tuple[Person, str]:
    number = phone()
    body = {"display_name": "卫红", "phone": number, "password": PASSWORD, "roles": ["volunteer"], "household": "7-7"}
    r = await shop.client.post(f"{shop.url}/members", json=body)
    assert r.status_code == 201, r.text
    return Person(r.json()["id"], "", "卫红"), number


@pytest.mark.parametrize(
    ("lang", "saved", "refused"),
    [
        ("zh_CN", "积分在获得 6 个月后过期。", "清零日"),
        ("en", "Points expire 6 months after they were earned.", "Reset day"),
    ],
)
async def test_the_admin_sets_expiry_on_the_page(shop: Shop, browsers: Browsers, lang: str, saved: str,
                                                 refused: str) -> None:  # fmt: skip
    admin = await signed_in(browsers, OPERATOR_PHONE, OPERATOR_PASSWORD, lang=lang)
    url = f"/c/{shop.slug}/settings/expiry"
    page = await admin.get(url)
    assert page.status_code == 200, page.text
    r = await admin.post(url, data={"mode": "months", "months": "6", "reset_on": "", "_csrf_token": csrf_of(page.text)})
    assert r.status_code == 303, r.text
    shown = await admin.get(url)
    assert saved in text_of(shown.text)

    bad = await admin.post(
        url, data={"mode": "yearly", "months": "", "reset_on": "02-29", "_csrf_token": csrf_of(shown.text)}
    )
    assert bad.status_code == 400, bad.text
    assert refused in text_of(bad.text)
    assert 'value="02-29"' in bad.text  # what was typed, kept
    assert saved in text_of(bad.text)  # and nothing changed
    months = await shop.owner.fetchval(
        "SELECT months FROM points.expiry_settings WHERE community_id = $1", shop.community_id
    )
    assert months == 6

    not_a_number = await admin.post(
        url, data={"mode": "months", "months": "六", "reset_on": "", "_csrf_token": csrf_of(shown.text)}
    )
    assert not_a_number.status_code == 400, not_a_number.text


async def test_a_volunteer_cannot_open_the_setting_page(shop: Shop, browsers: Browsers) -> None:
    r = await shop.call(shop.volunteers[0], "GET", "/expiry-settings")
    assert r.status_code == 403  # the setting is for staff and admins to read, admins to change
    page = await (await browsers()).get(f"/c/{shop.slug}/settings/expiry")
    assert page.status_code in (302, 303, 401), page.text  # signed out: sign in first


@pytest.mark.parametrize(("lang", "soon", "gone"), [("zh_CN", "即将到期", "过期积分"), ("en", "Expiring soon",
                                                                                      "Points expired")])  # fmt: skip
async def test_my_points_shows_what_expires_soon_and_what_expired(
    shop: Shop, browsers: Browsers, lang: str, soon: str, gone: str
) -> None:
    await set_expiry(shop, {"mode": "months", "months": 6}, since=datetime(2000, 1, 1, tzinfo=UTC))
    me, number = await _volunteer_with_phone(shop)
    await earn(shop, me, 40, months_ago(7))  # expired now
    await earn(shop, me, 25, months_ago(5, days=20))  # due in about ten days
    assert await expire_at(shop, datetime.now(UTC), only=me) == [(me.member_id, 40)]
    volunteer = await signed_in(browsers, number, lang=lang)
    page = await volunteer.get(f"/c/{shop.slug}/me")
    assert page.status_code == 200, page.text
    text = text_of(page.text)
    assert soon in text
    assert gone in text
    assert 'id="expiries"' in page.text
    assert "<strong>25</strong>" in page.text  # the 25 due in ten days
    month = datetime.now(COMMUNITY_TIME).strftime("%Y-%m")
    assert f"<td>{month}</td><td>40</td>" in page.text  # the statement's line: 40 expired this month
