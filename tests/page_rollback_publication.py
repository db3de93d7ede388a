"""The 公示 window's forms in the pages' all-or-nothing proof (tests/test_page_rollback.py imports this module, so
the forms register in its PAGE_RECIPES like its own): each failed at every statement in turn changes nothing."""

from __future__ import annotations

import asyncpg

from tests.rollback_earning import _base
from tests.rollback_publication import _objection, published_award
from tests.test_page_rollback import ADMIN_PASSWORD, PASSWORD, PageCall, _admin_phone, page_recipe
from tests.test_rollback import Client, World, _ok, new_phone, unique


async def _neighbour_phone(w: World, c: Client) -> str:
    phone = new_phone()
    body = {"display_name": unique("邻居"), "phone": phone, "password": PASSWORD, "roles": ["volunteer"]}
    await _ok(await c.post(f"{_base(w)}/members", json=body, headers=w.admin))
    return phone


@page_recipe("pagePublicationSettingsSave")
async def _settings_form(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    page = f"/c/{w.slug}/settings/publication"
    return PageCall(
        page, page, {"on": "on", "window_days": "7"}, phone=await _admin_phone(w, o), password=ADMIN_PASSWORD
    )


@page_recipe("pageObjectToAward")
async def _object_form(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    award = await published_award(w, c)
    page = f"/c/{w.slug}/gongshi"
    return PageCall(f"{page}/{award['id']}/object", page, {"reason": "那天不在场"}, phone=await _neighbour_phone(w, c))


@page_recipe("pageUpholdObjection")
async def _uphold_form(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    objection_id = await _objection(w, c, o)
    page = f"/c/{w.slug}/objections"
    form = {"reason": "核实属实"}
    return PageCall(
        f"{page}/{objection_id}/uphold", page, form, phone=await _admin_phone(w, o), password=ADMIN_PASSWORD
    )


@page_recipe("pageDismissObjection")
async def _dismiss_form(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    objection_id = await _objection(w, c, o)
    page = f"/c/{w.slug}/objections"
    form = {"reason": "调解属实"}
    return PageCall(
        f"{page}/{objection_id}/dismiss", page, form, phone=await _admin_phone(w, o), password=ADMIN_PASSWORD
    )
