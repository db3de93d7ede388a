"""The 公示 window's writes in the all-or-nothing proof (tests/test_rollback.py imports this module before it collects
its parametrized test, so the recipes register in its RECIPES like its own): each fails at every statement in turn
and must leave every row as it was. An award made while the window is on (its holds placed, the award published)
is walked by createAward (tests/rollback_earning.py switches the window on for it)."""

from __future__ import annotations

from typing import Any

import asyncpg

from tests.rollback_earning import _award, _base, _threshold
from tests.test_rollback import Call, Client, World, _ok, new_phone, recipe, unique


async def window(w: World, c: Client, days: int | None) -> None:
    body = {"window_days": days}
    await _ok(await c.put(f"{_base(w)}/publication-settings", json=body, headers=w.admin), 200)


async def _neighbour(w: World, c: Client, o: asyncpg.Connection) -> dict[str, str]:
    from tests.conftest import bearer_token

    phone = new_phone()
    body = {"display_name": unique("邻居"), "phone": phone, "password": "neighbour-pass-1", "roles": ["volunteer"]}
    await _ok(await c.post(f"{_base(w)}/members", json=body, headers=w.admin))
    person = await o.fetchval("SELECT id FROM points.people WHERE phone = $1", phone)
    return {"Authorization": f"Bearer {await bearer_token(o, person)}"}


async def published_award(w: World, c: Client) -> dict[str, Any]:
    await _threshold(w, c, None)
    await window(w, c, 7)
    award = await _award(w, c)
    assert award["state"] == "published", award
    return award


async def _objection(w: World, c: Client, o: asyncpg.Connection) -> int:
    award = await published_award(w, c)
    neighbour = await _neighbour(w, c, o)
    made = await _ok(
        await c.post(f"{_base(w)}/awards/{award['id']}/objections", json={"reason": "不属实"}, headers=neighbour)
    )
    objection_id: int = made["id"]
    return objection_id


@recipe("updatePublicationSettings")
async def _update_settings(w: World, c: Client, o: asyncpg.Connection) -> Call:
    return Call("put", f"{_base(w)}/publication-settings", w.admin, json={"window_days": 7})


@recipe("objectToAward")
async def _object(w: World, c: Client, o: asyncpg.Connection) -> Call:
    award = await published_award(w, c)
    neighbour = await _neighbour(w, c, o)
    return Call("post", f"{_base(w)}/awards/{award['id']}/objections", neighbour, json={"reason": "那天不在场"})


@recipe("upholdObjection")
async def _uphold(w: World, c: Client, o: asyncpg.Connection) -> Call:
    objection_id = await _objection(w, c, o)
    return Call("post", f"{_base(w)}/objections/{objection_id}/uphold", w.admin, json={"reason": "核实属实"})


@recipe("dismissObjection")
async def _dismiss(w: World, c: Client, o: asyncpg.Connection) -> Call:
    objection_id = await _objection(w, c, o)
    return Call("post", f"{_base(w)}/objections/{objection_id}/dismiss", w.admin, json={"reason": "调解属实"})
