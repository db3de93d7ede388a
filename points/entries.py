"""Entries posted and reversed through the API: the ledger call plus the service's own rules around it.

The ledger knows accounts, not people; who may be credited by whom (nobody awards their own household) and
which corrections go to the audit trail are rules of the service, kept here rather than in the handlers.
"""

from __future__ import annotations

import ledger
from ledger.model import MAX_ID, check_id
from points.audit import audit_correction
from points.auth.access import Access
from points.auth.errors import Forbidden, InvalidRequest
from points.members.service import get_member, refuse_award_to_own_household

ACT_FOR_OTHERS = frozenset({"organizer", "admin"})


async def actor_for(conn: ledger.Connection, access: Access, on_behalf_of_member_id: int | None) -> str:
    """Who is acting, as recorded on entries: "member:12", or "member:12 for member:34" when an organizer or
    admin acts for a member of the community without a phone (代办)."""
    if on_behalf_of_member_id is None:
        return access.actor
    if not access.roles & ACT_FOR_OTHERS:
        raise Forbidden("only organizers and admins act on behalf of a member")
    if check_id("X-On-Behalf-Of", on_behalf_of_member_id):
        raise InvalidRequest(
            f"X-On-Behalf-Of is a member id: a whole number from 1 to {MAX_ID}", header="X-On-Behalf-Of"
        )
    member = await get_member(conn, access.community_id, on_behalf_of_member_id)
    return f"{access.actor} for member:{member.id}"


async def post_entry(conn: ledger.Connection, access: Access, entry: ledger.NewEntry) -> ledger.PostedEntry:
    """Post ``entry`` in the caller's community. One write: the ledger's single posting call."""
    if entry.kind == "award":
        credited = [line.account_id for line in entry.lines if line.amount > 0]
        await refuse_award_to_own_household(conn, access.community_id, access.member_id, credited)
    return await ledger.post_entry(conn, access.community_id, entry)


async def reverse_entry(
    conn: ledger.Connection,
    access: Access,
    entry_id: int,
    *,
    reason: str,
    idempotency_key: str,
    actor: str,
    memo: str | None,
) -> ledger.PostedEntry:
    """The reversal and its audit row commit together (a correction is a privileged action, audited once)."""
    async with ledger.transaction(conn):
        posted = await ledger.reverse_entry(
            conn,
            access.community_id,
            entry_id,
            reason=reason,
            idempotency_key=idempotency_key,
            actor=actor,
            memo=memo,
        )
        if not posted.replayed:
            await audit_correction(conn, access.community_id, access, entry_id, posted.id, reason)
    return posted
