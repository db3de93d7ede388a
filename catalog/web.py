"""HTTP handlers of the points supermarket: goods and stock (admins; clerks restock), the member's payment code and
receipts, the counter (preview, confirm, returns, receipts), member cards, the day's totals and reconciliation.

Handlers decode, call one service function (catalog/goods.py, codes.py, counter.py) and encode; no rule and no SQL
lives here. The account a redemption credits is the community's supermarket account, chosen by the service from
the caller's role at the counter: no body names an account.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import msgspec
from litestar import Controller, Response, get, post, put
from litestar.params import JSONBody, Parameter, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from catalog import codes, counter, goods
from points.fields import Id, PathId, Reason
from points.ledger_web import IdempotencyKey
from points.openapi import problems, replayed
from points.wiring import Conn, CurrentAccess, CurrentCommunity, Here

_TEXT = r"^[^\x00]*$"
GoodName = Annotated[str, msgspec.Meta(min_length=1, max_length=goods.MAX_NAME_CHARS, pattern=_TEXT)]
Category = Annotated[str, msgspec.Meta(max_length=goods.MAX_CATEGORY_CHARS, pattern=_TEXT)]
Unit = Annotated[str, msgspec.Meta(min_length=1, max_length=goods.MAX_UNIT_CHARS, pattern=_TEXT)]
Price = Annotated[int, msgspec.Meta(ge=1, le=goods.MAX_PRICE)]
Barcode = Annotated[str, msgspec.Meta(pattern=r"^[0-9A-Za-z-]{4,32}$")]
Limit = Annotated[int, msgspec.Meta(ge=1, le=goods.MAX_LIMIT)]
LimitPeriod = Annotated[str, msgspec.Meta(pattern=r"^(day|week|month)$")]
LowStock = Annotated[int, msgspec.Meta(ge=0, le=goods.MAX_MOVE)]
MoveKind = Annotated[str, msgspec.Meta(pattern=r"^(restock|write_off|correction)$")]
MoveQuantity = Annotated[int, msgspec.Meta(ge=-goods.MAX_MOVE, le=goods.MAX_MOVE)]
Quantity = Annotated[int, msgspec.Meta(ge=1, le=counter.MAX_QUANTITY)]
LineNo = Annotated[int, msgspec.Meta(ge=1, le=counter.MAX_LINES)]
PaymentCode = Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[0-9 -]+$")]
CardNumber = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{8,20}$")]
Pin = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4,6}$")]
CounterName = Annotated[str, msgspec.Meta(max_length=counter.MAX_COUNTER_CHARS, pattern=_TEXT)]
Search = Annotated[str | None, QueryParameter(name="q", min_length=1, max_length=100, pattern=_TEXT)]
BarcodeQuery = Annotated[str | None, QueryParameter(name="barcode", pattern=r"^[0-9A-Za-z-]{4,32}$")]
DayQuery = Annotated[
    date | None, QueryParameter(name="day", description="the community's calendar day (today when absent)")
]
CounterQuery = Annotated[
    str | None, QueryParameter(name="counter", max_length=counter.MAX_COUNTER_CHARS, pattern=_TEXT)
]
IncludeInactive = Annotated[bool, QueryParameter(name="include_inactive")]
PageLimit = Annotated[int, Parameter(ge=1, le=200)]
BeforeNumber = Annotated[int | None, Parameter(ge=1, le=2_147_483_647, description="the last number seen")]
ReceiptNumber = Annotated[int, Parameter(ge=1, le=2_147_483_647)]


# ---- bodies -----------------------------------------------------------------------------------------------------


class GoodIn(msgspec.Struct, forbid_unknown_fields=True):
    name: GoodName
    price: Price
    category: Category = ""
    unit: Unit = "件"
    barcode: Barcode | None = None
    photo_id: Id | None = None
    active: bool = True
    low_stock_at: LowStock = 5
    limit_per_member: Limit | None = None
    limit_per_household: Limit | None = None
    limit_period: LimitPeriod | None = None


class MovementIn(msgspec.Struct, forbid_unknown_fields=True):
    kind: MoveKind
    quantity: MoveQuantity  # restock and write_off: how many (> 0); correction: ± what the count was off by
    reason: Reason


class BasketLine(msgspec.Struct, forbid_unknown_fields=True):
    quantity: Quantity = 1
    good_id: Id | None = None
    barcode: Barcode | None = None


class BasketIn(msgspec.Struct, forbid_unknown_fields=True):
    lines: Annotated[list[BasketLine], msgspec.Meta(min_length=1, max_length=counter.MAX_LINES)]
    payment_code: PaymentCode | None = None
    card_number: CardNumber | None = None
    pin: Pin | None = None
    for_member_id: Id | None = None  # 代办: the payment code is this member's household member's own
    counter: CounterName = ""


class ReturnLine(msgspec.Struct, forbid_unknown_fields=True):
    line_no: LineNo
    quantity: Quantity


class ReturnIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason
    lines: Annotated[list[ReturnLine], msgspec.Meta(min_length=1, max_length=counter.MAX_LINES)] | None = None
    counter: CounterName = ""


class CardIn(msgspec.Struct, forbid_unknown_fields=True):
    pin: Pin
    card_number: CardNumber | None = None


# ---- answers ----------------------------------------------------------------------------------------------------


class GoodOut(msgspec.Struct):
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


class MovementOut(msgspec.Struct):
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


class PaymentCodeOut(msgspec.Struct):
    code: str
    issued_at: datetime
    expires_at: datetime
    seconds_left: int


class PlannedLineOut(msgspec.Struct):
    line_no: int
    good_id: int
    name: str
    unit: str
    quantity: int
    unit_price: int
    amount: int
    stock: int
    limit_left: int | None


class PreviewOut(msgspec.Struct):
    member_id: int
    member_name: str
    household: str | None
    method: str
    proxy_member_id: int | None
    proxy_name: str | None
    balance_before: int
    total: int
    balance_after: int
    lines: list[PlannedLineOut]


class ReceiptLineOut(msgspec.Struct):
    line_no: int
    good_id: int
    name: str
    quantity: int
    unit_price: int
    amount: int
    returned: int


class ReturnOut(msgspec.Struct):
    id: int
    reason: str
    clerk_member_id: int
    total_points: int
    entry_id: int
    created_at: datetime
    lines: list[ReturnLine]


class ReceiptOut(msgspec.Struct):
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
    lines: list[ReceiptLineOut]
    returns: list[ReturnOut]
    replayed: bool


class CardOut(msgspec.Struct):
    member_id: int
    card_number: str
    issued_at: datetime


class DailyTotalOut(msgspec.Struct):
    clerk_member_id: int
    clerk_name: str
    counter: str
    receipts: int
    redeemed_points: int
    returns: int
    returned_points: int


class GoodReconciledOut(msgspec.Struct):
    good_id: int
    name: str
    quantity_sold: int
    points_redeemed: int
    stock_sold: int
    quantity_returned: int
    points_returned: int
    stock_returned: int
    agrees: bool


class ReconciliationOut(msgspec.Struct):
    day: date
    counter: str | None
    goods: list[GoodReconciledOut]
    points_redeemed: int
    ledger_redeemed: int
    points_returned: int
    ledger_returned: int
    agrees: bool
    unmatched: list[str]


def good_out(g: goods.Good) -> GoodOut:
    return GoodOut(
        g.id,
        g.name,
        g.category,
        g.price,
        g.unit,
        g.barcode,
        g.photo_id,
        g.active,
        g.stock,
        g.low_stock_at,
        g.limit_per_member,
        g.limit_per_household,
        g.limit_period,
        g.updated_at,
    )


def movement_out(m: goods.Movement) -> MovementOut:
    return MovementOut(
        m.id,
        m.good_id,
        m.kind,
        m.quantity,
        m.stock_after,
        m.reason,
        m.member_id,
        m.member_name,
        m.receipt_id,
        m.return_id,
        m.created_at,
    )


def preview_out(p: counter.Plan) -> PreviewOut:
    return PreviewOut(
        p.member_id,
        p.member_name,
        p.household,
        p.method,
        p.proxy_member_id,
        p.proxy_name,
        p.balance_before,
        p.total,
        p.balance_after,
        [
            PlannedLineOut(
                x.line_no, x.good_id, x.name, x.unit, x.quantity, x.unit_price, x.amount, x.stock, x.limit_left
            )
            for x in p.lines
        ],
    )


def receipt_out(r: counter.Receipt) -> ReceiptOut:
    return ReceiptOut(
        r.id,
        r.number,
        r.member_id,
        r.member_name,
        r.household,
        r.clerk_member_id,
        r.clerk_name,
        r.counter,
        r.method,
        r.proxy_member_id,
        r.entry_id,
        r.total_points,
        r.returned_points,
        r.created_at,
        [ReceiptLineOut(x.line_no, x.good_id, x.name, x.quantity, x.unit_price, x.amount, x.returned) for x in r.lines],
        [
            ReturnOut(
                t.id,
                t.reason,
                t.clerk_member_id,
                t.total_points,
                t.entry_id,
                t.created_at,
                [ReturnLine(n, q) for n, q in t.lines],
            )
            for t in r.returns
        ],
        r.replayed,
    )


def _payer(data: BasketIn) -> counter.Payer:
    return counter.Payer(data.payment_code, data.card_number, data.pin, data.for_member_id)


def _wanted(data: BasketIn) -> list[counter.Wanted]:
    return [counter.Wanted(x.quantity, x.good_id, x.barcode) for x in data.lines]


def _created(receipt: counter.Receipt) -> Response[ReceiptOut]:
    return Response(receipt_out(receipt), status_code=HTTP_200_OK if receipt.replayed else HTTP_201_CREATED)


# ---- controllers ------------------------------------------------------------------------------------------------


class GoodsController(Controller):
    """The supermarket's goods and stock."""

    path = "/api/v1/communities/{slug:str}"
    tags = ["supermarket"]  # noqa: RUF012

    @get("/goods", operation_id="listGoods", responses=problems(400, 401, 403, 404))
    async def list_goods(
        self,
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        search: Search = None,
        barcode: BarcodeQuery = None,
        include_inactive: IncludeInactive = False,
        limit: PageLimit = 100,
    ) -> list[GoodOut]:
        """The catalogue (on sale: prices, units, stock and limits), by category and name; ``q`` searches names,
        ``barcode`` finds the good a scanner read. ``include_inactive`` lists the goods off sale too (admins)."""
        everything = include_inactive and "admin" in access.roles
        found = await goods.list_goods(
            conn, community.id, search=search, barcode=barcode, include_inactive=everything, limit=limit
        )
        return [good_out(g) for g in found]

    @get("/goods/{good_id:int}", operation_id="getGood", responses=problems(400, 401, 403, 404))
    async def get_one(self, conn: Conn, community: CurrentCommunity, good_id: PathId) -> GoodOut:
        return good_out(await goods.get_good(conn, community.id, good_id))

    @post(
        "/goods",
        operation_id="createGood",
        status_code=HTTP_201_CREATED,
        responses=problems(400, 401, 403, 404, 409, 413, 415),
    )
    async def create(self, here: Here, data: JSONBody[GoodIn]) -> GoodOut:
        """A new good, with no stock yet (a restock brings it in). A limit per member and/or per household needs
        its period: day, week or month."""
        created = await goods.create_good(
            here.conn,
            here.community_id,
            name=data.name,
            category=data.category,
            price=data.price,
            unit=data.unit,
            barcode=data.barcode,
            photo_id=data.photo_id,
            active=data.active,
            low_stock_at=data.low_stock_at,
            limit_per_member=data.limit_per_member,
            limit_per_household=data.limit_per_household,
            limit_period=data.limit_period,
        )
        return good_out(created)

    @put("/goods/{good_id:int}", operation_id="updateGood", responses=problems(400, 401, 403, 404, 409, 413, 415))
    async def update(self, here: Here, good_id: PathId, data: JSONBody[GoodIn]) -> GoodOut:
        """Replace a good's description, price, limits and flag; the stock moves only by movements. A new price
        applies to the baskets confirmed from now on; receipts keep the price they charged."""
        updated = await goods.update_good(
            here.conn,
            here.community_id,
            good_id,
            name=data.name,
            category=data.category,
            price=data.price,
            unit=data.unit,
            barcode=data.barcode,
            photo_id=data.photo_id,
            active=data.active,
            low_stock_at=data.low_stock_at,
            limit_per_member=data.limit_per_member,
            limit_per_household=data.limit_per_household,
            limit_period=data.limit_period,
        )
        return good_out(updated)

    @post(
        "/goods/{good_id:int}/movements",
        operation_id="moveStock",
        status_code=HTTP_201_CREATED,
        responses=problems(400, 401, 403, 404, 413, 415, 422),
    )
    async def move(self, here: Here, good_id: PathId, data: JSONBody[MovementIn]) -> MovementOut:
        """Restock (a donation or a purchase), write off (damaged, expired) or correct the stock after a count, with
        a reason; stock never goes below zero (422 stock_negative)."""
        moved = await goods.record_movement(
            here.conn,
            here.community_id,
            here.access.member_id,
            good_id,
            kind=data.kind,
            quantity=data.quantity,
            reason=data.reason,
        )
        return movement_out(moved)

    @get("/goods/{good_id:int}/movements", operation_id="listStockMovements", responses=problems(400, 401, 403, 404))
    async def movements(
        self, conn: Conn, community: CurrentCommunity, good_id: PathId, limit: PageLimit = 50
    ) -> list[MovementOut]:
        """Newest first, each with who, why and the stock right after it."""
        await goods.get_good(conn, community.id, good_id)
        return [movement_out(m) for m in await goods.list_movements(conn, community.id, good_id, limit=limit)]

    @get("/low-stock", operation_id="listLowStock", responses=problems(400, 401, 403, 404))
    async def low_stock(self, conn: Conn, community: CurrentCommunity) -> list[GoodOut]:
        """The goods on sale at or below their low-stock mark, emptiest first."""
        return [good_out(g) for g in await goods.list_goods(conn, community.id, low_stock=True, limit=200)]


class CounterController(Controller):
    """The counter: payment codes, baskets, receipts, returns, cards, the day's totals."""

    path = "/api/v1/communities/{slug:str}"
    tags = ["supermarket"]  # noqa: RUF012

    @post(
        "/me/payment-code",
        operation_id="issuePaymentCode",
        status_code=HTTP_201_CREATED,
        responses=problems(400, 401, 403, 404),
    )
    async def payment_code(self, here: Here) -> Response[PaymentCodeOut]:
        """A new payment code for the caller (18 digits, valid two minutes, single-use); asking again refreshes it
        and the earlier one stops working. Not cached anywhere (no-store)."""
        issued = await codes.issue_code(here.conn, here.access)
        left = max(0, int((issued.expires_at - issued.issued_at).total_seconds()))
        return Response(
            PaymentCodeOut(issued.code, issued.issued_at, issued.expires_at, left),
            status_code=HTTP_201_CREATED,
            headers={"Cache-Control": "no-store"},
        )

    @post(
        "/counter/preview",
        operation_id="previewBasket",
        status_code=HTTP_200_OK,
        responses=problems(400, 401, 403, 404, 413, 415, 422),
    )
    async def preview(self, here: Here, data: JSONBody[BasketIn]) -> PreviewOut:
        """What confirming would do: the member, household, balance before and after, each line with its stock and
        limit left; or the first problem naming the good. Writes nothing; a payment code stays unused."""
        return preview_out(await counter.preview(here.conn, here.access, _payer(data), _wanted(data)))

    @post(
        "/counter/redemptions",
        operation_id="redeemBasket",
        status_code=HTTP_201_CREATED,
        responses=problems(400, 401, 403, 404, 409, 413, 415, 422, 423) | replayed(ReceiptOut),
    )
    async def redeem(
        self, here: Here, data: JSONBody[BasketIn], idempotency_key: IdempotencyKey
    ) -> Response[ReceiptOut]:
        """Confirm a basket: the wallet debit and the supermarket credit (one ledger entry), the stock sale
        movements and the receipt, all in one transaction, or nothing with the good and the problem named. The same
        Idempotency-Key returns the same receipt (200, replayed) and charges once."""
        receipt = await counter.confirm(
            here.conn,
            here.access,
            _payer(data),
            _wanted(data),
            idempotency_key=idempotency_key,
            counter=data.counter,
            actor=here.actor,
        )
        return _created(receipt)

    @get("/receipts", operation_id="listReceipts", responses=problems(400, 401, 403, 404))
    async def list_receipts(
        self, conn: Conn, community: CurrentCommunity, before: BeforeNumber = None, limit: PageLimit = 50
    ) -> list[ReceiptOut]:
        """Newest first, without lines (GET one by its number for them)."""
        found = await counter.list_receipts(conn, community.id, before_number=before, limit=limit)
        return [receipt_out(r) for r in found]

    @get("/receipts/{number:int}", operation_id="getReceipt", responses=problems(400, 401, 403, 404))
    async def get_receipt(self, conn: Conn, community: CurrentCommunity, number: ReceiptNumber) -> ReceiptOut:
        """A receipt by its number, for a reprint: its lines at the prices charged, what was returned."""
        return receipt_out(await counter.get_receipt(conn, community.id, number))

    @post(
        "/receipts/{number:int}/returns",
        operation_id="returnGoods",
        status_code=HTTP_201_CREATED,
        responses=problems(400, 401, 403, 404, 409, 413, 415, 422) | replayed(ReceiptOut),
    )
    async def return_goods(
        self, here: Here, number: ReceiptNumber, data: JSONBody[ReturnIn], idempotency_key: IdempotencyKey
    ) -> Response[ReceiptOut]:
        """Take goods back, with a reason: every line not yet returned (no ``lines``), or the lines and quantities
        given. One ledger entry gives the points back, the goods go back into stock; never more than was bought."""
        lines = None if data.lines is None else [(x.line_no, x.quantity) for x in data.lines]
        receipt = await counter.return_goods(
            here.conn,
            here.access,
            number,
            lines=lines,
            reason=data.reason,
            idempotency_key=idempotency_key,
            counter=data.counter,
        )
        return _created(receipt)

    @get("/me/receipts", operation_id="listMyReceipts", responses=problems(400, 401, 403, 404))
    async def mine(
        self,
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        before: BeforeNumber = None,
        limit: PageLimit = 50,
    ) -> list[ReceiptOut]:
        """The caller's receipts, newest first."""
        if access.member_id is None:
            return []
        found = await counter.list_receipts(
            conn, community.id, member_id=access.member_id, before_number=before, limit=limit
        )
        return [receipt_out(r) for r in found]

    @get("/me/receipts/{number:int}", operation_id="getMyReceipt", responses=problems(400, 401, 403, 404))
    async def my_receipt(
        self, conn: Conn, community: CurrentCommunity, access: CurrentAccess, number: ReceiptNumber
    ) -> ReceiptOut:
        """One of the caller's receipts with its lines (another member's answers 404, as a missing one does)."""
        return receipt_out(await counter.get_own_receipt(conn, community.id, access.member_id, number))

    @post(
        "/members/{member_id:int}/card",
        operation_id="issueMemberCard",
        status_code=HTTP_201_CREATED,
        responses=problems(400, 401, 403, 404, 409, 413, 415),
    )
    async def card(self, here: Here, member_id: PathId, data: JSONBody[CardIn]) -> CardOut:
        """Print a member card (for a member without a phone): its number and the PIN the member chose. A new card
        replaces the old one."""
        card = await codes.issue_card(
            here.conn, here.community_id, member_id, pin=data.pin, card_number=data.card_number
        )
        return CardOut(card.member_id, card.card_number, card.issued_at)

    @get("/counter/daily-totals", operation_id="getDailyTotals", responses=problems(400, 401, 403, 404))
    async def daily(self, conn: Conn, community: CurrentCommunity, day: DayQuery = None) -> list[DailyTotalOut]:
        """Receipts and returns per clerk and per counter on one day (the community's calendar day)."""
        found = await counter.daily_totals(conn, community.id, day or counter.today())
        return [
            DailyTotalOut(
                t.clerk_member_id, t.clerk_name, t.counter, t.receipts, t.redeemed_points, t.returns, t.returned_points
            )
            for t in found
        ]

    @get("/counter/reconciliation", operation_id="getReconciliation", responses=problems(400, 401, 403, 404))
    async def reconciliation(
        self, conn: Conn, community: CurrentCommunity, day: DayQuery = None, at_counter: CounterQuery = None
    ) -> ReconciliationOut:
        """End of day: per good, points redeemed and quantities on the receipts against the stock the sale and
        return movements moved, and the receipts' points against the ledger; ``agrees`` and what does not."""
        r = await counter.reconcile(conn, community.id, day or counter.today(), at_counter)
        return ReconciliationOut(
            r.day,
            r.counter,
            [
                GoodReconciledOut(
                    g.good_id,
                    g.name,
                    g.quantity_sold,
                    g.points_redeemed,
                    g.stock_sold,
                    g.quantity_returned,
                    g.points_returned,
                    g.stock_returned,
                    g.agrees,
                )
                for g in r.goods
            ],
            r.points_redeemed,
            r.ledger_redeemed,
            r.points_returned,
            r.ledger_returned,
            r.agrees,
            list(r.unmatched),
        )
