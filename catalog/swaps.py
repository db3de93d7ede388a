"""Proposals at the swap table: some of one's listings and/or points for some listings of another member (points
may flow either way); the other accepts, declines or counters; the hand-over is confirmed by both members or by
table staff; a cancel or a timeout undoes the accept.

- **Accept** (the other member): the listings are locked in id order and must all be open; the points part is a
  two-phase ledger hold from the payer's wallet to the payee's (``ledger.place_hold``, kind ``swap``, lasting a
  day past the hand-over deadline so that it never lapses before the timeout voids it); then ONE update marks the
  proposal accepted, and PostgreSQL's trigger reserves its listings (a partial unique index lets one accepted
  proposal hold a listing: of two accepts at once exactly one wins) and puts the competing open proposals on hold.
- **Hand-over**: each member confirms, or table staff (clerks and admins, not a party) confirm at once; when it is
  confirmed the hold is posted (``ledger.post_hold``: once, by its idempotency key) and the proposal swapped, which
  marks its listings swapped and ends the competing ones. A free give-away earns the giver the optional bonus.
- **Cancel / timeout**: the hold is voided, the proposal cancelled or timed out, its listings reopen and the
  proposals put on hold for them are open again. A timed-out hand-over counts as missed for whoever had not
  confirmed it.

Every write is one transaction; the row lock on the proposal orders accept, confirm, cancel and the timeout job,
so a hand-over and a timeout never both happen. Locks are taken listings first (in id order), then proposals, as
the triggers reach them: an accept locks its listings before its proposal, a withdrawal or the listings' expiry
job (catalog/swap_listings.py) locks the listing and the trigger then ends its proposals.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import ledger
from catalog import swap_listings
from catalog.swap_errors import (
    HandoverOverdue,
    ListingUnavailable,
    NotAParty,
    ProposalOnHold,
    SwapWrongState,
    translated,
)
from ledger.errors import IdempotencyConflict, InsufficientBalance
from points.auth.access import Access
from points.auth.errors import ConflictOfInterest, InvalidRequest, NotFound
from points.earning import awards
from points.earning.errors import EarningError
from points.field_problems import field_problem

MAX_ITEMS = 10
MAX_POINTS = 100_000
MAX_NOTE_CHARS = 500
HOLD_MARGIN_S = 24 * 3600  # the hold outlives the deadline by a day: the timeout job voids it, it never lapses first
OPEN_STATES = ("open", "on_hold")


@dataclass(frozen=True, slots=True)
class Item:
    listing_id: int
    side: str  # give: the proposer's; take: the other member's
    title: str
    status: str
    photo_id: int | None
    free: bool


@dataclass(frozen=True, slots=True)
class Proposal:
    id: int
    from_member_id: int
    from_name: str
    to_member_id: int
    to_name: str
    points: int  # > 0: the proposer pays the other member; < 0: the other pays the proposer
    note: str
    status: str
    counter_of_id: int | None
    hold_id: int | None
    accepted_at: datetime | None
    deadline_at: datetime | None
    confirmed_from_at: datetime | None
    confirmed_to_at: datetime | None
    confirmed_by_staff_id: int | None
    entry_id: int | None
    bonus_award_id: int | None
    missed_by_from: bool
    missed_by_to: bool
    created_at: datetime
    resolved_at: datetime | None
    items: tuple[Item, ...] = ()
    replayed: bool = False

    @property
    def give(self) -> tuple[Item, ...]:
        return tuple(i for i in self.items if i.side == "give")

    @property
    def take(self) -> tuple[Item, ...]:
        return tuple(i for i in self.items if i.side == "take")

    @property
    def free_giveaway(self) -> bool:
        return self.points == 0 and not self.give and all(i.free for i in self.take)


@dataclass(frozen=True, slots=True)
class Missed:
    member_id: int
    display_name: str
    missed: int


_SELECT = """
SELECT p.id, p.from_member_id, f.display_name AS from_name, p.to_member_id, t.display_name AS to_name, p.points,
       p.note, p.status, p.counter_of_id, p.hold_id, p.accepted_at, p.deadline_at, p.confirmed_from_at,
       p.confirmed_to_at, p.confirmed_by_staff_id, p.entry_id, p.bonus_award_id, p.missed_by_from, p.missed_by_to,
       p.created_at, p.resolved_at
  FROM points.swap_proposals p
  JOIN points.members f ON f.id = p.from_member_id
  JOIN points.members t ON t.id = p.to_member_id
"""


async def _with_items(conn: ledger.Connection, rows: Sequence[Any]) -> list[Proposal]:
    ids = [r["id"] for r in rows]
    items: dict[int, list[Item]] = {i: [] for i in ids}
    for r in await conn.fetch(
        "SELECT i.proposal_id, i.listing_id, i.side, l.title, l.status, l.photo_id, l.free FROM points.swap_items i"
        " JOIN points.swap_listings l ON l.id = i.listing_id WHERE i.proposal_id = ANY($1::bigint[])"
        " ORDER BY i.side, i.listing_id",
        ids,
    ):
        item = Item(r["listing_id"], r["side"], r["title"], r["status"], r["photo_id"], r["free"])
        items[r["proposal_id"]].append(item)
    return [Proposal(**dict(r), items=tuple(items[r["id"]])) for r in rows]


async def get_proposal(conn: ledger.Connection, community_id: int, proposal_id: int) -> Proposal:
    await ledger.enter(conn, community_id)
    row = await conn.fetchrow(f"{_SELECT} WHERE p.id = $1 AND p.community_id = $2", proposal_id, community_id)
    if row is None:
        raise NotFound(f"no proposal {proposal_id} at this community's swap table", proposal_id=proposal_id)
    return (await _with_items(conn, [row]))[0]


async def get_visible_proposal(
    conn: ledger.Connection, access: Access, community_id: int, proposal_id: int, *, staff: bool
) -> Proposal:
    """A proposal for its two members and table staff; anyone else's answers 404 like a missing one."""
    proposal = await get_proposal(conn, community_id, proposal_id)
    if not staff and access.member_id not in (proposal.from_member_id, proposal.to_member_id):
        raise NotFound(f"no proposal {proposal_id} at this community's swap table", proposal_id=proposal_id)
    return proposal


async def list_proposals(
    conn: ledger.Connection,
    community_id: int,
    *,
    member_id: int | None = None,
    statuses: tuple[str, ...] | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[Proposal]:
    """Newest first: a member's (to and from them), or every one (``member_id`` None), of some statuses."""
    await ledger.enter(conn, community_id)
    rows = await conn.fetch(
        f"{_SELECT} WHERE p.community_id = $1 AND ($2::bigint IS NULL OR $2 IN (p.from_member_id, p.to_member_id))"
        " AND ($3::text[] IS NULL OR p.status = ANY($3)) AND ($4::bigint IS NULL OR p.id < $4)"
        " ORDER BY p.id DESC LIMIT $5",
        community_id,
        member_id,
        None if statuses is None else list(statuses),
        before_id,
        min(max(limit, 1), swap_listings.MAX_PAGE),
    )
    return await _with_items(conn, rows)


async def missed_handovers(conn: ledger.Connection, community_id: int) -> list[Missed]:
    """Per member, how many accepted swaps timed out before they confirmed the hand-over; most first."""
    await ledger.enter(conn, community_id)
    rows = await conn.fetch(
        "SELECT m.id AS member_id, m.display_name, count(*)::int AS missed FROM ("
        " SELECT from_member_id AS member_id FROM points.swap_proposals WHERE community_id = $1 AND missed_by_from"
        " UNION ALL SELECT to_member_id FROM points.swap_proposals WHERE community_id = $1 AND missed_by_to) x"
        " JOIN points.members m ON m.id = x.member_id GROUP BY m.id, m.display_name ORDER BY missed DESC, m.id",
        community_id,
    )
    return [Missed(**dict(r)) for r in rows]


# ---- proposing --------------------------------------------------------------------------------------------------


def check_offer(take: Sequence[int], give: Sequence[int], points: int, note: str) -> None:
    problems = []
    if not 1 <= len(take) <= MAX_ITEMS:
        problems.append(field_problem("take", "too_long" if take else "required", max=MAX_ITEMS, unit="items"))
    if len(give) > MAX_ITEMS:
        problems.append(field_problem("give", "too_long", max=MAX_ITEMS, unit="items"))
    if len(set(take) | set(give)) != len(take) + len(give):
        problems.append(field_problem("take", "invalid", message="a listing is named twice"))
    if not -MAX_POINTS <= points <= MAX_POINTS:
        problems.append(field_problem("points", "too_large", min=-MAX_POINTS, max=MAX_POINTS))
    if len(note) > MAX_NOTE_CHARS:
        problems.append(field_problem("note", "too_long", max=MAX_NOTE_CHARS))
    if "\x00" in note:
        problems.append(field_problem("note", "contains_nul"))
    if problems:
        raise InvalidRequest(
            "the proposal is not valid: "
            + "; ".join(str(p.get("key")) for p in problems)
            + f" (it takes 1 to {MAX_ITEMS} listings of one other member, offers up to {MAX_ITEMS} of one's own,"
            f" and points between -{MAX_POINTS} and {MAX_POINTS})",
            errors=problems,
        )


def _request_hash(take: Sequence[int], give: Sequence[int], points: int, note: str, counter_of: int | None) -> str:
    body = {"take": sorted(take), "give": sorted(give), "points": points, "note": note, "counter_of": counter_of}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


async def _listings(conn: ledger.Connection, community_id: int, ids: Sequence[int], *, lock: bool) -> list[Any]:
    """The listings in id order (locked: accepts and withdrawals of one listing queue, never deadlock)."""
    rows = await conn.fetch(
        "SELECT id, member_id, title, status, free FROM points.swap_listings WHERE id = ANY($1::bigint[])"
        f" AND community_id = $2 ORDER BY id{' FOR UPDATE' if lock else ''}",
        list(ids),
        community_id,
    )
    missing = sorted(set(ids) - {r["id"] for r in rows})
    if missing:
        raise NotFound(f"no listing {missing[0]} at this community's swap table", listing_id=missing[0])
    return list(rows)


def _require_open(rows: Sequence[Any]) -> None:
    for r in rows:
        if r["status"] != "open":
            raise ListingUnavailable(
                f"「{r['title']}」 is {r['status']}, no longer open", listing_id=r["id"], title=r["title"],
                status=r["status"],
            )  # fmt: skip


async def propose(
    conn: ledger.Connection,
    access: Access,
    *,
    take: Sequence[int],
    give: Sequence[int] = (),
    points: int = 0,
    note: str = "",
    idempotency_key: str,
    counter_of: int | None = None,
) -> Proposal:
    """Offer ``give`` (the caller's listings) and ``points`` (> 0 the caller pays, < 0 the caller asks) for
    ``take`` (another member's listings, all of one member). A retry with the same key and body answers the same
    proposal; with another body it is 409. ``counter_of``: the proposal to the caller this one answers."""
    check_offer(take, give, points, note)
    me = swap_listings.member_of(access)
    request_hash = _request_hash(take, give, points, note.strip(), counter_of)
    async with ledger.transaction(conn):
        await ledger.enter(conn, access.community_id)
        replay = await conn.fetchrow(
            "SELECT id, request_hash FROM points.swap_proposals WHERE community_id = $1 AND idempotency_key = $2",
            access.community_id,
            idempotency_key,
        )
        if replay is not None:
            if replay["request_hash"] != request_hash:
                raise IdempotencyConflict("the idempotency key was used for a different proposal")
            return replace(await get_proposal(conn, access.community_id, replay["id"]), replayed=True)
        taken = await _listings(conn, access.community_id, take, lock=False)
        given = await _listings(conn, access.community_id, give, lock=False)
        owners = {r["member_id"] for r in taken}
        if len(owners) != 1 or me in owners:
            raise InvalidRequest(
                "a proposal takes listings of one other member",
                errors=[field_problem("take", "invalid", message="listings of one other member")],
            )
        if any(r["member_id"] != me for r in given):
            raise InvalidRequest(
                "a proposal gives only the proposer's own listings",
                errors=[field_problem("give", "invalid", message="your own listings only")],
            )
        _require_open(taken + given)
        other = owners.pop()
        if counter_of is not None:
            await _countered(conn, access, counter_of, other)
        if points > 0:
            await _can_pay(conn, access.community_id, me, points)
        async with translated():
            proposal_id = await conn.fetchval(
                "INSERT INTO points.swap_proposals (community_id, from_member_id, to_member_id, points, note,"
                " counter_of_id, idempotency_key, request_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                access.community_id,
                me,
                other,
                points,
                note.strip(),
                counter_of,
                idempotency_key,
                request_hash,
            )
            await conn.execute(
                "INSERT INTO points.swap_items (community_id, proposal_id, listing_id, side)"
                " SELECT $1, $2, x.id, x.side FROM unnest($3::bigint[], $4::text[]) AS x(id, side) ORDER BY x.id",
                access.community_id,
                proposal_id,
                [*take, *give],
                ["take"] * len(take) + ["give"] * len(give),
            )
        return await get_proposal(conn, access.community_id, proposal_id)


async def _countered(conn: ledger.Connection, access: Access, proposal_id: int, other: int) -> None:
    """The proposal countered: it was made to the caller by ``other``, and is open or on hold; it ends now."""
    row = await conn.fetchrow(
        "SELECT from_member_id, to_member_id, status FROM points.swap_proposals WHERE id = $1 AND community_id = $2"
        " FOR UPDATE",
        proposal_id,
        access.community_id,
    )
    if row is None or access.member_id not in (row["from_member_id"], row["to_member_id"]):
        raise NotFound(f"no proposal {proposal_id} at this community's swap table", proposal_id=proposal_id)
    if row["to_member_id"] != access.member_id or row["from_member_id"] != other:
        raise NotAParty("a counter-proposal answers a proposal made to you, with its proposer's listings")
    if row["status"] not in OPEN_STATES:
        raise SwapWrongState(f"the proposal is {row['status']}: it cannot be countered", status=row["status"])
    async with translated():
        await conn.execute(
            "UPDATE points.swap_proposals SET status = 'countered', resolved_at = now() WHERE id = $1", proposal_id
        )


async def _can_pay(conn: ledger.Connection, community_id: int, member_id: int, points: int) -> None:
    """The payer has the points available now (the hold at the accept is what holds them)."""
    balance = await ledger.balance(conn, community_id, await _wallet(conn, member_id))
    if balance.available < points:
        raise InsufficientBalance(
            f"{points} points are offered but only {balance.available} are available",
            available=balance.available,
            needed=points,
        )


async def _wallet(conn: ledger.Connection, member_id: int) -> int:
    wallet: int = await conn.fetchval("SELECT wallet_account_id FROM points.members WHERE id = $1", member_id)
    return wallet


# ---- deciding ---------------------------------------------------------------------------------------------------


async def _locked(conn: ledger.Connection, access: Access, proposal_id: int) -> Any:
    row = await conn.fetchrow(
        "SELECT * FROM points.swap_proposals WHERE id = $1 AND community_id = $2 FOR UPDATE",
        proposal_id,
        access.community_id,
    )
    if row is None:
        raise NotFound(f"no proposal {proposal_id} at this community's swap table", proposal_id=proposal_id)
    return row


def _party(row: Any, access: Access) -> None:
    if access.member_id not in (row["from_member_id"], row["to_member_id"]):
        raise NotFound(f"no proposal {row['id']} at this community's swap table", proposal_id=row["id"])


async def accept(conn: ledger.Connection, access: Access, proposal_id: int) -> Proposal:
    """The other member accepts: listings reserved, the points held, competing proposals on hold. Accepting an
    accepted proposal again answers it (replayed) and holds nothing more."""
    async with ledger.transaction(conn):
        await ledger.enter(conn, access.community_id)
        # The listings are locked (in id order) BEFORE the proposal: accepting another proposal for them reaches
        # this proposal's row through the trigger (on hold), and a withdrawal or the expiry job locks a listing
        # and then its proposals; locking the proposal first deadlocked two accepts at once. Items never change.
        ids = [r["listing_id"] for r in await conn.fetch(
            "SELECT listing_id FROM points.swap_items WHERE proposal_id = $1 AND community_id = $2",
            proposal_id, access.community_id,
        )]  # fmt: skip
        listings = await _listings(conn, access.community_id, ids, lock=True)
        row = await _locked(conn, access, proposal_id)
        _party(row, access)
        if row["to_member_id"] != access.member_id:
            raise NotAParty("only the member the proposal is made to accepts it", proposal_id=proposal_id)
        if row["status"] in ("accepted", "swapped"):
            return replace(await get_proposal(conn, access.community_id, proposal_id), replayed=True)
        if row["status"] == "on_hold":
            raise ProposalOnHold(
                "another accepted proposal holds one of its listings: it is released if that swap falls through",
                proposal_id=proposal_id,
            )
        if row["status"] != "open":
            raise SwapWrongState(f"the proposal is {row['status']}: it cannot be accepted", status=row["status"])
        _require_open(listings)
        settings = await swap_listings.get_settings(conn, access.community_id)
        now = datetime.now(UTC)
        deadline = now + timedelta(days=settings.handover_days)
        hold_id = None
        if row["points"] != 0:
            payer, payee = (row["from_member_id"], row["to_member_id"])[:: 1 if row["points"] > 0 else -1]
            hold = await ledger.place_hold(
                conn,
                access.community_id,
                account_id=await _wallet(conn, payer),
                counter_account_id=await _wallet(conn, payee),
                amount=abs(row["points"]),
                kind="swap",
                timeout_s=settings.handover_days * 86400 + HOLD_MARGIN_S,
                idempotency_key=f"swap:{proposal_id}:accept",
                memo=f"亲邻易物台 proposal {proposal_id}",
                actor=access.actor,
            )
            hold_id = hold.id
        async with translated():
            await conn.execute(
                "UPDATE points.swap_proposals SET status = 'accepted', hold_id = $2, accepted_at = $3,"
                " deadline_at = $4 WHERE id = $1",
                proposal_id,
                hold_id,
                now,
                deadline,
            )
        return await get_proposal(conn, access.community_id, proposal_id)


async def decline(conn: ledger.Connection, access: Access, proposal_id: int) -> Proposal:
    """The other member says no to an open (or on-hold) proposal."""
    async with ledger.transaction(conn):
        await ledger.enter(conn, access.community_id)
        row = await _locked(conn, access, proposal_id)
        _party(row, access)
        if row["to_member_id"] != access.member_id:
            raise NotAParty("only the member the proposal is made to declines it; its proposer cancels it")
        if row["status"] == "declined":
            return replace(await get_proposal(conn, access.community_id, proposal_id), replayed=True)
        if row["status"] not in OPEN_STATES:
            raise SwapWrongState(f"the proposal is {row['status']}: it cannot be declined", status=row["status"])
        async with translated():
            await conn.execute(
                "UPDATE points.swap_proposals SET status = 'declined', resolved_at = now() WHERE id = $1", proposal_id
            )
        return await get_proposal(conn, access.community_id, proposal_id)


async def cancel(conn: ledger.Connection, access: Access, proposal_id: int) -> Proposal:
    """The proposer withdraws an open proposal, or either member calls off an accepted one before its hand-over:
    the hold is voided and the listings reopen."""
    async with ledger.transaction(conn):
        await ledger.enter(conn, access.community_id)
        row = await _locked(conn, access, proposal_id)
        _party(row, access)
        if row["status"] == "cancelled":
            return replace(await get_proposal(conn, access.community_id, proposal_id), replayed=True)
        if row["status"] in OPEN_STATES and row["from_member_id"] != access.member_id:
            raise NotAParty("an open proposal is cancelled by its proposer; decline it instead")
        if row["status"] not in (*OPEN_STATES, "accepted"):
            raise SwapWrongState(f"the proposal is {row['status']}: it cannot be cancelled", status=row["status"])
        await _undo(conn, access.community_id, row, "cancelled")
        return await get_proposal(conn, access.community_id, proposal_id)


async def _undo(conn: ledger.Connection, community_id: int, row: Any, status: str) -> None:
    """Void the hold (if any) and end the proposal as ``status``; the trigger reopens its listings."""
    if row["hold_id"] is not None:
        await ledger.void_hold(conn, community_id, row["hold_id"])
    missed = status == "timed_out"
    async with translated():
        await conn.execute(
            "UPDATE points.swap_proposals SET status = $2, resolved_at = now(),"
            " missed_by_from = $3 AND confirmed_from_at IS NULL AND confirmed_by_staff_id IS NULL,"
            " missed_by_to = $3 AND confirmed_to_at IS NULL AND confirmed_by_staff_id IS NULL WHERE id = $1",
            row["id"],
            status,
            missed,
        )


# ---- the hand-over ----------------------------------------------------------------------------------------------


async def confirm_handover(conn: ledger.Connection, access: Access, proposal_id: int, *, as_staff: bool) -> Proposal:
    """A member confirms the hand-over of their accepted swap (it completes when both have), or table staff confirm
    it at once. Completing posts the hold once and marks the listings swapped. A confirmation sent again answers
    the proposal as it is (replayed) and posts nothing."""
    async with ledger.transaction(conn):
        await ledger.enter(conn, access.community_id)
        row = await _locked(conn, access, proposal_id)
        parties = (row["from_member_id"], row["to_member_id"])
        if as_staff and access.member_id in parties:
            raise ConflictOfInterest("table staff confirm other members' hand-overs, not their own")
        if not as_staff:
            _party(row, access)
        mine = "confirmed_from_at" if access.member_id == row["from_member_id"] else "confirmed_to_at"
        if row["status"] == "swapped" or (row["status"] == "accepted" and not as_staff and row[mine] is not None):
            return replace(await get_proposal(conn, access.community_id, proposal_id), replayed=True)
        if row["status"] != "accepted":
            raise SwapWrongState(
                f"the proposal is {row['status']}: only an accepted swap is handed over", status=row["status"]
            )
        if datetime.now(UTC) > row["deadline_at"]:
            raise HandoverOverdue(
                f"the hand-over was due by {row['deadline_at'].isoformat()}", deadline_at=row["deadline_at"].isoformat()
            )
        staff_id = access.member_id if as_staff else None
        both = as_staff or row["confirmed_from_at" if mine == "confirmed_to_at" else "confirmed_to_at"] is not None
        if not both:
            async with translated():
                await conn.execute(f"UPDATE points.swap_proposals SET {mine} = now() WHERE id = $1", proposal_id)
            return await get_proposal(conn, access.community_id, proposal_id)
        await _complete(conn, access, row, staff_id, None if as_staff else mine)
        return await get_proposal(conn, access.community_id, proposal_id)


async def _complete(conn: ledger.Connection, access: Access, row: Any, staff_id: int | None, mine: str | None) -> None:
    community_id = access.community_id
    entry_id = None
    if row["hold_id"] is not None:
        posted = await ledger.post_hold(
            conn,
            community_id,
            row["hold_id"],
            idempotency_key=f"swap:{row['id']}:handover",
            memo=f"亲邻易物台 swap {row['id']}",
            actor=access.actor,
        )
        entry_id = posted.id
    proposal = await get_proposal(conn, community_id, row["id"])
    bonus = await _bonus(conn, access, proposal, staff_id) if proposal.free_giveaway else None
    async with translated():
        await conn.execute(
            "UPDATE points.swap_proposals SET status = 'swapped', resolved_at = now(), entry_id = $2,"
            " confirmed_by_staff_id = $3, bonus_award_id = $4,"
            " confirmed_from_at = CASE WHEN $5 = 'confirmed_from_at' THEN now() ELSE confirmed_from_at END,"
            " confirmed_to_at = CASE WHEN $5 = 'confirmed_to_at' THEN now() ELSE confirmed_to_at END WHERE id = $1",
            row["id"],
            entry_id,
            staff_id,
            bonus,
            mine,
        )


async def _bonus(conn: ledger.Connection, access: Access, proposal: Proposal, staff_id: int | None) -> int | None:
    """The give-away bonus for the giver, if the admin set one and the giver is under its monthly cap: an award
    from today's budget of the settings' activity type, made by the confirming staff (or, when the two members
    confirmed, recorded as made by the receiver). No budget, an empty one, or the receiver's own household: no
    bonus, and the hand-over goes ahead (the award's savepoint is rolled back)."""
    settings = await swap_listings.get_settings(conn, access.community_id)
    if settings.bonus_points is None or settings.bonus_type_id is None or settings.bonus_cap_per_month is None:
        return None
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('points.swap_bonus'), $1::integer)", proposal.to_member_id
    )
    given = await conn.fetchval(
        "SELECT count(*) FROM points.swap_proposals WHERE to_member_id = $1 AND bonus_award_id IS NOT NULL"
        " AND date_trunc('month', resolved_at AT TIME ZONE 'Asia/Shanghai')"
        " = date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai')",
        proposal.to_member_id,
    )
    if given >= settings.bonus_cap_per_month:
        return None
    maker = await _maker(conn, access, staff_id if staff_id is not None else proposal.from_member_id)
    try:
        award = await awards.award_adhoc(
            conn,
            maker,
            member_id=proposal.to_member_id,
            type_id=settings.bonus_type_id,
            points=settings.bonus_points,
            reason=f"亲邻易物台 赠送: {proposal.take[0].title}"[:100],
            idempotency_key=f"swap:{proposal.id}:bonus",
        )
    except (EarningError, ConflictOfInterest, ledger.LedgerError, InvalidRequest):
        return None
    return award.id


async def _maker(conn: ledger.Connection, access: Access, member_id: int) -> Access:
    """The member recorded as making the bonus award, as the awards service takes it."""
    if member_id == access.member_id:
        return access
    row = await conn.fetchrow(
        "SELECT id, status, household_id, wallet_account_id, coalesce(person_id, 0) AS person_id"
        " FROM points.members WHERE id = $1",
        member_id,
    )
    return Access(
        access.community_id, row["id"], row["status"], row["household_id"], row["wallet_account_id"],
        frozenset(), row["person_id"], False,
    )  # fmt: skip


# ---- the timeout ------------------------------------------------------------------------------------------------


async def time_out_lapsed(conn: ledger.Connection, community_id: int) -> int:
    """Every accepted proposal of the community past its hand-over deadline: hold voided, listings reopened, the
    hand-over counted as missed by whoever had not confirmed it. One transaction per proposal, each under the
    proposal's row lock, re-checked after the lock: a hand-over that committed first is left alone."""
    await ledger.enter(conn, community_id)
    due = [
        r["id"]
        for r in await conn.fetch(
            "SELECT id FROM points.swap_proposals WHERE community_id = $1 AND status = 'accepted'"
            " AND deadline_at <= now() ORDER BY id LIMIT 500",
            community_id,
        )
    ]
    done = 0
    for proposal_id in due:
        async with ledger.transaction(conn):
            await ledger.enter(conn, community_id)
            row = await conn.fetchrow(
                "SELECT * FROM points.swap_proposals WHERE id = $1 AND status = 'accepted' AND deadline_at <= now()"
                " FOR UPDATE",
                proposal_id,
            )
            if row is None:
                continue
            await _undo(conn, community_id, row, "timed_out")
            done += 1
    return done
