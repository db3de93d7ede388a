"""Opening a community: the tenant, its points unit, and usually its first admin, all or nothing."""

from __future__ import annotations

from dataclasses import dataclass

import ledger
from ledger import db
from points.auth.identity import audit
from points.members.service import create_member


@dataclass(frozen=True, slots=True)
class FirstAdmin:
    display_name: str
    phone: str
    password: str | None = None  # for a person new to the platform


async def open_community(
    conn: db.Connection, slug: str, name: str, *, operator_person_id: int, admin: FirstAdmin | None
) -> ledger.Community:
    """One transaction: an admin part that fails (a bad phone, a taken one, a short password) leaves no
    community behind, so the corrected retry can take the same slug."""
    async with db.transaction(conn):
        community = await ledger.create_community(conn, slug, name)
        await audit(
            conn, "community.created", community_id=community.id, actor_person_id=operator_person_id, subject=slug
        )
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
