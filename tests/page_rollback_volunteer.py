"""Recipes for the volunteer's page forms in the all-or-nothing proof (tests/test_page_rollback.py imports this
module before it collects its parametrized test, so these register in its PAGE_RECIPES like its own). Each is
sent signed in as the world's admin, who is a member with a wallet like any volunteer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from tests.rollback_attendance import _a_fresh_code, _an_activity
from tests.test_page_rollback import ADMIN_PASSWORD, PageCall, _admin_phone, page_recipe
from tests.test_rollback import API, Client, World, _ok, unique


async def _future_activity(w: World, c: Client) -> int:
    """An open activity tomorrow, posted through the API by the admin."""
    base = f"{API}/communities/{w.slug}"
    r = await c.get(f"{base}/activity-types", headers=w.admin)
    type_id = (await _ok(r, 200))[0]["id"]
    starts = datetime.now(UTC) + timedelta(days=1)
    body = {"type_id": type_id, "title": unique("巡逻"), "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=2)).isoformat(), "capacity": 5, "open": True}  # fmt: skip
    activity_id: int = (await _ok(await c.post(f"{base}/activities", json=body, headers=w.admin)))["id"]
    return activity_id


async def _as_admin(w: World, o: asyncpg.Connection, action: str, page: str, form: dict[str, str]) -> PageCall:
    return PageCall(action, page, form, phone=await _admin_phone(w, o), password=ADMIN_PASSWORD)


@page_recipe("pageSignUp")
async def _sign_up(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    page = f"/c/{w.slug}/activities/{await _future_activity(w, c)}"
    return await _as_admin(w, o, f"{page}/signup", page, {"back": "activity"})


@page_recipe("pageCancelSignUp")
async def _cancel_sign_up(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    activity = await _future_activity(w, c)
    await _ok(await c.post(f"{API}/communities/{w.slug}/activities/{activity}/signup", headers=w.admin), 200)
    page = f"/c/{w.slug}/activities/{activity}"
    return await _as_admin(w, o, f"{page}/signup/cancel", f"/c/{w.slug}/activities", {"back": "list"})


@page_recipe("pageCheckIn")
async def _check_in(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    activity, secret = await _an_activity(w, o)
    action = f"/c/{w.slug}/activities/{activity}/checkin"
    return await _as_admin(
        w, o, action, f"/c/{w.slug}/checkin", {"code": await _a_fresh_code(secret), "back": "checkin"}
    )


@page_recipe("pageCheckOut")
async def _check_out(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    activity, secret = await _an_activity(w, o)
    r = await c.post(f"{API}/communities/{w.slug}/activities/{activity}/checkin",
                     json={"code": await _a_fresh_code(secret)}, headers=w.admin)  # fmt: skip
    await _ok(r)
    page = f"/c/{w.slug}/activities/{activity}"
    return await _as_admin(w, o, f"{page}/checkout", page, {"code": await _a_fresh_code(secret)})


@page_recipe("pageReportSubmit")
async def _report(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    r = await c.get(f"{API}/communities/{w.slug}/activity-types", headers=w.admin)
    type_id = next(t["id"] for t in await _ok(r, 200) if t["active"])
    form = {"type_id": str(type_id), "text": unique("楼道堆物"), "place_id": ""}
    return await _as_admin(w, o, f"/c/{w.slug}/reports", f"/c/{w.slug}/reports/new", form)
