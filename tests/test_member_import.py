"""Bulk import of members from CSV, through HTTP as the community's admin: the way communities start."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import bearer_token
from tests.test_api import API, assert_problem, create_community

# Every refused request (4xx) in this module is checked to have changed no row anywhere (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("no_change_on_4xx")

Client = AsyncTestClient[Any]


def new_phone() -> str:
    return "136" + str(uuid.uuid4().int)[:8]


def masked(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:]


async def import_csv(
    client: Client, slug: str, text: str, *, dry_run: bool | None, encoding: str = "utf-8", **kw: Any
) -> httpx.Response:
    params = {} if dry_run is None else {"dry_run": "true" if dry_run else "false"}
    return await client.post(
        f"{API}/{slug}/members/import",
        content=text.encode(encoding),
        params=params,
        headers={"Content-Type": "text/csv; charset=utf-8", **kw.pop("headers", {})},
        **kw,
    )


async def members(client: Client, slug: str) -> list[dict[str, Any]]:
    r = await client.get(f"{API}/{slug}/members", params={"limit": 200})
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()
    return found


async def counts(owner: asyncpg.Connection, slug: str) -> tuple[int, int, int, int]:
    """(people anywhere, members here, households here, wallet accounts here), seen by the owner."""
    row = await owner.fetchrow(
        "SELECT (SELECT count(*) FROM points.people) AS people, "
        "       (SELECT count(*) FROM points.members m WHERE m.community_id = c.id) AS members, "
        "       (SELECT count(*) FROM points.households h WHERE h.community_id = c.id) AS households, "
        "       (SELECT count(*) FROM ledger.accounts a WHERE a.community_id = c.id) AS accounts "
        "FROM ledger.communities c WHERE c.slug = $1",
        slug,
    )
    assert row is not None
    return row["people"], row["members"], row["households"], row["accounts"]


def good_file() -> tuple[str, list[str]]:
    phones = [new_phone(), new_phone(), new_phone()]
    text = (
        "\ufeffname,phone,household,roles\r\n"
        f"王秀英,{phones[0]},3-201,volunteer\r\n"
        f"李建国,{phones[1][:3]} {phones[1][3:7]}-{phones[1][7:]},3-201,organizer;volunteer\r\n"
        "张大爷,,5-102,\r\n"
        f"陈静,{phones[2]},5-102,clerk\r\n"
    )
    return text, phones


async def test_a_dry_run_reports_and_imports_nothing(client: Client, owner_conn: asyncpg.Connection) -> None:
    slug = await create_community(client)
    text, phones = good_file()
    before = await counts(owner_conn, slug)
    for dry_run in (True, None):  # None: dry_run is the default
        r = await import_csv(client, slug, text, dry_run=dry_run)
        assert r.status_code == 200, r.text
        assert r.json() == {"rows": 4, "imported": 0, "dry_run": True, "ok": True, "errors": []}
    assert await counts(owner_conn, slug) == before
    assert [m["display_name"] for m in await members(client, slug)] == ["管理员"]
    assert await owner_conn.fetchval("SELECT count(*) FROM points.people WHERE phone = ANY($1::text[])", phones) == 0


async def test_a_good_file_imports_everyone_with_wallets_and_households(
    client: Client, owner_conn: asyncpg.Connection
) -> None:
    slug = await create_community(client)
    text, phones = good_file()
    people, _, _, _ = await counts(owner_conn, slug)
    r = await import_csv(client, slug, text, dry_run=False)
    assert r.status_code == 200, r.text
    assert r.json() == {"rows": 4, "imported": 4, "dry_run": False, "ok": True, "errors": []}

    listed = {m["display_name"]: m for m in await members(client, slug)}
    assert set(listed) == {"管理员", "王秀英", "李建国", "张大爷", "陈静"}  # names read correctly despite the BOM
    assert listed["王秀英"]["phone"] == phones[0]
    assert listed["李建国"]["phone"] == phones[1]  # spaces and dashes dropped
    assert listed["张大爷"]["phone"] is None
    assert listed["陈静"]["phone"] == phones[2]
    assert listed["王秀英"]["roles"] == ["volunteer"]
    assert listed["李建国"]["roles"] == ["organizer", "volunteer"]
    assert listed["张大爷"]["roles"] == ["volunteer"]  # no roles given: volunteer
    assert listed["陈静"]["roles"] == ["clerk"]
    assert all(m["status"] == "active" for m in listed.values())

    # households: created once each, shared by the rows that name them
    assert listed["王秀英"]["household_id"] == listed["李建国"]["household_id"] is not None
    assert listed["张大爷"]["household_id"] == listed["陈静"]["household_id"] is not None
    assert listed["王秀英"]["household_id"] != listed["张大爷"]["household_id"]
    labels = await owner_conn.fetch(
        "SELECT h.id, h.label FROM points.households h JOIN ledger.communities c ON c.id = h.community_id "
        "WHERE c.slug = $1 ORDER BY h.label",
        slug,
    )
    assert [(h["id"], h["label"]) for h in labels] == [
        (listed["王秀英"]["household_id"], "3-201"),
        (listed["张大爷"]["household_id"], "5-102"),
    ]

    # every member's wallet is a real account of this community, empty
    wallets = {m["wallet_account_id"] for m in listed.values()}
    assert len(wallets) == len(listed)
    for name in ("王秀英", "李建国", "张大爷", "陈静"):
        account = await client.get(f"{API}/{slug}/accounts/{listed[name]['wallet_account_id']}")
        assert account.status_code == 200, account.text
        assert account.json()["balance"] == 0
        assert account.json()["code"] == f"volunteer:{listed[name]['id']}"

    new_people, _, _, _ = await counts(owner_conn, slug)
    assert new_people == people + 3  # the member without a phone is nobody who signs in

    # importing the same file again: everyone with a phone is already a member, nothing changes
    again = await import_csv(client, slug, text, dry_run=False)
    assert again.status_code == 200, again.text
    assert again.json()["ok"] is False
    assert again.json()["imported"] == 0
    assert [e["line"] for e in again.json()["errors"]] == [2, 3, 5]
    assert len(await members(client, slug)) == 5


async def test_one_bad_row_means_nothing_is_imported_and_every_bad_row_is_named(
    client: Client, owner_conn: asyncpg.Connection
) -> None:
    slug = await create_community(client)
    existing = new_phone()
    r = await client.post(f"{API}/{slug}/members", json={"display_name": "老会员", "phone": existing})
    assert r.status_code == 201, r.text
    good, twice, fresh = new_phone(), new_phone(), new_phone()
    text = (
        "name,phone,household,roles\n"
        f"好人甲,{good},1-101,volunteer\n"  # line 2: good
        "坏电话,12ab34,1-101,volunteer\n"  # line 3: bad phone
        f"王五,{new_phone()},1-102,volunteer;mayor\n"  # line 4: unknown role
        f",{new_phone()},1-103,\n"  # line 5: empty name
        f"重复甲,{twice},,\n"  # line 6: good on its own
        f"重复乙,{twice[:3]}-{twice[3:]},,\n"  # line 7: the same phone as line 6, written differently
        f"老会员,{existing},,\n"  # line 8: already a member here
        f"好人乙,{fresh},2-201,organizer\n"  # line 9: good
    )
    before = await counts(owner_conn, slug)
    listed_before = await members(client, slug)
    for dry_run in (True, False):
        r = await import_csv(client, slug, text, dry_run=dry_run)
        assert r.status_code == 200, r.text
        report = r.json()
        assert report["ok"] is False
        assert report["imported"] == 0
        assert report["dry_run"] is dry_run
        assert report["rows"] == 8
        errors = {e["line"]: " ".join(e["problems"]) for e in report["errors"]}
        assert sorted(errors) == [3, 4, 5, 7, 8]
        assert "phone" in errors[3]
        assert "mayor" in errors[4]
        assert "name" in errors[5]
        assert "line 6" in errors[7]
        assert "already a member" in errors[8]
        # the report names phones only masked
        assert masked(existing) in errors[8]
        assert existing not in r.text
        assert twice not in r.text

    assert await counts(owner_conn, slug) == before
    assert await members(client, slug) == listed_before
    assert (
        await owner_conn.fetchval(
            "SELECT count(*) FROM points.people WHERE phone = ANY($1::text[])", [good, twice, fresh]
        )
        == 0
    )


async def test_a_wrong_header_is_refused(client: Client, owner_conn: asyncpg.Connection) -> None:
    slug = await create_community(client)
    before = await counts(owner_conn, slug)
    for header in ("姓名,电话,户,角色", "name,phone,email", "phone,household"):
        text = f"{header}\n王秀英,{new_phone()},3-201\n"
        r = await import_csv(client, slug, text, dry_run=False)
        problem = await assert_problem(client, r, 400, "invalid_request")
        assert "header" in problem["detail"], problem
    assert await counts(owner_conn, slug) == before


async def test_only_admins_import(client: Client, conn: Any, owner_conn: asyncpg.Connection) -> None:
    slug = await create_community(client)
    callers = {}
    for role in ("organizer", "clerk", "volunteer"):
        phone = new_phone()
        r = await client.post(f"{API}/{slug}/members", json={"display_name": role, "phone": phone, "roles": [role]})
        assert r.status_code == 201, r.text
        person_id = await owner_conn.fetchval("SELECT id FROM points.people WHERE phone = $1", phone)
        callers[role] = await bearer_token(conn, person_id)
    text, _ = good_file()
    before = (await counts(owner_conn, slug))[1:]
    for role, token in callers.items():
        r = await import_csv(client, slug, text, dry_run=False, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403, (role, r.text)
        assert r.json()["code"] == "forbidden"
    assert (await counts(owner_conn, slug))[1:] == before

    # an admin of another community is nobody here
    other = await create_community(client)
    phone = new_phone()
    r = await client.post(
        f"{API}/{other}/members", json={"display_name": "别处管理员", "phone": phone, "roles": ["admin"]}
    )
    assert r.status_code == 201, r.text
    token = await bearer_token(conn, await owner_conn.fetchval("SELECT id FROM points.people WHERE phone = $1", phone))
    r = await import_csv(client, slug, text, dry_run=False, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 404, r.text
    assert r.json()["code"] == "community_not_found"
    assert (await counts(owner_conn, slug))[1:] == before


async def test_a_file_saved_by_excel_in_gbk_imports_too(client: Client) -> None:
    """Excel on a Chinese Windows saves CSV as GBK: the names must arrive intact."""
    slug = await create_community(client)
    text = "name,phone,household\n赵玉梅,,5-201\n"
    r = await import_csv(client, slug, text, dry_run=False, encoding="gbk")
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 1
    assert "赵玉梅" in {m["display_name"] for m in await members(client, slug)}
