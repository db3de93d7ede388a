"""Recipes for the earning operations in the all-or-nothing proof (tests/test_rollback.py imports this module
before it collects its parametrized test, so these register in its RECIPES like its own)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from PIL import Image

from points.earning.periods import community_day
from tests.conftest import bearer_token
from tests.earning_world import confirm_attendance
from tests.test_rollback import API, Call, Client, World, _idem, _ok, new_phone, recipe, unique


def _base(w: World) -> str:
    return f"{API}/communities/{w.slug}"


async def _type_id(w: World, c: Client, code: str = "mediation") -> int:
    types = await _ok(await c.get(f"{_base(w)}/activity-types", headers=w.admin), 200)
    found: int = next(t["id"] for t in types if t["code"] == code)
    return found


async def _budget(w: World, c: Client) -> None:
    period = community_day(datetime.now(UTC)).isoformat()[:7]
    await _ok(await c.post(f"{_base(w)}/budgets", json={"period": period, "points": 200}, headers=_idem(w.admin)))


async def _threshold(w: World, c: Client, value: int | None) -> None:
    await _ok(await c.put(f"{_base(w)}/earning-settings", json={"approval_threshold": value}, headers=w.admin), 200)


async def _activity(w: World, c: Client, *, publish: bool = True) -> int:
    start = datetime.now(UTC) + timedelta(days=2)
    body = {"type_id": await _type_id(w, c, "patrol"), "title": unique("夜巡"), "open": publish,
            "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat()}  # fmt: skip
    activity_id: int = (await _ok(await c.post(f"{_base(w)}/activities", json=body, headers=w.admin)))["id"]
    return activity_id


async def _award(w: World, c: Client, points: int = 5) -> dict[str, Any]:
    await _budget(w, c)
    body = {"member_id": w.member, "type_id": await _type_id(w, c), "points": points, "reason": unique("调解")}
    award: dict[str, Any] = await _ok(await c.post(f"{_base(w)}/awards", json=body, headers=_idem(w.admin)))
    return award


async def _second_organizer(w: World, c: Client, o: asyncpg.Connection) -> dict[str, str]:
    phone = new_phone()
    body = {"display_name": unique("复核员"), "phone": phone, "password": "checker-password-1", "roles": ["organizer"]}
    await _ok(await c.post(f"{_base(w)}/members", json=body, headers=w.admin))
    person = await o.fetchval("SELECT id FROM points.people WHERE phone = $1", phone)
    return {"Authorization": f"Bearer {await bearer_token(o, person)}"}


@recipe("createActivityType")
async def _create_type(w: World, c: Client, o: asyncpg.Connection) -> Call:
    body = {"code": f"t{unique('x').replace('-', '_')}"[:32], "name": "楼道清理", "default_points": 3, "cap_per_day": 6}
    return Call("post", f"{_base(w)}/activity-types", w.admin, json=body)


@recipe("updateActivityType")
async def _update_type(w: World, c: Client, o: asyncpg.Connection) -> Call:
    body = {"name": "环境整治", "default_points": 4, "cap_per_day": 12, "cap_per_month": 80}
    return Call("put", f"{_base(w)}/activity-types/{await _type_id(w, c, 'cleanup')}", w.admin, json=body)


@recipe("updateEarningSettings")
async def _settings(w: World, c: Client, o: asyncpg.Connection) -> Call:
    return Call("put", f"{_base(w)}/earning-settings", w.admin, json={"approval_threshold": 50})


@recipe("allotBudget")
async def _allot(w: World, c: Client, o: asyncpg.Connection) -> Call:
    # a period of its own: opening the budget (account, row) and filling it are all one request
    body = {"period": "2045-Q1", "points": 300}
    return Call("post", f"{_base(w)}/budgets", _idem(w.admin), json=body)


@recipe("createActivity")
async def _create_activity(w: World, c: Client, o: asyncpg.Connection) -> Call:
    start = datetime.now(UTC) + timedelta(days=3)
    body = {"type_id": await _type_id(w, c, "cleanup"), "title": "小区大扫除", "open": True, "capacity": 20,
            "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=2)).isoformat()}  # fmt: skip
    return Call("post", f"{_base(w)}/activities", w.admin, json=body)


@recipe("updateActivity")
async def _update_activity(w: World, c: Client, o: asyncpg.Connection) -> Call:
    activity_id = await _activity(w, c, publish=False)
    start = datetime.now(UTC) + timedelta(days=4)
    body = {"title": "夜巡（改期）", "reward_points": 6, "capacity": 8,
            "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=3)).isoformat()}  # fmt: skip
    return Call("put", f"{_base(w)}/activities/{activity_id}", w.admin, json=body)


@recipe("openActivity")
async def _open_activity(w: World, c: Client, o: asyncpg.Connection) -> Call:
    return Call("post", f"{_base(w)}/activities/{await _activity(w, c, publish=False)}/open", w.admin)


@recipe("cancelActivity")
async def _cancel_activity(w: World, c: Client, o: asyncpg.Connection) -> Call:
    activity_id = await _activity(w, c)
    return Call("post", f"{_base(w)}/activities/{activity_id}/cancel", w.admin, json={"reason": "大雨"})


@recipe("signUp")
async def _sign_up(w: World, c: Client, o: asyncpg.Connection) -> Call:
    return Call("post", f"{_base(w)}/activities/{await _activity(w, c)}/signup", w.admin)


@recipe("cancelSignUp")
async def _cancel_sign_up(w: World, c: Client, o: asyncpg.Connection) -> Call:
    activity_id = await _activity(w, c)
    await _ok(await c.post(f"{_base(w)}/activities/{activity_id}/signup", headers=w.admin), 200)
    return Call("delete", f"{_base(w)}/activities/{activity_id}/signup", w.admin)


@recipe("awardActivity")
async def _award_activity(w: World, c: Client, o: asyncpg.Connection) -> Call:
    await _threshold(w, c, None)
    await _budget(w, c)
    activity_id = await _activity(w, c)
    await confirm_attendance(o, activity_id, [(w.member, 90)])
    return Call("post", f"{_base(w)}/activities/{activity_id}/award", w.admin)


@recipe("createAward")
async def _create_award(w: World, c: Client, o: asyncpg.Connection) -> Call:
    await _threshold(w, c, None)
    await _budget(w, c)
    # With the 公示 window on: the award's holds placed and the award published are walked too (posting at once is
    # walked by approveAward and awardActivity, the window off).
    await _ok(await c.put(f"{_base(w)}/publication-settings", json={"window_days": 7}, headers=w.admin), 200)
    body = {
        "member_id": w.member,
        "type_id": await _type_id(w, c),
        "points": 7,
        "reason": "调解邻里纠纷",
        "minutes": 30,
    }
    return Call("post", f"{_base(w)}/awards", _idem(w.admin), json=body)


@recipe("approveAward")
async def _approve(w: World, c: Client, o: asyncpg.Connection) -> Call:
    await _threshold(w, c, 1)
    award = await _award(w, c)
    checker = await _second_organizer(w, c, o)
    await _threshold(w, c, None)
    return Call("post", f"{_base(w)}/awards/{award['id']}/approve", checker)


@recipe("rejectAward")
async def _reject(w: World, c: Client, o: asyncpg.Connection) -> Call:
    await _threshold(w, c, 1)
    award = await _award(w, c)
    await _threshold(w, c, None)
    return Call("post", f"{_base(w)}/awards/{award['id']}/reject", w.admin, json={"reason": "撤回"})


@recipe("correctAward")
async def _correct(w: World, c: Client, o: asyncpg.Connection) -> Call:
    await _threshold(w, c, None)
    award = await _award(w, c)
    return Call("post", f"{_base(w)}/awards/{award['id']}/correct", w.admin, json={"reason": "记错了人"})


# ---- reports (随手拍) and photos (points/earning/reports.py) ---------------------------------------------------


async def _a_report(w: World, c: Client, o: asyncpg.Connection) -> int:
    """A submitted report by the world's member (who has no sign-in), written as the owner."""
    report_id: int = await o.fetchval(
        "INSERT INTO points.reports (community_id, reporter_member_id, type_id, text)"
        " SELECT c.id, $2, t.id, '消防通道被堵' FROM ledger.communities c"
        " JOIN points.activity_types t ON t.community_id = c.id AND t.code = 'report' WHERE c.slug = $1 RETURNING id",
        w.slug,
        w.member,
    )
    return report_id


@recipe("uploadPhoto")
async def _upload_photo(w: World, c: Client, o: asyncpg.Connection) -> Call:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 20, 20)).save(out, "JPEG")
    return Call("post", f"{_base(w)}/photos", {**w.admin, "Content-Type": "image/jpeg"}, content=out.getvalue())


@recipe("submitReport")
async def _submit_report(w: World, c: Client, o: asyncpg.Connection) -> Call:
    body = {"type_id": await _type_id(w, c, "report"), "text": "3栋消防通道被电动车堵住"}
    return Call("post", f"{_base(w)}/reports", w.admin, json=body)


@recipe("verifyReport")
async def _verify_report(w: World, c: Client, o: asyncpg.Connection) -> Call:
    await _threshold(w, c, None)
    await _budget(w, c)
    report_id = await _a_report(w, c, o)
    return Call("post", f"{_base(w)}/reports/{report_id}/verify", _idem(w.admin), json={"points": 2})


@recipe("rejectReport")
async def _reject_report(w: World, c: Client, o: asyncpg.Connection) -> Call:
    report_id = await _a_report(w, c, o)
    return Call("post", f"{_base(w)}/reports/{report_id}/reject", w.admin, json={"reason": "已处理"})
