"""Listings of the swap table (亲邻易物台): what a member offers (title, description, condition, optional photo),
what they want for it (items and/or points, or free to a good home), and its status open → reserved → swapped, or
withdrawn, or expired. Table staff take items in at the station (``intake``): the listing is then marked as on the
table. An open listing older than its community's lifetime (``listing_days``, 60 by default) expires by the
scheduled job (``expire_stale``); its member lists it again as a new listing copying it (``relist``).

A listing's status other than withdrawn is never written here: reserving, reopening and swapping follow the
proposals (catalog/swaps.py), and PostgreSQL moves the listings in the statement that moves the proposal
(migration 0014). Also the swap table's settings (hand-over days, the optional give-away bonus).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import ledger
from catalog.swap_errors import NotAParty, SwapWrongState, translated
from ledger.model import MAX_REASON_CHARS
from points.audit import audit
from points.auth.access import Access
from points.auth.errors import InvalidRequest, NotFound
from points.field_problems import field_problem

MAX_TITLE_CHARS = 100
MAX_DESCRIPTION_CHARS = 1000
MAX_WANTS_CHARS = 200
CONDITIONS = ("new", "like_new", "good", "fair", "worn")
STATUSES = ("open", "reserved", "swapped", "withdrawn", "expired")
MAX_PAGE = 200
DEFAULT_HANDOVER_DAYS = 7
MAX_HANDOVER_DAYS = 28
MAX_BONUS_POINTS = 1000
MAX_BONUS_CAP = 100
DEFAULT_LISTING_DAYS = 60
MAX_LISTING_DAYS = 365
MAX_MEMBER_MATCHES = 10


@dataclass(frozen=True, slots=True)
class Listing:
    id: int
    member_id: int
    member_name: str
    title: str
    description: str
    condition: str
    wants: str
    free: bool
    photo_id: int | None
    status: str
    at_table: bool
    intake_by_member_id: int | None
    created_at: datetime
    updated_at: datetime
    expires_at: datetime  # when an open listing expires (its community's lifetime after it was listed)
    relist_of_id: int | None  # the expired listing this one lists again
    relisted_as_id: int | None  # for an expired one: the listing that lists it again
    withdraw_reason: str | None = None  # why the table's staff withdrew it (a member's own withdrawal has none)


@dataclass(frozen=True, slots=True)
class Settings:
    handover_days: int
    bonus_points: int | None
    bonus_cap_per_month: int | None
    bonus_type_id: int | None
    listing_days: int = DEFAULT_LISTING_DAYS


@dataclass(frozen=True, slots=True)
class MemberMatch:
    """A member table staff may take an item in for (intake by name or member number)."""

    id: int
    display_name: str
    household: str | None


_SELECT = (
    "SELECT l.id, l.member_id, m.display_name AS member_name, l.title, l.description, l.condition, l.wants, l.free,"
    " l.photo_id, l.status, l.at_table, l.intake_by_member_id, l.created_at, l.updated_at,"
    " l.created_at + make_interval(days => points.swap_listing_days(l.community_id)) AS expires_at, l.relist_of_id,"
    " (SELECT r.id FROM points.swap_listings r WHERE r.relist_of_id = l.id) AS relisted_as_id, l.withdraw_reason"
    " FROM points.swap_listings l JOIN points.members m ON m.id = l.member_id"
)


def _listing(row: object) -> Listing:
    return Listing(**dict(row))  # type: ignore[call-overload]


def check_listing(*, title: str, description: str, condition: str, wants: str) -> None:
    """Every problem of a listing's fields at once (the table's CHECKs say the same underneath)."""
    problems = []
    if not title.strip() or len(title) > MAX_TITLE_CHARS:
        problems.append(field_problem("title", "too_long" if title.strip() else "required", max=MAX_TITLE_CHARS))
    if len(description) > MAX_DESCRIPTION_CHARS:
        problems.append(field_problem("description", "too_long", max=MAX_DESCRIPTION_CHARS))
    if len(wants) > MAX_WANTS_CHARS:
        problems.append(field_problem("wants", "too_long", max=MAX_WANTS_CHARS))
    if condition not in CONDITIONS:
        problems.append(field_problem("condition", "not_one_of", allowed=list(CONDITIONS)))
    for key, value in (("title", title), ("description", description), ("wants", wants)):
        if "\x00" in value:
            problems.append(field_problem(key, "contains_nul"))
    if problems:
        raise InvalidRequest(
            "the listing is not valid: " + "; ".join(str(p.get("key")) for p in problems), errors=problems
        )


def member_of(access: Access) -> int:
    if access.member_id is None or access.wallet_account_id is None:
        raise NotAParty("only a member of this community with a wallet lists or proposes at the swap table")
    return access.member_id


async def _check_photo(conn: ledger.Connection, community_id: int, photo_id: int | None) -> None:
    if photo_id is None:
        return
    found = await conn.fetchval(
        "SELECT 1 FROM points.photos WHERE id = $1 AND community_id = $2", photo_id, community_id
    )
    if found is None:
        raise NotFound(f"no photo {photo_id} in this community", photo_id=photo_id)


async def _active_member(conn: ledger.Connection, community_id: int, member_id: int) -> None:
    status = await conn.fetchval(
        "SELECT status FROM points.members WHERE id = $1 AND community_id = $2", member_id, community_id
    )
    if status is None:
        raise NotFound(f"no member {member_id} in this community", member_id=member_id)
    if status != "active":
        raise InvalidRequest(f"member {member_id} is {status}: only active members list items")


async def create_listing(
    conn: ledger.Connection,
    access: Access,
    *,
    title: str,
    condition: str,
    description: str = "",
    wants: str = "",
    free: bool = False,
    photo_id: int | None = None,
    for_member_id: int | None = None,
) -> Listing:
    """A new open listing of the caller's; or, by table staff (``for_member_id``), an item taken in at the table
    for that member."""
    check_listing(title=title, description=description, condition=condition, wants=wants)
    staff = for_member_id is not None
    owner = for_member_id if for_member_id is not None else member_of(access)
    async with ledger.transaction(conn):
        await ledger.enter(conn, access.community_id)
        await _active_member(conn, access.community_id, owner)
        await _check_photo(conn, access.community_id, photo_id)
        listing_id = await conn.fetchval(
            "INSERT INTO points.swap_listings (community_id, member_id, title, description, condition, wants, free,"
            " photo_id, at_table, intake_by_member_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            access.community_id,
            owner,
            title.strip(),
            description.strip(),
            condition,
            wants.strip(),
            free,
            photo_id,
            staff,
            access.member_id if staff else None,
        )
        return await get_listing(conn, access.community_id, listing_id)


async def get_listing(conn: ledger.Connection, community_id: int, listing_id: int) -> Listing:
    await ledger.enter(conn, community_id)
    row = await conn.fetchrow(f"{_SELECT} WHERE l.id = $1 AND l.community_id = $2", listing_id, community_id)
    if row is None:
        raise NotFound(f"no listing {listing_id} at this community's swap table", listing_id=listing_id)
    return _listing(row)


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def list_listings(
    conn: ledger.Connection,
    community_id: int,
    *,
    search: str | None = None,
    statuses: tuple[str, ...] = ("open",),
    member_id: int | None = None,
    at_table: bool | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[Listing]:
    """Newest first; ``search`` looks in titles, descriptions and what is wanted."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit is 1 to {MAX_PAGE}", errors=[field_problem("limit", "too_large", max=MAX_PAGE)])
    await ledger.enter(conn, community_id)
    rows = await conn.fetch(
        f"{_SELECT} WHERE l.community_id = $1 AND l.status = ANY($2::text[])"
        " AND ($3::text IS NULL OR l.title ILIKE $3 OR l.description ILIKE $3 OR l.wants ILIKE $3)"
        " AND ($4::bigint IS NULL OR l.member_id = $4) AND ($5::boolean IS NULL OR l.at_table = $5)"
        " AND ($6::bigint IS NULL OR l.id < $6) ORDER BY l.id DESC LIMIT $7",
        community_id,
        list(statuses),
        None if search is None else _like(search),
        member_id,
        at_table,
        before_id,
        limit,
    )
    return [_listing(r) for r in rows]


def check_reason(reason: str) -> str:
    """A staff withdrawal says why, in words (spaces alone are no reason)."""
    cleaned = reason.strip()
    if not cleaned or len(reason) > MAX_REASON_CHARS or "\x00" in reason:
        kind = "contains_nul" if "\x00" in reason else "too_long" if cleaned else "required"
        raise InvalidRequest(
            "say why the listing is taken off the table, in words",
            errors=[field_problem("reason", kind, max=MAX_REASON_CHARS)],
        )
    return cleaned


async def withdraw_listing(
    conn: ledger.Connection, access: Access, listing_id: int, *, staff: bool, reason: str | None = None
) -> Listing:
    """The owner (or table staff, saying why: audited) takes an open listing off the table; its open proposals end
    with it (superseded, by migration 0014's trigger). A reserved one is withdrawn by cancelling its accepted
    proposal first. Withdrawing a withdrawn listing answers it as it is."""
    cleaned = check_reason(reason or "") if staff else None
    async with ledger.transaction(conn):
        await ledger.enter(conn, access.community_id)
        row = await conn.fetchrow(
            "SELECT member_id, status, title FROM points.swap_listings WHERE id = $1 AND community_id = $2 FOR UPDATE",
            listing_id,
            access.community_id,
        )
        if row is None:
            raise NotFound(f"no listing {listing_id} at this community's swap table", listing_id=listing_id)
        if not staff and row["member_id"] != access.member_id:
            raise NotAParty("only its member or table staff withdraw a listing", listing_id=listing_id)
        if row["status"] == "withdrawn":
            return await get_listing(conn, access.community_id, listing_id)
        if row["status"] != "open":
            raise SwapWrongState(
                f"the listing is {row['status']}: only an open listing is withdrawn"
                + (" (cancel its accepted proposal first)" if row["status"] == "reserved" else ""),
                listing_id=listing_id,
                status=row["status"],
            )
        async with translated():
            await conn.execute(
                "UPDATE points.swap_listings SET status = 'withdrawn', withdraw_reason = $2, updated_at = now()"
                " WHERE id = $1",
                listing_id,
                cleaned,
            )
        if staff:
            await audit(
                conn,
                "swap.listing_withdrawn",
                community_id=access.community_id,
                actor_person_id=access.person_id,
                subject=f"swap listing {listing_id}",
                detail={"reason": cleaned, "member_id": row["member_id"], "title": row["title"],
                        "by_member_id": access.member_id},
            )  # fmt: skip
        return await get_listing(conn, access.community_id, listing_id)


async def relist(conn: ledger.Connection, access: Access, listing_id: int) -> Listing:
    """Its member lists an expired listing again: a new open listing copying it (title, description, condition,
    what is wanted, free, photo, and where it is: an item taken in at the table stays on the table). The expired
    one stays as it was (a listing's graph ends at expired); the new one names it (``relist_of_id``), once: listing
    it again a second time answers the same new listing."""
    me = member_of(access)
    async with ledger.transaction(conn):
        await ledger.enter(conn, access.community_id)
        row = await conn.fetchrow(
            "SELECT * FROM points.swap_listings WHERE id = $1 AND community_id = $2 FOR UPDATE",
            listing_id,
            access.community_id,
        )
        if row is None:
            raise NotFound(f"no listing {listing_id} at this community's swap table", listing_id=listing_id)
        if row["member_id"] != me:
            raise NotAParty("only its member lists a listing again", listing_id=listing_id)
        again = await conn.fetchval("SELECT id FROM points.swap_listings WHERE relist_of_id = $1", listing_id)
        if again is not None:
            return await get_listing(conn, access.community_id, again)
        if row["status"] != "expired":
            raise SwapWrongState(
                f"the listing is {row['status']}: only an expired listing is listed again",
                listing_id=listing_id,
                status=row["status"],
            )
        await _active_member(conn, access.community_id, me)
        async with translated():
            new_id = await conn.fetchval(
                "INSERT INTO points.swap_listings (community_id, member_id, title, description, condition, wants,"
                " free, photo_id, at_table, intake_by_member_id, relist_of_id)"
                " SELECT community_id, member_id, title, description, condition, wants, free, photo_id, at_table,"
                " intake_by_member_id, id FROM points.swap_listings WHERE id = $1 RETURNING id",
                listing_id,
            )
        return await get_listing(conn, access.community_id, new_id)


async def expire_stale(conn: ledger.Connection, community_id: int) -> int:
    """Every open listing of the community older than its lifetime becomes expired; the open and on-hold
    proposals for it end (superseded), as when its member withdraws it. One transaction per listing, under the
    listing's row lock, re-checked after the lock: an accept that committed first (the listing reserved) is left
    alone, and an accept that comes second finds the listing gone (accept locks the listings first too)."""
    await ledger.enter(conn, community_id)
    due = [
        r["id"]
        for r in await conn.fetch(
            "SELECT id FROM points.swap_listings WHERE community_id = $1 AND status = 'open'"
            " AND created_at <= now() - make_interval(days => points.swap_listing_days($1)) ORDER BY id LIMIT 500",
            community_id,
        )
    ]
    done = 0
    for listing_id in due:
        async with ledger.transaction(conn):
            await ledger.enter(conn, community_id)
            found = await conn.fetchval(
                "SELECT id FROM points.swap_listings WHERE id = $1 AND status = 'open'"
                " AND created_at <= now() - make_interval(days => points.swap_listing_days(community_id))"
                " FOR UPDATE",
                listing_id,
            )
            if found is None:
                continue
            async with translated():
                await conn.execute(
                    "UPDATE points.swap_listings SET status = 'expired', updated_at = now() WHERE id = $1"
                    " AND status = 'open'",
                    listing_id,
                )
            done += 1
    return done


async def find_members(conn: ledger.Connection, community_id: int, text: str) -> list[MemberMatch]:
    """Active members with a wallet whose name contains ``text``, or whose member number it is: at most
    ``MAX_MEMBER_MATCHES``, the number's own member first."""
    cleaned = text.strip()
    if not cleaned or len(cleaned) > 100 or "\x00" in cleaned:
        raise InvalidRequest(
            "type a member's name or number", errors=[field_problem("member", "required" if not cleaned else "invalid")]
        )
    number = int(cleaned) if cleaned.isascii() and cleaned.isdigit() and len(cleaned) <= 18 else None
    await ledger.enter(conn, community_id)
    rows = await conn.fetch(
        "SELECT m.id, m.display_name, h.label AS household FROM points.members m"
        " LEFT JOIN points.households h ON h.id = m.household_id"
        " WHERE m.community_id = $1 AND m.status = 'active' AND m.wallet_account_id IS NOT NULL"
        " AND (m.id = $2 OR m.display_name ILIKE $3) ORDER BY m.id = $2 DESC NULLS LAST, m.id LIMIT $4",
        community_id,
        number,
        _like(cleaned),
        MAX_MEMBER_MATCHES,
    )
    return [MemberMatch(r["id"], r["display_name"], r["household"]) for r in rows]


# ---- settings ---------------------------------------------------------------------------------------------------


async def get_settings(conn: ledger.Connection, community_id: int) -> Settings:
    await ledger.enter(conn, community_id)
    row = await conn.fetchrow(
        "SELECT handover_days, bonus_points, bonus_cap_per_month, bonus_type_id, listing_days FROM points.swap_settings"
        " WHERE community_id = $1",
        community_id,
    )
    if row is None:
        return Settings(DEFAULT_HANDOVER_DAYS, None, None, None, DEFAULT_LISTING_DAYS)
    return Settings(**dict(row))


async def update_settings(conn: ledger.Connection, community_id: int, settings: Settings) -> Settings:
    """The admin's settings: days to hand over after an accept, days a listing stays on the table before it
    expires, and the give-away bonus (points from the budget, as an award of the given activity type, at most
    ``bonus_cap_per_month`` per member a month), or none."""
    problems = []
    if not 1 <= settings.handover_days <= MAX_HANDOVER_DAYS:
        problems.append(field_problem("handover_days", "too_large", min=1, max=MAX_HANDOVER_DAYS))
    if not 1 <= settings.listing_days <= MAX_LISTING_DAYS:
        problems.append(field_problem("listing_days", "too_large", min=1, max=MAX_LISTING_DAYS))
    bonus = (settings.bonus_points, settings.bonus_cap_per_month, settings.bonus_type_id)
    if any(v is not None for v in bonus) and any(v is None for v in bonus):
        problems.append(field_problem("bonus_points", "required"))
    if settings.bonus_points is not None and not 1 <= settings.bonus_points <= MAX_BONUS_POINTS:
        problems.append(field_problem("bonus_points", "too_large", min=1, max=MAX_BONUS_POINTS))
    if settings.bonus_cap_per_month is not None and not 1 <= settings.bonus_cap_per_month <= MAX_BONUS_CAP:
        problems.append(field_problem("bonus_cap_per_month", "too_large", min=1, max=MAX_BONUS_CAP))
    if problems:
        raise InvalidRequest(
            "the swap settings are not valid: "
            + "; ".join(str(p.get("key")) for p in problems)
            + " (a bonus needs its points, its monthly cap and its activity type together)",
            errors=problems,
        )
    async with ledger.transaction(conn):
        await ledger.enter(conn, community_id)
        if settings.bonus_type_id is not None:
            found = await conn.fetchval(
                "SELECT 1 FROM points.activity_types WHERE id = $1 AND community_id = $2",
                settings.bonus_type_id,
                community_id,
            )
            if found is None:
                raise NotFound(f"no activity type {settings.bonus_type_id} in this community")
        await conn.execute(
            "INSERT INTO points.swap_settings AS s (community_id, handover_days, bonus_points, bonus_cap_per_month,"
            " bonus_type_id, listing_days) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (community_id) DO UPDATE SET"
            " handover_days = $2, bonus_points = $3, bonus_cap_per_month = $4, bonus_type_id = $5,"
            " listing_days = $6, updated_at = now()",
            community_id,
            settings.handover_days,
            settings.bonus_points,
            settings.bonus_cap_per_month,
            settings.bonus_type_id,
            settings.listing_days,
        )
        return await get_settings(conn, community_id)
