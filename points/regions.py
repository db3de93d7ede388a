"""The tree above communities: city 市 -> street 街道, kept by platform operators. A street admin reads every
community under the street (or under a whole city)."""

from __future__ import annotations

import ledger
from points.audit import audit
from points.auth import recent
from points.auth.errors import InvalidRequest, NotFound
from points.auth.identity import normalise_phone
from points.members.service import check_name

REGION_LEVELS = ("city", "street")


async def create_region(
    conn: ledger.Connection, *, level: str, name: str, parent_id: int | None, actor_person_id: int
) -> int:
    if level not in REGION_LEVELS:
        raise InvalidRequest("a region is a city or a street")
    check_name(name, "a region name", "name")
    if level == "city" and parent_id is not None:
        raise InvalidRequest("a city is at the top of the tree")
    async with ledger.transaction(conn):
        if parent_id is not None and not await conn.fetchval(
            "SELECT 1 FROM points.regions WHERE id = $1 AND level = 'city'", parent_id
        ):
            raise NotFound(f"no city {parent_id}")
        region_id: int = await conn.fetchval(
            "INSERT INTO points.regions (parent_id, level, name) VALUES ($1, $2, $3) RETURNING id",
            parent_id,
            level,
            name.strip(),
        )
        await audit(
            conn,
            "region.created",
            community_id=None,
            actor_person_id=actor_person_id,
            subject=f"region {region_id}",
            detail={"level": level, "name": name},
        )
        return region_id


async def grant_region_admin(conn: ledger.Connection, region_id: int, phone: str, *, actor_person_id: int) -> int:
    """The person with this phone reads every community under the region (a street, or a whole city)."""
    phone = normalise_phone(phone)
    async with ledger.transaction(conn):
        person_id: int | None = await conn.fetchval("SELECT id FROM points.people WHERE phone = $1", phone)
        if person_id is None:
            raise NotFound("nobody with that phone number has an account")
        if not await conn.fetchval("SELECT 1 FROM points.regions WHERE id = $1", region_id):
            raise NotFound(f"no region {region_id}")
        await conn.execute(
            "INSERT INTO points.region_admins (person_id, region_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            person_id,
            region_id,
        )
        await audit(
            conn,
            "region.admin_granted",
            community_id=None,
            actor_person_id=actor_person_id,
            subject=f"region {region_id}",
            detail={"person_id": person_id},
        )
    recent.forget_person(person_id)
    return person_id


async def set_community_street(
    conn: ledger.Connection, community_id: int, street_id: int, *, actor_person_id: int
) -> None:
    async with ledger.transaction(conn):
        if not await conn.fetchval("SELECT 1 FROM points.regions WHERE id = $1 AND level = 'street'", street_id):
            raise NotFound(f"no street {street_id}")
        await ledger.enter(conn, community_id)
        await conn.execute(
            "UPDATE points.community_profiles SET street_id = $2 WHERE community_id = $1", community_id, street_id
        )
        await audit(
            conn,
            "community.street_set",
            community_id=community_id,
            actor_person_id=actor_person_id,
            subject=f"street {street_id}",
        )
    recent.forget_everyone()  # whoever administers the old or the new street reads it differently now
