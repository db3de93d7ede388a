"""Activity types per community: default points, optional points per hour, caps per member per day and month.

A fresh community starts with the types of the seed programmes; the admin edits them. Caps are enforced when
an award is planned (here, in Python) and again by PostgreSQL when its lines are written (points.cap_usage)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import asyncpg

import ledger
from points.auth.errors import Conflict, InvalidRequest, NotFound

CODE = re.compile(r"[a-z][a-z0-9_]{0,31}")
MAX_TYPE_NAME_CHARS = 100
MAX_POINTS = 100_000
MAX_CAP = 1_000_000


@dataclass(frozen=True, slots=True)
class ActivityType:
    id: int
    code: str
    name: str
    default_points: int
    points_per_hour: int | None
    cap_per_day: int | None
    cap_per_month: int | None
    active: bool


# (code, name, default points, points per hour, cap per day, cap per month): cleanup earns 3-5 and a talk 2-3 in
# the real programmes (../shared/seeds/); a patrol night or a settled dispute is worth more, and elder help is
# counted by the hour.
DEFAULT_TYPES: tuple[tuple[str, str, int, int | None, int | None, int | None], ...] = (
    ("patrol", "治安巡逻", 5, None, 10, 100),
    ("mediation", "矛盾纠纷调解", 10, None, 30, 100),
    ("cleanup", "环境整治", 4, None, 10, 60),
    ("publicity", "宣传", 2, None, 6, 40),
    ("door_knock", "敲门行动", 3, None, 9, 60),
    ("elder_help", "助老服务", 0, 2, 16, 120),
    ("meeting", "院坝会/议事会", 2, None, 4, 20),
    ("talk", "讲座培训", 3, None, 6, 30),
    ("report", "随手拍", 2, None, 6, 30),
)

_COLUMNS = "id, code, name, default_points, points_per_hour, cap_per_day, cap_per_month, active"


def _from_row(row: asyncpg.Record) -> ActivityType:
    return ActivityType(**dict(row))


def check_type(
    name: str, default_points: int, points_per_hour: int | None, cap_per_day: int | None, cap_per_month: int | None
) -> None:
    if not name.strip() or len(name) > MAX_TYPE_NAME_CHARS or "\x00" in name:
        raise InvalidRequest(f"name is 1 to {MAX_TYPE_NAME_CHARS} characters", field="name")
    if not 0 <= default_points <= MAX_POINTS:
        raise InvalidRequest(f"default_points is 0 to {MAX_POINTS}", field="default_points")
    if points_per_hour is not None and not 1 <= points_per_hour <= 10_000:
        raise InvalidRequest("points_per_hour is 1 to 10000, or absent", field="points_per_hour")
    for field, cap in (("cap_per_day", cap_per_day), ("cap_per_month", cap_per_month)):
        if cap is not None and not 1 <= cap <= MAX_CAP:
            raise InvalidRequest(f"{field} is 1 to {MAX_CAP}, or absent for no cap", field=field)
    if cap_per_day is not None and cap_per_month is not None and cap_per_day > cap_per_month:
        raise InvalidRequest("cap_per_day cannot be above cap_per_month", field="cap_per_day")


async def seed_default_types(conn: ledger.Connection, community_id: int) -> None:
    """The seed programmes' types, for a community that has none yet (idempotent)."""
    await ledger.enter(conn, community_id)
    await conn.execute(
        "INSERT INTO points.activity_types (community_id, code, name, default_points, points_per_hour, cap_per_day,"
        " cap_per_month) SELECT $1::bigint, * FROM unnest($2::text[], $3::text[], $4::int[], $5::int[], $6::int[],"
        " $7::int[])"
        " ON CONFLICT (community_id, code) DO NOTHING",
        community_id,
        *[list(column) for column in zip(*DEFAULT_TYPES, strict=True)],
    )


async def list_types(conn: ledger.Connection, community_id: int, *, active_only: bool = False) -> list[ActivityType]:
    await ledger.enter(conn, community_id)
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM points.activity_types WHERE community_id = $1 AND (active OR NOT $2) ORDER BY id",
        community_id,
        active_only,
    )
    return [_from_row(r) for r in rows]


async def get_type(conn: ledger.Connection, community_id: int, type_id: int) -> ActivityType:
    await ledger.enter(conn, community_id)
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM points.activity_types WHERE id = $1 AND community_id = $2", type_id, community_id
    )
    if row is None:
        raise NotFound(f"no activity type {type_id} in this community", type_id=type_id)
    return _from_row(row)


async def create_type(
    conn: ledger.Connection,
    community_id: int,
    *,
    code: str,
    name: str,
    default_points: int,
    points_per_hour: int | None = None,
    cap_per_day: int | None = None,
    cap_per_month: int | None = None,
) -> ActivityType:
    if not CODE.fullmatch(code):
        raise InvalidRequest("code is 1-32 lower-case letters, digits and _, starting with a letter", field="code")
    check_type(name, default_points, points_per_hour, cap_per_day, cap_per_month)
    await ledger.enter(conn, community_id)
    try:
        row = await conn.fetchrow(
            "INSERT INTO points.activity_types (community_id, code, name, default_points, points_per_hour,"
            f" cap_per_day, cap_per_month) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_COLUMNS}",
            community_id,
            code,
            name.strip(),
            default_points,
            points_per_hour,
            cap_per_day,
            cap_per_month,
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(f"this community already has an activity type {code!r}", field="code") from exc
    return _from_row(row)


async def update_type(
    conn: ledger.Connection,
    community_id: int,
    type_id: int,
    *,
    name: str,
    default_points: int,
    points_per_hour: int | None,
    cap_per_day: int | None,
    cap_per_month: int | None,
    active: bool,
) -> ActivityType:
    """Replace a type's settings. New caps count from now on: what members already got this day and month counts
    against them, and nothing already awarded is taken back."""
    check_type(name, default_points, points_per_hour, cap_per_day, cap_per_month)
    await ledger.enter(conn, community_id)
    row = await conn.fetchrow(
        "UPDATE points.activity_types SET name = $3, default_points = $4, points_per_hour = $5, cap_per_day = $6,"
        f" cap_per_month = $7, active = $8 WHERE id = $1 AND community_id = $2 RETURNING {_COLUMNS}",
        type_id,
        community_id,
        name.strip(),
        default_points,
        points_per_hour,
        cap_per_day,
        cap_per_month,
        active,
    )
    if row is None:
        raise NotFound(f"no activity type {type_id} in this community", type_id=type_id)
    return _from_row(row)
