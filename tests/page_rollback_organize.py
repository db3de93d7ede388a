"""Forms for the organizer's and admin's earning pages in the all-or-nothing walk of tests/test_page_rollback.py
(which imports this module, so that these register in its PAGE_RECIPES like its own): each a valid form, posted
as the page posts it, by the world's admin (an organizer's rights and more) or, for an approval, a second
organizer."""

from __future__ import annotations

import asyncpg

from tests.earning_world import confirm_attendance
from tests.rollback_attendance import _an_activity
from tests.rollback_earning import _a_report, _activity, _award, _budget, _threshold, _type_id
from tests.test_page_rollback import ADMIN_PASSWORD, PageCall, _admin_phone, page_recipe
from tests.test_rollback import API, Client, World, _ok, new_phone, unique

CHECKER_PASSWORD = "checker-password-1"


def _organize(w: World, rest: str = "") -> str:
    return f"/c/{w.slug}/organize{rest}"


async def _as_admin(w: World, o: asyncpg.Connection, action: str, page: str, form: dict[str, object]) -> PageCall:
    return PageCall(action, page, form, phone=await _admin_phone(w, o), password=ADMIN_PASSWORD)


@page_recipe("pageActivityCreate")
async def _create(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    form = {"type_id": str(await _type_id(w, c, "cleanup")), "title": "小区大扫除", "place_id": "", "capacity": "20",
            "starts_at": "2045-06-01T09:00", "ends_at": "2045-06-01T11:00", "reward": "fixed", "reward_points": "",
            "action": "open"}  # fmt: skip
    return await _as_admin(w, o, _organize(w, "/activities"), _organize(w, "/activities/new"), form)


@page_recipe("pageActivityOpen")
async def _open(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    manage = _organize(w, f"/activities/{await _activity(w, c, publish=False)}")
    return await _as_admin(w, o, f"{manage}/open", manage, {})


@page_recipe("pageActivityCancel")
async def _cancel(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    manage = _organize(w, f"/activities/{await _activity(w, c)}")
    return await _as_admin(w, o, f"{manage}/cancel", manage, {"reason": "大雨"})


@page_recipe("pageAttendanceMark")
async def _mark(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    activity, _ = await _an_activity(w, o)
    manage = _organize(w, f"/activities/{activity}")
    return await _as_admin(w, o, f"{manage}/attendance", manage, {"form": "mark", "member_id": str(w.member),
                                                                    "note": "纸质签到表"})  # fmt: skip


@page_recipe("pageAttendanceConfirm")
async def _confirm(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    activity, _ = await _an_activity(w, o)
    base = f"{API}/communities/{w.slug}/activities/{activity}"
    await _ok(await c.post(f"{base}/attendance", json={"member_id": w.member, "note": "到场"}, headers=w.admin), 200)
    manage = _organize(w, f"/activities/{activity}")
    return await _as_admin(w, o, f"{manage}/confirm", manage, {"member_ids": [str(w.member)]})


@page_recipe("pageActivityAward")
async def _award_activity(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    await _threshold(w, c, None)
    await _budget(w, c)
    activity = await _activity(w, c)
    await confirm_attendance(o, activity, [(w.member, 90)])
    manage = _organize(w, f"/activities/{activity}")
    return await _as_admin(w, o, f"{manage}/award", manage, {"after": "0"})


@page_recipe("pageAwardCreate")
async def _adhoc(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    await _threshold(w, c, None)
    await _budget(w, c)
    form = {"key": f"page:{unique('k')}", "member_id": str(w.member), "type_id": str(await _type_id(w, c)),
            "points": "5", "reason": unique("调解"), "minutes": "30"}  # fmt: skip
    return await _as_admin(w, o, _organize(w, "/awards"), _organize(w, "/awards/new"), form)


@page_recipe("pageReportVerify")
async def _verify(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    await _threshold(w, c, None)
    await _budget(w, c)
    report = await _a_report(w, c, o)
    page = _organize(w, "/reports")
    return await _as_admin(w, o, f"{page}/{report}/verify", page, {"key": f"page:{unique('v')}", "points": "2"})


@page_recipe("pageReportReject")
async def _reject_report(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    report = await _a_report(w, c, o)
    page = _organize(w, "/reports")
    return await _as_admin(w, o, f"{page}/{report}/reject", page, {"reason": "已处理"})


async def _checker_phone(w: World, c: Client) -> str:
    """A second organizer, who may approve what the admin made."""
    phone = new_phone()
    body = {"display_name": unique("复核员"), "phone": phone, "password": CHECKER_PASSWORD, "roles": ["organizer"]}
    await _ok(await c.post(f"{API}/communities/{w.slug}/members", json=body, headers=w.admin))
    return phone


@page_recipe("pageAwardApprove")
async def _approve(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    await _threshold(w, c, 1)
    award = await _award(w, c)
    await _threshold(w, c, None)
    page = _organize(w, "/approvals")
    return PageCall(
        _organize(w, f"/awards/{award['id']}/approve"), page, {}, phone=await _checker_phone(w, c),
        password=CHECKER_PASSWORD,
    )  # fmt: skip


@page_recipe("pageAwardReject")
async def _withdraw(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    await _threshold(w, c, 1)
    award = await _award(w, c)
    await _threshold(w, c, None)
    page = _organize(w, "/approvals")
    return await _as_admin(w, o, _organize(w, f"/awards/{award['id']}/reject"), page, {"reason": "撤回"})


def _settings(w: World, rest: str = "") -> str:
    return f"/c/{w.slug}/settings/earning{rest}"


@page_recipe("pageActivityTypeUpdate")
async def _type_update(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    form = {"name": "环境整治", "default_points": "4", "points_per_hour": "", "cap_per_day": "12",
            "cap_per_month": "80", "active": "on"}  # fmt: skip
    action = _settings(w, f"/types/{await _type_id(w, c, 'cleanup')}")
    return await _as_admin(w, o, action, _settings(w), form)


@page_recipe("pageActivityTypeCreate")
async def _type_create(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    form = {"code": f"t{unique('x').replace('-', '_')}"[:32], "name": "楼道清理", "default_points": "3",
            "cap_per_day": "6"}  # fmt: skip
    return await _as_admin(w, o, _settings(w, "/types"), _settings(w), form)


@page_recipe("pageBudgetAllot")
async def _allot(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    # a period of its own: opening the budget (account, row) and filling it are all one request
    form = {"key": f"page:{unique('b')}", "period": "2046-Q2", "points": "300"}
    return await _as_admin(w, o, _settings(w, "/budgets"), _settings(w), form)


@page_recipe("pageApprovalThreshold")
async def _threshold_form(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    return await _as_admin(w, o, _settings(w, "/threshold"), _settings(w), {"approval_threshold": "50"})
