"""HTTP API over the ledger, for community admins and for tests.

Handlers only decode, call one ledger function with plain values, and encode.
The community comes from the path; who is calling, and in which roles, comes
from the auth guard (``points/auth/access.py``); writes get both, with the
connection and the actor to record, as one ``WriteContext`` (``provide_here``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromQuery, HeaderParameter, JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

import ledger
from ledger.errors import HoldNotFound
from ledger.model import MAX_KEY_CHARS, MAX_POSTINGS, Line, NewEntry, check_metadata, check_time
from points import entries
from points.auth.identity import Principal
from points.communities import FirstAdmin, communities_visible_to, open_community
from points.fields import (
    AccountCode,
    AccountName,
    AfterId,
    Amount,
    Bound,
    CommunityName,
    Id,
    Memo,
    MetadataKey,
    Name,
    Password,
    PathId,
    Phone,
    PositiveAmount,
    Reason,
    Text,
    TimeoutS,
    Timestamp,
)
from points.members.service import check_account_code
from points.openapi import problems, replayed
from points.wiring import Conn, CurrentCommunity, Here

IdempotencyKey = Annotated[
    str,
    HeaderParameter(
        name="Idempotency-Key",
        min_length=1,
        max_length=MAX_KEY_CHARS,
        description="Unique per community. A retry with the same key and body returns the original result; "
        "the same key with another body is refused (409 idempotency_key_reused).",
    ),
]


# ---- request bodies -------------------------------------------------------------------------------


# Types and limits come from points/fields.py (and through it from ledger/model.py); points/strict_input.py
# decodes these strictly, so "1", 1.0 and 1e2 are not integers and a time without its zone is refused.


class FirstAdminIn(msgspec.Struct, forbid_unknown_fields=True):
    display_name: Name
    phone: Annotated[Phone, msgspec.Meta(min_length=6)]
    password: Password | None = None  # for a person new to the platform


class CommunityIn(msgspec.Struct, forbid_unknown_fields=True):
    slug: Annotated[str, msgspec.Meta(pattern=ledger.SLUG.pattern)]
    name: CommunityName
    admin: FirstAdminIn | None = None


class UnitIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(pattern=ledger.UNIT_CODE.pattern)]
    name: Name


class AccountIn(msgspec.Struct, forbid_unknown_fields=True):
    code: AccountCode
    unit: Text = "points"
    name: AccountName = ""
    normal_side: Text = "credit"
    lower_bound: Bound | None = 0  # wallets cannot go below 0; send null for an unbounded system account
    upper_bound: Bound | None = None


class PostingIn(msgspec.Struct, forbid_unknown_fields=True):
    account_id: Id
    amount: Amount


class EntryIn(msgspec.Struct, forbid_unknown_fields=True):
    kind: Text
    postings: Annotated[list[PostingIn], msgspec.Meta(min_length=2, max_length=MAX_POSTINGS)]
    memo: Memo = ""
    metadata: dict[MetadataKey, Any] = {}
    effective_at: Timestamp | None = None

    def __post_init__(self) -> None:
        # The ledger's own checks, at the edge: msgspec cannot say "at most 8 deep" or "no U+0000 in any value",
        # and a time zone's offset is no proof of a sane year. The ledger checks the same again.
        problems = check_metadata(self.metadata) + check_time("effective_at", self.effective_at)
        if problems:
            raise ValueError(problems[0])


class ReversalIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason
    memo: Memo | None = None


class HoldIn(msgspec.Struct, forbid_unknown_fields=True):
    account_id: Id
    counter_account_id: Id
    amount: PositiveAmount
    kind: Text = "transfer"
    memo: Memo = ""
    timeout_s: TimeoutS = 900


class HoldPostIn(msgspec.Struct, forbid_unknown_fields=True):
    amount: PositiveAmount | None = None
    memo: Memo | None = None


# ---- responses ------------------------------------------------------------------------------------


class CommunityOut(msgspec.Struct):
    id: int
    slug: str
    name: str


class AccountOut(msgspec.Struct):
    id: int
    code: str
    name: str
    unit: str
    normal_side: str
    lower_bound: int | None
    upper_bound: int | None
    balance: int
    held: int
    available: int


class PostingOut(msgspec.Struct):
    id: int
    account_id: int
    amount: int
    balance_after: int | None


class EntryOut(msgspec.Struct):
    id: int
    replayed: bool
    posted_at: datetime
    effective_at: datetime
    postings: list[PostingOut]


class EntryDetailOut(msgspec.Struct):
    id: int
    kind: str
    memo: str
    metadata: msgspec.Raw
    actor: str | None
    effective_at: datetime
    posted_at: datetime
    idempotency_key: str
    reverses_entry_id: int | None
    reversal_reason: str | None
    reversed_by_entry_id: int | None
    postings: list[PostingOut]


class HistoryLineOut(msgspec.Struct):
    posting_id: int
    entry_id: int
    amount: int
    balance_after: int
    kind: str
    memo: str
    actor: str | None
    effective_at: datetime
    posted_at: datetime
    reverses_entry_id: int | None


class HistoryOut(msgspec.Struct):
    account_id: int
    lines: list[HistoryLineOut]
    next_cursor: str | None


class BalanceAsOfOut(msgspec.Struct):
    account_id: int
    as_of: datetime
    balance: int


class HoldOut(msgspec.Struct):
    id: int
    account_id: int
    counter_account_id: int
    unit: str
    amount: int
    kind: str
    memo: str
    status: str
    posted_amount: int | None
    entry_id: int | None
    created_at: datetime
    expires_at: datetime
    resolved_at: datetime | None
    replayed: bool


class TrialBalanceLineOut(msgspec.Struct):
    unit: str
    debits: int
    credits: int
    total: int
    accounts: int


class TrialBalanceOut(msgspec.Struct):
    balanced: bool
    units: list[TrialBalanceLineOut]


def _account_out(b: ledger.Balance) -> AccountOut:
    a = b.account
    return AccountOut(
        a.id, a.code, a.name, a.unit, a.normal_side, a.lower_bound, a.upper_bound, b.balance, b.held, b.available
    )


def history_out(account_id: int, page: ledger.HistoryPage) -> HistoryOut:
    lines = [
        HistoryLineOut(
            ln.posting_id,
            ln.entry_id,
            ln.amount,
            ln.balance_after,
            ln.kind,
            ln.memo,
            ln.actor,
            ln.effective_at,
            ln.posted_at,
            ln.reverses_entry_id,
        )
        for ln in page.lines
    ]
    return HistoryOut(account_id, lines, page.next_cursor)


def _entry_out(e: ledger.PostedEntry) -> Response[EntryOut]:
    body = EntryOut(
        e.id,
        e.replayed,
        e.posted_at,
        e.effective_at,
        [PostingOut(p.id, p.account_id, p.amount, p.balance_after) for p in e.postings],
    )
    return Response(body, status_code=HTTP_200_OK if e.replayed else HTTP_201_CREATED)


def _hold_out(h: ledger.Hold) -> HoldOut:
    return HoldOut(
        h.id,
        h.account_id,
        h.counter_account_id,
        h.unit,
        h.amount,
        h.kind,
        h.memo,
        h.status,
        h.posted_amount,
        h.entry_id,
        h.created_at,
        h.expires_at,
        h.resolved_at,
        h.replayed,
    )


# ---- handlers -------------------------------------------------------------------------------------


class CommunitiesController(Controller):
    path = "/api/v1/communities"
    tags = ["communities"]  # noqa: RUF012

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        operation_id="createCommunity",
        responses=problems(400, 401, 403, 409, 413, 415),
    )
    async def create(self, request: Request[Any, Any, Any], conn: Conn, data: JSONBody[CommunityIn]) -> CommunityOut:
        """Open a community (the tenant) with its points unit and, usually, its first admin. Operators only."""
        operator: Principal = request.user
        admin = data.admin
        first_admin = None if admin is None else FirstAdmin(admin.display_name, admin.phone, admin.password)
        c = await open_community(conn, data.slug, data.name, operator_person_id=operator.person_id, admin=first_admin)
        return CommunityOut(c.id, c.slug, c.name)

    @get("/", operation_id="listCommunities", responses=problems(401, 403))
    async def list_all(self, request: Request[Any, Any, Any], conn: Conn) -> list[CommunityOut]:
        """The communities the caller belongs to; every community for a platform operator."""
        principal: Principal = request.user
        visible = await communities_visible_to(
            conn, principal.person_id, token_community_id=principal.token_community_id
        )
        return [CommunityOut(c.id, c.slug, c.name) for c in visible]

    @get("/{slug:str}", operation_id="getCommunity", responses=problems(400, 401, 403, 404))
    async def read(self, community: CurrentCommunity) -> CommunityOut:
        return CommunityOut(community.id, community.slug, community.name)

    @post(
        "/{slug:str}/units",
        status_code=HTTP_201_CREATED,
        operation_id="addUnit",
        responses=problems(400, 401, 403, 404, 409, 413, 415),
    )
    async def add_unit(self, conn: Conn, community: CurrentCommunity, data: JSONBody[UnitIn]) -> UnitIn:
        """Add a unit, e.g. minutes for a time bank."""
        await ledger.add_unit(conn, community.id, data.code, data.name)
        return data


class LedgerController(Controller):
    path = "/api/v1/communities/{slug:str}"
    tags = ["ledger"]  # noqa: RUF012

    @post(
        "/accounts",
        status_code=HTTP_201_CREATED,
        operation_id="openAccount",
        responses=problems(400, 401, 403, 404, 409, 413, 415, 422),
    )
    async def open_account(self, conn: Conn, community: CurrentCommunity, data: JSONBody[AccountIn]) -> AccountOut:
        check_account_code(data.code)
        account = await ledger.open_account(
            conn,
            community.id,
            data.code,
            unit=data.unit,
            name=data.name,
            normal_side=data.normal_side,
            lower_bound=data.lower_bound,
            upper_bound=data.upper_bound,
        )
        return _account_out(ledger.Balance(account, 0, 0))

    @get("/accounts", operation_id="listAccounts", responses=problems(400, 401, 403, 404))
    async def list_accounts(
        self,
        conn: Conn,
        community: CurrentCommunity,
        after: AfterId = 0,
        limit: Annotated[int, Parameter(ge=1, le=ledger.MAX_PAGE)] = ledger.DEFAULT_PAGE,
    ) -> list[AccountOut]:
        return [_account_out(b) for b in await ledger.balances(conn, community.id, after_id=after, limit=limit)]

    @get("/accounts/{account_id:int}", operation_id="getAccount", responses=problems(400, 401, 403, 404))
    async def read_account(self, conn: Conn, community: CurrentCommunity, account_id: PathId) -> AccountOut:
        """The account with its balance, held amount and what is available (O(1))."""
        return _account_out(await ledger.balance(conn, community.id, account_id))

    @get(
        "/accounts/{account_id:int}/balance-as-of",
        operation_id="getBalanceAsOf",
        responses=problems(400, 401, 403, 404),
    )
    async def balance_as_of(
        self, conn: Conn, community: CurrentCommunity, account_id: PathId, at: FromQuery[datetime]
    ) -> BalanceAsOfOut:
        value = await ledger.balance_as_of(conn, community.id, account_id, at)
        return BalanceAsOfOut(account_id, at, value)

    @get("/accounts/{account_id:int}/history", operation_id="getAccountHistory", responses=problems(400, 401, 403, 404))
    async def history(
        self,
        conn: Conn,
        community: CurrentCommunity,
        account_id: PathId,
        cursor: Annotated[str | None, Parameter(max_length=64)] = None,
        limit: Annotated[int, Parameter(ge=1, le=ledger.MAX_PAGE)] = ledger.DEFAULT_PAGE,
    ) -> HistoryOut:
        """Postings newest first, each with the balance after it; pass next_cursor for the next page."""
        return history_out(account_id, await ledger.history(conn, community.id, account_id, cursor=cursor, limit=limit))

    @post(
        "/entries",
        operation_id="postEntry",
        status_code=HTTP_201_CREATED,
        responses=problems(400, 401, 403, 404, 409, 413, 415, 422) | replayed(EntryOut),
    )
    async def post_entry(
        self, here: Here, data: JSONBody[EntryIn], idempotency_key: IdempotencyKey
    ) -> Response[EntryOut]:
        """Post an entry: 201 when posted, 200 when this was a retry of one already posted. An award may not
        credit the poster's own wallet or their household's (403 conflict_of_interest)."""
        entry = NewEntry(
            kind=data.kind,
            lines=tuple(Line(p.account_id, p.amount) for p in data.postings),
            idempotency_key=idempotency_key,
            memo=data.memo,
            metadata=data.metadata,
            actor=here.actor,
            effective_at=data.effective_at,
        )
        return _entry_out(await entries.post_entry(here.conn, here.access, entry))

    @get("/entries/{entry_id:int}", operation_id="getEntry", responses=problems(400, 401, 403, 404))
    async def read_entry(self, conn: Conn, community: CurrentCommunity, entry_id: PathId) -> EntryDetailOut:
        e = await ledger.get_entry(conn, community.id, entry_id)
        return EntryDetailOut(
            e.id,
            e.kind,
            e.memo,
            msgspec.Raw(e.metadata.encode()),
            e.actor,
            e.effective_at,
            e.posted_at,
            e.idempotency_key,
            e.reverses_entry_id,
            e.reversal_reason,
            e.reversed_by_entry_id,
            [PostingOut(pid, account_id, amount, after) for pid, account_id, amount, after in e.postings],
        )

    @post(
        "/entries/{entry_id:int}/reversal",
        operation_id="reverseEntry",
        status_code=HTTP_201_CREATED,
        responses=problems(400, 401, 403, 404, 409, 413, 415, 422) | replayed(EntryOut),
    )
    async def reverse(
        self, here: Here, entry_id: PathId, data: JSONBody[ReversalIn], idempotency_key: IdempotencyKey
    ) -> Response[EntryOut]:
        """Post the mirror of an entry, naming it and a reason. An entry is reversed at most once."""
        posted = await entries.reverse_entry(
            here.conn,
            here.access,
            entry_id,
            reason=data.reason,
            idempotency_key=idempotency_key,
            actor=here.actor,
            memo=data.memo,
        )
        return _entry_out(posted)

    @post(
        "/holds",
        operation_id="placeHold",
        status_code=HTTP_201_CREATED,
        responses=problems(400, 401, 403, 404, 409, 413, 415, 422) | replayed(HoldOut),
    )
    async def place_hold(
        self, here: Here, data: JSONBody[HoldIn], idempotency_key: IdempotencyKey
    ) -> Response[HoldOut]:
        """Reserve points on an account for a later post or void; they expire after timeout_s."""
        hold = await entries.place_hold(
            here.conn,
            here.community_id,
            account_id=data.account_id,
            counter_account_id=data.counter_account_id,
            amount=data.amount,
            kind=data.kind,
            timeout_s=data.timeout_s,
            idempotency_key=idempotency_key,
            memo=data.memo,
            actor=here.actor,
        )
        return Response(_hold_out(hold), status_code=HTTP_200_OK if hold.replayed else HTTP_201_CREATED)

    @get("/holds/{hold_id:int}", operation_id="getHold", responses=problems(400, 401, 403, 404))
    async def read_hold(self, conn: Conn, community: CurrentCommunity, hold_id: PathId) -> HoldOut:
        hold = await ledger.get_hold(conn, community.id, hold_id)
        if hold is None:
            raise HoldNotFound(f"hold {hold_id} does not exist in this community", hold_id=hold_id)
        return _hold_out(hold)

    @post(
        "/holds/{hold_id:int}/post",
        operation_id="postHold",
        status_code=HTTP_201_CREATED,
        responses=problems(400, 401, 403, 404, 409, 413, 415, 422) | replayed(EntryOut),
    )
    async def post_hold(
        self, here: Here, hold_id: PathId, data: JSONBody[HoldPostIn], idempotency_key: IdempotencyKey
    ) -> Response[EntryOut]:
        """Post the hold (or part of it; the rest is released)."""
        posted = await ledger.post_hold(
            here.conn,
            here.community_id,
            hold_id,
            idempotency_key=idempotency_key,
            amount=data.amount,
            memo=data.memo,
            actor=here.actor,
        )
        return _entry_out(posted)

    @post(
        "/holds/{hold_id:int}/void",
        operation_id="voidHold",
        status_code=HTTP_200_OK,
        responses=problems(400, 401, 403, 404, 409),
    )
    async def void_hold(self, conn: Conn, community: CurrentCommunity, hold_id: PathId) -> HoldOut:
        """Release the hold. Voiding twice is harmless."""
        return _hold_out(await ledger.void_hold(conn, community.id, hold_id))

    @get("/trial-balance", operation_id="getTrialBalance", responses=problems(400, 401, 403, 404))
    async def trial_balance(self, conn: Conn, community: CurrentCommunity) -> TrialBalanceOut:
        lines = await ledger.trial_balance(conn, community.id)
        return TrialBalanceOut(
            all(ln.total == 0 for ln in lines),
            [TrialBalanceLineOut(ln.unit, ln.debits, ln.credits, ln.total, ln.accounts) for ln in lines],
        )
