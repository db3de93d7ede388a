"""Entries posted and reversed through the API: the ledger call plus the service's own rules around it.

The ledger knows accounts, not people; who may be credited by whom (nobody awards their own household) and
which corrections go to the audit trail are rules of the service, kept here rather than in the handlers.

The generic API is the admin's hand-written entry, so it may not go around the earning rules: it never debits an
hours account (service hours are a record, never spent), never names a budget account (budgets move only by
allotment and by awards, which check caps, the threshold and maker-checker), and never reverses an award's entry
(that is correctAward, which gives the caps back and marks the award corrected). Migration 0010 refuses the
same beneath (LP008, LP009, LP010).
"""

from __future__ import annotations

from collections.abc import Sequence

import ledger
from ledger.model import MAX_ID, check_id
from points.audit import audit_correction
from points.auth.access import Access
from points.auth.errors import Forbidden, InvalidRequest
from points.earning.errors import EarningError
from points.expiry.errors import ExpiryEntryNotReversed, ExpiryNotPostable
from points.members.service import get_member, refuse_award_to_own_household

ACT_FOR_OTHERS = frozenset({"organizer", "admin"})


class HoursNotSpent(EarningError):
    """Service hours are a record of what a member gave, never spent: an entry may not debit an hours account
    (only a reversal of an award, made by correcting the award, takes hours back)."""

    code = "hours_not_spent"


class BudgetNotPostable(EarningError):
    """A budget account moves only by allotting a budget and by awards (which apply the caps, the approval
    threshold and maker-checker), never by a hand-written entry."""

    code = "budget_not_postable"


class AwardEntryNotReversed(EarningError):
    """The entry is an award's: correct the award (correctAward, with a reason), which reverses the entry, gives
    the caps back and marks the award corrected."""

    code = "award_entry_not_reversed"


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
    if entry.kind == "expiry":
        raise ExpiryNotPostable("entries of kind expiry are posted by the expiry job only", kind=entry.kind)
    await refuse_earning_accounts(conn, access.community_id, entry.lines)
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
        award_id = await conn.fetchval(
            "SELECT id FROM points.awards WHERE community_id = $1 AND entry_id = $2", access.community_id, entry_id
        )
        if await conn.fetchval(
            "SELECT kind = 'expiry' FROM ledger.entries WHERE community_id = $1 AND id = $2",
            access.community_id,
            entry_id,
        ):
            raise ExpiryEntryNotReversed(f"entry {entry_id} is an expiry: expired points are never given back")
        if award_id is not None:
            raise AwardEntryNotReversed(
                f"entry {entry_id} is the entry of award {award_id}: correct the award instead (correctAward)",
                award_id=award_id,
                operation="correctAward",
            )
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


async def refuse_earning_accounts(conn: ledger.Connection, community_id: int, lines: Sequence[ledger.Line]) -> None:
    """Hours accounts are never debited and budget accounts never named by a hand-written entry (or a hold: its
    account is the debit, its counter account the credit). Accounts that do not exist here are left to the
    ledger, which answers unknown_account."""
    rows = await conn.fetch(
        "SELECT a.id, a.code, EXISTS (SELECT 1 FROM points.budgets b WHERE b.account_id = a.id) AS budget"
        " FROM ledger.accounts a WHERE a.community_id = $1 AND a.id = ANY($2::bigint[])",
        community_id,
        [line.account_id for line in lines],
    )
    found = {row["id"]: row for row in rows}
    for line in lines:
        row = found.get(line.account_id)
        if row is None:
            continue
        if row["budget"]:
            raise BudgetNotPostable(
                f"account {line.account_id} ({row['code']}) is a budget: it moves only by allotting and by awards",
                account_id=line.account_id,
            )
        if row["code"] == "expired":
            raise ExpiryNotPostable(
                f"account {line.account_id} is the expired points': only the expiry job moves points into it",
                account_id=line.account_id,
            )
        if line.amount < 0 and row["code"].startswith("hours:"):
            raise HoursNotSpent(
                f"account {line.account_id} ({row['code']}) keeps service hours: they are never spent",
                account_id=line.account_id,
            )


async def place_hold(
    conn: ledger.Connection,
    community_id: int,
    *,
    account_id: int,
    counter_account_id: int,
    amount: int,
    kind: str,
    timeout_s: int,
    idempotency_key: str,
    memo: str = "",
    actor: str | None = None,
) -> ledger.Hold:
    """A hold through the API, under the same account rules as an entry: posting it debits its account and credits
    the counter account, so a hold on hours (or on a budget) would be spending them by another door."""
    direction = (ledger.Line(account_id, -1), ledger.Line(counter_account_id, 1))  # only the signs matter here
    await refuse_earning_accounts(conn, community_id, direction)
    return await ledger.place_hold(
        conn,
        community_id,
        account_id=account_id,
        counter_account_id=counter_account_id,
        amount=amount,
        kind=kind,
        timeout_s=timeout_s,
        idempotency_key=idempotency_key,
        memo=memo,
        actor=actor,
    )
