"""Bad input to every operation of the swap table: each is refused with a 4xx and its stable code (a problem+json
whose type explains it), and under the 4xx watch (tests/conftest.py: no_change_on_4xx) changes nothing — no
listing, no proposal, no hold. Photos: a fake image, an oversized one, another community's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from tests.earning_world import Person
from tests.supermarket_world import key, make_shop
from tests.swap_world import Table, png
from tests.test_api import assert_problem, create_community

NO_ID = 999999


@dataclass
class Ids:
    mine: int  # B's open listing
    cooker2: int  # B's second open listing
    kettle: int  # C's open listing
    reserved: int  # B's listing reserved by an accepted proposal
    open: int  # C → B, open
    accepted: int  # D → B, accepted
    declined: int  # C → B, declined
    swapped: int  # C → B, swapped


@pytest.fixture
async def world(client: Any, owner_conn: asyncpg.Connection, conn: Any) -> tuple[Table, Ids]:
    t = Table(await make_shop(client, owner_conn, conn, volunteers=4))
    b, c, d = t.v(0), t.v(1), t.v(2)
    mine = (await t.list_item(b, "电饭煲"))["id"]
    cooker2 = (await t.list_item(b, "电饭煲二号"))["id"]
    kettle = (await t.list_item(c, "电水壶"))["id"]
    reserved = (await t.list_item(b, "台灯"))["id"]
    accepted = await t.proposal(d, [reserved], points=5)
    assert (await t.act(b, accepted, "accept")).status_code == 200
    open_ = await t.proposal(c, [mine], [kettle], points=10)
    declined = await t.proposal(c, [cooker2])
    assert (await t.act(b, declined, "decline")).status_code == 200
    gone = (await t.list_item(b, "旧书"))["id"]
    swapped = await t.proposal(c, [gone])
    assert (await t.act(b, swapped, "accept")).status_code == 200
    assert (await t.staff_confirm(swapped)).status_code == 200
    return t, Ids(mine, cooker2, kettle, reserved, open_, accepted, declined, swapped)


def _who(t: Table, name: str) -> Person | None:
    return {"b": t.v(0), "c": t.v(1), "d": t.v(2), "staff": t.staff, "admin": None}[name]


L = {"title": "电饭煲", "condition": "good"}
# (who, method, path, body, status, code): {mine} etc. are ids of the world above.
BAD: list[tuple[str, str, str, Any, int, str]] = [
    ("b", "POST", "/listings", {**L, "title": ""}, 400, "invalid_request"),
    ("b", "POST", "/listings", {**L, "title": "长" * 101}, 400, "invalid_request"),
    ("b", "POST", "/listings", {**L, "condition": "mint"}, 400, "invalid_request"),
    ("b", "POST", "/listings", {**L, "description": "a\x00b"}, 400, "invalid_request"),
    ("b", "POST", "/listings", {**L, "wants": "x" * 201}, 400, "invalid_request"),
    ("b", "POST", "/listings", {**L, "free": "yes"}, 400, "invalid_request"),
    ("b", "POST", "/listings", {**L, "photo_id": NO_ID}, 404, "not_found"),
    ("b", "POST", "/listings", {**L, "price": 5}, 400, "invalid_request"),
    ("b", "POST", "/listings", None, 400, "invalid_request"),
    ("b", "POST", "/intake", {**L, "member_id": 1}, 403, "forbidden"),
    ("staff", "POST", "/intake", L, 400, "invalid_request"),
    ("staff", "POST", "/intake", {**L, "member_id": NO_ID}, 404, "not_found"),
    ("staff", "POST", "/intake", {**L, "member_id": 0}, 400, "invalid_request"),
    ("c", "POST", "/listings/{mine}/withdraw", None, 403, "not_a_party"),
    ("b", "POST", "/listings/{reserved}/withdraw", None, 409, "swap_wrong_state"),
    ("b", "POST", f"/listings/{NO_ID}/withdraw", None, 404, "not_found"),
    ("b", "POST", "/listings/0/withdraw", None, 400, "invalid_request"),
    ("b", "POST", "/table/listings/{mine}/withdraw", {"reason": "不宜交换"}, 403, "forbidden"),
    ("staff", "POST", f"/table/listings/{NO_ID}/withdraw", {"reason": "不宜交换"}, 404, "not_found"),
    ("staff", "POST", "/table/listings/{mine}/withdraw", None, 400, "invalid_request"),  # no reason
    ("staff", "POST", "/table/listings/{mine}/withdraw", {"reason": ""}, 400, "invalid_request"),
    ("staff", "POST", "/table/listings/{mine}/withdraw", {"reason": "   "}, 400, "invalid_request"),
    ("staff", "POST", "/table/listings/{mine}/withdraw", {"reason": "x" * 501}, 400, "invalid_request"),
    ("staff", "POST", "/table/listings/{mine}/withdraw", {"reason": "a\x00b"}, 400, "invalid_request"),
    ("staff", "POST", "/table/listings/{reserved}/withdraw", {"reason": "不宜交换"}, 409, "swap_wrong_state"),
    ("b", "POST", "/listings/{mine}/relist", None, 409, "swap_wrong_state"),  # open, not expired
    ("c", "POST", "/listings/{mine}/relist", None, 403, "not_a_party"),
    ("b", "POST", f"/listings/{NO_ID}/relist", None, 404, "not_found"),
    ("b", "POST", "/listings/0/relist", None, 400, "invalid_request"),
    ("b", "GET", "/table/members", {"q": "居民"}, 403, "forbidden"),
    ("staff", "GET", "/table/members", None, 400, "invalid_request"),
    ("staff", "GET", "/table/members", {"q": ""}, 400, "invalid_request"),
    ("staff", "GET", "/table/members", {"q": "x" * 101}, 400, "invalid_request"),
    ("staff", "GET", "/table/members", {"q": "   "}, 400, "invalid_request"),
    ("admin", "PUT", "/settings", {"listing_days": 0}, 400, "invalid_request"),
    ("admin", "PUT", "/settings", {"listing_days": 366}, 400, "invalid_request"),
    ("admin", "PUT", "/settings", {"listing_days": "60"}, 400, "invalid_request"),
    ("admin", "PUT", "/settings", {"listing_days": 6.5}, 400, "invalid_request"),
    ("admin", "PUT", "/settings", {"listing_days": None}, 400, "invalid_request"),
    ("staff", "PUT", "/settings", {"listing_days": 30}, 403, "forbidden"),
    ("admin", "PUT", "/settings", {"handover_days": 0}, 400, "invalid_request"),
    ("admin", "PUT", "/settings", {"handover_days": 29}, 400, "invalid_request"),
    ("admin", "PUT", "/settings", {"bonus_points": 5}, 400, "invalid_request"),
    (
        "admin",
        "PUT",
        "/settings",
        {"bonus_points": 5, "bonus_cap_per_month": 1, "bonus_type_id": NO_ID},
        404,
        "not_found",
    ),
    ("b", "PUT", "/settings", {"handover_days": 3}, 403, "forbidden"),
    ("c", "POST", "/proposals", {"take": []}, 400, "invalid_request"),
    ("c", "POST", "/proposals", {"take": ["{kettle}"]}, 400, "invalid_request"),  # one's own listing
    ("c", "POST", "/proposals", {"take": ["{mine}"], "give": ["{cooker2}"]}, 400, "invalid_request"),  # B's
    ("d", "POST", "/proposals", {"take": ["{mine}", "{kettle}"]}, 400, "invalid_request"),  # two members'
    ("c", "POST", "/proposals", {"take": ["{mine}", "{mine}"]}, 400, "invalid_request"),
    ("c", "POST", "/proposals", {"take": ["{mine}"], "points": 100001}, 400, "invalid_request"),
    ("c", "POST", "/proposals", {"take": ["{mine}"], "points": 1000}, 422, "insufficient_points"),
    ("c", "POST", "/proposals", {"take": ["{reserved}"]}, 409, "listing_unavailable"),
    ("c", "POST", "/proposals", {"take": [NO_ID]}, 404, "not_found"),
    ("c", "POST", "/proposals", {"take": ["{mine}"], "note": "x" * 501}, 400, "invalid_request"),
    ("c", "POST", "/proposals", {"take": [1] * 11}, 400, "invalid_request"),
    ("c", "POST", "/proposals/{open}/counter", {"take": ["{mine}"]}, 403, "not_a_party"),  # C made it
    ("b", "POST", "/proposals/{declined}/counter", {"take": ["{kettle}"]}, 409, "swap_wrong_state"),
    ("b", "POST", f"/proposals/{NO_ID}/counter", {"take": ["{kettle}"]}, 404, "not_found"),
    ("d", "POST", "/proposals/{open}/counter", {"take": ["{kettle}"]}, 404, "not_found"),  # not D's to see
    ("c", "POST", "/proposals/{open}/accept", None, 403, "not_a_party"),
    ("d", "POST", "/proposals/{open}/accept", None, 404, "not_found"),
    ("b", "POST", "/proposals/{declined}/accept", None, 409, "swap_wrong_state"),
    ("b", "POST", f"/proposals/{NO_ID}/accept", None, 404, "not_found"),
    ("c", "POST", "/proposals/{open}/decline", None, 403, "not_a_party"),
    ("b", "POST", "/proposals/{accepted}/decline", None, 409, "swap_wrong_state"),
    ("b", "POST", "/proposals/{open}/cancel", None, 403, "not_a_party"),
    ("d", "POST", "/proposals/{open}/cancel", None, 404, "not_found"),
    ("c", "POST", "/proposals/{swapped}/cancel", None, 409, "swap_wrong_state"),
    ("b", "POST", "/proposals/{open}/handover", None, 409, "swap_wrong_state"),
    ("c", "POST", "/proposals/{accepted}/handover", None, 404, "not_found"),
    ("b", "POST", "/table/proposals/{accepted}/handover", None, 403, "forbidden"),  # no table staff
    ("staff", "POST", "/table/proposals/{open}/handover", None, 409, "swap_wrong_state"),
    ("c", "POST", "/table/proposals/{accepted}/handover", None, 403, "forbidden"),
    ("staff", "POST", f"/table/proposals/{NO_ID}/handover", None, 404, "not_found"),
    ("d", "GET", "/proposals/{open}", None, 404, "not_found"),
    ("b", "GET", "/listings", {"status": "lost"}, 400, "invalid_request"),
    ("b", "GET", "/listings", {"limit": 201}, 400, "invalid_request"),
]


def _fill(value: Any, ids: Ids) -> Any:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}") and value[1:-1] in vars(ids):
        return getattr(ids, value[1:-1])
    if isinstance(value, str):
        return value.format(**vars(ids)) if "{" in value and "}" in value and "\x00" not in value else value
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


@pytest.mark.parametrize(("who", "method", "path", "body", "status", "code"), BAD)
async def test_bad_input_is_refused_and_changes_nothing(
    world: tuple[Table, Ids], no_change_on_4xx: list[str], client: Any, who: str, method: str, path: str, body: Any,
    status: int, code: str,
) -> None:  # fmt: skip
    t, ids = world
    kw: dict[str, Any] = {"headers": {"Idempotency-Key": key()}}
    if method == "GET":
        kw["params"] = body
    elif body is not None:
        kw["json"] = _fill(body, ids)
    r = await t.call(_who(t, who), method, _fill(path, ids), **kw)
    await assert_problem(client, r, status, code)
    assert no_change_on_4xx  # watched


async def test_a_proposal_without_an_idempotency_key_or_with_a_reused_one(
    world: tuple[Table, Ids], no_change_on_4xx: list[str], client: Any
) -> None:
    t, ids = world
    r = await t.call(t.v(3), "POST", "/proposals", json={"take": [ids.mine]})
    await assert_problem(client, r, 400, "invalid_request")
    k = key()
    first = await t.call(t.v(3), "POST", "/proposals", json={"take": [ids.mine]}, headers={"Idempotency-Key": k})
    assert first.status_code == 201
    again = await t.call(t.v(3), "POST", "/proposals", json={"take": [ids.mine]}, headers={"Idempotency-Key": k})
    assert again.status_code == 200
    assert again.json()["replayed"] is True
    assert again.json()["id"] == first.json()["id"]
    other = await t.call(
        t.v(3), "POST", "/proposals", json={"take": [ids.mine], "points": 3}, headers={"Idempotency-Key": k}
    )
    await assert_problem(client, other, 409, "idempotency_key_reused")


async def test_an_accept_the_payer_cannot_cover_holds_nothing(
    world: tuple[Table, Ids], no_change_on_4xx: list[str], client: Any
) -> None:
    t, ids = world
    c = t.v(1)
    first = await t.proposal(c, [ids.cooker2], points=150)
    second = await t.proposal(c, [(await t.list_item(t.v(0), "微波炉"))["id"]], points=150)
    assert (await t.act(t.v(0), first, "accept")).status_code == 200
    r = await t.act(t.v(0), second, "accept")
    await assert_problem(client, r, 422, "insufficient_points")
    assert await t.status(second) == "open"


async def test_photos_fake_oversized_and_another_communitys_are_refused(
    world: tuple[Table, Ids], no_change_on_4xx: list[str], client: Any, owner_conn: asyncpg.Connection
) -> None:
    t, _ = world
    b = t.v(0)
    fake = await t.shop.call(
        b, "POST", "/photos", content=b"not an image at all", headers={"Content-Type": "image/png"}
    )
    await assert_problem(client, fake, 400, "invalid_request")
    big = png(size=(10, 10)) + b"\x00" * (6 * 1024 * 1024)  # over the 5 MB upload limit, under the body limit
    r = await t.shop.call(b, "POST", "/photos", content=big, headers={"Content-Type": "image/png"})
    assert r.status_code in (400, 413), r.text
    huge = b"\x89PNG" + b"\x00" * (9 * 1024 * 1024)
    r = await t.shop.call(b, "POST", "/photos", content=huge, headers={"Content-Type": "image/png"})
    await assert_problem(client, r, 413, "request_too_large")
    text = await t.shop.call(b, "POST", "/photos", content=png(), headers={"Content-Type": "text/plain"})
    assert text.status_code == 415
    # a photo of another community is not found from this one
    slug = await create_community(client)
    other = await client.post(
        f"/api/v1/communities/{slug}/photos", content=png(), headers={"Content-Type": "image/png"}
    )
    if other.status_code == 201:
        r = await t.call(b, "POST", "/listings", json={**L, "photo_id": other.json()["id"]})
        await assert_problem(client, r, 404, "not_found")


async def test_table_staff_do_not_confirm_their_own_swap(
    world: tuple[Table, Ids], no_change_on_4xx: list[str], client: Any
) -> None:
    t, ids = world
    pid = await t.proposal(t.staff, [ids.cooker2])  # the clerk proposes to B as a member
    assert (await t.act(t.v(0), pid, "accept")).status_code == 200
    r = await t.staff_confirm(pid)
    await assert_problem(client, r, 403, "conflict_of_interest")
    assert await t.status(pid) == "accepted"
