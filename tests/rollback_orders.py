"""Service orders' writes in the all-or-nothing proof (tests/test_rollback.py imports this module before it collects
its parametrized test, so the recipes register in its RECIPES like its own): each fails at every statement in turn
and must leave every row as it was — the order, its history (written by its trigger), its assignees and workers,
and on confirmation the workers' awards and their ledger entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from tests.conftest import bearer_token
from tests.rollback_earning import _base, _budget, _threshold, _type_id
from tests.rollback_publication import window
from tests.swap_world import png
from tests.test_rollback import Call, Client, World, _ok, new_phone, recipe, unique


def _due() -> str:
    return (datetime.now(UTC) + timedelta(days=1)).isoformat()


async def _order(w: World, c: Client) -> int:
    body = {"type_id": await _type_id(w, c, "cleanup"), "description": unique("楼道清扫")}
    order_id: int = (await _ok(await c.post(f"{_base(w)}/service-orders", json=body, headers=w.admin)))["id"]
    return order_id


async def _neighbour(w: World, c: Client, o: asyncpg.Connection) -> tuple[int, dict[str, str]]:
    """A volunteer with a token of their own: the member id and the headers."""
    phone = new_phone()
    body = {"display_name": unique("邻居"), "phone": phone, "password": "neighbour-pass-1", "roles": ["volunteer"]}
    member = await _ok(await c.post(f"{_base(w)}/members", json=body, headers=w.admin))
    person = await o.fetchval("SELECT id FROM points.people WHERE phone = $1", phone)
    return member["id"], {"Authorization": f"Bearer {await bearer_token(o, person)}"}


async def _dispatched(w: World, c: Client, o: asyncpg.Connection) -> tuple[int, dict[str, str]]:
    order_id = await _order(w, c)
    member_id, neighbour = await _neighbour(w, c, o)
    body = {"due_at": _due(), "volunteer_ids": [member_id]}
    await _ok(await c.post(f"{_base(w)}/service-orders/{order_id}/dispatch", json=body, headers=w.admin), 200)
    return order_id, neighbour


async def _done(w: World, c: Client, o: asyncpg.Connection) -> int:
    order_id, neighbour = await _dispatched(w, c, o)
    await _ok(await c.post(f"{_base(w)}/service-orders/{order_id}/accept", headers=neighbour), 200)
    body = {"note": "已打扫"}
    await _ok(await c.post(f"{_base(w)}/service-orders/{order_id}/done", json=body, headers=neighbour), 200)
    return order_id


@recipe("updateOrderSettings")
async def _settings(w: World, c: Client, o: asyncpg.Connection) -> Call:
    return Call("put", f"{_base(w)}/service-order-settings", w.admin, json={"accept_hours": 24, "confirm_hours": 48})


@recipe("createServiceUnit")
async def _create_unit(w: World, c: Client, o: asyncpg.Connection) -> Call:
    body = {"name": unique("物业"), "kind": "property", "member_ids": [w.member]}
    return Call("post", f"{_base(w)}/service-units", w.admin, json=body)


@recipe("updateServiceUnit")
async def _update_unit(w: World, c: Client, o: asyncpg.Connection) -> Call:
    first = {"name": unique("学校"), "kind": "school", "member_ids": [w.member]}
    made = await _ok(await c.post(f"{_base(w)}/service-units", json=first, headers=w.admin))
    body = {"name": unique("实验小学"), "kind": "school", "contact": "德育处", "member_ids": [], "active": False}
    return Call("put", f"{_base(w)}/service-units/{made['id']}", w.admin, json=body)


@recipe("createServiceOrder")
async def _create_order(w: World, c: Client, o: asyncpg.Connection) -> Call:
    body = {"type_id": await _type_id(w, c, "cleanup"), "description": "楼道灯坏了", "for_member_id": w.member,
            "photos_public": True}  # fmt: skip
    return Call("post", f"{_base(w)}/service-orders", {**w.admin, "Idempotency-Key": unique("order")}, json=body)


@recipe("dispatchServiceOrder")
async def _dispatch(w: World, c: Client, o: asyncpg.Connection) -> Call:
    order_id = await _order(w, c)
    member_id, _ = await _neighbour(w, c, o)
    body = {"due_at": _due(), "volunteer_ids": [member_id], "points": 3}
    return Call("post", f"{_base(w)}/service-orders/{order_id}/dispatch", w.admin, json=body)


@recipe("acceptServiceOrder")
async def _accept(w: World, c: Client, o: asyncpg.Connection) -> Call:
    order_id, neighbour = await _dispatched(w, c, o)
    return Call("post", f"{_base(w)}/service-orders/{order_id}/accept", neighbour)


@recipe("declineServiceOrder")
async def _decline(w: World, c: Client, o: asyncpg.Connection) -> Call:
    order_id, neighbour = await _dispatched(w, c, o)
    return Call("post", f"{_base(w)}/service-orders/{order_id}/decline", neighbour, json={"reason": "这周不在家"})


@recipe("completeServiceOrder")
async def _complete(w: World, c: Client, o: asyncpg.Connection) -> Call:
    order_id, neighbour = await _dispatched(w, c, o)
    await _ok(await c.post(f"{_base(w)}/service-orders/{order_id}/accept", headers=neighbour), 200)
    upload = {**neighbour, "Content-Type": "image/png"}
    photo = await _ok(await c.post(f"{_base(w)}/photos", content=png(), headers=upload))
    body = {"note": "已打扫干净", "photo_ids": [photo["id"]]}
    return Call("post", f"{_base(w)}/service-orders/{order_id}/done", neighbour, json=body)


@recipe("confirmServiceOrder")
async def _confirm(w: World, c: Client, o: asyncpg.Connection) -> Call:
    await _threshold(w, c, None)
    await window(w, c, None)
    await _budget(w, c)
    order_id = await _done(w, c, o)
    return Call("post", f"{_base(w)}/service-orders/{order_id}/confirm", w.admin)


@recipe("disputeServiceOrder")
async def _dispute(w: World, c: Client, o: asyncpg.Connection) -> Call:
    order_id = await _done(w, c, o)
    return Call("post", f"{_base(w)}/service-orders/{order_id}/dispute", w.admin, json={"reason": "没扫干净"})


@recipe("cancelServiceOrder")
async def _cancel(w: World, c: Client, o: asyncpg.Connection) -> Call:
    order_id = await _order(w, c)
    return Call("post", f"{_base(w)}/service-orders/{order_id}/cancel", w.admin, json={"reason": "不需要了"})


@recipe("setServiceOrderPhotoConsent")
async def _photo_consent(w: World, c: Client, o: asyncpg.Connection) -> Call:
    order_id = await _order(w, c)  # the admin's own: the admin is its resident
    return Call("put", f"{_base(w)}/service-orders/{order_id}/photo-consent", w.admin, json={"public": True})
