"""Bad input to the earning writes tests/test_activities.py's list leaves out (editing a type or an activity,
opening, cancelling, signing up and cancelling it, awarding, approving, rejecting, correcting): each is refused
with a 4xx and its stable code, and under the 4xx watch (tests/conftest.py: no_change_on_4xx) changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from tests.earning_world import Person, World, make_world
from tests.test_awards import adhoc, key


@pytest.fixture
async def world(client: Any, owner_conn: asyncpg.Connection, conn: Any) -> World:
    return await make_world(client, owner_conn, conn, volunteers=2)


def _when(hours: float = 2) -> dict[str, str]:
    start = datetime.now(UTC) + timedelta(days=2)
    return {"starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=hours)).isoformat()}


NO_ID = 999999
TYPE = {"name": "治安巡逻", "default_points": 5}
ACTIVITY = {"title": "治安巡逻 夜巡", "reward_points": 5, **_when()}

# (who, method, path, body, status): {type}, {activity}, {pending} and {posted} are ids of this world.
BAD: list[tuple[str, str, str, dict[str, Any] | None, int]] = [
    ("admin", "PUT", "/activity-types/{type}", {**TYPE, "name": ""}, 400),
    ("admin", "PUT", "/activity-types/{type}", {**TYPE, "cap_per_day": 9, "cap_per_month": 5}, 400),
    ("admin", "PUT", "/activity-types/{type}", {**TYPE, "default_points": -1}, 400),
    ("admin", "PUT", f"/activity-types/{NO_ID}", TYPE, 404),
    ("organizer", "PUT", "/activities/{activity}", {**ACTIVITY, "title": ""}, 400),
    ("organizer", "PUT", "/activities/{activity}", {**ACTIVITY, **_when(hours=-1)}, 400),
    ("organizer", "PUT", "/activities/{activity}", {**ACTIVITY, "capacity": 0}, 400),
    ("organizer", "PUT", f"/activities/{NO_ID}", ACTIVITY, 404),
    ("organizer", "POST", f"/activities/{NO_ID}/open", None, 404),
    ("organizer", "POST", "/activities/0/open", None, 400),
    ("organizer", "POST", "/activities/{activity}/cancel", {"reason": ""}, 400),
    ("organizer", "POST", f"/activities/{NO_ID}/cancel", {"reason": "暴雨"}, 404),
    ("volunteer", "POST", f"/activities/{NO_ID}/signup", None, 404),
    ("volunteer", "POST", "/activities/0/signup", None, 400),
    ("volunteer", "DELETE", f"/activities/{NO_ID}/signup", None, 404),
    ("organizer", "POST", f"/activities/{NO_ID}/award", None, 404),
    ("organizer", "POST", "/activities/abc/award", None, 404),  # not an id: no such route
    ("checker", "POST", f"/awards/{NO_ID}/approve", None, 404),
    ("checker", "POST", "/awards/{pending}/reject", {"reason": ""}, 400),
    ("checker", "POST", f"/awards/{NO_ID}/reject", {"reason": "证据不足"}, 404),
    ("admin", "POST", "/awards/{posted}/correct", {"reason": ""}, 400),
    ("admin", "POST", "/awards/{posted}/correct", {"reason": "x" * 501}, 400),
    ("admin", "POST", f"/awards/{NO_ID}/correct", {"reason": "记错了"}, 404),
]


async def _ids(world: World, path: str) -> dict[str, int]:
    """Only the ids the path needs, made before the watched request (those writes answer 2xx)."""
    ids: dict[str, int] = {"type": world.types["patrol"]["id"]}
    if "{activity}" in path:
        body = {"type_id": ids["type"], "title": "治安巡逻 夜巡", "open": False, **_when()}
        r = await world.call(world.organizer, "POST", "/activities", json=body)
        assert r.status_code == 201, r.text
        ids["activity"] = r.json()["id"]
    if "{posted}" in path:
        r = await adhoc(world, world.organizer, world.volunteers[0], 5)
        assert (r.status_code, r.json()["state"]) == (201, "posted"), r.text
        ids["posted"] = r.json()["id"]
    if "{pending}" in path:
        r = await world.call(None, "PUT", "/earning-settings", json={"approval_threshold": 5})
        assert r.status_code == 200, r.text
        r = await adhoc(world, world.organizer, world.volunteers[1], 8)
        assert (r.status_code, r.json()["state"]) == (201, "pending_approval"), r.text
        ids["pending"] = r.json()["id"]
    return ids


@pytest.mark.parametrize(("who", "method", "path", "body", "status"), BAD)
async def test_bad_input_is_refused_and_changes_nothing(
    world: World,
    no_change_on_4xx: list[str],
    who: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    status: int,
) -> None:
    ids = await _ids(world, path)
    callers: dict[str, Person | None] = {
        "admin": None,  # the operator, the community's first admin
        "organizer": world.organizer,
        "checker": world.checker,
        "volunteer": world.volunteers[0],
    }
    target = path.format(**ids)
    kw: dict[str, Any] = {"headers": key()}
    if body is not None:
        kw["json"] = body
    r = await world.call(callers[who], method, target, **kw)
    assert r.status_code == status, r.text
    assert r.json()["code"] == ("invalid_request" if status == 400 else "not_found"), r.text
    assert no_change_on_4xx == [f"{world.url}{target}"]  # watched: every row as it was
    if "{pending}" in path:
        award = (await world.call(world.checker, "GET", f"/awards/{ids['pending']}")).json()
        assert award["state"] == "pending_approval"
    if "{posted}" in path:
        award = (await world.call(None, "GET", f"/awards/{ids['posted']}")).json()
        assert (award["corrected"], await world.balance(world.volunteers[0])) == (False, 5)
