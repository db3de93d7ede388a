"""HTTP handlers of the swap table (亲邻易物台): listings (members list, table staff take items in), proposals
(propose, accept, decline, counter, cancel), the hand-over (both members, or table staff), missed hand-overs and
the admin's settings.

Handlers decode, call one service function (catalog/swap_listings.py, catalog/swaps.py) and encode; no rule and no
SQL lives here. Table staff are the community's clerks and admins (points/auth/policy.py, TABLE_STAFF); the staff
operations are their own operation ids, so a member's role is never read from a body.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, Response, get, post, put
from litestar.params import JSONBody, Parameter, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from catalog import swap_listings, swaps
from ledger.model import MAX_REASON_CHARS
from points.fields import Id, PathId
from points.ledger_web import IdempotencyKey
from points.openapi import problems, replayed
from points.wiring import Conn, CurrentAccess, CurrentCommunity, Here

_TEXT = r"^[^\x00]*$"
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=swap_listings.MAX_TITLE_CHARS, pattern=_TEXT)]
Description = Annotated[str, msgspec.Meta(max_length=swap_listings.MAX_DESCRIPTION_CHARS, pattern=_TEXT)]
Wants = Annotated[str, msgspec.Meta(max_length=swap_listings.MAX_WANTS_CHARS, pattern=_TEXT)]
Condition = Annotated[str, msgspec.Meta(pattern=r"^(new|like_new|good|fair|worn)$")]
Note = Annotated[str, msgspec.Meta(max_length=swaps.MAX_NOTE_CHARS, pattern=_TEXT)]
Points = Annotated[
    int,
    msgspec.Meta(
        ge=-swaps.MAX_POINTS,
        le=swaps.MAX_POINTS,
        description="> 0: the proposer pays the other member these points; < 0: the proposer asks them",
    ),
]
ListingIds = Annotated[list[Id], msgspec.Meta(max_length=swaps.MAX_ITEMS)]
TakeIds = Annotated[list[Id], msgspec.Meta(min_length=1, max_length=swaps.MAX_ITEMS)]
HandoverDays = Annotated[int, msgspec.Meta(ge=1, le=swap_listings.MAX_HANDOVER_DAYS)]
ListingDays = Annotated[
    int,
    msgspec.Meta(ge=1, le=swap_listings.MAX_LISTING_DAYS, description="days an open listing stays before it expires"),
]
StaffReason = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_REASON_CHARS, pattern=_TEXT)]
MemberSearch = Annotated[str, QueryParameter(name="q", min_length=1, max_length=100, pattern=_TEXT)]
BonusPoints = Annotated[int, msgspec.Meta(ge=1, le=swap_listings.MAX_BONUS_POINTS)]
BonusCap = Annotated[int, msgspec.Meta(ge=1, le=swap_listings.MAX_BONUS_CAP)]
Search = Annotated[str | None, QueryParameter(name="q", min_length=1, max_length=100, pattern=_TEXT)]
StatusQuery = Annotated[
    str | None,
    QueryParameter(name="status", pattern=r"^(open|reserved|swapped|withdrawn|expired)$", description="open if absent"),
]
PageLimit = Annotated[int, Parameter(ge=1, le=swap_listings.MAX_PAGE)]
BeforeId = Annotated[int | None, Parameter(ge=1, le=2**63 - 1, description="the last id seen")]


# ---- bodies -----------------------------------------------------------------------------------------------------


class ListingIn(msgspec.Struct, forbid_unknown_fields=True):
    title: Title
    condition: Condition
    description: Description = ""
    wants: Wants = ""  # what is wanted in return, in words (items and/or points)
    free: bool = False  # free to a good home
    photo_id: Id | None = None  # a photo uploaded first (POST …/photos)


class IntakeIn(msgspec.Struct, forbid_unknown_fields=True):
    member_id: Id  # the member whose item the staff take in
    title: Title
    condition: Condition
    description: Description = ""
    wants: Wants = ""
    free: bool = False
    photo_id: Id | None = None


class ProposalIn(msgspec.Struct, forbid_unknown_fields=True):
    take: TakeIds  # the other member's listings
    give: ListingIds = msgspec.field(default_factory=list)  # the proposer's own listings
    points: Points = 0
    note: Note = ""


class SettingsIn(msgspec.Struct, forbid_unknown_fields=True):
    handover_days: HandoverDays = swap_listings.DEFAULT_HANDOVER_DAYS
    bonus_points: BonusPoints | None = None
    bonus_cap_per_month: BonusCap | None = None
    bonus_type_id: Id | None = None
    listing_days: ListingDays = swap_listings.DEFAULT_LISTING_DAYS


class StaffWithdrawIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: StaffReason  # why the table's staff take it off (audited)


# ---- answers ----------------------------------------------------------------------------------------------------


class ListingOut(msgspec.Struct):
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
    expires_at: datetime  # an open listing expires then (the community's listing lifetime)
    relist_of_id: int | None  # the expired listing this one lists again
    relisted_as_id: int | None  # an expired listing's new listing, once listed again
    withdraw_reason: str | None  # why the table's staff withdrew it (null for a member's own withdrawal)


class MemberMatchOut(msgspec.Struct):
    id: int
    display_name: str
    household: str | None


class ItemOut(msgspec.Struct):
    listing_id: int
    title: str
    status: str
    photo_id: int | None
    free: bool


class ProposalOut(msgspec.Struct):
    id: int
    from_member_id: int
    from_name: str
    to_member_id: int
    to_name: str
    points: int
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
    give: list[ItemOut]
    take: list[ItemOut]
    replayed: bool


class MissedOut(msgspec.Struct):
    member_id: int
    display_name: str
    missed: int


class SettingsOut(msgspec.Struct):
    handover_days: int
    bonus_points: int | None
    bonus_cap_per_month: int | None
    bonus_type_id: int | None
    listing_days: int


def listing_out(x: swap_listings.Listing) -> ListingOut:
    return ListingOut(
        x.id, x.member_id, x.member_name, x.title, x.description, x.condition, x.wants, x.free, x.photo_id,
        x.status, x.at_table, x.intake_by_member_id, x.created_at, x.updated_at, x.expires_at, x.relist_of_id,
        x.relisted_as_id, x.withdraw_reason,
    )  # fmt: skip


def _items(items: tuple[swaps.Item, ...]) -> list[ItemOut]:
    return [ItemOut(i.listing_id, i.title, i.status, i.photo_id, i.free) for i in items]


def proposal_out(p: swaps.Proposal) -> ProposalOut:
    return ProposalOut(
        p.id, p.from_member_id, p.from_name, p.to_member_id, p.to_name, p.points, p.note, p.status, p.counter_of_id,
        p.hold_id, p.accepted_at, p.deadline_at, p.confirmed_from_at, p.confirmed_to_at, p.confirmed_by_staff_id,
        p.entry_id, p.bonus_award_id, p.missed_by_from, p.missed_by_to, p.created_at, p.resolved_at,
        _items(p.give), _items(p.take), p.replayed,
    )  # fmt: skip


def _answer(p: swaps.Proposal, created: bool = False) -> Response[ProposalOut]:
    status = HTTP_201_CREATED if created and not p.replayed else HTTP_200_OK
    return Response(proposal_out(p), status_code=status)


def _settings_out(s: swap_listings.Settings) -> SettingsOut:
    return SettingsOut(s.handover_days, s.bonus_points, s.bonus_cap_per_month, s.bonus_type_id, s.listing_days)


_WRITE = (400, 401, 403, 404, 409, 413, 415, 422)


# ---- controllers ------------------------------------------------------------------------------------------------


class SwapListingsController(Controller):
    """The swap table's listings."""

    path = "/api/v1/communities/{slug:str}/swap"
    tags = ["swap table"]  # noqa: RUF012

    @get("/listings", operation_id="listSwapListings", responses=problems(400, 401, 403, 404))
    async def list_listings(
        self,
        conn: Conn,
        community: CurrentCommunity,
        search: Search = None,
        status: StatusQuery = None,
        member_id: Annotated[int | None, Parameter(ge=1, le=2**63 - 1)] = None,
        at_table: Annotated[bool | None, QueryParameter(name="at_table")] = None,
        before: BeforeId = None,
        limit: PageLimit = 50,
    ) -> list[ListingOut]:
        """Newest first, open ones unless ``status`` says otherwise; ``q`` searches titles, descriptions and what
        is wanted; ``member_id`` one member's; ``at_table`` those taken in at the table."""
        found = await swap_listings.list_listings(
            conn, community.id, search=search, statuses=(status or "open",), member_id=member_id,
            at_table=at_table, before_id=before, limit=limit,
        )  # fmt: skip
        return [listing_out(x) for x in found]

    @get("/listings/{listing_id:int}", operation_id="getSwapListing", responses=problems(400, 401, 403, 404))
    async def get_listing(self, conn: Conn, community: CurrentCommunity, listing_id: PathId) -> ListingOut:
        return listing_out(await swap_listings.get_listing(conn, community.id, listing_id))

    @post("/listings", operation_id="createSwapListing", status_code=HTTP_201_CREATED, responses=problems(*_WRITE))
    async def create(self, here: Here, data: JSONBody[ListingIn]) -> ListingOut:
        """List one of the caller's items: open at once. A photo is uploaded first (``uploadPhoto``, JPEG, PNG or
        WebP, re-encoded without its location) and named by ``photo_id``."""
        created = await swap_listings.create_listing(
            here.conn, here.access, title=data.title, condition=data.condition, description=data.description,
            wants=data.wants, free=data.free, photo_id=data.photo_id,
        )  # fmt: skip
        return listing_out(created)

    @post("/intake", operation_id="intakeSwapListing", status_code=HTTP_201_CREATED, responses=problems(*_WRITE))
    async def intake(self, here: Here, data: JSONBody[IntakeIn]) -> ListingOut:
        """Table staff take a member's item in at the table (its photo and condition): listed for that member, marked
        as on the table."""
        created = await swap_listings.create_listing(
            here.conn, here.access, title=data.title, condition=data.condition, description=data.description,
            wants=data.wants, free=data.free, photo_id=data.photo_id, for_member_id=data.member_id,
        )  # fmt: skip
        return listing_out(created)

    @post(
        "/listings/{listing_id:int}/withdraw",
        operation_id="withdrawSwapListing",
        status_code=HTTP_200_OK,
        responses=problems(400, 401, 403, 404, 409),
    )
    async def withdraw(self, here: Here, listing_id: PathId) -> ListingOut:
        """Its member takes an open listing off the table; the open proposals for it end (superseded)."""
        return listing_out(await swap_listings.withdraw_listing(here.conn, here.access, listing_id, staff=False))

    @post(
        "/table/listings/{listing_id:int}/withdraw",
        operation_id="withdrawTableListing",
        status_code=HTTP_200_OK,
        responses=problems(400, 401, 403, 404, 409, 413, 415),
    )
    async def staff_withdraw(self, here: Here, listing_id: PathId, data: JSONBody[StaffWithdrawIn]) -> ListingOut:
        """Table staff take an open listing off the table, saying why (the item went back to its member, it is not
        fit to swap…): written to the audit trail; the open proposals for it end (superseded)."""
        withdrawn = await swap_listings.withdraw_listing(
            here.conn, here.access, listing_id, staff=True, reason=data.reason
        )
        return listing_out(withdrawn)

    @post(
        "/listings/{listing_id:int}/relist",
        operation_id="relistSwapListing",
        status_code=HTTP_201_CREATED,
        responses=problems(400, 401, 403, 404, 409),
    )
    async def relist(self, here: Here, listing_id: PathId) -> ListingOut:
        """Its member lists an expired listing again: a new open listing copying it (``relist_of_id`` names the
        expired one). Sent again, it answers the same new listing."""
        return listing_out(await swap_listings.relist(here.conn, here.access, listing_id))

    @get("/table/members", operation_id="findSwapMembers", responses=problems(400, 401, 403, 404))
    async def find_members(self, conn: Conn, community: CurrentCommunity, search: MemberSearch) -> list[MemberMatchOut]:
        """Table staff look up whose item they take in: active members whose name contains ``q``, or whose member
        number it is (at most ten)."""
        found = await swap_listings.find_members(conn, community.id, search)
        return [MemberMatchOut(m.id, m.display_name, m.household) for m in found]

    @get("/settings", operation_id="getSwapSettings", responses=problems(400, 401, 403, 404))
    async def get_settings(self, conn: Conn, community: CurrentCommunity) -> SettingsOut:
        return _settings_out(await swap_listings.get_settings(conn, community.id))

    @put("/settings", operation_id="updateSwapSettings", responses=problems(400, 401, 403, 404, 413, 415))
    async def put_settings(self, here: Here, data: JSONBody[SettingsIn]) -> SettingsOut:
        """The days a hand-over is due after an accept, the days an open listing stays before it expires
        (``listing_days``), and the optional give-away bonus: points from the budget (an award of
        ``bonus_type_id``) for a free give-away, at most ``bonus_cap_per_month`` a member a month; all three bonus
        fields together, or none."""
        wanted = swap_listings.Settings(
            data.handover_days, data.bonus_points, data.bonus_cap_per_month, data.bonus_type_id, data.listing_days
        )
        return _settings_out(await swap_listings.update_settings(here.conn, here.community_id, wanted))


class SwapProposalsController(Controller):
    """Proposals and hand-overs at the swap table."""

    path = "/api/v1/communities/{slug:str}/swap"
    tags = ["swap table"]  # noqa: RUF012

    @get("/me/proposals", operation_id="listMySwapProposals", responses=problems(400, 401, 403, 404))
    async def mine(
        self, conn: Conn, community: CurrentCommunity, access: CurrentAccess, before: BeforeId = None,
        limit: PageLimit = 50,
    ) -> list[ProposalOut]:  # fmt: skip
        """The proposals to and from the caller, newest first, with their items both ways."""
        if access.member_id is None:
            return []
        found = await swaps.list_proposals(
            conn, community.id, member_id=access.member_id, before_id=before, limit=limit
        )
        return [proposal_out(p) for p in found]

    @get("/proposals/{proposal_id:int}", operation_id="getSwapProposal", responses=problems(400, 401, 403, 404))
    async def get_one(
        self, conn: Conn, community: CurrentCommunity, access: CurrentAccess, proposal_id: PathId
    ) -> ProposalOut:
        """A proposal, for its two members and table staff (another member's answers 404)."""
        staff = bool({"clerk", "admin", "street_admin"} & access.roles)
        found = await swaps.get_visible_proposal(conn, access, community.id, proposal_id, staff=staff)
        return proposal_out(found)

    @post(
        "/proposals",
        operation_id="proposeSwap",
        status_code=HTTP_201_CREATED,
        responses=problems(*_WRITE) | replayed(ProposalOut),
    )
    async def propose(
        self, here: Here, data: JSONBody[ProposalIn], idempotency_key: IdempotencyKey
    ) -> Response[ProposalOut]:
        """Offer some of one's listings (``give``) and/or points for listings of one other member (``take``);
        points < 0 ask the other member for points. Nothing is held until the other member accepts."""
        proposal = await swaps.propose(
            here.conn, here.access, take=data.take, give=data.give, points=data.points, note=data.note,
            idempotency_key=idempotency_key,
        )  # fmt: skip
        return _answer(proposal, created=True)

    @post(
        "/proposals/{proposal_id:int}/counter",
        operation_id="counterSwapProposal",
        status_code=HTTP_201_CREATED,
        responses=problems(*_WRITE) | replayed(ProposalOut),
    )
    async def counter(
        self, here: Here, proposal_id: PathId, data: JSONBody[ProposalIn], idempotency_key: IdempotencyKey
    ) -> Response[ProposalOut]:
        """Answer a proposal made to the caller with another one (``take``: the proposer's listings, ``give``: the
        caller's): the first is countered, the new one waits for the first proposer."""
        proposal = await swaps.propose(
            here.conn, here.access, take=data.take, give=data.give, points=data.points, note=data.note,
            idempotency_key=idempotency_key, counter_of=proposal_id,
        )  # fmt: skip
        return _answer(proposal, created=True)

    @post(
        "/proposals/{proposal_id:int}/accept",
        operation_id="acceptSwapProposal",
        status_code=HTTP_200_OK,
        responses=problems(400, 401, 403, 404, 409, 422),
    )
    async def accept(self, here: Here, proposal_id: PathId) -> Response[ProposalOut]:
        """The member it is made to accepts: its listings reserved, the points part held (a two-phase ledger hold),
        competing proposals on hold, the hand-over due within the settings' days."""
        return _answer(await swaps.accept(here.conn, here.access, proposal_id))

    @post(
        "/proposals/{proposal_id:int}/decline",
        operation_id="declineSwapProposal",
        status_code=HTTP_200_OK,
        responses=problems(400, 401, 403, 404, 409),
    )
    async def decline(self, here: Here, proposal_id: PathId) -> Response[ProposalOut]:
        return _answer(await swaps.decline(here.conn, here.access, proposal_id))

    @post(
        "/proposals/{proposal_id:int}/cancel",
        operation_id="cancelSwapProposal",
        status_code=HTTP_200_OK,
        responses=problems(400, 401, 403, 404, 409),
    )
    async def cancel(self, here: Here, proposal_id: PathId) -> Response[ProposalOut]:
        """The proposer withdraws an open proposal, or either member calls off an accepted one: its hold voided, its
        listings open again."""
        return _answer(await swaps.cancel(here.conn, here.access, proposal_id))

    @post(
        "/proposals/{proposal_id:int}/handover",
        operation_id="confirmSwapHandover",
        status_code=HTTP_200_OK,
        responses=problems(400, 401, 403, 404, 409, 422),
    )
    async def handover(self, here: Here, proposal_id: PathId) -> Response[ProposalOut]:
        """A member confirms the hand-over; when both have, the points are posted (once) and the listings swapped."""
        return _answer(await swaps.confirm_handover(here.conn, here.access, proposal_id, as_staff=False))

    @get("/handovers", operation_id="listSwapHandovers", responses=problems(400, 401, 403, 404))
    async def pending(self, conn: Conn, community: CurrentCommunity, limit: PageLimit = 100) -> list[ProposalOut]:
        """The accepted proposals waiting for their hand-over at the table, newest first."""
        found = await swaps.list_proposals(conn, community.id, statuses=("accepted",), limit=limit)
        return [proposal_out(p) for p in found]

    @post(
        "/table/proposals/{proposal_id:int}/handover",
        operation_id="confirmTableHandover",
        status_code=HTTP_200_OK,
        responses=problems(400, 401, 403, 404, 409, 422),
    )
    async def staff_handover(self, here: Here, proposal_id: PathId) -> Response[ProposalOut]:
        """Table staff saw the hand-over: the points posted (once), the listings swapped. Not one's own swap."""
        return _answer(await swaps.confirm_handover(here.conn, here.access, proposal_id, as_staff=True))

    @get("/missed-handovers", operation_id="listMissedHandovers", responses=problems(400, 401, 403, 404))
    async def missed(self, conn: Conn, community: CurrentCommunity) -> list[MissedOut]:
        """Per member, the accepted swaps that timed out before they confirmed the hand-over."""
        found = await swaps.missed_handovers(conn, community.id)
        return [MissedOut(m.member_id, m.display_name, m.missed) for m in found]
