"""The audit trail: privileged actions, appended and never edited (the table refuses UPDATE and DELETE).

Phone numbers never go into it (a masked one at most); reading it is for a community's admins.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import ledger


async def audit(
    conn: ledger.Connection,
    action: str,
    *,
    community_id: int | None,
    actor_person_id: int | None,
    subject: str = "",
    detail: dict[str, Any] | None = None,
    on_behalf_of_member_id: int | None = None,
    remote_addr: str | None = None,
) -> None:
    """Append to the audit trail (insert-only for the service; nobody edits it)."""
    if community_id is None:
        await ledger.leave(conn)
    else:
        await ledger.enter(conn, community_id)
    await conn.execute(
        "INSERT INTO points.audit_log (community_id, actor_person_id, on_behalf_of_member_id, action, subject, "
        "detail, remote_addr) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)",
        community_id,
        actor_person_id,
        on_behalf_of_member_id,
        action,
        subject,
        json.dumps(detail or {}, ensure_ascii=False, sort_keys=True),
        remote_addr,
    )


@dataclass(frozen=True, slots=True)
class AuditLine:
    id: int
    at: datetime
    action: str
    subject: str
    actor_person_id: int | None
    on_behalf_of_member_id: int | None
    detail_json: str


async def read_audit(
    conn: ledger.Connection, community_id: int, *, before_id: int | None, limit: int
) -> list[AuditLine]:
    await ledger.enter(conn, community_id)
    rows = await conn.fetch(
        "SELECT id, at, action, subject, actor_person_id, on_behalf_of_member_id, detail::text AS detail "
        "FROM points.audit_log WHERE community_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
        community_id,
        before_id or 2**63 - 1,
        limit,
    )
    return [
        AuditLine(
            r["id"], r["at"], r["action"], r["subject"], r["actor_person_id"], r["on_behalf_of_member_id"], r["detail"]
        )
        for r in rows
    ]


async def audit_correction(
    conn: ledger.Connection, community_id: int, access: Any, entry_id: int, reversal_id: int, reason: str
) -> None:
    await audit(
        conn,
        "entry.reversed",
        community_id=community_id,
        actor_person_id=access.person_id,
        subject=f"entry {entry_id}",
        detail={"reversal_entry_id": reversal_id, "reason": reason},
    )
