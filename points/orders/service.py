"""Service orders' rules: co-building units, orders from the resident's need to its confirmation, the jobs.

- **Ordering.** Any active member orders a service for themselves: a category (an activity type in use), a
  description, optionally a place of the community, a photo of their own and a wished time. An organizer or admin
  orders for a resident without a phone (代办: ``for_member_id``); the resident is whom it is for.
- **Dispatching** (organizers, admins): to a co-building unit that offers the category, or to 1-10 named
  volunteers, with a due time and the points each worker gets. The order's row is locked first, so of two
  dispatchers at once exactly one wins; the other finds it dispatched.
- **Taking.** A member of the unit, or a volunteer dispatched, accepts it or declines it with a reason (back to
  the dispatcher, state ordered). Not accepted within the community's accept timeout (48 h by default), the job
  returns it to the dispatcher the same way. Then whoever took it marks it done with a note, naming who did it.
- **Confirming.** The resident (or whoever ordered for them) confirms, or disputes with a reason (back to the
  dispatcher, who dispatches it again or cancels it). Not confirmed within the auto-confirm time (72 h), the job
  counts it as confirmed. On confirmation each worker is awarded the order's points through the one award path
  (``points.earning.awards.award_adhoc``: caps, household ban, maker-checker, 公示), the dispatcher as the maker,
  with a key per order, round and worker; a refused award (no budget, the dispatcher's own household ...) leaves
  the confirmation standing and is recorded on the worker for the dispatcher. Units earn no points.

Every change is one transaction under the order's row lock, re-checked after the lock; PostgreSQL checks the same
again and records every change itself (migration 0020, SQLSTATE class LO).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

import ledger
from ledger.errors import IdempotencyConflict
from ledger.model import check_key
from points import photos
from points.auth.access import Access
from points.auth.errors import ConflictOfInterest, Forbidden, InvalidRequest, NotFound
from points.earning import awards
from points.earning.errors import EarningError
from points.field_problems import field_problem
from points.orders.errors import OrderWrongState, UnitDoesNotOffer, translated
from points.publication.names import masked

DEFAULT_ACCEPT_HOURS = 48
DEFAULT_CONFIRM_HOURS = 72
MAX_HOURS = 720
MAX_DESCRIPTION_CHARS = 2000
MAX_NOTE_CHARS = 1000
MAX_REASON_CHARS = 500
MAX_VOLUNTEERS = 10
MAX_POINTS = 100_000
MAX_DUE_DAYS = 90
MAX_DONE_PHOTOS = 4
UNIT_KINDS = ("property", "school", "hospital", "company", "organisation", "other")
STATES = ("ordered", "dispatched", "accepted", "done", "confirmed", "disputed", "cancelled")
STAFF_ROLES = frozenset({"organizer", "admin"})
READ_ROLES = frozenset({"organizer", "admin", "street_admin"})


# --- settings ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderSettings:
    accept_hours: int
    confirm_hours: int


async def get_settings(conn: ledger.Connection, community_id: int) -> OrderSettings:
    await ledger.enter(conn, community_id)
    row = await conn.fetchrow("SELECT * FROM points.order_hours($1)", community_id)
    return OrderSettings(row["accept_hours"], row["confirm_hours"])


async def set_settings(
    conn: ledger.Connection, community_id: int, accept_hours: int, confirm_hours: int
) -> OrderSettings:
    for field, value in (("accept_hours", accept_hours), ("confirm_hours", confirm_hours)):
        if not 1 <= value <= MAX_HOURS:
            raise InvalidRequest(
                f"{field} is 1 to {MAX_HOURS}",
                errors=[field_problem(field, "too_small" if value < 1 else "too_large", max=MAX_HOURS)],
            )
    await ledger.enter(conn, community_id)
    await conn.execute(
        "INSERT INTO points.order_settings (community_id, accept_hours, confirm_hours) VALUES ($1, $2, $3)"
        " ON CONFLICT (community_id) DO UPDATE SET accept_hours = EXCLUDED.accept_hours,"
        " confirm_hours = EXCLUDED.confirm_hours, updated_at = now()",
        community_id,
        accept_hours,
        confirm_hours,
    )
    return OrderSettings(accept_hours, confirm_hours)


# --- co-building units -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnitMember:
    member_id: int
    display_name: str


@dataclass(frozen=True, slots=True)
class Unit:
    id: int
    name: str
    kind: str
    contact: str
    type_ids: tuple[int, ...]
    active: bool
    members: tuple[UnitMember, ...]
    taken: int  # orders the unit accepted
    completed: int  # of its orders, confirmed
    on_time: int  # of those, done by their due time


_UNIT = """
SELECT u.id, u.name, u.kind, u.contact, u.type_ids, u.active,
       (SELECT count(DISTINCT e.order_id) FROM points.service_order_events e
         WHERE e.unit_id = u.id AND e.kind = 'accepted') AS taken,
       (SELECT count(*) FROM points.service_orders o WHERE o.unit_id = u.id AND o.state = 'confirmed') AS completed,
       (SELECT count(*) FROM points.service_orders o
         WHERE o.unit_id = u.id AND o.state = 'confirmed' AND o.done_at <= o.due_at) AS on_time
  FROM points.service_units u
"""


async def _units(conn: ledger.Connection, rows: Sequence[asyncpg.Record]) -> list[Unit]:
    ids = [r["id"] for r in rows]
    found: dict[int, list[UnitMember]] = {}
    for m in await conn.fetch(
        "SELECT um.unit_id, um.member_id, m.display_name FROM points.service_unit_members um"
        " JOIN points.members m ON m.id = um.member_id WHERE um.unit_id = ANY($1::bigint[])"
        " ORDER BY um.unit_id, m.display_name, um.member_id",
        ids,
    ):
        found.setdefault(m["unit_id"], []).append(UnitMember(m["member_id"], m["display_name"]))
    return [
        Unit(
            r["id"],
            r["name"],
            r["kind"],
            r["contact"],
            tuple(r["type_ids"]),
            r["active"],
            tuple(found.get(r["id"], ())),
            r["taken"],
            r["completed"],
            r["on_time"],
        )
        for r in rows
    ]


async def list_units(conn: ledger.Connection, community_id: int) -> list[Unit]:
    await ledger.enter(conn, community_id)
    rows = await conn.fetch(_UNIT + " WHERE u.community_id = $1 ORDER BY u.name, u.id", community_id)
    return await _units(conn, rows)


async def get_unit(conn: ledger.Connection, community_id: int, unit_id: int) -> Unit:
    await ledger.enter(conn, community_id)
    rows = await conn.fetch(_UNIT + " WHERE u.id = $1 AND u.community_id = $2", unit_id, community_id)
    if not rows:
        raise NotFound(f"no co-building unit {unit_id} in this community", unit_id=unit_id)
    return (await _units(conn, rows))[0]


def _check_text(field: str, value: str, most: int, *, blank_ok: bool = False) -> str:
    text = value.strip()
    if not text and not blank_ok:
        # Worded apart from the decoder's own "... is required" (tests/test_schemathesis.py tells the two apart).
        raise InvalidRequest(
            f"{field} is required: write it in words, not only spaces", errors=[field_problem(field, "required")]
        )
    if len(value) > most:
        raise InvalidRequest(
            f"{field} has at most {most} characters",
            errors=[field_problem(field, "too_long", max=most, unit="characters")],
        )
    return text


async def _check_unit_fields(
    conn: ledger.Connection, community_id: int, name: str, kind: str, contact: str, type_ids: Sequence[int],
    member_ids: Sequence[int],
) -> str:  # fmt: skip
    text = _check_text("name", name, 100)
    if kind not in UNIT_KINDS:
        raise InvalidRequest(f"kind is one of {', '.join(UNIT_KINDS)}", errors=[field_problem("kind", "invalid")])
    _check_text("contact", contact, 200, blank_ok=True)
    for field, ids in (("type_ids", type_ids), ("member_ids", member_ids)):
        if len(ids) > 50 or len(set(ids)) != len(ids):
            raise InvalidRequest(f"{field} lists at most 50 ids, each once", errors=[field_problem(field, "invalid")])
    known = await conn.fetchval(
        "SELECT count(*) FROM points.activity_types WHERE community_id = $1 AND id = ANY($2::bigint[])",
        community_id,
        list(type_ids),
    )
    if known != len(type_ids):
        raise NotFound("an activity type in type_ids is not of this community")
    members = await conn.fetchval(
        "SELECT count(*) FROM points.members WHERE community_id = $1 AND id = ANY($2::bigint[]) AND status = 'active'",
        community_id,
        list(member_ids),
    )
    if members != len(member_ids):
        raise NotFound("a member in member_ids is not an active member of this community")
    return text


async def create_unit(
    conn: ledger.Connection, access: Access, *, name: str, kind: str, contact: str, type_ids: Sequence[int],
    member_ids: Sequence[int],
) -> Unit:  # fmt: skip
    community_id = access.community_id
    async with ledger.transaction(conn):
        await ledger.enter(conn, community_id)
        text = await _check_unit_fields(conn, community_id, name, kind, contact, type_ids, member_ids)
        if await conn.fetchval(
            "SELECT 1 FROM points.service_units WHERE community_id = $1 AND name = $2", community_id, text
        ):
            raise InvalidRequest(f"a unit named {text} exists already", errors=[field_problem("name", "taken")])
        async with translated():
            unit_id = await conn.fetchval(
                "INSERT INTO points.service_units (community_id, name, kind, contact, type_ids)"
                " VALUES ($1, $2, $3, $4, $5) RETURNING id",
                community_id,
                text,
                kind,
                contact.strip(),
                list(type_ids),
            )
            await _set_members(conn, community_id, unit_id, member_ids)
        return await get_unit(conn, community_id, unit_id)


async def update_unit(
    conn: ledger.Connection, access: Access, unit_id: int, *, name: str, kind: str, contact: str,
    type_ids: Sequence[int], member_ids: Sequence[int], active: bool,
) -> Unit:  # fmt: skip
    """The whole unit each time: its name, kind, contact, what it offers, who acts for it, active or not."""
    community_id = access.community_id
    async with ledger.transaction(conn):
        await ledger.enter(conn, community_id)
        if not await conn.fetchval(
            "SELECT 1 FROM points.service_units WHERE id = $1 AND community_id = $2 FOR UPDATE", unit_id, community_id
        ):
            raise NotFound(f"no co-building unit {unit_id} in this community", unit_id=unit_id)
        text = await _check_unit_fields(conn, community_id, name, kind, contact, type_ids, member_ids)
        if await conn.fetchval(
            "SELECT 1 FROM points.service_units WHERE community_id = $1 AND name = $2 AND id <> $3",
            community_id,
            text,
            unit_id,
        ):
            raise InvalidRequest(f"a unit named {text} exists already", errors=[field_problem("name", "taken")])
        async with translated():
            await conn.execute(
                "UPDATE points.service_units SET name = $2, kind = $3, contact = $4, type_ids = $5, active = $6"
                " WHERE id = $1",
                unit_id,
                text,
                kind,
                contact.strip(),
                list(type_ids),
                active,
            )
            await conn.execute("DELETE FROM points.service_unit_members WHERE unit_id = $1", unit_id)
            await _set_members(conn, community_id, unit_id, member_ids)
        return await get_unit(conn, community_id, unit_id)


async def _set_members(conn: ledger.Connection, community_id: int, unit_id: int, member_ids: Sequence[int]) -> None:
    if member_ids:
        await conn.execute(
            "INSERT INTO points.service_unit_members (unit_id, member_id, community_id)"
            " SELECT $1, m, $2 FROM unnest($3::bigint[]) m",
            unit_id,
            community_id,
            list(member_ids),
        )


# --- orders ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    kind: str
    from_state: str | None
    to_state: str
    member_id: int | None
    member_name: str | None  # None: the scheduled jobs
    unit_id: int | None
    round: int
    note: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Worker:
    member_id: int
    display_name: str
    award_id: int | None
    award_state: str | None
    points: int | None  # what the award paid, after the caps
    award_refusal: str | None


@dataclass(frozen=True, slots=True)
class Order:
    id: int
    type_id: int
    type_name: str
    description: str
    place_id: int | None
    place_name: str | None
    photo_id: int | None
    wished_at: datetime | None
    ordered_by_member_id: int
    ordered_by_name: str
    for_member_id: int
    for_name: str
    state: str
    created_at: datetime
    dispatch_round: int
    dispatched_by_member_id: int | None
    dispatched_at: datetime | None
    due_at: datetime | None
    unit_id: int | None
    unit_name: str | None
    points: int | None
    accepted_by_member_id: int | None
    accepted_at: datetime | None
    done_by_member_id: int | None
    done_at: datetime | None
    done_note: str | None
    done_photo_ids: tuple[int, ...]  # the completion's photos (at most four), the taker's own
    confirmed_at: datetime | None
    overdue: bool
    photos_public: bool  # the resident agrees its photo and the completion's are shown on 晒单
    ordering_unit_id: int | None  # a member unit's 点单: the unit it was ordered for (by one of its members)
    ordering_unit_name: str | None
    assignees: tuple[UnitMember, ...] = ()
    workers: tuple[Worker, ...] = ()
    events: tuple[Event, ...] = ()
    replayed: bool = False  # placed before with the same Idempotency-Key: this is that order, nothing new

    @property
    def proxy(self) -> bool:
        return self.for_member_id != self.ordered_by_member_id


_ORDER = """
SELECT o.id, o.type_id, t.name AS type_name, o.description, o.place_id, p.name AS place_name, o.photo_id,
       o.wished_at, o.ordered_by_member_id, ob.display_name AS ordered_by_name, o.for_member_id,
       f.display_name AS for_name, o.state, o.created_at, o.dispatch_round, o.dispatched_by_member_id,
       o.dispatched_at, o.due_at, o.unit_id, u.name AS unit_name, o.points, o.accepted_by_member_id, o.accepted_at,
       o.done_by_member_id, o.done_at, o.done_note, o.done_photo_ids, o.confirmed_at,
       (o.state IN ('dispatched', 'accepted') AND o.due_at < now()) AS overdue, o.photos_public,
       o.ordered_for_unit_id AS ordering_unit_id, ou.name AS ordering_unit_name
  FROM points.service_orders o
  JOIN points.activity_types t ON t.id = o.type_id
  JOIN points.members ob ON ob.id = o.ordered_by_member_id
  JOIN points.members f ON f.id = o.for_member_id
  LEFT JOIN points.places p ON p.id = o.place_id
  LEFT JOIN points.service_units u ON u.id = o.unit_id
  LEFT JOIN points.service_units ou ON ou.id = o.ordered_for_unit_id
"""
_ORDER_FIELDS = (
    "id", "type_id", "type_name", "description", "place_id", "place_name", "photo_id", "wished_at",
    "ordered_by_member_id", "ordered_by_name", "for_member_id", "for_name", "state", "created_at", "dispatch_round",
    "dispatched_by_member_id", "dispatched_at", "due_at", "unit_id", "unit_name", "points", "accepted_by_member_id",
    "accepted_at", "done_by_member_id", "done_at", "done_note", "confirmed_at", "overdue", "photos_public",
    "ordering_unit_id", "ordering_unit_name",
)  # fmt: skip


def _order(r: asyncpg.Record, **more: Any) -> Order:
    return Order(**{name: r[name] for name in _ORDER_FIELDS}, done_photo_ids=tuple(r["done_photo_ids"]), **more)


async def get_order(conn: ledger.Connection, community_id: int, order_id: int) -> Order:
    """An order with its assignees, workers and history."""
    await ledger.enter(conn, community_id)
    row = await conn.fetchrow(_ORDER + " WHERE o.id = $1 AND o.community_id = $2", order_id, community_id)
    if row is None:
        raise NotFound(f"no order {order_id} in this community", order_id=order_id)
    assignees = await conn.fetch(
        "SELECT a.member_id, m.display_name FROM points.service_order_assignees a"
        " JOIN points.members m ON m.id = a.member_id WHERE a.order_id = $1 AND a.round = $2 ORDER BY a.member_id",
        order_id,
        row["dispatch_round"],
    )
    workers = await conn.fetch(
        "SELECT w.member_id, m.display_name, w.award_id, aw.state AS award_state, l.points, w.award_refusal"
        " FROM points.service_order_workers w JOIN points.members m ON m.id = w.member_id"
        " LEFT JOIN points.awards aw ON aw.id = w.award_id"
        " LEFT JOIN points.award_lines l ON l.award_id = w.award_id AND l.member_id = w.member_id"
        " WHERE w.order_id = $1 AND w.round = $2 ORDER BY w.member_id",
        order_id,
        row["dispatch_round"],
    )
    events = await conn.fetch(
        "SELECT e.kind, e.from_state, e.to_state, e.member_id, m.display_name, e.unit_id, e.round, e.note, e.at"
        " FROM points.service_order_events e LEFT JOIN points.members m ON m.id = e.member_id"
        " WHERE e.order_id = $1 ORDER BY e.id",
        order_id,
    )
    return _order(
        row,
        assignees=tuple(UnitMember(a["member_id"], a["display_name"]) for a in assignees),
        workers=tuple(Worker(*w) for w in workers),
        events=tuple(Event(*e) for e in events),
    )


async def _visible(conn: ledger.Connection, access: Access, order: Order) -> Order:
    """Staff see every order; a member sees the orders they placed or that are for them, the orders their unit or
    they themselves were dispatched, and the orders placed for a unit they act for (a colleague's, read only: the
    member who placed it confirms it); others get the same 404 as for an order that does not exist."""
    if access.roles & READ_ROLES or access.member_id in (order.ordered_by_member_id, order.for_member_id):
        return order
    if access.member_id is not None and (
        access.member_id in {a.member_id for a in order.assignees}
        or await conn.fetchval(
            "SELECT 1 FROM points.service_unit_members WHERE unit_id = ANY($1::bigint[]) AND member_id = $2",
            [u for u in (order.unit_id, order.ordering_unit_id) if u is not None],
            access.member_id,
        )
    ):
        return order
    raise NotFound(f"no order {order.id} in this community", order_id=order.id)


async def read_order(conn: ledger.Connection, access: Access, order_id: int) -> Order:
    return await _visible(conn, access, await get_order(conn, access.community_id, order_id))


async def list_orders(
    conn: ledger.Connection, community_id: int, *, state: str | None = None, overdue: bool = False,
    before_id: int | None = None, limit: int = 50,
) -> list[Order]:  # fmt: skip
    """Newest first; ``overdue``: dispatched or accepted past their due time (for the admin)."""
    await ledger.enter(conn, community_id)
    rows = await conn.fetch(
        _ORDER + " WHERE o.community_id = $1 AND ($2::text IS NULL OR o.state = $2)"
        " AND (NOT $3 OR (o.state IN ('dispatched', 'accepted') AND o.due_at < now()))"
        " AND ($4::bigint IS NULL OR o.id < $4) ORDER BY o.id DESC LIMIT $5",
        community_id,
        state,
        overdue,
        before_id,
        limit,
    )
    return [_order(r) for r in rows]


async def my_orders(conn: ledger.Connection, access: Access, *, limit: int = 100) -> list[Order]:
    """The orders the member placed or that are for them, and those placed for a unit they act for, newest first."""
    await ledger.enter(conn, access.community_id)
    rows = await conn.fetch(
        _ORDER + " WHERE o.community_id = $1 AND ($2 IN (o.ordered_by_member_id, o.for_member_id)"
        " OR o.ordered_for_unit_id IN (SELECT um.unit_id FROM points.service_unit_members um WHERE um.member_id = $2))"
        " ORDER BY o.id DESC LIMIT $3",
        access.community_id,
        access.member_id,
        limit,
    )
    return [_order(r) for r in rows]


async def taken_orders(conn: ledger.Connection, access: Access, *, limit: int = 100) -> list[Order]:
    """The orders dispatched to the member's units or to the member by name (their current round), newest first."""
    await ledger.enter(conn, access.community_id)
    rows = await conn.fetch(
        _ORDER + " WHERE o.community_id = $1 AND o.state IN ('dispatched', 'accepted', 'done', 'confirmed')"
        " AND (EXISTS (SELECT 1 FROM points.service_unit_members um WHERE um.unit_id = o.unit_id"
        " AND um.member_id = $2) OR EXISTS (SELECT 1 FROM points.service_order_assignees a WHERE a.order_id = o.id"
        " AND a.round = o.dispatch_round AND a.member_id = $2)) ORDER BY o.id DESC LIMIT $3",
        access.community_id,
        access.member_id,
        limit,
    )
    return [_order(r) for r in rows]


def _member(access: Access) -> int:
    if access.member_id is None:
        raise Forbidden("only a member of the community orders, takes or confirms services")
    return access.member_id


async def post_order(
    conn: ledger.Connection, access: Access, *, type_id: int, description: str, place_id: int | None = None,
    photo_id: int | None = None, wished_at: datetime | None = None, for_member_id: int | None = None,
    idempotency_key: str | None = None, photos_public: bool = False, unit_id: int | None = None,
) -> Order:  # fmt: skip
    """A resident's order; an organizer's or admin's for someone else (代办); a unit's, placed by a member who acts
    for it (``unit_id``: a member unit's 点单, for the orderer, never 代办 too). ``photos_public``: the resident
    agrees its photo and the completion's may be shown on 晒单 (changed later with ``set_photo_consent``).

    With an ``idempotency_key`` (unique per orderer): a retry with the same key and the same need answers the
    order placed first (``replayed``) and places nothing; the same key with another need is refused
    (``IdempotencyConflict``). Two at once with one key: PostgreSQL's unique key lets one in, the other waits for
    it and then answers it."""
    orderer = _member(access)
    text = _check_text("description", description, MAX_DESCRIPTION_CHARS)
    if idempotency_key is not None and check_key(idempotency_key):
        raise InvalidRequest(check_key(idempotency_key)[0], errors=[field_problem("Idempotency-Key", "invalid")])
    if unit_id is not None and for_member_id is not None and for_member_id != orderer:
        raise InvalidRequest(
            "a unit's order is for the unit (its orderer): not for someone else too",
            errors=[field_problem("for_member_id", "invalid")],
        )
    community_id = access.community_id
    resident = orderer if for_member_id is None else for_member_id
    need = (type_id, text, place_id, photo_id, wished_at, resident, unit_id)
    async with ledger.transaction(conn):
        await ledger.enter(conn, community_id)
        if idempotency_key is not None:
            replay = await _replay(conn, community_id, orderer, idempotency_key, need)
            if replay is not None:
                return replay
        if resident != orderer:
            if not access.roles & STAFF_ROLES:
                raise Forbidden("only an organizer or admin orders for someone else (代办)")
            status = await conn.fetchval(
                "SELECT status FROM points.members WHERE id = $1 AND community_id = $2", resident, community_id
            )
            if status is None:
                raise NotFound(f"no member {resident} in this community", member_id=resident)
            if status != "active":
                raise InvalidRequest(
                    f"member {resident} is {status}", errors=[field_problem("for_member_id", "invalid")]
                )
        if unit_id is not None:
            await _check_ordering_unit(conn, community_id, unit_id, orderer)
        active = await conn.fetchval(
            "SELECT active FROM points.activity_types WHERE id = $1 AND community_id = $2", type_id, community_id
        )
        if active is None:
            raise NotFound(f"no activity type {type_id} in this community", type_id=type_id)
        if not active:
            raise InvalidRequest("that category is no longer used", errors=[field_problem("type_id", "invalid")])
        if place_id is not None and not await conn.fetchval(
            "SELECT 1 FROM points.places WHERE id = $1 AND community_id = $2", place_id, community_id
        ):
            raise NotFound(f"no place {place_id} in this community", place_id=place_id)
        await _check_photo(conn, community_id, photo_id, orderer)
        async with translated():
            order_id = await conn.fetchval(
                "INSERT INTO points.service_orders (community_id, type_id, description, place_id, photo_id,"
                " wished_at, ordered_by_member_id, for_member_id, actor_member_id, idempotency_key, photos_public,"
                " ordered_for_unit_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7, $9, $10, $11)"
                " ON CONFLICT ON CONSTRAINT service_orders_idempotency_key DO NOTHING RETURNING id",
                community_id,
                type_id,
                text,
                place_id,
                photo_id,
                wished_at,
                orderer,
                resident,
                idempotency_key,
                photos_public,
                unit_id,
            )
        if order_id is None:  # the same key, committed by a request at the same time (we waited for it)
            assert idempotency_key is not None
            replay = await _replay(conn, community_id, orderer, idempotency_key, need)
            assert replay is not None
            return replay
        return await get_order(conn, community_id, order_id)


async def placed_with_key(conn: ledger.Connection, access: Access, key: str) -> Order | None:
    """The order the caller placed with this idempotency key, if any: a page retrying its form asks first, so that
    a photo sent again is not stored again (it would be another photo, so another need, and refused)."""
    orderer = _member(access)
    await ledger.enter(conn, access.community_id)
    found = await conn.fetchval(
        "SELECT id FROM points.service_orders WHERE community_id = $1 AND ordered_by_member_id = $2"
        " AND idempotency_key = $3",
        access.community_id,
        orderer,
        key,
    )
    return None if found is None else await get_order(conn, access.community_id, found)


async def _replay(
    conn: ledger.Connection, community_id: int, orderer: int, key: str, need: tuple[Any, ...]
) -> Order | None:
    """The order the orderer placed with this key, if any, when it asked for the same need; another need: 409.
    The photo consent is not part of the need (the resident may have changed it since)."""
    row = await conn.fetchrow(
        "SELECT id, type_id, description, place_id, photo_id, wished_at, for_member_id, ordered_for_unit_id"
        " FROM points.service_orders WHERE community_id = $1 AND ordered_by_member_id = $2 AND idempotency_key = $3",
        community_id,
        orderer,
        key,
    )
    if row is None:
        return None
    if tuple(row.values())[1:] != need:
        raise IdempotencyConflict("the idempotency key was used for a different order")
    return replace(await get_order(conn, community_id, row["id"]), replayed=True)


async def _check_ordering_unit(conn: ledger.Connection, community_id: int, unit_id: int, member_id: int) -> None:
    unit = await conn.fetchrow(
        "SELECT u.active, EXISTS (SELECT 1 FROM points.service_unit_members um WHERE um.unit_id = u.id"
        " AND um.member_id = $3) AS mine FROM points.service_units u WHERE u.id = $1 AND u.community_id = $2",
        unit_id,
        community_id,
        member_id,
    )
    if unit is None:
        raise NotFound(f"no co-building unit {unit_id} in this community", unit_id=unit_id)
    if not unit["mine"]:
        raise Forbidden("only a member who acts for the unit orders on its behalf")
    if not unit["active"]:
        raise InvalidRequest("that unit is not active", errors=[field_problem("unit_id", "invalid")])


async def _check_photo(
    conn: ledger.Connection, community_id: int, photo_id: int | None, member_id: int, *, field: str = "photo_id"
) -> None:
    if photo_id is None:
        return
    uploader = await conn.fetchval(
        "SELECT uploaded_by_member_id FROM points.photos WHERE id = $1 AND community_id = $2", photo_id, community_id
    )
    if uploader is None:
        raise NotFound(f"no photo {photo_id} in this community", photo_id=photo_id)
    if uploader != member_id:
        raise InvalidRequest(
            "the photo must be one you uploaded",
            errors=[field_problem(field, "invalid", message=f"{field}: photo {photo_id} is another member's photo")],
        )


async def _locked(conn: ledger.Connection, access: Access, order_id: int) -> asyncpg.Record:
    """The order's row, locked: every change takes it first, so two changes at once come one after the other and
    the second sees what the first did."""
    row = await conn.fetchrow(
        "SELECT * FROM points.service_orders WHERE id = $1 AND community_id = $2 FOR UPDATE",
        order_id,
        access.community_id,
    )
    if row is None:
        raise NotFound(f"no order {order_id} in this community", order_id=order_id)
    return row


def _wrong_state(row: asyncpg.Record, wanted: str) -> OrderWrongState:
    return OrderWrongState(f"the order is {row['state']}: {wanted}", state=row["state"], order_id=row["id"])


async def _takes(conn: ledger.Connection, row: asyncpg.Record, member_id: int) -> bool:
    if row["unit_id"] is not None:
        return bool(
            await conn.fetchval(
                "SELECT 1 FROM points.service_unit_members WHERE unit_id = $1 AND member_id = $2",
                row["unit_id"],
                member_id,
            )
        )
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM points.service_order_assignees WHERE order_id = $1 AND round = $2 AND member_id = $3",
            row["id"],
            row["dispatch_round"],
            member_id,
        )
    )


async def dispatch(
    conn: ledger.Connection, access: Access, order_id: int, *, due_at: datetime, unit_id: int | None = None,
    volunteer_ids: Sequence[int] = (), points: int | None = None, note: str = "",
) -> Order:  # fmt: skip
    """Send a new or returned (declined, not accepted in time, disputed) order to a unit or to named volunteers."""
    dispatcher = _member(access)
    if not access.roles & STAFF_ROLES:
        raise Forbidden("an organizer or admin dispatches orders")
    if (unit_id is None) == (not volunteer_ids):
        raise InvalidRequest(
            "dispatch to a unit (unit_id) or to volunteers (volunteer_ids), one of the two",
            errors=[field_problem("unit_id", "invalid")],
        )
    if len(volunteer_ids) > MAX_VOLUNTEERS or len(set(volunteer_ids)) != len(volunteer_ids):
        raise InvalidRequest(
            f"volunteer_ids names 1 to {MAX_VOLUNTEERS} members, each once",
            errors=[field_problem("volunteer_ids", "invalid")],
        )
    now = datetime.now(UTC)
    if due_at <= now or due_at > now + timedelta(days=MAX_DUE_DAYS):
        raise InvalidRequest(
            f"due_at is a time within the next {MAX_DUE_DAYS} days",
            errors=[field_problem("due_at", "invalid", message=f"due_at is within the next {MAX_DUE_DAYS} days")],
        )
    if points is not None and not 1 <= points <= MAX_POINTS:
        raise InvalidRequest(
            f"points is 1 to {MAX_POINTS}", errors=[field_problem("points", "too_large", max=MAX_POINTS)]
        )
    text = _check_text("note", note, MAX_REASON_CHARS, blank_ok=True) or None
    community_id = access.community_id
    async with ledger.transaction(conn):
        await ledger.enter(conn, community_id)
        row = await _locked(conn, access, order_id)
        if row["state"] not in ("ordered", "disputed"):
            raise _wrong_state(row, "only an order waiting for its dispatcher is dispatched")
        default_points = await conn.fetchval(
            "SELECT default_points FROM points.activity_types WHERE id = $1", row["type_id"]
        )
        paid = points if points is not None else default_points
        if not paid:
            raise InvalidRequest(
                "this category has no default points: say how many points each worker gets",
                errors=[field_problem("points", "required")],
            )
        if unit_id is not None:
            unit = await conn.fetchrow(
                "SELECT active, type_ids, name FROM points.service_units WHERE id = $1 AND community_id = $2",
                unit_id,
                community_id,
            )
            if unit is None:
                raise NotFound(f"no co-building unit {unit_id} in this community", unit_id=unit_id)
            if not unit["active"] or (unit["type_ids"] and row["type_id"] not in unit["type_ids"]):
                raise UnitDoesNotOffer(f"{unit['name']} does not take orders of this category", unit_id=unit_id)
            if unit_id == row["ordered_for_unit_id"]:
                # Its own members would do it, confirm it and be paid for it: another unit or volunteers do.
                raise UnitDoesNotOffer(f"{unit['name']} placed this order: it is not dispatched to itself",
                                       unit_id=unit_id)  # fmt: skip
        else:
            found = await conn.fetchval(
                "SELECT count(*) FROM points.members WHERE community_id = $1 AND id = ANY($2::bigint[])"
                " AND status = 'active'",
                community_id,
                list(volunteer_ids),
            )
            if found != len(volunteer_ids):
                raise NotFound("a member in volunteer_ids is not an active member of this community")
        async with translated():
            await conn.execute(
                "UPDATE points.service_orders SET state = 'dispatched', dispatch_round = dispatch_round + 1,"
                " dispatched_by_member_id = $2, dispatched_at = now(), due_at = $3, unit_id = $4, points = $5,"
                " accepted_by_member_id = NULL, accepted_at = NULL, done_by_member_id = NULL, done_at = NULL,"
                " done_note = NULL, done_photo_ids = '{}', actor_member_id = $2, change_note = $6 WHERE id = $1",
                order_id,
                dispatcher,
                due_at,
                unit_id,
                paid,
                text,
            )
            if volunteer_ids:
                await conn.execute(
                    "INSERT INTO points.service_order_assignees (order_id, round, member_id, community_id)"
                    " SELECT $1, $2, m, $3 FROM unnest($4::bigint[]) m",
                    order_id,
                    row["dispatch_round"] + 1,
                    community_id,
                    list(volunteer_ids),
                )
        return await get_order(conn, community_id, order_id)


async def accept(conn: ledger.Connection, access: Access, order_id: int) -> Order:
    """A member of the unit, or a volunteer dispatched, takes the order."""
    member = _member(access)
    async with ledger.transaction(conn):
        await ledger.enter(conn, access.community_id)
        row = await _locked(conn, access, order_id)
        await _visible(conn, access, await get_order(conn, access.community_id, order_id))
        if row["state"] != "dispatched":
            raise _wrong_state(row, "only a dispatched order is accepted")
        if not await _takes(conn, row, member):
            raise Forbidden("the order was dispatched to another unit or to other volunteers")
        async with translated():
            await conn.execute(
                "UPDATE points.service_orders SET state = 'accepted', accepted_by_member_id = $2, accepted_at = now(),"
                " actor_member_id = $2, change_note = NULL WHERE id = $1",
                order_id,
                member,
            )
        return await get_order(conn, access.community_id, order_id)


async def decline(conn: ledger.Connection, access: Access, order_id: int, reason: str) -> Order:
    """The unit or a volunteer dispatched turns it down, with a reason: it goes back to the dispatcher."""
    member = _member(access)
    text = _check_text("reason", reason, MAX_REASON_CHARS)
    async with ledger.transaction(conn):
        await ledger.enter(conn, access.community_id)
        row = await _locked(conn, access, order_id)
        await _visible(conn, access, await get_order(conn, access.community_id, order_id))
        if row["state"] != "dispatched":
            raise _wrong_state(row, "only a dispatched order is declined")
        if not await _takes(conn, row, member):
            raise Forbidden("the order was dispatched to another unit or to other volunteers")
        await _return(conn, order_id, member, text)
        return await get_order(conn, access.community_id, order_id)


async def _return(conn: ledger.Connection, order_id: int, member_id: int | None, note: str) -> None:
    async with translated():
        await conn.execute(
            "UPDATE points.service_orders SET state = 'ordered', unit_id = NULL, due_at = NULL,"
            " actor_member_id = $2, change_note = $3 WHERE id = $1",
            order_id,
            member_id,
            note,
        )


async def complete(
    conn: ledger.Connection, access: Access, order_id: int, *, note: str, volunteer_ids: Sequence[int] | None = None,
    photo_ids: Sequence[int] = (), photo_id: int | None = None,
) -> Order:  # fmt: skip
    """Whoever took it marks it done, with a note and who did it (for volunteers dispatched: those of them named,
    all of them unless said; for a unit: the members named, who get the points — the unit itself gets none), and
    up to four photos of the result (``photo_ids``, each one the caller uploaded; ``photo_id``: one, first)."""
    member = _member(access)
    text = _check_text("note", note, MAX_NOTE_CHARS)
    photos = ([photo_id] if photo_id is not None else []) + list(photo_ids)
    if len(photos) > MAX_DONE_PHOTOS or len(set(photos)) != len(photos):
        raise InvalidRequest(
            f"photo_ids lists at most {MAX_DONE_PHOTOS} photos, each once",
            errors=[field_problem("photo_ids", "invalid", max=MAX_DONE_PHOTOS)],
        )
    if volunteer_ids is not None and (
        len(volunteer_ids) > MAX_VOLUNTEERS or len(set(volunteer_ids)) != len(volunteer_ids)
    ):
        raise InvalidRequest(
            f"volunteer_ids names at most {MAX_VOLUNTEERS} members, each once",
            errors=[field_problem("volunteer_ids", "invalid")],
        )
    community_id = access.community_id
    async with ledger.transaction(conn):
        await ledger.enter(conn, community_id)
        row = await _locked(conn, access, order_id)
        order = await _visible(conn, access, await get_order(conn, community_id, order_id))
        if row["state"] != "accepted":
            raise _wrong_state(row, "only an accepted order is marked done")
        if member != row["accepted_by_member_id"] and not await _takes(conn, row, member):
            raise Forbidden("whoever took the order marks it done")
        for each in photos:
            await _check_photo(conn, community_id, each, member, field="photo_ids")
        if volunteer_ids is None:
            workers = [a.member_id for a in order.assignees]
        else:
            workers = list(volunteer_ids)
            allowed = {a.member_id for a in order.assignees}
            if row["unit_id"] is None and not set(workers) <= allowed:
                raise InvalidRequest(
                    "only the volunteers dispatched are named as having done it",
                    errors=[field_problem("volunteer_ids", "invalid")],
                )
            found = await conn.fetchval(
                "SELECT count(*) FROM points.members WHERE community_id = $1 AND id = ANY($2::bigint[])"
                " AND status = 'active'",
                community_id,
                workers,
            )
            if found != len(workers):
                raise NotFound("a member in volunteer_ids is not an active member of this community")
        async with translated():
            await conn.execute(
                "UPDATE points.service_orders SET state = 'done', done_by_member_id = $2, done_at = now(),"
                " done_note = $3, done_photo_ids = $4::bigint[], actor_member_id = $2, change_note = NULL"
                " WHERE id = $1",
                order_id,
                member,
                text,
                photos,
            )
            if workers:
                await conn.execute(
                    "INSERT INTO points.service_order_workers (order_id, round, member_id, community_id)"
                    " SELECT $1, $2, m, $3 FROM unnest($4::bigint[]) m",
                    order_id,
                    row["dispatch_round"],
                    community_id,
                    workers,
                )
        return await get_order(conn, community_id, order_id)


def _resident(access: Access, row: asyncpg.Record) -> int:
    member = _member(access)
    if member not in (row["for_member_id"], row["ordered_by_member_id"]):
        raise Forbidden("the resident confirms or disputes the order (or whoever ordered it for them)")
    return member


async def confirm(conn: ledger.Connection, access: Access, order_id: int) -> Order:
    """The resident confirms it was done: the workers are awarded their points."""
    async with ledger.transaction(conn):
        await ledger.enter(conn, access.community_id)
        row = await _locked(conn, access, order_id)
        await _visible(conn, access, await get_order(conn, access.community_id, order_id))
        if row["state"] != "done":
            raise _wrong_state(row, "only an order marked done is confirmed")
        member = _resident(access, row)
        await _confirm(conn, access.community_id, row, member)
        return await get_order(conn, access.community_id, order_id)


async def _confirm(conn: ledger.Connection, community_id: int, row: asyncpg.Record, member_id: int | None) -> None:
    async with translated():
        await conn.execute(
            "UPDATE points.service_orders SET state = 'confirmed', confirmed_at = now(), actor_member_id = $2,"
            " change_note = NULL WHERE id = $1",
            row["id"],
            member_id,
        )
    await _pay_workers(conn, community_id, row)


async def _pay_workers(conn: ledger.Connection, community_id: int, row: asyncpg.Record) -> None:
    """Each worker of the final round: the order's points through the one award path, made by the dispatcher. A
    refusal (no budget, the dispatcher's household, a worker no longer active ...) is rolled back to its savepoint
    and recorded, and the confirmation stands."""
    maker = await _as_member(conn, community_id, row["dispatched_by_member_id"])
    type_name = await conn.fetchval("SELECT name FROM points.activity_types WHERE id = $1", row["type_id"])
    workers = await conn.fetch(
        "SELECT member_id FROM points.service_order_workers WHERE order_id = $1 AND round = $2 ORDER BY member_id",
        row["id"],
        row["dispatch_round"],
    )
    for w in workers:
        award_id, refusal = None, None
        try:
            award = await awards.award_adhoc(
                conn,
                maker,
                member_id=w["member_id"],
                type_id=row["type_id"],
                points=row["points"],
                reason=f"点单 #{row['id']} · {type_name}: {row['description']}"[:200],
                idempotency_key=f"order:{row['id']}:{row['dispatch_round']}:{w['member_id']}",
            )
            award_id = award.id
        except (EarningError, ConflictOfInterest, InvalidRequest, NotFound, Forbidden, ledger.LedgerError) as exc:
            refusal = str(getattr(exc, "code", "refused"))[:100]
        async with translated():
            await conn.execute(
                "UPDATE points.service_order_workers SET award_id = $4, award_refusal = $5"
                " WHERE order_id = $1 AND round = $2 AND member_id = $3",
                row["id"],
                row["dispatch_round"],
                w["member_id"],
                award_id,
                refusal,
            )


async def _as_member(conn: ledger.Connection, community_id: int, member_id: int) -> Access:
    """The dispatcher as the awards service takes its maker (also when the job confirms, with nobody signed in)."""
    row = await conn.fetchrow(
        "SELECT m.id, m.status, m.household_id, m.wallet_account_id, coalesce(m.person_id, 0) AS person_id,"
        " ARRAY(SELECT g.role FROM points.role_grants g WHERE g.member_id = m.id AND g.revoked_at IS NULL) AS roles"
        " FROM points.members m WHERE m.id = $1",
        member_id,
    )
    return Access(
        community_id, row["id"], row["status"], row["household_id"], row["wallet_account_id"],
        frozenset(row["roles"]), row["person_id"], False,
    )  # fmt: skip


async def dispute(conn: ledger.Connection, access: Access, order_id: int, reason: str) -> Order:
    """The resident says it was not done (or not well), with a reason: back to the dispatcher."""
    text = _check_text("reason", reason, MAX_REASON_CHARS)
    async with ledger.transaction(conn):
        await ledger.enter(conn, access.community_id)
        row = await _locked(conn, access, order_id)
        await _visible(conn, access, await get_order(conn, access.community_id, order_id))
        if row["state"] != "done":
            raise _wrong_state(row, "only an order marked done is disputed")
        member = _resident(access, row)
        async with translated():
            await conn.execute(
                "UPDATE points.service_orders SET state = 'disputed', actor_member_id = $2, change_note = $3"
                " WHERE id = $1",
                order_id,
                member,
                text,
            )
        return await get_order(conn, access.community_id, order_id)


async def set_photo_consent(conn: ledger.Connection, access: Access, order_id: int, public: bool) -> Order:
    """The resident (or whoever ordered it for them) agrees, or no longer agrees, that the order's photo and the
    completion's are shown on the public 晒单; in any state, recorded as ``photo_consent``. The same answer again
    changes nothing (and records nothing)."""
    async with ledger.transaction(conn):
        await ledger.enter(conn, access.community_id)
        row = await _locked(conn, access, order_id)
        order = await _visible(conn, access, await get_order(conn, access.community_id, order_id))
        member = _member(access)
        if member not in (row["for_member_id"], row["ordered_by_member_id"]):
            raise Forbidden("the resident (or whoever ordered it for them) decides whether its photos are shown")
        if row["photos_public"] == public:
            return order
        async with translated():
            await conn.execute(
                "UPDATE points.service_orders SET photos_public = $2, actor_member_id = $3, change_note = NULL"
                " WHERE id = $1",
                order_id,
                public,
                member,
            )
        return await get_order(conn, access.community_id, order_id)


async def cancel(conn: ledger.Connection, access: Access, order_id: int, reason: str) -> Order:
    """The resident (or whoever ordered it for them) cancels it before it is taken; an organizer or admin cancels
    an order at any point before it is done or after a dispute. With a reason."""
    member = _member(access)
    text = _check_text("reason", reason, MAX_REASON_CHARS)
    async with ledger.transaction(conn):
        await ledger.enter(conn, access.community_id)
        row = await _locked(conn, access, order_id)
        await _visible(conn, access, await get_order(conn, access.community_id, order_id))
        staff = bool(access.roles & STAFF_ROLES)
        if row["state"] not in ("ordered", "dispatched", "accepted", "disputed") or (
            not staff and row["state"] not in ("ordered", "dispatched")
        ):
            raise _wrong_state(row, "it can no longer be cancelled")
        if not staff and member not in (row["for_member_id"], row["ordered_by_member_id"]):
            raise Forbidden("the resident or an organizer cancels an order")
        async with translated():
            await conn.execute(
                "UPDATE points.service_orders SET state = 'cancelled', actor_member_id = $2, change_note = $3"
                " WHERE id = $1",
                order_id,
                member,
                text,
            )
        return await get_order(conn, access.community_id, order_id)


# --- the jobs ----------------------------------------------------------------------------------------------------


# Orders the jobs act on; ``o`` the order, ``h`` its community's timeouts (points.order_hours).
_NOT_ACCEPTED_IN_TIME = "o.state = 'dispatched' AND o.dispatched_at + make_interval(hours => h.accept_hours) <= now()"
_NOT_CONFIRMED_IN_TIME = "o.state = 'done' AND o.done_at + make_interval(hours => h.confirm_hours) <= now()"


async def _each_due(
    conn: ledger.Connection, community_id: int, due: str, act: Callable[[asyncpg.Record], Awaitable[None]]
) -> int:
    """The ids of the community's orders ``due`` says are due, first (no lock); then each in a transaction of its
    own, under its row lock, ``due`` checked again after the lock — a taker or the resident who committed first
    leaves it no longer due, and one who comes second waits for the lock and finds it changed. How many it did."""
    await ledger.enter(conn, community_id)
    ids = [
        r["id"]
        for r in await conn.fetch(
            "SELECT o.id FROM points.service_orders o, points.order_hours($1) h WHERE o.community_id = $1"
            f" AND {due} ORDER BY o.id LIMIT 500",
            community_id,
        )
    ]
    done = 0
    for order_id in ids:
        async with ledger.transaction(conn):
            await ledger.enter(conn, community_id)
            row = await conn.fetchrow(
                "SELECT o.*, h.accept_hours, h.confirm_hours FROM points.service_orders o, points.order_hours($1) h"
                f" WHERE o.id = $2 AND {due} FOR UPDATE OF o",
                community_id,
                order_id,
            )
            if row is None:
                continue
            await act(row)
            done += 1
    return done


async def return_unaccepted(conn: ledger.Connection, community_id: int) -> int:
    """Orders dispatched and not accepted within the accept timeout go back to the dispatcher (state ordered, the
    change recorded as expired, by nobody). One transaction per order under its row lock, re-checked after the
    lock: an acceptance that committed first is left alone, and one that comes second finds it returned."""

    async def give_back(row: asyncpg.Record) -> None:
        hours = row["accept_hours"]
        await _return(conn, row["id"], None, f"{hours} 小时内无人接单 (not accepted within {hours} h)")

    return await _each_due(conn, community_id, _NOT_ACCEPTED_IN_TIME, give_back)


async def confirm_unconfirmed(conn: ledger.Connection, community_id: int) -> int:
    """Orders done and confirmed by nobody within the auto-confirm time count as confirmed (recorded as
    auto_confirmed, by nobody), and their workers are awarded. Each under its row lock, re-checked after it."""

    async def count_as_confirmed(row: asyncpg.Record) -> None:
        await _confirm(conn, community_id, row, None)

    return await _each_due(conn, community_id, _NOT_CONFIRMED_IN_TIME, count_as_confirmed)


# --- 晒单: the public list ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Shown:
    order_id: int
    type_name: str
    place_name: str | None
    unit_name: str | None  # None: done by volunteers
    resident: str  # masked
    workers: tuple[str, ...]  # masked
    days_to_done: int
    done_at: datetime
    # Only with the resident's consent (photos_public), else empty: the order's photo, and the completion's.
    before_photo_ids: tuple[int, ...] = ()
    after_photo_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class MonthCount:
    month: str  # 2026-12, in the community's time
    by: str  # a unit's name, or a category's
    orders: int


MONTH_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
# 晒单's months are the community's (China's) calendar months, as monthly_counts counts them.
_DONE_MONTH = "to_char(o.done_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')"


async def shown(
    conn: ledger.Connection, community_id: int, *, limit: int = 100, month: str | None = None
) -> list[Shown]:
    """Confirmed orders, newest done first, with residents' and workers' names masked, and their photos if the
    resident agreed. ``month`` (2026-12): only those done in that month."""
    if month is not None and not re.fullmatch(MONTH_PATTERN, month):
        raise InvalidRequest("month is a year and a month: 2026-12", errors=[field_problem("month", "invalid")])
    await ledger.enter(conn, community_id)
    rows = await conn.fetch(
        "SELECT o.id, t.name AS type_name, p.name AS place_name, u.name AS unit_name, f.display_name AS resident,"
        " floor(extract(epoch FROM o.done_at - o.created_at) / 86400)::integer AS days, o.done_at,"
        " ARRAY(SELECT m.display_name FROM points.service_order_workers w JOIN points.members m ON m.id = w.member_id"
        "       WHERE w.order_id = o.id AND w.round = o.dispatch_round ORDER BY m.display_name) AS workers,"
        " o.photos_public, o.photo_id, o.done_photo_ids"
        " FROM points.service_orders o JOIN points.activity_types t ON t.id = o.type_id"
        " JOIN points.members f ON f.id = o.for_member_id LEFT JOIN points.places p ON p.id = o.place_id"
        " LEFT JOIN points.service_units u ON u.id = o.unit_id"
        f" WHERE o.community_id = $1 AND o.state = 'confirmed' AND ($3::text IS NULL OR {_DONE_MONTH} = $3)"
        " ORDER BY o.done_at DESC, o.id DESC LIMIT $2",
        community_id,
        limit,
        month,
    )
    return [
        Shown(
            r["id"],
            r["type_name"],
            r["place_name"],
            r["unit_name"],
            masked(r["resident"]),
            tuple(masked(n) for n in r["workers"]),
            r["days"],
            r["done_at"],
            (r["photo_id"],) if r["photos_public"] and r["photo_id"] is not None else (),
            tuple(r["done_photo_ids"]) if r["photos_public"] else (),
        )
        for r in rows
    ]


async def shown_photo(conn: ledger.Connection, community_id: int, photo_id: int) -> photos.StoredPhoto:
    """A photo for the public 晒单: only the before or after photo of a confirmed order of this community whose
    resident agreed to show it. Any other photo (a report's, an unconfirmed order's, without consent, of another
    community) is not found, the same as one that does not exist."""
    await ledger.enter(conn, community_id)
    shown_here = await conn.fetchval(
        "SELECT 1 FROM points.service_orders o WHERE o.community_id = $1 AND o.state = 'confirmed'"
        " AND o.photos_public AND (o.photo_id = $2 OR $2 = ANY (o.done_photo_ids)) LIMIT 1",
        community_id,
        photo_id,
    )
    if not shown_here:
        raise NotFound(f"no photo {photo_id} on this community's 晒单", photo_id=photo_id)
    return await photos.get_photo(conn, community_id, photo_id)


async def monthly_counts(conn: ledger.Connection, community_id: int) -> tuple[list[MonthCount], list[MonthCount]]:
    """Confirmed orders of the last twelve months by the month they were done: per unit (volunteers' together as
    志愿者), and per category."""
    await ledger.enter(conn, community_id)
    base = (
        "SELECT to_char(o.done_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') AS month, {by} AS by, count(*) AS orders"
        " FROM points.service_orders o JOIN points.activity_types t ON t.id = o.type_id"
        " LEFT JOIN points.service_units u ON u.id = o.unit_id"
        " WHERE o.community_id = $1 AND o.state = 'confirmed' AND o.done_at >= now() - interval '12 months'"
        " GROUP BY 1, 2 ORDER BY 1 DESC, 3 DESC, 2"
    )
    units = await conn.fetch(base.format(by="coalesce(u.name, '志愿者')"), community_id)
    types = await conn.fetch(base.format(by="t.name"), community_id)
    return (
        [MonthCount(r["month"], r["by"], r["orders"]) for r in units],
        [MonthCount(r["month"], r["by"], r["orders"]) for r in types],
    )
