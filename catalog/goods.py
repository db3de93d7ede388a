"""Goods and their stock: what the supermarket offers, at what price in points, with what limits; stock that
moves only by recorded movements (restock, write-off, correction; sales and returns come from the counter).

A good's ``stock`` is never written here: PostgreSQL changes it in the statement that records a movement, under
the good's row lock, and refuses a movement that would take it below zero (migration 0011). So the stock always
equals the sum of its movements, whatever the service does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import ledger
from catalog.errors import StockNegative, translated
from points.auth.errors import Conflict, Forbidden, InvalidRequest, NotFound
from points.field_problems import field_problem

MAX_NAME_CHARS = 100
MAX_CATEGORY_CHARS = 50
MAX_UNIT_CHARS = 20
MAX_PRICE = 1_000_000
MAX_LIMIT = 1000
MAX_MOVE = 1_000_000
MAX_REASON_CHARS = 500
BARCODE = re.compile(r"[0-9A-Za-z-]{4,32}")
PERIODS = ("day", "week", "month")
MANUAL_KINDS = ("restock", "write_off", "correction")


@dataclass(frozen=True, slots=True)
class Good:
    id: int
    name: str
    category: str
    price: int
    unit: str
    barcode: str | None
    photo_id: int | None
    active: bool
    stock: int
    low_stock_at: int
    limit_per_member: int | None
    limit_per_household: int | None
    limit_period: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Movement:
    id: int
    good_id: int
    kind: str
    quantity: int
    stock_after: int
    reason: str
    member_id: int
    member_name: str
    receipt_id: int | None
    return_id: int | None
    created_at: datetime


_COLUMNS = (
    "id, name, category, price, unit, barcode, photo_id, active, stock, low_stock_at, limit_per_member,"
    " limit_per_household, limit_period, updated_at"
)


def _good(row: object) -> Good:
    return Good(**dict(row))  # type: ignore[call-overload]


def check_good(
    *,
    name: str,
    category: str,
    price: int,
    unit: str,
    barcode: str | None,
    low_stock_at: int,
    limit_per_member: int | None,
    limit_per_household: int | None,
    limit_period: str | None,
) -> None:
    """Every problem of a good's fields at once (the database's CHECKs say the same underneath)."""
    problems = []
    if not name.strip() or len(name) > MAX_NAME_CHARS:
        problems.append(field_problem("name", "too_long" if name.strip() else "required", max=MAX_NAME_CHARS))
    if len(category) > MAX_CATEGORY_CHARS:
        problems.append(field_problem("category", "too_long", max=MAX_CATEGORY_CHARS))
    if not unit.strip() or len(unit) > MAX_UNIT_CHARS:
        problems.append(field_problem("unit", "too_long" if unit.strip() else "required", max=MAX_UNIT_CHARS))
    if not 1 <= price <= MAX_PRICE:
        problems.append(field_problem("price", "too_large" if price > 0 else "too_small", min=1, max=MAX_PRICE))
    if barcode is not None and not BARCODE.fullmatch(barcode):
        problems.append(field_problem("barcode", "malformed", pattern=BARCODE.pattern))
    if not 0 <= low_stock_at <= MAX_MOVE:
        problems.append(field_problem("low_stock_at", "too_large", max=MAX_MOVE))
    for key, value in (("limit_per_member", limit_per_member), ("limit_per_household", limit_per_household)):
        if value is not None and not 1 <= value <= MAX_LIMIT:
            problems.append(field_problem(key, "too_large", max=MAX_LIMIT))
    limited = limit_per_member is not None or limit_per_household is not None
    if limit_period is not None and limit_period not in PERIODS:
        problems.append(field_problem("limit_period", "not_one_of", allowed=list(PERIODS)))
    elif limited != (limit_period is not None):
        problems.append(field_problem("limit_period", "required" if limited else "invalid"))
    if problems:
        raise InvalidRequest(
            "the good is not valid: "
            + "; ".join(str(p.get("key")) for p in problems)
            + (" (a limit needs its period: day, week or month, and a period needs a limit)" if limited else ""),
            errors=problems,
        )


async def _check_photo(conn: ledger.Connection, community_id: int, photo_id: int | None) -> None:
    if photo_id is None:
        return
    found = await conn.fetchval(
        "SELECT 1 FROM points.photos WHERE id = $1 AND community_id = $2", photo_id, community_id
    )
    if found is None:
        raise NotFound(f"no photo {photo_id} in this community", photo_id=photo_id)


async def _barcode_free(conn: ledger.Connection, community_id: int, barcode: str | None, good_id: int) -> None:
    if barcode is None:
        return
    other = await conn.fetchval(
        "SELECT id FROM points.goods WHERE community_id = $1 AND barcode = $2 AND id <> $3",
        community_id,
        barcode,
        good_id,
    )
    if other is not None:
        raise Conflict(f"the barcode {barcode} is another good's already", field="barcode", good_id=other)


async def create_good(
    conn: ledger.Connection,
    community_id: int,
    *,
    name: str,
    category: str = "",
    price: int,
    unit: str = "件",
    barcode: str | None = None,
    photo_id: int | None = None,
    active: bool = True,
    low_stock_at: int = 5,
    limit_per_member: int | None = None,
    limit_per_household: int | None = None,
    limit_period: str | None = None,
) -> Good:
    """A new good, with no stock: a restock movement brings it in."""
    check_good(
        name=name,
        category=category,
        price=price,
        unit=unit,
        barcode=barcode,
        low_stock_at=low_stock_at,
        limit_per_member=limit_per_member,
        limit_per_household=limit_per_household,
        limit_period=limit_period,
    )
    async with ledger.transaction(conn):
        await ledger.enter(conn, community_id)
        await _check_photo(conn, community_id, photo_id)
        await _barcode_free(conn, community_id, barcode, 0)
        row = await conn.fetchrow(
            "INSERT INTO points.goods (community_id, name, category, price, unit, barcode, photo_id, active,"
            " low_stock_at, limit_per_member, limit_per_household, limit_period)"
            f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING {_COLUMNS}",
            community_id,
            name.strip(),
            category.strip(),
            price,
            unit.strip(),
            barcode,
            photo_id,
            active,
            low_stock_at,
            limit_per_member,
            limit_per_household,
            limit_period,
        )
    return _good(row)


async def update_good(
    conn: ledger.Connection,
    community_id: int,
    good_id: int,
    *,
    name: str,
    category: str,
    price: int,
    unit: str,
    barcode: str | None,
    photo_id: int | None,
    active: bool,
    low_stock_at: int,
    limit_per_member: int | None,
    limit_per_household: int | None,
    limit_period: str | None,
) -> Good:
    """Replace a good's description, price, limits and flag (never its stock). A new price applies to baskets
    confirmed from now on; receipts keep the price they charged."""
    check_good(
        name=name,
        category=category,
        price=price,
        unit=unit,
        barcode=barcode,
        low_stock_at=low_stock_at,
        limit_per_member=limit_per_member,
        limit_per_household=limit_per_household,
        limit_period=limit_period,
    )
    async with ledger.transaction(conn):
        await ledger.enter(conn, community_id)
        await get_good(conn, community_id, good_id)
        await _check_photo(conn, community_id, photo_id)
        await _barcode_free(conn, community_id, barcode, good_id)
        row = await conn.fetchrow(
            "UPDATE points.goods SET name = $3, category = $4, price = $5, unit = $6, barcode = $7, photo_id = $8,"
            " active = $9, low_stock_at = $10, limit_per_member = $11, limit_per_household = $12,"
            f" limit_period = $13, updated_at = now() WHERE id = $1 AND community_id = $2 RETURNING {_COLUMNS}",
            good_id,
            community_id,
            name.strip(),
            category.strip(),
            price,
            unit.strip(),
            barcode,
            photo_id,
            active,
            low_stock_at,
            limit_per_member,
            limit_per_household,
            limit_period,
        )
    return _good(row)


async def get_good(conn: ledger.Connection, community_id: int, good_id: int) -> Good:
    await ledger.enter(conn, community_id)
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM points.goods WHERE id = $1 AND community_id = $2", good_id, community_id
    )
    if row is None:
        raise NotFound(f"no good {good_id} in this community", good_id=good_id)
    return _good(row)


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def list_goods(
    conn: ledger.Connection,
    community_id: int,
    *,
    search: str | None = None,
    barcode: str | None = None,
    include_inactive: bool = False,
    low_stock: bool = False,
    limit: int = 100,
) -> list[Good]:
    """The catalogue by category and name; ``search`` matches the name, ``barcode`` exactly; ``low_stock`` keeps
    the goods on sale at or below their low-stock mark, emptiest first."""
    await ledger.enter(conn, community_id)
    order = "stock, name" if low_stock else "category, name, id"
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM points.goods WHERE community_id = $1"
        " AND ($2::text IS NULL OR name ILIKE $2) AND ($3::text IS NULL OR barcode = $3)"
        " AND ($4 OR active) AND (NOT $5 OR stock <= low_stock_at)"
        f" ORDER BY {order} LIMIT $6",
        community_id,
        None if search is None else _like(search.strip()),
        barcode,
        include_inactive and not low_stock,
        low_stock,
        limit,
    )
    return [_good(r) for r in rows]


async def record_movement(
    conn: ledger.Connection,
    community_id: int,
    member_id: int | None,
    good_id: int,
    *,
    kind: str,
    quantity: int,
    reason: str,
) -> Movement:
    """A restock (a donation or a purchase: quantity > 0), a write-off (damaged, expired: quantity > 0 taken
    out) or a correction (a count found the stock off: quantity ± what it was off by), with who and why."""
    if member_id is None:
        raise Forbidden("only a member of the community moves stock")
    problems = []
    if kind not in MANUAL_KINDS:
        problems.append(field_problem("kind", "not_one_of", allowed=list(MANUAL_KINDS)))
    if quantity == 0 or abs(quantity) > MAX_MOVE or (kind != "correction" and quantity < 0):
        problems.append(field_problem("quantity", "invalid", max=MAX_MOVE))
    if not reason.strip() or len(reason) > MAX_REASON_CHARS:
        problems.append(field_problem("reason", "required" if not reason.strip() else "too_long", max=MAX_REASON_CHARS))
    if problems:
        raise InvalidRequest(
            "a movement is a kind (restock, write_off or correction), a quantity (positive; a correction's may be"
            " negative, never 0) and a reason",
            errors=problems,
        )
    signed = -quantity if kind == "write_off" else quantity
    async with ledger.transaction(conn):
        good = await get_good(conn, community_id, good_id)
        if good.stock + signed < 0:
            raise StockNegative(
                f"{good.name} has {good.stock} in stock: {-signed} cannot be taken out",
                good_id=good.id,
                name=good.name,
                stock=good.stock,
            )
        async with translated():
            movement_id = await conn.fetchval(
                "INSERT INTO points.stock_movements (community_id, good_id, kind, quantity, reason, member_id)"
                " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                community_id,
                good_id,
                kind,
                signed,
                reason.strip(),
                member_id,
            )
        found = await list_movements(conn, community_id, good_id, before_id=movement_id + 1, limit=1)
    return found[0]


async def list_movements(
    conn: ledger.Connection, community_id: int, good_id: int, *, before_id: int | None = None, limit: int = 50
) -> list[Movement]:
    """A good's movements, newest first, each with the stock right after it."""
    await ledger.enter(conn, community_id)
    rows = await conn.fetch(
        "SELECT s.id, s.good_id, s.kind, s.quantity, s.stock_after, s.reason, s.member_id, m.display_name AS"
        " member_name, s.receipt_id, s.return_id, s.created_at FROM points.stock_movements s"
        " JOIN points.members m ON m.id = s.member_id WHERE s.good_id = $1 AND s.community_id = $2"
        " AND ($3::bigint IS NULL OR s.id < $3) ORDER BY s.id DESC LIMIT $4",
        good_id,
        community_id,
        before_id,
        limit,
    )
    return [Movement(**dict(r)) for r in rows]
