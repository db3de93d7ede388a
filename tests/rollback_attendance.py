"""Recipes for the attendance operations in the all-or-nothing proof (tests/test_rollback.py imports this module
before it collects its parametrized test, so these register in its RECIPES like its own)."""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import UTC, datetime

import asyncpg

from points.earning import checkin
from tests.test_rollback import API, Call, Client, World, _ok, recipe


async def _an_activity(w: World, o: asyncpg.Connection, *, started_min_ago: int = 5) -> tuple[int, bytes]:
    """An open patrol that began a few minutes ago, written as the owner (the API opens activities only before
    their start), with its check-in secret."""
    community = await o.fetchval("SELECT id FROM ledger.communities WHERE slug = $1", w.slug)
    type_id = await o.fetchval(
        "INSERT INTO points.activity_types (community_id, code, name, default_points) VALUES ($1, 'rollback_t',"
        " '巡逻', 5) ON CONFLICT (community_id, code) DO UPDATE SET active = true RETURNING id",
        community,
    )
    secret = secrets.token_bytes(32)
    activity_id: int = await o.fetchval(
        "INSERT INTO points.activities (community_id, type_id, title, starts_at, ends_at, reward_points,"
        " organizer_member_id, state, checkin_secret) VALUES ($1, $2, '巡逻', now() - make_interval(mins => $3),"
        " now() + interval '2 hours', 5, $4, 'open', $5) RETURNING id",
        community,
        type_id,
        started_min_ago,
        await _admin_member(w, o),
        secret,
    )
    return activity_id, secret


async def _admin_member(w: World, o: asyncpg.Connection) -> int:
    member_id: int = await o.fetchval(
        "SELECT m.id FROM points.members m JOIN ledger.communities c ON c.id = m.community_id"
        " WHERE c.slug = $1 AND m.person_id = $2",
        w.slug,
        w.admin_person,
    )
    return member_id


async def _a_fresh_code(secret: bytes) -> str:
    """A code with at least 25 s to live (with the grace), for a recipe retried statement by statement."""
    into_s = time.time() % checkin.STEP_S
    if into_s > checkin.STEP_S / 2:
        await asyncio.sleep(checkin.STEP_S - into_s + 0.1)
    return checkin.current_code(secret, datetime.now(UTC)).code


@recipe("checkIn")
async def _check_in(w: World, c: Client, o: asyncpg.Connection) -> Call:
    activity, secret = await _an_activity(w, o)
    path = f"{API}/communities/{w.slug}/activities/{activity}/checkin"
    return Call("post", path, w.admin, json={"code": await _a_fresh_code(secret)})


@recipe("checkOut")
async def _check_out(w: World, c: Client, o: asyncpg.Connection) -> Call:
    activity, secret = await _an_activity(w, o)
    r = await c.post(f"{API}/communities/{w.slug}/activities/{activity}/checkin",
                     json={"code": await _a_fresh_code(secret)}, headers=w.admin)  # fmt: skip
    await _ok(r)
    path = f"{API}/communities/{w.slug}/activities/{activity}/checkout"
    return Call("post", path, w.admin, json={"code": await _a_fresh_code(secret)})


@recipe("markAttendance")
async def _mark_attendance(w: World, c: Client, o: asyncpg.Connection) -> Call:
    activity, _ = await _an_activity(w, o)
    path = f"{API}/communities/{w.slug}/activities/{activity}/attendance"
    return Call("post", path, w.admin, json={"member_id": w.member, "note": "纸质签到表"})


@recipe("confirmAttendance")
async def _confirm_attendance(w: World, c: Client, o: asyncpg.Connection) -> Call:
    activity, _ = await _an_activity(w, o)
    base = f"{API}/communities/{w.slug}/activities/{activity}"
    await _ok(await c.post(f"{base}/attendance", json={"member_id": w.member, "note": "到场"}, headers=w.admin), 200)
    return Call("post", f"{base}/attendance/confirm", w.admin, json={"member_ids": [w.member]})
