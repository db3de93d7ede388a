"""Forms of the service orders' pages in the all-or-nothing walk of tests/test_page_rollback.py (which imports this
module, so that these register in its PAGE_RECIPES): ordering (with the form's key and a photo taken with it),
dispatching to a volunteer, taking, declining, marking done (with a photo of the result), confirming (the
workers' awards and their ledger entries), disputing and cancelling; each posted as its page posts it, by the
member it belongs to (signed in by the sign-in form) or by the world's admin."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from points.earning.periods import COMMUNITY_TZ
from tests.conftest import bearer_token
from tests.rollback_earning import _base, _budget, _threshold, _type_id
from tests.rollback_orders import _due, _order
from tests.rollback_publication import window
from tests.swap_world import png
from tests.test_page_rollback import ADMIN_PASSWORD, PageCall, _admin_phone, page_recipe
from tests.test_rollback import Client, World, _ok, new_phone, unique

NEIGHBOUR_PASSWORD = "neighbour-pass-1"


@dataclass
class Neighbour:
    member_id: int
    phone: str
    headers: dict[str, str]


async def _neighbour(w: World, c: Client, o: asyncpg.Connection) -> Neighbour:
    phone = new_phone()
    body = {"display_name": unique("邻居"), "phone": phone, "password": NEIGHBOUR_PASSWORD, "roles": ["volunteer"]}
    member = await _ok(await c.post(f"{_base(w)}/members", json=body, headers=w.admin))
    person = await o.fetchval("SELECT id FROM points.people WHERE phone = $1", phone)
    return Neighbour(member["id"], phone, {"Authorization": f"Bearer {await bearer_token(o, person)}"})


async def _dispatched(w: World, c: Client, o: asyncpg.Connection) -> tuple[int, Neighbour]:
    order_id = await _order(w, c)
    n = await _neighbour(w, c, o)
    body = {"due_at": _due(), "volunteer_ids": [n.member_id]}
    await _ok(await c.post(f"{_base(w)}/service-orders/{order_id}/dispatch", json=body, headers=w.admin), 200)
    return order_id, n


async def _done(w: World, c: Client, o: asyncpg.Connection) -> int:
    order_id, n = await _dispatched(w, c, o)
    await _ok(await c.post(f"{_base(w)}/service-orders/{order_id}/accept", headers=n.headers), 200)
    await _ok(
        await c.post(f"{_base(w)}/service-orders/{order_id}/done", json={"note": "已打扫"}, headers=n.headers), 200
    )
    return order_id


def _local(days: int) -> str:
    """A moment ``days`` ahead as a datetime-local field holds it, in the community's time."""
    return (datetime.now(UTC) + timedelta(days=days)).astimezone(COMMUNITY_TZ).strftime("%Y-%m-%dT%H:%M")


def _page(w: World, order_id: int) -> str:
    return f"/c/{w.slug}/services/orders/{order_id}"


async def _as_admin(w: World, o: asyncpg.Connection, action: str, page: str, form: dict[str, object]) -> PageCall:
    return PageCall(action, page, form, phone=await _admin_phone(w, o), password=ADMIN_PASSWORD)


def _as(n: Neighbour, action: str, page: str, form: dict[str, object] | None = None) -> PageCall:
    return PageCall(action, page, form or {}, phone=n.phone, password=NEIGHBOUR_PASSWORD)


@page_recipe("pageServiceCreate")
async def _create(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    n = await _neighbour(w, c, o)
    form = {"key": "page:" + unique("k").replace(":", "-")[:40], "type_id": str(await _type_id(w, c, "cleanup")),
            "description": "3栋楼道堆满杂物", "place_id": "", "wished_at": "", "photos_public": "on"}  # fmt: skip
    call = _as(n, f"/c/{w.slug}/services/orders", f"/c/{w.slug}/services/new", form)
    call.files["photo"] = ("stairs.png", png("gray"), "image/png")
    return call


@page_recipe("pageServiceDispatch")
async def _dispatch(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    order_id = await _order(w, c)
    n = await _neighbour(w, c, o)
    form = {"unit_id": "", "volunteer_ids": [str(n.member_id)], "due_at": _local(1), "points": "3", "note": "尽快"}
    return await _as_admin(w, o, f"{_page(w, order_id)}/dispatch", _page(w, order_id), form)


@page_recipe("pageServiceAccept")
async def _accept(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    order_id, n = await _dispatched(w, c, o)
    return _as(n, f"{_page(w, order_id)}/accept", _page(w, order_id))


@page_recipe("pageServiceDecline")
async def _decline(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    order_id, n = await _dispatched(w, c, o)
    return _as(n, f"{_page(w, order_id)}/decline", _page(w, order_id), {"reason": "这周不在家"})


@page_recipe("pageServiceDone")
async def _complete(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    order_id, n = await _dispatched(w, c, o)
    await _ok(await c.post(f"{_base(w)}/service-orders/{order_id}/accept", headers=n.headers), 200)
    call = _as(n, f"{_page(w, order_id)}/done", _page(w, order_id), {"note": "已打扫干净", "doers": [str(n.member_id)]})
    call.files["photo"] = ("after.png", png("white"), "image/png")
    return call


@page_recipe("pageServiceConfirm")
async def _confirm(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    await _threshold(w, c, None)
    await window(w, c, None)
    await _budget(w, c)
    order_id = await _done(w, c, o)  # ordered by the admin, so the admin confirms
    return await _as_admin(w, o, f"{_page(w, order_id)}/confirm", _page(w, order_id), {})


@page_recipe("pageServiceDispute")
async def _dispute(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    order_id = await _done(w, c, o)
    return await _as_admin(w, o, f"{_page(w, order_id)}/dispute", _page(w, order_id), {"reason": "没扫干净"})


@page_recipe("pageServiceCancel")
async def _cancel(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    order_id = await _order(w, c)
    return await _as_admin(w, o, f"{_page(w, order_id)}/cancel", _page(w, order_id), {"reason": "不需要了"})


@page_recipe("pageServiceUnitCreate")
async def _create_unit(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    n = await _neighbour(w, c, o)
    form = {"name": unique("物业"), "kind": "property", "contact": "物业办", "member_ids": [str(n.member_id)],
            "type_ids": [str(await _type_id(w, c, "cleanup"))]}  # fmt: skip
    page = f"/c/{w.slug}/services/units"
    return await _as_admin(w, o, page, page, form)


@page_recipe("pageServiceUnitUpdate")
async def _update_unit(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    n = await _neighbour(w, c, o)
    body = {"name": unique("学校"), "kind": "school", "member_ids": [n.member_id]}
    made = await _ok(await c.post(f"{_base(w)}/service-units", json=body, headers=w.admin))
    page = f"/c/{w.slug}/services/units/{made['id']}"
    form = {"name": unique("实验小学"), "kind": "school", "contact": "德育处", "member_ids": [], "active": "on"}
    return await _as_admin(w, o, page, page, form)


@page_recipe("pageServiceSettingsSave")
async def _settings(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    page = f"/c/{w.slug}/services/units"
    return await _as_admin(w, o, f"/c/{w.slug}/services/settings", page, {"accept_hours": "24", "confirm_hours": "48"})


@page_recipe("pageServiceConsent")
async def _consent(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    order_id = await _order(w, c)  # ordered by the admin, who decides its photos
    return await _as_admin(w, o, f"{_page(w, order_id)}/consent", _page(w, order_id), {"public": "on"})
