"""Bad input to every operation of the service orders: each is refused with a 4xx and its stable code (a
problem+json whose type explains it), and under the 4xx watch (tests/conftest.py: no_change_on_4xx) changes
nothing — no order, no history, no award."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from tests.earning_world import Person, World, make_world
from tests.swap_world import png
from tests.test_api import assert_problem
from tests.test_orders import act, due, order, unit

NO_ID = 999999
PAST = "2020-01-01T09:00:00+08:00"


@dataclass
class Ids:
    unit: int  # 金牛物业, offering cleanup, v1 acts for it
    school: int  # offers publicity only
    ordered: int  # v0's
    dispatched: int  # to the unit
    accepted: int  # by v1
    done: int  # by v1
    confirmed: int
    cleanup: int  # the activity type
    photo: int  # v3's photo


@pytest.fixture
async def world(client: Any, owner_conn: asyncpg.Connection, conn: Any) -> tuple[World, Ids]:
    w = await make_world(client, owner_conn, conn, volunteers=4, budget=500)
    v0, v1 = w.volunteers[0], w.volunteers[1]
    cleanup = w.types["cleanup"]["id"]
    company = await unit(w, "金牛物业", "property", [v1], type_ids=[cleanup])
    school = await unit(w, "实验小学", "school", [], type_ids=[w.types["publicity"]["id"]])
    ids = []
    for _ in range(5):
        ids.append((await order(w, v0))["id"])
    for order_id in ids[1:]:
        await act(w, w.organizer, order_id, "dispatch", {"due_at": due(), "unit_id": company["id"]})
    for order_id in ids[2:]:
        await act(w, v1, order_id, "accept")
    for order_id in ids[3:]:
        await act(w, v1, order_id, "done", {"note": "好了", "volunteer_ids": [v1.member_id]})
    await act(w, v0, ids[4], "confirm")
    r = await w.call(w.volunteers[3], "POST", "/photos", content=png(), headers={"Content-Type": "image/png"})
    assert r.status_code == 201, r.text
    return w, Ids(company["id"], school["id"], *ids, cleanup, r.json()["id"])


def _who(w: World, name: str) -> Person | None:
    return {"v0": w.volunteers[0], "v1": w.volunteers[1], "v2": w.volunteers[2], "v3": w.volunteers[3],
            "org": w.organizer, "admin": None}[name]  # fmt: skip


ORDER = {"type_id": "{cleanup}", "description": "楼道灯坏了"}
U = {"name": "新单位", "kind": "company"}
D = {"due_at": "{due}", "unit_id": "{unit}"}
# (who, method, path, body, status, code): {ordered} etc. are ids of the world above.
BAD: list[tuple[str, str, str, Any, int, str]] = [
    ("admin", "PUT", "/service-order-settings", {"accept_hours": 0, "confirm_hours": 72}, 400, "invalid_request"),
    ("admin", "PUT", "/service-order-settings", {"accept_hours": 48, "confirm_hours": 721}, 400, "invalid_request"),
    ("admin", "PUT", "/service-order-settings", {"accept_hours": 48}, 400, "invalid_request"),
    ("admin", "PUT", "/service-order-settings", {"accept_hours": "48", "confirm_hours": 72}, 400, "invalid_request"),
    ("org", "PUT", "/service-order-settings", {"accept_hours": 48, "confirm_hours": 72}, 403, "forbidden"),
    ("admin", "POST", "/service-units", {**U, "name": ""}, 400, "invalid_request"),
    ("admin", "POST", "/service-units", {**U, "name": "   "}, 400, "invalid_request"),
    ("admin", "POST", "/service-units", {**U, "kind": "bank"}, 400, "invalid_request"),
    ("admin", "POST", "/service-units", {**U, "name": "金牛物业"}, 400, "invalid_request"),  # taken
    ("admin", "POST", "/service-units", {**U, "type_ids": [NO_ID]}, 404, "not_found"),
    ("admin", "POST", "/service-units", {**U, "member_ids": [NO_ID]}, 404, "not_found"),
    ("admin", "POST", "/service-units", {**U, "member_ids": [1, 1]}, 400, "invalid_request"),
    ("admin", "POST", "/service-units", {**U, "contact": "x" * 201}, 400, "invalid_request"),
    ("admin", "POST", "/service-units", {**U, "extra": 1}, 400, "invalid_request"),
    ("v0", "POST", "/service-units", U, 403, "forbidden"),
    ("admin", "PUT", f"/service-units/{NO_ID}", U, 404, "not_found"),
    ("admin", "PUT", "/service-units/{unit}", {**U, "name": "实验小学"}, 400, "invalid_request"),
    ("admin", "PUT", "/service-units/{unit}", None, 400, "invalid_request"),
    ("admin", "GET", f"/service-units/{NO_ID}", None, 404, "not_found"),
    ("v0", "POST", "/service-orders", {**ORDER, "description": ""}, 400, "invalid_request"),
    ("v0", "POST", "/service-orders", {**ORDER, "description": "  "}, 400, "invalid_request"),
    ("v0", "POST", "/service-orders", {**ORDER, "description": "长" * 2001}, 400, "invalid_request"),
    ("v0", "POST", "/service-orders", {**ORDER, "description": "a\x00b"}, 400, "invalid_request"),
    ("v0", "POST", "/service-orders", {**ORDER, "type_id": NO_ID}, 404, "not_found"),
    ("v0", "POST", "/service-orders", {**ORDER, "place_id": NO_ID}, 404, "not_found"),
    ("v0", "POST", "/service-orders", {**ORDER, "photo_id": NO_ID}, 404, "not_found"),
    ("v0", "POST", "/service-orders", {**ORDER, "photo_id": "{photo}"}, 400, "invalid_request"),  # v3's photo
    ("v0", "POST", "/service-orders", {**ORDER, "wished_at": "2026-12-05T09:00:00"}, 400, "invalid_request"),
    ("v0", "POST", "/service-orders", {**ORDER, "for_member_id": "{v1}"}, 403, "forbidden"),  # 代办: staff only
    ("org", "POST", "/service-orders", {**ORDER, "for_member_id": NO_ID}, 404, "not_found"),
    ("v0", "POST", "/service-orders", None, 400, "invalid_request"),
    ("v0", "GET", "/service-orders", None, 403, "forbidden"),
    ("org", "GET", "/service-orders", {"state": "lost"}, 400, "invalid_request"),
    ("v3", "GET", "/service-orders/{ordered}", None, 404, "not_found"),  # not theirs
    ("org", "GET", f"/service-orders/{NO_ID}", None, 404, "not_found"),
    ("v0", "POST", "/service-orders/{ordered}/dispatch", D, 403, "forbidden"),
    ("org", "POST", f"/service-orders/{NO_ID}/dispatch", D, 404, "not_found"),
    ("org", "POST", "/service-orders/{ordered}/dispatch", {**D, "due_at": PAST}, 400, "invalid_request"),
    ("org", "POST", "/service-orders/{ordered}/dispatch", {"due_at": "{due}"}, 400, "invalid_request"),
    ("org", "POST", "/service-orders/{ordered}/dispatch", {**D, "volunteer_ids": ["{v2}"]}, 400, "invalid_request"),
    ("org", "POST", "/service-orders/{ordered}/dispatch", {**D, "unit_id": NO_ID}, 404, "not_found"),
    ("org", "POST", "/service-orders/{ordered}/dispatch", {**D, "unit_id": "{school}"}, 422, "unit_does_not_offer"),
    ("org", "POST", "/service-orders/{ordered}/dispatch", {**D, "points": 0}, 400, "invalid_request"),
    ("org", "POST", "/service-orders/{dispatched}/dispatch", D, 409, "order_wrong_state"),
    ("org", "POST", "/service-orders/{confirmed}/dispatch", D, 409, "order_wrong_state"),
    ("v1", "POST", "/service-orders/{ordered}/accept", None, 404, "not_found"),  # not dispatched to the unit
    ("v3", "POST", "/service-orders/{dispatched}/accept", None, 404, "not_found"),
    ("org", "POST", "/service-orders/{dispatched}/accept", None, 403, "forbidden"),  # sees it, does not take it
    ("v1", "POST", "/service-orders/{accepted}/accept", None, 409, "order_wrong_state"),
    ("v1", "POST", "/service-orders/{dispatched}/decline", {"reason": ""}, 400, "invalid_request"),
    ("v1", "POST", "/service-orders/{dispatched}/decline", {"reason": "   "}, 400, "invalid_request"),
    ("v1", "POST", "/service-orders/{dispatched}/decline", None, 400, "invalid_request"),
    ("v1", "POST", "/service-orders/{accepted}/decline", {"reason": "没空"}, 409, "order_wrong_state"),
    ("v1", "POST", "/service-orders/{accepted}/done", {"note": ""}, 400, "invalid_request"),
    ("v1", "POST", "/service-orders/{accepted}/done", {"note": "好", "photo_ids": ["{photo}"]}, 400, "invalid_request"),
    ("v1", "POST", "/service-orders/{accepted}/done", {"note": "好", "volunteer_ids": [NO_ID]}, 404, "not_found"),
    ("v0", "POST", "/service-orders/{accepted}/done", {"note": "好"}, 403, "forbidden"),
    ("v1", "POST", "/service-orders/{dispatched}/done", {"note": "好"}, 409, "order_wrong_state"),
    ("v1", "POST", "/service-orders/{done}/confirm", None, 403, "forbidden"),
    ("v0", "POST", "/service-orders/{accepted}/confirm", None, 409, "order_wrong_state"),
    ("v0", "POST", "/service-orders/{confirmed}/confirm", None, 409, "order_wrong_state"),
    ("v0", "POST", "/service-orders/{done}/dispute", {"reason": ""}, 400, "invalid_request"),
    ("v1", "POST", "/service-orders/{done}/dispute", {"reason": "没做完"}, 403, "forbidden"),
    ("v0", "POST", "/service-orders/{confirmed}/dispute", {"reason": "没做完"}, 409, "order_wrong_state"),
    ("v0", "POST", "/service-orders/{accepted}/cancel", {"reason": "不要了"}, 409, "order_wrong_state"),
    ("v0", "POST", "/service-orders/{ordered}/cancel", {"reason": " "}, 400, "invalid_request"),
    ("org", "POST", "/service-orders/{done}/cancel", {"reason": "不要了"}, 409, "order_wrong_state"),
    ("v3", "POST", "/service-orders/{ordered}/cancel", {"reason": "不要了"}, 404, "not_found"),
    ("v0", "POST", "/service-orders/0/cancel", {"reason": "不要了"}, 400, "invalid_request"),
    # migration 0021: a unit's own order, the completion's photos, the photo consent, 晒单's month and photos
    ("v0", "POST", "/service-orders", {**ORDER, "unit_id": NO_ID}, 404, "not_found"),
    ("v0", "POST", "/service-orders", {**ORDER, "unit_id": "{unit}"}, 403, "forbidden"),  # v1's unit, not v0's
    ("v1", "POST", "/service-orders", {**ORDER, "unit_id": "{unit}", "for_member_id": "{v2}"}, 400, "invalid_request"),
    ("v0", "POST", "/service-orders", {**ORDER, "photos_public": "yes"}, 400, "invalid_request"),
    ("v1", "POST", "/service-orders/{accepted}/done", {"note": "好", "photo_ids": [NO_ID]}, 404, "not_found"),
    (
        "v1",
        "POST",
        "/service-orders/{accepted}/done",
        {"note": "好", "photo_ids": [1, 2, 3, 4, 5]},
        400,
        "invalid_request",
    ),
    (
        "v1",
        "POST",
        "/service-orders/{accepted}/done",
        {"note": "好", "photo_ids": [NO_ID, NO_ID]},
        400,
        "invalid_request",
    ),
    ("v1", "POST", "/service-orders/{accepted}/done", {"note": "好", "photo_id": NO_ID}, 400, "invalid_request"),
    ("v1", "PUT", "/service-orders/{confirmed}/photo-consent", {"public": True}, 403, "forbidden"),  # the taker
    ("v3", "PUT", "/service-orders/{confirmed}/photo-consent", {"public": True}, 404, "not_found"),
    ("v0", "PUT", f"/service-orders/{NO_ID}/photo-consent", {"public": True}, 404, "not_found"),
    ("v0", "PUT", "/service-orders/{confirmed}/photo-consent", {}, 400, "invalid_request"),
    ("v0", "PUT", "/service-orders/{confirmed}/photo-consent", {"public": "yes"}, 400, "invalid_request"),
    ("v0", "PUT", "/service-orders/{confirmed}/photo-consent", None, 400, "invalid_request"),
    ("admin", "GET", "/shaidan", {"month": "2026-13"}, 400, "invalid_request"),
    ("admin", "GET", "/shaidan", {"month": "December"}, 400, "invalid_request"),
    ("admin", "GET", f"/shaidan/photos/{NO_ID}", None, 404, "not_found"),
    ("admin", "GET", "/shaidan/photos/{photo}", None, 404, "not_found"),  # v3's photo, on no order
]


def _fill(value: Any, w: World, ids: Ids) -> Any:
    names = {**{k: getattr(ids, k) for k in ids.__dataclass_fields__},
             "v1": w.volunteers[1].member_id, "v2": w.volunteers[2].member_id}  # fmt: skip
    if isinstance(value, str):
        if value == "{due}":
            return due()
        if value.startswith("{") and value.endswith("}") and value[1:-1] in names:
            return names[value[1:-1]]
        return value.format(**names) if "{" in value else value
    if isinstance(value, list):
        return [_fill(v, w, ids) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, w, ids) for k, v in value.items()}
    return value


@pytest.mark.parametrize(("who", "method", "path", "body", "status", "code"), BAD)
async def test_bad_input_is_refused_and_changes_nothing(
    world: tuple[World, Ids], no_change_on_4xx: list[str], client: Any, who: str, method: str, path: str, body: Any,
    status: int, code: str,
) -> None:  # fmt: skip
    w, ids = world
    kw: dict[str, Any] = {}
    if method == "GET":
        kw["params"] = body
    elif body is not None:
        kw["json"] = _fill(body, w, ids)
    r = await w.call(_who(w, who), method, _fill(path, w, ids), **kw)
    await assert_problem(client, r, status, code)
    assert no_change_on_4xx  # watched


@pytest.mark.parametrize(
    ("key", "description", "status", "code"),
    [
        ("k" * 129, "楼道灯坏了", 400, "invalid_request"),  # longer than a key is
        ("", "楼道灯坏了", 400, "invalid_request"),
        ("tab\tkey", "楼道灯坏了", 400, "invalid_request"),  # not printable
        ("placed", "别的事", 409, "idempotency_key_reused"),  # v0 placed an order with this key for another need
    ],
)
async def test_a_bad_or_reused_idempotency_key_is_refused_and_changes_nothing(
    world: tuple[World, Ids], client: Any, key: str, description: str, status: int, code: str
) -> None:
    w, ids = world
    body = {"type_id": ids.cleanup, "description": "楼道灯坏了"}
    placed = await w.call(w.volunteers[0], "POST", "/service-orders", json=body, headers={"Idempotency-Key": "placed"})
    assert placed.status_code == 201, placed.text
    before = await w.owner.fetchval("SELECT count(*) FROM points.service_orders")
    r = await w.call(w.volunteers[0], "POST", "/service-orders", json={**body, "description": description},
                     headers={"Idempotency-Key": key})  # fmt: skip
    await assert_problem(client, r, status, code)
    assert await w.owner.fetchval("SELECT count(*) FROM points.service_orders") == before
