"""The half-done writes issue 7 found, each as the request that found it: refused, nothing left behind, and the
corrected retry works as if the first attempt had never happened.

Every request here runs under the 4xx watch (tests/conftest.py ``no_change_on_4xx``): a refusal that changed any
row of any table fails the test, whatever the test itself asserts.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from tests.conftest import make_person, new_slug
from tests.test_api import API, Client, assert_problem, create_community

pytestmark = pytest.mark.usefixtures("no_change_on_4xx")


def new_phone() -> str:
    return f"137{uuid.uuid4().int % 10**8:08d}"


async def test_a_community_whose_first_admin_fails_is_not_half_opened(
    client: Client, owner_conn: asyncpg.Connection
) -> None:
    """Opening a community with an admin part that then fails used to leave the community, its unit, profile and
    audit row behind and burn the slug: the corrected retry got 409 duplicate_code."""
    taken = new_phone()
    await make_person(owner_conn, taken, "already-has-one-1")
    slug = new_slug()
    bad_admins: list[tuple[dict[str, Any], int, str]] = [
        ({"display_name": "王秀英", "phone": "12345a", "password": "long-enough-1"}, 400, "invalid_request"),
        ({"display_name": "王秀英", "phone": taken, "password": "long-enough-1"}, 409, "conflict"),
        ({"display_name": "王秀英", "phone": new_phone(), "password": "short"}, 400, "invalid_request"),
        ({"display_name": "   ", "phone": new_phone(), "password": "long-enough-1"}, 400, "invalid_request"),
        ({"display_name": "王\x00秀英", "phone": new_phone(), "password": "long-enough-1"}, 400, "invalid_request"),
    ]
    for admin, status, code in bad_admins:
        r = await client.post(API, json={"slug": slug, "name": "阳光社区", "admin": admin})
        await assert_problem(client, r, status, code)
        assert await owner_conn.fetchval("SELECT count(*) FROM ledger.communities WHERE slug = $1", slug) == 0
    phone = new_phone()
    good = {"display_name": "王秀英", "phone": phone, "password": "long-enough-1"}
    r = await client.post(API, json={"slug": slug, "name": "阳光社区", "admin": good})
    assert r.status_code == 201, r.text
    admins = await owner_conn.fetchval(
        "SELECT count(*) FROM points.members m JOIN points.people p ON p.id = m.person_id "
        "JOIN points.role_grants g ON g.member_id = m.id AND g.role = 'admin' "
        "WHERE m.community_id = $1 AND p.phone = $2",
        r.json()["id"],
        phone,
    )
    assert admins == 1, "the community has its admin"


async def test_a_member_with_a_missing_place_leaves_no_person_or_household(
    client: Client, owner_conn: asyncpg.Connection
) -> None:
    """Adding a member with place_id 999999 answered 404 but left a person (with a password that could sign in)
    and a household."""
    slug = await create_community(client)
    phone, label = new_phone(), f"3栋{uuid.uuid4().hex[:4]}"
    body = {"display_name": "刘志强", "phone": phone, "password": "resident-pass-1", "household": label}
    r = await client.post(f"{API}/{slug}/members", json={**body, "place_id": 999999})
    await assert_problem(client, r, 404, "not_found")
    assert await owner_conn.fetchval("SELECT count(*) FROM points.people WHERE phone = $1", phone) == 0
    assert await owner_conn.fetchval("SELECT count(*) FROM points.households WHERE label = $1", label) == 0
    assert (await client.post(f"{API}/{slug}/members", json=body)).status_code == 201  # the corrected retry


async def test_an_existing_member_with_a_new_household_label_leaves_no_household(
    client: Client, owner_conn: asyncpg.Connection
) -> None:
    """The same phone added again with a new household label answered 409 but left the household."""
    slug = await create_community(client)
    phone = new_phone()
    assert (
        await client.post(f"{API}/{slug}/members", json={"display_name": "张桂兰", "phone": phone})
    ).status_code == 201
    label = f"新户{uuid.uuid4().hex[:4]}"
    r = await client.post(f"{API}/{slug}/members", json={"display_name": "张桂兰", "phone": phone, "household": label})
    await assert_problem(client, r, 409, "conflict")
    assert await owner_conn.fetchval("SELECT count(*) FROM points.households WHERE label = $1", label) == 0
