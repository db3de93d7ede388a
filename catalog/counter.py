"""The counter: a clerk identifies the member (their payment code, their card and PIN, or 代办: a household member's
own payment code for a member without a phone), builds a basket, previews it and confirms it; returns; receipts;
the day's totals and the reconciliation.

Confirming writes, in ONE transaction: the ledger entry (the member's wallet to the community's ``supermarket``
account: the account is the supermarket's because the caller is at its counter, never because the body says so),
the receipt with its number, clerk and counter, its lines at the prices charged, and one sale movement per good.
Every rule is checked here first, so a refusal names the good and the problem before anything is written; then
PostgreSQL checks them again underneath (the wallet's bound, stock never negative, limits, the code used once,
the clerk's household, the receipt adding up at commit: migration 0011). The same Idempotency-Key returns the
same receipt and charges nothing again, even when two tries arrive at once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

import ledger
from catalog import codes
from catalog.errors import (
    GoodInactive,
    InsufficientStock,
    LimitReached,
    PaymentCodeExpired,
    PaymentCodeOtherCommunity,
    PaymentCodeUnknown,
    PaymentCodeUsed,
    ReturnTooMuch,
    translated,
)
from ledger.errors import IdempotencyConflict, InsufficientBalance, from_database
from points.auth.access import Access
from points.auth.errors import ConflictOfInterest, Forbidden, InvalidRequest, NotFound
from points.earning.periods import COMMUNITY_TZ, community_day
from points.field_problems import field_problem

SUPERMARKET = "supermarket"
MAX_LINES = 100
MAX_QUANTITY = 1000
MAX_COUNTER_CHARS = 50
MAX_REASON_CHARS = 500


@dataclass(frozen=True, slots=True)
class Wanted:
    """One line of a basket as the clerk built it: a good (by id or barcode) and how many."""

    quantity: int
    good_id: int | None = None
    barcode: str | None = None


@dataclass(frozen=True, slots=True)
class Payer:
    """How the member is identified at the counter (exactly one way)."""

    payment_code: str | None = None
    card_number: str | None = None
    pin: str | None = None  # the card's, at confirmation
    for_member_id: int | None = None  # 代办: the payment code is the proxy's, the basket this member's


@dataclass(frozen=True, slots=True)
class PlannedLine:
    line_no: int
    good_id: int
    name: str
    unit: str
    quantity: int
    unit_price: int
    amount: int
    stock: int
    limit_left: int | None  # what the member (and household) may still take of it this period, after this line


@dataclass(frozen=True, slots=True)
class Plan:
    member_id: int
    member_name: str
    household_id: int | None
    household: str | None
    wallet_account_id: int
    method: str  # code, card, proxy
    payment_code_id: int | None
    proxy_member_id: int | None
    proxy_name: str | None
    balance_before: int
    total: int
    lines: tuple[PlannedLine, ...]
    clerk_name: str = ""

    @property
    def balance_after(self) -> int:
        return self.balance_before - self.total


@dataclass(frozen=True, slots=True)
class ReceiptLine:
    line_no: int
    good_id: int
    name: str
    quantity: int
    unit_price: int
    amount: int
    returned: int


@dataclass(frozen=True, slots=True)
class ReturnView:
    id: int
    reason: str
    clerk_member_id: int
    total_points: int
    entry_id: int
    created_at: datetime
    lines: tuple[tuple[int, int], ...]  # (line_no, quantity)


@dataclass(frozen=True, slots=True)
class Receipt:
    id: int
    number: int
    member_id: int
    member_name: str
    household: str | None
    clerk_member_id: int
    clerk_name: str
    counter: str
    method: str
    proxy_member_id: int | None
    entry_id: int
    total_points: int
    returned_points: int
    created_at: datetime
    lines: tuple[ReceiptLine, ...] = ()
    returns: tuple[ReturnView, ...] = ()
    replayed: bool = False


# ---- the plan: one read, then every rule, before any write -----------------------------------------------------
# A basket is two round trips: points.basket_plan reads everything the rules need (the key's receipt, the code, the
# people, the goods, the limits used, the supermarket account), the rules are checked here on it, and
# points.redeem_basket writes the whole basket in one statement (migration 0012), where PostgreSQL checks every
# rule again under the rows' locks. A race the read could not see (the last bag of rice sold at the next counter a
# moment ago) is refused by the write with the same error, naming the good.


@dataclass(frozen=True, slots=True)
class _Who:
    member_id: int
    method: str
    payment_code_id: int | None = None
    proxy_member_id: int | None = None


def _merge(wanted: Sequence[Wanted]) -> None:
    if not 1 <= len(wanted) <= MAX_LINES:
        raise InvalidRequest(
            f"a basket holds 1 to {MAX_LINES} lines",
            errors=[field_problem("lines", "too_long", max=MAX_LINES, unit="items")],
        )
    for n, w in enumerate(wanted):
        if (w.good_id is None) == (w.barcode is None):
            raise InvalidRequest(
                f"line {n + 1} names its good by exactly one of good_id or barcode",
                errors=[field_problem(f"lines[{n}]", "invalid")],
            )
        if not 1 <= w.quantity <= MAX_QUANTITY:
            raise InvalidRequest(
                f"line {n + 1}: a quantity is 1 to {MAX_QUANTITY}",
                errors=[field_problem(f"lines[{n}].quantity", "too_large", max=MAX_QUANTITY)],
            )


def _period_key(period: str, at: datetime) -> str:
    local = at.astimezone(COMMUNITY_TZ)
    if period == "day":
        return local.strftime("%Y-%m-%d")
    if period == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return local.strftime("%Y-%m")


def _check_payer(payer: Payer) -> None:
    ways = (payer.payment_code is not None) + (payer.card_number is not None)
    if ways != 1:
        raise InvalidRequest(
            "identify the member by exactly one of payment_code or card_number",
            errors=[field_problem("payment_code", "required")],
        )
    if payer.card_number is not None and payer.for_member_id is not None:
        raise InvalidRequest(
            "代办 goes with the proxy's own payment code, not a card",
            errors=[field_problem("for_member_id", "invalid")],
        )


async def _card_holder(conn: ledger.Connection, community_id: int, payer: Payer, *, confirming: bool) -> int | None:
    """The member a card names (checking and counting the PIN when confirming, in a transaction of its own)."""
    if payer.card_number is None:
        return None
    if not confirming:
        return await codes.card_member(conn, community_id, payer.card_number)
    if payer.pin is None:
        raise InvalidRequest("a card pays with its PIN", errors=[field_problem("pin", "required")])
    return await codes.check_card(conn, community_id, payer.card_number, payer.pin)


async def _read_plan(
    conn: ledger.Connection,
    community_id: int,
    clerk: int,
    payer: Payer,
    card_holder: int | None,
    wanted: Sequence[Wanted],
    idempotency_key: str | None,
) -> dict[str, Any]:
    hashed = None
    if payer.payment_code is not None:
        code = codes.normal_code(payer.payment_code)
        if not codes.CODE.fullmatch(code):
            raise PaymentCodeUnknown("a payment code is 18 digits: this is not one", reason="malformed")
        hashed = codes.code_hash(code)
    await ledger.enter(conn, community_id)
    raw = await conn.fetchval(
        "SELECT points.basket_plan($1, $2, $3, $4, $5, $6::bigint[], $7::text[], $8)",
        community_id,
        clerk,
        hashed,
        card_holder,
        payer.for_member_id if card_holder is None else None,
        [w.good_id for w in wanted if w.good_id is not None],
        [w.barcode for w in wanted if w.barcode is not None],
        idempotency_key,
    )
    found: dict[str, Any] = json.loads(raw) if isinstance(raw, str) else raw  # the pool decodes jsonb itself
    return found


def _who(facts: dict[str, Any], community_id: int, payer: Payer, card_holder: int | None) -> _Who:
    if card_holder is not None:
        return _Who(card_holder, "card")
    code = facts["code"]
    if code is None:
        issuer = facts["issuer"]
        if issuer is not None and issuer != community_id:
            raise PaymentCodeOtherCommunity("this payment code is another community's: it pays only there")
        raise PaymentCodeUnknown("no such payment code was issued: typed wrong, or forged", reason="unknown")
    if code["used"]:
        raise PaymentCodeUsed("this payment code has paid already: the member shows a new one")
    if code["expired"]:
        raise PaymentCodeExpired("this payment code has expired: the member refreshes it")
    if payer.for_member_id is None:
        return _Who(code["member_id"], "code", code["id"])
    return _Who(payer.for_member_id, "proxy", code["id"], code["member_id"])


def _check_plan(facts: dict[str, Any], who: _Who, clerk: int, wanted: Sequence[Wanted]) -> Plan:
    """Every rule of a basket, on what points.basket_plan read; the first problem raised, naming the good."""
    by_id = {p["id"]: p for p in facts["people"]}
    member = by_id.get(who.member_id)
    if member is None:
        raise NotFound(f"no member {who.member_id} in this community", member_id=who.member_id)
    if member["status"] != "active":
        raise InvalidRequest(f"{member['display_name']} is {member['status']}: only active members redeem")
    me = by_id[clerk]
    proxy = by_id.get(who.proxy_member_id) if who.proxy_member_id else None
    for p in (member, proxy):
        if p is not None and (
            p["id"] == clerk or (me["household_id"] is not None and p["household_id"] == me["household_id"])
        ):
            raise ConflictOfInterest(
                "a clerk does not redeem for themselves or their own household; another clerk serves them",
                member_id=p["id"],
            )
    if proxy is not None:
        if proxy["id"] == member["id"]:
            raise InvalidRequest(
                "代办 is for another member: pay with your own code without for_member_id",
                errors=[field_problem("for_member_id", "invalid")],
            )
        if proxy["household_id"] is None or proxy["household_id"] != member["household_id"]:
            raise Forbidden(f"{proxy['display_name']} may redeem (代办) only for a member of their own household")
        if proxy["status"] != "active":
            raise InvalidRequest(f"{proxy['display_name']} is {proxy['status']}: only active members act for others")
        if member["person_id"] is not None:
            raise InvalidRequest(
                f"{member['display_name']} signs in themselves and shows their own payment code;"
                " 代办 is for members without a phone",
                errors=[field_problem("for_member_id", "invalid")],
            )
    goods = facts["goods"]
    by_good = {g["id"]: g for g in goods}
    by_barcode = {g["barcode"]: g for g in goods if g["barcode"] is not None}
    usage = {(u["good_id"], u["per"]): u["quantity"] for u in facts["usage"]}
    quantities: dict[int, int] = {}
    for w in wanted:
        good = by_good.get(w.good_id) if w.good_id is not None else by_barcode.get(w.barcode)
        if good is None:
            what = f"good {w.good_id}" if w.good_id is not None else f"barcode {w.barcode}"
            raise NotFound(f"no {what} in this supermarket", good_id=w.good_id, barcode=w.barcode)
        quantities[good["id"]] = quantities.get(good["id"], 0) + w.quantity
    lines = []
    for n, good_id in enumerate(sorted(quantities), start=1):
        good, quantity = by_good[good_id], quantities[good_id]
        if not good["active"]:
            raise GoodInactive(f"{good['name']} is not on sale", good_id=good_id, name=good["name"])
        if quantity > good["stock"]:
            raise InsufficientStock(
                f"{good['name']}: {good['stock']} left in stock, {quantity} in the basket",
                good_id=good_id,
                name=good["name"],
                stock=good["stock"],
                needed=quantity,
            )
        left = None
        for per, limit in (("member", good["limit_per_member"]), ("household", good["limit_per_household"])):
            if limit is None or (per == "household" and member["household_id"] is None):
                continue
            room = limit - usage.get((good_id, per), 0)
            if quantity > room:
                raise LimitReached(
                    f"{good['name']}: {room if room > 0 else 'none'} left of the limit of {limit} per {per} a"
                    f" {good['limit_period']}, {quantity} in the basket",
                    good_id=good_id,
                    name=good["name"],
                    per=per,
                    limit=limit,
                    left=max(room, 0),
                    period=good["limit_period"],
                )
            left = room - quantity if left is None else min(left, room - quantity)
        lines.append(
            PlannedLine(
                n,
                good_id,
                good["name"],
                good["unit"],
                quantity,
                good["price"],
                good["price"] * quantity,
                good["stock"],
                left,
            )
        )
    total = sum(line.amount for line in lines)
    if total > member["available"]:
        raise InsufficientBalance(
            f"{member['display_name']} has {member['available']} points; the basket costs {total}",
            available=member["available"],
            needed=total,
            account_id=member["wallet_account_id"],
        )
    return Plan(
        member["id"],
        member["display_name"],
        member["household_id"],
        member["household"],
        member["wallet_account_id"],
        who.method,
        who.payment_code_id,
        who.proxy_member_id,
        proxy["display_name"] if proxy else None,
        member["available"],
        total,
        tuple(lines),
        me["display_name"],
    )


def _clerk_of(access: Access) -> int:
    if access.member_id is None:
        raise Forbidden("only a member of the community works at its counter")
    return access.member_id


async def preview(conn: ledger.Connection, access: Access, payer: Payer, wanted: Sequence[Wanted]) -> Plan:
    """What confirming would do: the member, their household, the balance before and after, each line with the
    stock and the limit left; or the first problem, naming the good. Nothing is written (a code stays unused)."""
    clerk = _clerk_of(access)
    _check_payer(payer)
    _merge(wanted)
    holder = await _card_holder(conn, access.community_id, payer, confirming=False)
    facts = await _read_plan(conn, access.community_id, clerk, payer, holder, wanted, None)
    return _check_plan(facts, _who(facts, access.community_id, payer, holder), clerk, wanted)


# ---- confirming ---------------------------------------------------------------------------------------------------


def _request_hash(payer: Payer, wanted: Sequence[Wanted], counter: str) -> str:
    body = {
        "code": payer.payment_code and codes.normal_code(payer.payment_code),
        "card": payer.card_number,
        "for": payer.for_member_id,
        "counter": counter,
        "lines": [[w.good_id, w.barcode, w.quantity] for w in wanted],
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


async def supermarket_account(conn: ledger.Connection, community_id: int) -> int:
    """The community's supermarket account (unbounded: every redemption credits it, so it is striped in the
    ledger and never a row every redemption waits on), opened on first use."""
    found = await ledger.find_account(conn, community_id, SUPERMARKET)
    if found is None:
        try:
            async with ledger.transaction(conn):  # a savepoint: losing the race below leaves the caller's own
                found = await ledger.open_account(
                    conn, community_id, SUPERMARKET, name="积分超市", normal_side="credit", lower_bound=None
                )
        except ledger.errors.DuplicateCode:
            # Two counters' first baskets at once: the other opened it and committed first (our insert waited for
            # it), so it is there to read now. Without this the second basket was refused with duplicate_code.
            found = await ledger.find_account(conn, community_id, SUPERMARKET)
            if found is None:
                raise
    return found.id


async def _by_key(conn: ledger.Connection, community_id: int, key: str, request_hash: str) -> Receipt | None:
    row = await conn.fetchrow(
        "SELECT number, request_hash FROM points.receipts WHERE community_id = $1 AND idempotency_key = $2",
        community_id,
        key,
    )
    if row is None:
        return None
    return await _replay(conn, community_id, row["number"], row["request_hash"], request_hash)


async def _replay(conn: ledger.Connection, community_id: int, number: int, stored: str, asked: str) -> Receipt:
    if stored != asked:
        raise IdempotencyConflict("the idempotency key was used for a different basket")
    return await get_receipt(conn, community_id, number, replayed=True)


def _check_counter(counter: str) -> None:
    if len(counter) > MAX_COUNTER_CHARS:
        raise InvalidRequest(
            f"a counter's name is at most {MAX_COUNTER_CHARS} characters",
            errors=[field_problem("counter", "too_long", max=MAX_COUNTER_CHARS)],
        )


async def confirm(
    conn: ledger.Connection,
    access: Access,
    payer: Payer,
    wanted: Sequence[Wanted],
    *,
    idempotency_key: str,
    counter: str = "",
    actor: str | None = None,
) -> Receipt:
    """Redeem the basket: all of it, in one statement, or nothing (see the module's words)."""
    _check_counter(counter)
    clerk = _clerk_of(access)
    _check_payer(payer)
    _merge(wanted)
    community_id = access.community_id
    request_hash = _request_hash(payer, wanted, counter)
    await ledger.enter(conn, community_id)
    if payer.card_number is not None:
        # A retry of a card basket replays before the PIN is asked again (and counted); the PIN is checked (and a
        # wrong one counted) in a transaction of its own, before the basket's.
        replay = await _by_key(conn, community_id, idempotency_key, request_hash)
        if replay is not None:
            return replay
    holder = await _card_holder(conn, community_id, payer, confirming=True)
    facts = await _read_plan(conn, community_id, clerk, payer, holder, wanted, idempotency_key)
    if facts["replay"] is not None:
        found = facts["replay"]
        return await _replay(conn, community_id, found["number"], found["request_hash"], request_hash)
    plan = _check_plan(facts, _who(facts, community_id, payer, holder), clerk, wanted)
    try:
        if facts["supermarket"] is not None:  # one statement, atomic by itself
            return await _write(conn, access, plan, facts["supermarket"], idempotency_key, request_hash, counter, actor)
        async with ledger.transaction(conn):  # the community's first basket opens the account with it
            await ledger.enter(conn, community_id)
            account = await supermarket_account(conn, community_id)
            return await _write(conn, access, plan, account, idempotency_key, request_hash, counter, actor)
    except (PaymentCodeUsed, asyncpg.UniqueViolationError) as exc:
        # the same key confirmed at once by a retry: the first one's receipt is committed now
        replay = await _by_key(conn, community_id, idempotency_key, request_hash)
        if replay is not None:
            return replay
        if isinstance(exc, asyncpg.UniqueViolationError):
            raise
        raise exc from None


@asynccontextmanager
async def _ledger_refusals() -> AsyncIterator[None]:
    """The ledger's refusals raised inside points.redeem_basket as the ledger's errors: the wallet's bound (LE001)
    refusing a basket whose plan saw enough points, because another basket on the same wallet committed between
    the plan and the write. The API answers it as it answers the plan's own refusal (422 insufficient_points)."""
    try:
        yield
    except asyncpg.PostgresError as exc:
        found = from_database(exc)
        if found is None:
            raise
        raise found from exc


async def _write(
    conn: ledger.Connection,
    access: Access,
    plan: Plan,
    supermarket: int,
    key: str,
    request_hash: str,
    counter: str,
    actor: str | None,
) -> Receipt:
    memo = "积分超市 · " + "、".join(f"{line.name}×{line.quantity}" for line in plan.lines)
    clerk = _clerk_of(access)
    async with translated(), _ledger_refusals():
        row = await conn.fetchrow(
            "SELECT * FROM points.redeem_basket($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,"
            " $15::jsonb, $16::bigint[], $17::text[], $18::int[], $19::int[])",
            access.community_id,
            clerk,
            plan.member_id,
            plan.household_id,
            plan.method,
            plan.payment_code_id,
            plan.proxy_member_id,
            plan.wallet_account_id,
            supermarket,
            counter,
            key,
            request_hash,
            memo[:500],
            actor or access.actor,
            json.dumps({"counter": counter, "method": plan.method}),
            [x.good_id for x in plan.lines],
            [x.name for x in plan.lines],
            [x.quantity for x in plan.lines],
            [x.unit_price for x in plan.lines],
        )
    return Receipt(
        id=row["r_id"],
        number=row["r_number"],
        member_id=plan.member_id,
        member_name=plan.member_name,
        household=plan.household,
        clerk_member_id=clerk,
        clerk_name=plan.clerk_name,
        counter=counter,
        method=plan.method,
        proxy_member_id=plan.proxy_member_id,
        entry_id=row["r_entry_id"],
        total_points=plan.total,
        returned_points=0,
        created_at=row["r_created_at"],
        lines=tuple(
            ReceiptLine(x.line_no, x.good_id, x.name, x.quantity, x.unit_price, x.amount, 0) for x in plan.lines
        ),
    )


# ---- receipts -----------------------------------------------------------------------------------------------------

_RECEIPT = """
SELECT r.id, r.number, r.member_id, m.display_name AS member_name, h.label AS household, r.clerk_member_id,
       c.display_name AS clerk_name, r.counter, r.method, r.proxy_member_id, r.entry_id, r.total_points,
       coalesce((SELECT sum(t.total_points) FROM points.returns t WHERE t.receipt_id = r.id), 0)::int
           AS returned_points,
       r.created_at
  FROM points.receipts r
  JOIN points.members m ON m.id = r.member_id
  JOIN points.members c ON c.id = r.clerk_member_id
  LEFT JOIN points.households h ON h.id = r.household_id
"""


async def get_receipt(conn: ledger.Connection, community_id: int, number: int, *, replayed: bool = False) -> Receipt:
    """A receipt by its number, with its lines (what was returned of each) and its returns: for a reprint."""
    await ledger.enter(conn, community_id)
    row = await conn.fetchrow(_RECEIPT + " WHERE r.community_id = $1 AND r.number = $2", community_id, number)
    if row is None:
        raise NotFound(f"no receipt number {number} in this community", number=number)
    lines = await conn.fetch(
        "SELECT line_no, good_id, name, quantity, unit_price, amount, returned FROM points.receipt_lines"
        " WHERE receipt_id = $1 ORDER BY line_no",
        row["id"],
    )
    returns = await conn.fetch(
        "SELECT t.id, t.reason, t.clerk_member_id, t.total_points, t.entry_id, t.created_at,"
        " array_agg(ARRAY[l.line_no, l.quantity] ORDER BY l.line_no) AS lines FROM points.returns t"
        " JOIN points.return_lines l ON l.return_id = t.id WHERE t.receipt_id = $1 GROUP BY t.id ORDER BY t.id",
        row["id"],
    )
    return Receipt(
        **dict(row),
        lines=tuple(ReceiptLine(**dict(x)) for x in lines),
        returns=tuple(
            ReturnView(
                **{k: v for k, v in dict(t).items() if k != "lines"},
                lines=tuple((int(a), int(b)) for a, b in t["lines"]),
            )
            for t in returns
        ),
        replayed=replayed,
    )


async def get_own_receipt(conn: ledger.Connection, community_id: int, member_id: int | None, number: int) -> Receipt:
    """A member's own receipt; another member's answers as a missing one does."""
    receipt = await get_receipt(conn, community_id, number)
    if member_id is None or receipt.member_id != member_id:
        raise NotFound(f"no receipt number {number} of yours in this community", number=number)
    return receipt


async def list_receipts(
    conn: ledger.Connection,
    community_id: int,
    *,
    member_id: int | None = None,
    before_number: int | None = None,
    limit: int = 50,
) -> list[Receipt]:
    """Newest first (without lines: GET one for them); ``member_id`` keeps one member's (their own history)."""
    await ledger.enter(conn, community_id)
    rows = await conn.fetch(
        _RECEIPT + " WHERE r.community_id = $1 AND ($2::bigint IS NULL OR r.member_id = $2)"
        " AND ($3::int IS NULL OR r.number < $3) ORDER BY r.number DESC LIMIT $4",
        community_id,
        member_id,
        before_number,
        limit,
    )
    return [Receipt(**dict(r)) for r in rows]


# ---- returns ------------------------------------------------------------------------------------------------------


async def return_goods(
    conn: ledger.Connection,
    access: Access,
    number: int,
    *,
    lines: Sequence[tuple[int, int]] | None,
    reason: str,
    idempotency_key: str,
    counter: str = "",
) -> Receipt:
    """Take goods back, whole (``lines`` None: everything not yet returned) or in part ((line_no, quantity)
    pairs), with a reason: one ledger entry gives the points back from the supermarket to the wallet, the goods go
    back into stock, and the receipt shows it. Never more than was bought (PostgreSQL checks it line by line)."""
    if not reason.strip() or len(reason) > MAX_REASON_CHARS:
        raise InvalidRequest(
            f"a reason of 1 to {MAX_REASON_CHARS} characters is required", errors=[field_problem("reason", "required")]
        )
    _check_counter(counter)
    if access.member_id is None:
        raise Forbidden("only a member of the community works at its counter")
    if lines is not None:
        seen = [n for n, _ in lines]
        if not lines or len(set(seen)) != len(seen) or any(not 1 <= q <= MAX_QUANTITY for _, q in lines):
            raise InvalidRequest(
                "return lines name each receipt line once, with a quantity of 1 to 1000",
                errors=[field_problem("lines", "invalid")],
            )
    community_id = access.community_id
    async with ledger.transaction(conn):
        await ledger.enter(conn, community_id)
        done = await conn.fetchrow(
            "SELECT r.number FROM points.returns t JOIN points.receipts r ON r.id = t.receipt_id"
            " WHERE t.community_id = $1 AND t.idempotency_key = $2",
            community_id,
            idempotency_key,
        )
        if done is not None:
            if done["number"] != number:
                raise IdempotencyConflict("the idempotency key was used for another receipt's return")
            return await get_receipt(conn, community_id, number, replayed=True)
        receipt = await conn.fetchrow(
            "SELECT r.id, r.member_id, m.household_id, m.wallet_account_id FROM points.receipts r"
            " JOIN points.members m ON m.id = r.member_id WHERE r.community_id = $1 AND r.number = $2",
            community_id,
            number,
        )
        if receipt is None:
            raise NotFound(f"no receipt number {number} in this community", number=number)
        if receipt["member_id"] == access.member_id or (
            access.household_id is not None and receipt["household_id"] == access.household_id
        ):
            raise ConflictOfInterest("a clerk does not take returns for themselves or their own household")
        # Checked here to name the line; two returns of one receipt at once are kept apart by the return lines'
        # trigger, which adds to each receipt line under its row lock and refuses more than is left (LS006).
        bought = {
            r["line_no"]: r
            for r in await conn.fetch(
                "SELECT line_no, good_id, name, quantity, returned, unit_price FROM points.receipt_lines"
                " WHERE receipt_id = $1 ORDER BY line_no",
                receipt["id"],
            )
        }
        asked = [(n, r["quantity"] - r["returned"]) for n, r in bought.items() if r["quantity"] > r["returned"]]
        if lines is not None:
            asked = list(lines)
        if not asked:
            raise ReturnTooMuch(f"everything on receipt {number} was returned already", left=0)
        for line_no, quantity in asked:
            line = bought.get(line_no)
            if line is None:
                raise NotFound(f"receipt {number} has no line {line_no}", line_no=line_no)
            if quantity > line["quantity"] - line["returned"]:
                left = line["quantity"] - line["returned"]
                raise ReturnTooMuch(
                    f"{line['name']}: {left} left to return on this receipt, {quantity} asked",
                    line_no=line_no,
                    name=line["name"],
                    left=left,
                )
        asked.sort()
        total = sum(bought[n]["unit_price"] * q for n, q in asked)
        account = await supermarket_account(conn, community_id)
        posted = await ledger.post_entry(
            conn,
            community_id,
            ledger.NewEntry(
                "return",
                (ledger.Line(account, -total), ledger.Line(receipt["wallet_account_id"], total)),
                f"return:{idempotency_key}",
                memo=f"退货 · 小票 {number} · {reason.strip()}"[:500],
                actor=access.actor,
                metadata={"receipt": number, "counter": counter},
            ),
        )
        async with translated():
            return_id = await conn.fetchval(
                "INSERT INTO points.returns (community_id, receipt_id, reason, clerk_member_id, counter, entry_id,"
                " total_points, idempotency_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                community_id,
                receipt["id"],
                reason.strip(),
                access.member_id,
                counter,
                posted.id,
                total,
                idempotency_key,
            )
            await conn.execute(
                "WITH l AS (INSERT INTO points.return_lines (community_id, return_id, receipt_id, line_no, quantity)"
                " SELECT $1::bigint, $2::bigint, $3::bigint, * FROM unnest($4::int[], $5::int[]) ORDER BY 1"
                " RETURNING line_no, quantity)"
                " INSERT INTO points.stock_movements (community_id, good_id, kind, quantity, reason, member_id,"
                " return_id) SELECT $1, rl.good_id, 'return', l.quantity, $6, $7, $2 FROM l"
                " JOIN points.receipt_lines rl ON rl.receipt_id = $3 AND rl.line_no = l.line_no ORDER BY rl.good_id",
                community_id,
                return_id,
                receipt["id"],
                [n for n, _ in asked],
                [q for _, q in asked],
                reason.strip(),
                access.member_id,
            )
        return await get_receipt(conn, community_id, number)


# ---- the day: totals per clerk and counter, reconciliation ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DailyTotal:
    clerk_member_id: int
    clerk_name: str
    counter: str
    receipts: int
    redeemed_points: int
    returns: int
    returned_points: int


@dataclass(frozen=True, slots=True)
class GoodReconciled:
    good_id: int
    name: str
    quantity_sold: int  # on the day's receipts
    points_redeemed: int
    stock_sold: int  # what the day's sale movements took out of stock
    quantity_returned: int
    points_returned: int
    stock_returned: int

    @property
    def agrees(self) -> bool:
        return self.quantity_sold == self.stock_sold and self.quantity_returned == self.stock_returned


@dataclass(frozen=True, slots=True)
class Reconciliation:
    day: date
    counter: str | None
    goods: tuple[GoodReconciled, ...]
    points_redeemed: int
    ledger_redeemed: int  # what the day's redemption entries credited the supermarket
    points_returned: int
    ledger_returned: int
    unmatched: tuple[str, ...] = field(default=())

    @property
    def agrees(self) -> bool:
        return (
            all(g.agrees for g in self.goods)
            and self.points_redeemed == self.ledger_redeemed
            and self.points_returned == self.ledger_returned
        )


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=COMMUNITY_TZ)
    return start, start + timedelta(days=1)


def today() -> date:
    return community_day(datetime.now(UTC))


async def daily_totals(conn: ledger.Connection, community_id: int, day: date) -> list[DailyTotal]:
    """The day's receipts and returns per clerk and counter (the community's calendar day)."""
    start, end = _day_bounds(day)
    await ledger.enter(conn, community_id)
    rows = await conn.fetch(
        "WITH s AS (SELECT clerk_member_id, counter, count(*) AS receipts, sum(total_points) AS redeemed,"
        "  0 AS returns, 0 AS returned FROM points.receipts WHERE community_id = $1 AND created_at >= $2"
        "  AND created_at < $3 GROUP BY 1, 2"
        " UNION ALL SELECT clerk_member_id, counter, 0, 0, count(*), sum(total_points) FROM points.returns"
        "  WHERE community_id = $1 AND created_at >= $2 AND created_at < $3 GROUP BY 1, 2)"
        " SELECT s.clerk_member_id, m.display_name AS clerk_name, s.counter, sum(s.receipts)::int AS receipts,"
        " sum(s.redeemed)::int AS redeemed_points, sum(s.returns)::int AS returns,"
        " sum(s.returned)::int AS returned_points FROM s JOIN points.members m ON m.id = s.clerk_member_id"
        " GROUP BY 1, 2, 3 ORDER BY 3, 2",
        community_id,
        start,
        end,
    )
    return [DailyTotal(**dict(r)) for r in rows]


async def reconcile(
    conn: ledger.Connection, community_id: int, day: date, counter: str | None = None
) -> Reconciliation:
    """End of day: per good, the points redeemed and the quantities on the receipts against what the stock
    movements took out (and brought back by returns), and the receipts' points against the ledger's entries. They
    agree unless something bypassed the counter; a disagreement is listed, never hidden."""
    start, end = _day_bounds(day)
    await ledger.enter(conn, community_id)
    goods = await conn.fetch(
        "WITH r AS (SELECT id, entry_id FROM points.receipts WHERE community_id = $1 AND created_at >= $2"
        "  AND created_at < $3 AND ($4::text IS NULL OR counter = $4)),"
        " t AS (SELECT id, entry_id FROM points.returns WHERE community_id = $1 AND created_at >= $2"
        "  AND created_at < $3 AND ($4::text IS NULL OR counter = $4)),"
        " sold AS (SELECT l.good_id, sum(l.quantity) AS q, sum(l.amount) AS p FROM points.receipt_lines l"
        "  JOIN r ON r.id = l.receipt_id GROUP BY 1),"
        " moved AS (SELECT s.good_id, -sum(s.quantity) FILTER (WHERE s.kind = 'sale') AS out,"
        "  sum(s.quantity) FILTER (WHERE s.kind = 'return') AS back FROM points.stock_movements s"
        "  WHERE s.receipt_id IN (SELECT id FROM r) OR s.return_id IN (SELECT id FROM t) GROUP BY 1),"
        " back AS (SELECT rl.good_id, sum(x.quantity) AS q, sum(x.quantity * rl.unit_price) AS p"
        "  FROM points.return_lines x JOIN t ON t.id = x.return_id"
        "  JOIN points.receipt_lines rl ON rl.receipt_id = x.receipt_id AND rl.line_no = x.line_no GROUP BY 1)"
        " SELECT g.id AS good_id, g.name, coalesce(sold.q, 0)::int AS quantity_sold,"
        " coalesce(sold.p, 0)::int AS points_redeemed, coalesce(moved.out, 0)::int AS stock_sold,"
        " coalesce(back.q, 0)::int AS quantity_returned, coalesce(back.p, 0)::int AS points_returned,"
        " coalesce(moved.back, 0)::int AS stock_returned"
        " FROM points.goods g LEFT JOIN sold ON sold.good_id = g.id LEFT JOIN moved ON moved.good_id = g.id"
        " LEFT JOIN back ON back.good_id = g.id WHERE g.community_id = $1"
        " AND (sold.good_id IS NOT NULL OR moved.good_id IS NOT NULL OR back.good_id IS NOT NULL) ORDER BY g.name",
        community_id,
        start,
        end,
        counter,
    )
    totals = await conn.fetchrow(
        "SELECT (SELECT coalesce(sum(r.total_points), 0) FROM points.receipts r WHERE r.community_id = $1"
        "  AND r.created_at >= $2 AND r.created_at < $3 AND ($4::text IS NULL OR r.counter = $4))::int AS redeemed,"
        " (SELECT coalesce(sum(p.amount), 0) FROM points.receipts r JOIN ledger.postings p ON p.entry_id = r.entry_id"
        "  AND p.account_id = $5 WHERE r.community_id = $1 AND r.created_at >= $2 AND r.created_at < $3"
        "  AND ($4::text IS NULL OR r.counter = $4))::int AS ledger_redeemed,"
        " (SELECT coalesce(sum(t.total_points), 0) FROM points.returns t WHERE t.community_id = $1"
        "  AND t.created_at >= $2 AND t.created_at < $3 AND ($4::text IS NULL OR t.counter = $4))::int AS returned,"
        " (SELECT coalesce(-sum(p.amount), 0) FROM points.returns t JOIN ledger.postings p ON p.entry_id = t.entry_id"
        "  AND p.account_id = $5 WHERE t.community_id = $1 AND t.created_at >= $2 AND t.created_at < $3"
        "  AND ($4::text IS NULL OR t.counter = $4))::int AS ledger_returned",
        community_id,
        start,
        end,
        counter,
        await _supermarket_id(conn, community_id),
    )
    found = tuple(GoodReconciled(**dict(g)) for g in goods)
    unmatched = tuple(g.name for g in found if not g.agrees)
    return Reconciliation(
        day,
        counter,
        found,
        totals["redeemed"],
        totals["ledger_redeemed"],
        totals["returned"],
        totals["ledger_returned"],
        unmatched,
    )


async def _supermarket_id(conn: ledger.Connection, community_id: int) -> int:
    found = await ledger.find_account(conn, community_id, SUPERMARKET)
    return 0 if found is None else found.id
