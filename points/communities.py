"""Communities: opening one (the tenant, its points unit, the default activity types and usually its first admin,
all or nothing), and which communities a person sees."""

from __future__ import annotations

from dataclasses import dataclass

import ledger
from points.audit import audit
from points.auth.identity import person_is_operator
from points.earning.types import seed_default_types
from points.members.service import create_member


@dataclass(frozen=True, slots=True)
class FirstAdmin:
    display_name: str
    phone: str
    password: str | None = None  # for a person new to the platform


async def open_community(
    conn: ledger.Connection, slug: str, name: str, *, operator_person_id: int, admin: FirstAdmin | None
) -> ledger.Community:
    """One transaction: an admin part that fails (a bad phone, a taken one, a short password) leaves no
    community behind, so the corrected retry can take the same slug."""
    async with ledger.transaction(conn):
        community = await ledger.create_community(conn, slug, name)
        await audit(
            conn, "community.created", community_id=community.id, actor_person_id=operator_person_id, subject=slug
        )
        await seed_default_types(conn, community.id)  # the seed programmes' activity types, for the admin to edit
        if admin is not None:
            await create_member(
                conn,
                community.id,
                actor_person_id=operator_person_id,
                display_name=admin.display_name,
                phone=admin.phone,
                password=admin.password,
                roles=("admin", "volunteer"),
            )
    return community


async def communities_visible_to(
    conn: ledger.Connection, person_id: int, *, token_community_id: int | None = None
) -> list[ledger.Community]:
    """Every community for a platform operator; otherwise the ones the person belongs to. A device token's caller
    (``token_community_id``) sees its one community, whoever the person is."""
    if await person_is_operator(conn, person_id):
        rows = await conn.fetch("SELECT id, slug, name FROM ledger.communities ORDER BY id")
    else:
        rows = await conn.fetch(
            "SELECT community_id AS id, slug, community_name AS name FROM points.memberships($1)", person_id
        )
    return [ledger.Community(r["id"], r["slug"], r["name"]) for r in rows if token_community_id in (None, r["id"])]
