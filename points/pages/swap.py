"""The swap table's pages (亲邻易物台): a member browses and searches the table, opens a listing and proposes for
it (some of their own listings and/or points), lists an item (with a photo from the phone's camera), and on 我的易物
sees their listings (withdraw; list an expired one again) and the proposals to and from them (accept, decline,
counter, cancel, confirm the hand-over); table staff (clerks and admins) take items in for a member found by name
or number, see the items on the table and the hand-overs waiting, confirm a hand-over they saw, take a listing
off the table saying why, and read the missed hand-overs per member; admins set the table's settings. Long lists
page by a "more" link (keyset: the last id shown).

Thin like the rest of points/pages/: every form calls the service function the API's operation calls
(catalog/swap_listings.py, catalog/swaps.py), so the rules are the same ones; a refusal re-renders the form with
what was typed and the problem in the reader's words. The forms that propose carry the idempotency key made when
the form was shown, so a double tap proposes once. A listing's photo and the listing are one transaction: a
refused listing leaves no photo behind.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import QueryParameter
from litestar.response import Redirect, Template

import ledger
from catalog import swap_listings, swaps
from catalog.swap_web import SettingsIn
from points import photos
from points.auth.errors import InvalidRequest
from points.auth.policy import ADMIN, CLERK
from points.earning import reports, types
from points.field_problems import field_problem
from points.fields import PathId
from points.pages.organize import Problems, Typed, new_key, read_form, refused
from points.pages.web import PAGE_EXCEPTION_HANDLERS, _, render
from points.wiring import Conn, CurrentAccess, CurrentCommunity

KEY = re.compile(r"page:[A-Za-z0-9_-]{8,60}")
BROWSE_LIMIT = 100
MINE_LIMIT = 100
Search = Annotated[str, QueryParameter(name="q", max_length=100, pattern=r"^[^\x00]*$")]
Done = Annotated[str, QueryParameter(max_length=20)]
Before = Annotated[int | None, QueryParameter(ge=1, le=2**63 - 1)]

CONDITION_WORDS = {
    "new": _("New"),
    "like_new": _("Like new"),
    "good": _("Good condition"),
    "fair": _("Fair"),
    "worn": _("Worn"),
}
LISTING_STATUS_WORDS = {
    "open": _("Open for a swap"),
    "reserved": _("Reserved"),
    "swapped": _("Swapped"),
    "withdrawn": _("Withdrawn"),
    "expired": _("Expired"),
}
PROPOSAL_STATUS_WORDS = {
    "open": _("Waiting for an answer"),
    "accepted": _("Accepted: hand-over due"),
    "declined": _("Declined"),
    "countered": _("Countered"),
    "cancelled": _("Cancelled"),
    "swapped": _("Handed over"),
    "timed_out": _("Timed out"),
    "superseded": _("Ended: a listing went"),
    "on_hold": _("On hold"),
}
LABELS = {
    "title": _("What is it?"),
    "description": _("Description"),
    "condition": _("Condition"),
    "wants": _("What do you want for it?"),
    "photo": _("Photo"),
    "points": _("Points"),
    "note": _("Note"),
    "give": _("My listings"),
    "take": _("Their listings"),
    "member_id": _("Member number"),
    "member": _("Member: name or number"),
    "reason": _("Why is it taken off the table?"),
    "handover_days": _("Days to hand over after an accept"),
    "listing_days": _("Days a listing stays on the table"),
    "bonus_points": _("Give-away bonus points"),
    "bonus_cap_per_month": _("Bonuses per member per month"),
    "bonus_type_id": _("Activity type of the bonus"),
}
# A refusal of the swap table in the reader's words (its title stays above them): (code) -> words.
REFUSAL_WORDS = {
    "listing_unavailable": _("That listing is no longer open: someone else's swap reserved it, or it went."),
    "swap_wrong_state": _("This proposal has moved on already: the page shows where it stands now."),
    "proposal_on_hold": _(
        "Another accepted swap holds one of these listings: wait until it is handed over or falls through."
    ),
    "handover_overdue": _("The hand-over was due earlier: this swap has timed out."),
    "not_a_party": _(
        "This is not yours to do: its proposer cancels an open proposal, the member it is made to accepts or"
        " declines it, and a listing is withdrawn by its member."
    ),
    "insufficient_points": _("Not enough points for this swap."),
    "idempotency_key_reused": _("This form proposed something else already: open it again."),
    "several_members": _("Several members match: choose one of them below."),
    "no_member": _("No active member has that name or number."),
}


def _worded(exc: Exception, form: str) -> dict[str, Any]:
    failed = refused(exc, form)
    why = (getattr(exc, "data", None) or {}).get("why")
    words = REFUSAL_WORDS.get(str(why)) or REFUSAL_WORDS.get(str(failed["code"]))
    if words and (why or not failed.get("fields")):
        failed["words"], failed["detail"], failed["fields"] = words, None, None
    return failed


def _page(items: list[Any], limit: int) -> tuple[list[Any], int | None]:
    """The first ``limit`` of ``limit + 1`` rows read, and the id to read on from when there were more."""
    return items[:limit], (items[limit - 1].id if len(items) > limit else None)


async def _intake_member(conn: Conn, community_id: int, typed: Typed) -> int:
    """Whose item staff take in: the member chosen from a list (``member_id``), or the one member whose number
    the box holds or whose name contains what it holds. Several: refused with them to choose from; none: refused."""
    chosen = str(typed["member_id"]).strip()
    if chosen:
        return _ids([chosen], "member_id")[0]
    text = str(typed["member"]).strip()
    if not text:
        raise InvalidRequest("whose item is it?", errors=[field_problem("member", "required")], field="member")
    found = await swap_listings.find_members(conn, community_id, text)
    if found and text.isdigit() and found[0].id == int(text):
        return found[0].id
    if len(found) == 1:
        return found[0].id
    if not found:
        raise InvalidRequest(f"no active member called or numbered {text!r}", field="member", why="no_member")
    raise InvalidRequest(f"{len(found)} members match {text!r}", field="member", why="several_members",
                         matches=[m.id for m in found])  # fmt: skip


def _is_staff(access: Any) -> bool:
    return bool({CLERK, ADMIN} & access.roles)


def _points(text: object) -> int:
    value = str(text).strip() or "0"
    if not re.fullmatch(r"-?[0-9]{1,7}", value) or abs(int(value)) > swaps.MAX_POINTS:
        raise InvalidRequest("points are a whole number", errors=[field_problem("points", "not_digits")])
    return int(value)


def _ids(values: list[str], key: str) -> list[int]:
    found = []
    for v in values:
        if not v.isascii() or not v.isdigit() or len(v) > 18:
            raise InvalidRequest("not a listing", errors=[field_problem(key, "not_digits")])
        found.append(int(v))
    return found


async def _photo_of(conn: Conn, access: Any, form: Any) -> int | None:
    """The form's photo, checked, cleaned and stored (points/photos.py, as the API's uploadPhoto), or None."""
    upload = form.get("photo")
    raw = await upload.read() if isinstance(upload, UploadFile) and upload.filename else b""
    if not raw:
        return None
    stored = await reports.upload_photo(conn, access, raw)
    return stored.id


def _listing_fields(form: Any) -> Typed:
    keys = ("title", "description", "condition", "wants", "free", "member_id", "member", "key")
    return Typed({k: str(form.get(k, "")) for k in keys if isinstance(form.get(k, ""), str)})


def swap_url(slug: str, rest: str = "") -> str:
    return f"/c/{slug}/swap{rest}"


class SwapPages(Controller):
    path = "/"
    include_in_schema = False
    exception_handlers = PAGE_EXCEPTION_HANDLERS

    # ---- browse ------------------------------------------------------------------------------------------------

    @get("/c/{slug:str}/swap", operation_id="pageSwap")
    async def browse(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        search: Search = "",
        before: Before = None,
    ) -> Template:
        """亲邻易物台: the open listings, newest first, or those matching what was searched for; a hundred at a
        time, the next ones by the "more" link (``before``: the last id shown)."""
        wanted = search.strip() or None
        found, more = _page(
            await swap_listings.list_listings(
                conn, community.id, search=wanted, before_id=before, limit=BROWSE_LIMIT + 1
            ),
            BROWSE_LIMIT,
        )
        return render(request, "swap/browse.html", community=community, listings=found, search=wanted or "",
                      me=access.member_id, staff=_is_staff(access), conditions=CONDITION_WORDS, more=more,
                      paged=before is not None)  # fmt: skip

    async def _listing_page(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: Any,
        access: Any,
        listing_id: int,
        *,
        typed: Typed | None = None,
        failed: dict[str, Any] | None = None,
    ) -> Template:
        listing = await swap_listings.get_listing(conn, community.id, listing_id)
        mine: list[swap_listings.Listing] = []
        if access.member_id is not None and access.member_id != listing.member_id:
            mine = await swap_listings.list_listings(conn, community.id, member_id=access.member_id, limit=MINE_LIMIT)
        return render(
            request,
            "swap/listing.html",
            status=(failed or {}).get("status", 200),
            community=community,
            listing=listing,
            mine=mine,
            me=access.member_id,
            staff=_is_staff(access),
            typed=typed or Typed({"key": new_key(), "give": []}),
            failed=failed,
            labels=LABELS,
            conditions=CONDITION_WORDS,
            statuses=LISTING_STATUS_WORDS,
        )

    @get("/c/{slug:str}/swap/listings/{listing_id:int}", operation_id="pageSwapListing")
    async def listing(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess,
        listing_id: PathId,
    ) -> Template:  # fmt: skip
        """One listing: its photo, condition and what is wanted; for another member's open one, the proposal form."""
        return await self._listing_page(request, conn, community, access, listing_id)

    @post("/c/{slug:str}/swap/listings/{listing_id:int}/propose", operation_id="pageSwapPropose")
    async def propose(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess,
        listing_id: PathId,
    ) -> Response[Any]:  # fmt: skip
        """The API's proposeSwap from the listing's form: this listing for the ticked listings of mine and/or
        points, with the form's idempotency key (sent twice, it proposes once)."""
        typed = await read_form(request, "give")
        try:
            key = str(typed["key"])
            if not KEY.fullmatch(key):
                raise InvalidRequest("the form has lost its key: open it again")
            await swaps.propose(
                conn, access, take=[listing_id], give=_ids(typed["give"], "give"), points=_points(typed["points"]),
                note=str(typed["note"]).strip(), idempotency_key=key,
            )  # fmt: skip
        except Exception as exc:
            return await self._listing_page(request, conn, community, access, listing_id, typed=typed,
                                            failed=_worded(exc, "propose"))  # fmt: skip
        return Redirect(swap_url(community.slug, "/mine?done=proposed"), status_code=303)

    # ---- list an item ------------------------------------------------------------------------------------------

    def _new_page(
        self, request: Request[Any, Any, Any], community: Any, *, staff: bool, typed: Typed | None = None,
        failed: dict[str, Any] | None = None,
    ) -> Template:  # fmt: skip
        return render(
            request,
            "swap/new.html",
            status=(failed or {}).get("status", 200),
            community=community,
            staff=staff,
            typed=typed or Typed({"condition": "good"}),
            failed=failed,
            labels=LABELS,
            conditions=CONDITION_WORDS,
            max_photo_mib=photos.MAX_UPLOAD_BYTES // (1024 * 1024),
        )

    @get("/c/{slug:str}/swap/new", operation_id="pageSwapNew")
    async def new(self, request: Request[Any, Any, Any], community: CurrentCommunity) -> Template:
        """List an item: what it is, its condition, what is wanted for it, and a photo from the phone's camera."""
        return self._new_page(request, community, staff=False)

    async def _create(
        self, request: Request[Any, Any, Any], conn: Conn, community: Any, access: Any, *, staff: bool
    ) -> Response[Any]:
        form = await request.form()
        typed = _listing_fields(form)
        matches: list[Any] = []
        try:
            for_member = None
            if staff:
                try:
                    for_member = await _intake_member(conn, community.id, typed)
                except InvalidRequest as exc:
                    if exc.data.get("why") == "several_members":
                        matches = await swap_listings.find_members(conn, community.id, str(typed["member"]))
                    raise
            async with ledger.transaction(conn):  # the photo and the listing: both, or neither
                photo_id = await _photo_of(conn, access, form)
                created = await swap_listings.create_listing(
                    conn, access, title=typed["title"], condition=typed["condition"] or "good",
                    description=typed["description"], wants=typed["wants"], free=typed["free"] == "on",
                    photo_id=photo_id, for_member_id=for_member,
                )  # fmt: skip
        except Exception as exc:
            if staff:
                return await self._table_page(request, conn, community, typed=typed, failed=_worded(exc, "intake"),
                                              matches=matches)  # fmt: skip
            return self._new_page(request, community, staff=False, typed=typed, failed=_worded(exc, "listing"))
        if staff:
            return Redirect(swap_url(community.slug, f"/table?done=intake#l{created.id}"), status_code=303)
        return Redirect(swap_url(community.slug, f"/listings/{created.id}?done=listed"), status_code=303)

    @post("/c/{slug:str}/swap/listings", operation_id="pageSwapCreate",
          request_max_body_size=photos.MAX_STORED_BYTES)  # fmt: skip
    async def create(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess
    ) -> Response[Any]:
        """The API's uploadPhoto and createSwapListing from one form, as one write."""
        return await self._create(request, conn, community, access, staff=False)

    # ---- my listings and proposals -----------------------------------------------------------------------------

    async def _mine_page(
        self, request: Request[Any, Any, Any], conn: Conn, community: Any, access: Any, *, done: str = "",
        failed: dict[str, Any] | None = None, failed_id: int | None = None, pbefore: int | None = None,
        lbefore: int | None = None,
    ) -> Template:  # fmt: skip
        me = swap_listings.member_of(access)
        listings, more_listings = _page(
            await swap_listings.list_listings(
                conn, community.id, member_id=me, statuses=swap_listings.STATUSES, before_id=lbefore,
                limit=MINE_LIMIT + 1,
            ),
            MINE_LIMIT,
        )  # fmt: skip
        proposals, more_proposals = _page(
            await swaps.list_proposals(conn, community.id, member_id=me, before_id=pbefore, limit=MINE_LIMIT + 1),
            MINE_LIMIT,
        )
        if failed_id not in {p.id for p in proposals} | {-x.id for x in listings}:
            failed_id = None  # not one of mine shown here (another's listing): the refusal goes at the top
        return render(
            request,
            "swap/mine.html",
            status=(failed or {}).get("status", 200),
            community=community,
            listings=listings,
            to_me=[p for p in proposals if p.to_member_id == me],
            from_me=[p for p in proposals if p.from_member_id == me],
            more_proposals=more_proposals,
            more_listings=more_listings,
            pbefore=pbefore,
            lbefore=lbefore,
            me=me,
            done=done,
            failed=failed,
            failed_id=failed_id,
            labels=LABELS,
            statuses=LISTING_STATUS_WORDS,
            proposal_statuses=PROPOSAL_STATUS_WORDS,
        )

    @get("/c/{slug:str}/swap/mine", operation_id="pageSwapMine")
    async def mine(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess,
        done: Done = "", pbefore: Before = None, lbefore: Before = None,
    ) -> Template:  # fmt: skip
        """我的易物: my listings, the proposals made to me and those I made, each with what may be done now; a
        hundred of each at a time (``pbefore``, ``lbefore``: the last proposal and listing shown)."""
        return await self._mine_page(request, conn, community, access, done=done, pbefore=pbefore, lbefore=lbefore)

    async def _act(
        self, request: Request[Any, Any, Any], conn: Conn, community: Any, access: Any, proposal_id: int, action: str
    ) -> Response[Any]:
        try:
            if action == "accept":
                await swaps.accept(conn, access, proposal_id)
            elif action == "decline":
                await swaps.decline(conn, access, proposal_id)
            elif action == "cancel":
                await swaps.cancel(conn, access, proposal_id)
            else:
                await swaps.confirm_handover(conn, access, proposal_id, as_staff=False)
        except Exception as exc:
            return await self._mine_page(request, conn, community, access, failed=_worded(exc, f"p{proposal_id}"),
                                         failed_id=proposal_id)  # fmt: skip
        return Redirect(swap_url(community.slug, f"/mine?done={action}#p{proposal_id}"), status_code=303)

    @post("/c/{slug:str}/swap/proposals/{proposal_id:int}/accept", operation_id="pageSwapAccept")
    async def accept(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess,
        proposal_id: PathId,
    ) -> Response[Any]:  # fmt: skip
        """The API's acceptSwapProposal: the listings reserved, the points part held until the hand-over."""
        return await self._act(request, conn, community, access, proposal_id, "accept")

    @post("/c/{slug:str}/swap/proposals/{proposal_id:int}/decline", operation_id="pageSwapDecline")
    async def decline(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess,
        proposal_id: PathId,
    ) -> Response[Any]:  # fmt: skip
        return await self._act(request, conn, community, access, proposal_id, "decline")

    @post("/c/{slug:str}/swap/proposals/{proposal_id:int}/cancel", operation_id="pageSwapCancel")
    async def cancel(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess,
        proposal_id: PathId,
    ) -> Response[Any]:  # fmt: skip
        return await self._act(request, conn, community, access, proposal_id, "cancel")

    @post("/c/{slug:str}/swap/proposals/{proposal_id:int}/handover", operation_id="pageSwapHandover")
    async def handover(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess,
        proposal_id: PathId,
    ) -> Response[Any]:  # fmt: skip
        """The API's confirmSwapHandover: when both members have confirmed, the points post and the items swap."""
        return await self._act(request, conn, community, access, proposal_id, "handover")

    @post("/c/{slug:str}/swap/listings/{listing_id:int}/withdraw", operation_id="pageSwapWithdraw")
    async def withdraw(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess,
        listing_id: PathId,
    ) -> Response[Any]:  # fmt: skip
        """The API's withdrawSwapListing: my open listing off the table; its open proposals end."""
        try:
            await swap_listings.withdraw_listing(conn, access, listing_id, staff=False)
        except Exception as exc:
            return await self._mine_page(request, conn, community, access, failed=_worded(exc, f"l{listing_id}"),
                                         failed_id=-listing_id)  # fmt: skip
        return Redirect(swap_url(community.slug, "/mine?done=withdrawn"), status_code=303)

    @post("/c/{slug:str}/swap/listings/{listing_id:int}/relist", operation_id="pageSwapRelist")
    async def relist(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess,
        listing_id: PathId,
    ) -> Response[Any]:  # fmt: skip
        """The API's relistSwapListing: my expired listing on the table again, as a new listing copying it."""
        try:
            again = await swap_listings.relist(conn, access, listing_id)
        except Exception as exc:
            return await self._mine_page(request, conn, community, access, failed=_worded(exc, f"l{listing_id}"),
                                         failed_id=-listing_id)  # fmt: skip
        return Redirect(swap_url(community.slug, f"/listings/{again.id}?done=relisted"), status_code=303)

    # ---- counter -----------------------------------------------------------------------------------------------

    async def _counter_page(
        self, request: Request[Any, Any, Any], conn: Conn, community: Any, access: Any, proposal_id: int, *,
        typed: Typed | None = None, failed: dict[str, Any] | None = None,
    ) -> Template:  # fmt: skip
        staff = _is_staff(access)
        first = await swaps.get_visible_proposal(conn, access, community.id, proposal_id, staff=staff)
        theirs = await swap_listings.list_listings(conn, community.id, member_id=first.from_member_id, limit=MINE_LIMIT)
        mine = await swap_listings.list_listings(conn, community.id, member_id=first.to_member_id, limit=MINE_LIMIT)
        return render(
            request,
            "swap/counter.html",
            status=(failed or {}).get("status", 200),
            community=community,
            first=first,
            theirs=theirs,
            mine=mine,
            typed=typed
            or Typed(
                {
                    "key": new_key(),
                    "take": [str(i.listing_id) for i in first.give],
                    "give": [str(i.listing_id) for i in first.take],
                    "points": "",
                }
            ),
            failed=failed,
            labels=LABELS,
        )

    @get("/c/{slug:str}/swap/proposals/{proposal_id:int}/counter", operation_id="pageSwapCounterForm")
    async def counter_form(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess,
        proposal_id: PathId,
    ) -> Template:  # fmt: skip
        """Answer a proposal made to me with another: which of their listings, which of mine, and points."""
        return await self._counter_page(request, conn, community, access, proposal_id)

    @post("/c/{slug:str}/swap/proposals/{proposal_id:int}/counter", operation_id="pageSwapCounter")
    async def counter(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess,
        proposal_id: PathId,
    ) -> Response[Any]:  # fmt: skip
        """The API's counterSwapProposal, with the form's idempotency key."""
        typed = await read_form(request, "take", "give")
        try:
            key = str(typed["key"])
            if not KEY.fullmatch(key):
                raise InvalidRequest("the form has lost its key: open it again")
            await swaps.propose(
                conn, access, take=_ids(typed["take"], "take"), give=_ids(typed["give"], "give"),
                points=_points(typed["points"]), note=str(typed["note"]).strip(), idempotency_key=key,
                counter_of=proposal_id,
            )  # fmt: skip
        except Exception as exc:
            return await self._counter_page(request, conn, community, access, proposal_id, typed=typed,
                                            failed=_worded(exc, "counter"))  # fmt: skip
        return Redirect(swap_url(community.slug, "/mine?done=countered"), status_code=303)

    # ---- the table's staff -------------------------------------------------------------------------------------

    async def _table_page(
        self, request: Request[Any, Any, Any], conn: Conn, community: Any, *, done: str = "",
        typed: Typed | None = None, failed: dict[str, Any] | None = None, matches: list[Any] | None = None,
    ) -> Template:  # fmt: skip
        on_table = await swap_listings.list_listings(
            conn, community.id, at_table=True, statuses=("open", "reserved"), limit=BROWSE_LIMIT
        )
        pending = await swaps.list_proposals(conn, community.id, statuses=("accepted",), limit=BROWSE_LIMIT)
        return render(
            request,
            "swap/table.html",
            status=(failed or {}).get("status", 200),
            community=community,
            on_table=on_table,
            pending=pending,
            done=done,
            typed=typed or Typed({"condition": "good"}),
            failed=failed,
            matches=matches or [],
            labels=LABELS,
            conditions=CONDITION_WORDS,
            statuses=LISTING_STATUS_WORDS,
            max_photo_mib=photos.MAX_UPLOAD_BYTES // (1024 * 1024),
            admin=ADMIN in request.scope["state"]["access"].roles,
        )

    @get("/c/{slug:str}/swap/table", operation_id="pageSwapTable")
    async def table(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, done: Done = ""
    ) -> Template:
        """The table's staff: intake, the items on the table and the hand-overs waiting."""
        return await self._table_page(request, conn, community, done=done)

    @post("/c/{slug:str}/swap/intake", operation_id="pageSwapIntake", request_max_body_size=photos.MAX_STORED_BYTES)
    async def intake(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess
    ) -> Response[Any]:
        """The API's uploadPhoto and intakeSwapListing from one form, as one write."""
        return await self._create(request, conn, community, access, staff=True)

    @post("/c/{slug:str}/swap/table/proposals/{proposal_id:int}/handover", operation_id="pageSwapTableHandover")
    async def table_handover(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess,
        proposal_id: PathId,
    ) -> Response[Any]:  # fmt: skip
        """The API's confirmTableHandover: staff saw the hand-over; the points post once and the items swap."""
        try:
            await swaps.confirm_handover(conn, access, proposal_id, as_staff=True)
        except Exception as exc:
            return await self._table_page(request, conn, community, failed=_worded(exc, f"p{proposal_id}"))
        return Redirect(swap_url(community.slug, "/table?done=handover"), status_code=303)

    @post("/c/{slug:str}/swap/table/listings/{listing_id:int}/withdraw", operation_id="pageSwapTableWithdraw")
    async def table_withdraw(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess,
        listing_id: PathId,
    ) -> Response[Any]:  # fmt: skip
        """The API's withdrawTableListing: staff take a listing off the table, saying why (audited); from the
        table page or from the listing's own page (``back=listing``), where a refusal is shown again."""
        typed = await read_form(request)
        typed["condition"] = "good"  # the intake form on the page shown again starts as it does
        try:
            await swap_listings.withdraw_listing(conn, access, listing_id, staff=True, reason=str(typed["reason"]))
        except Exception as exc:
            failed = _worded(exc, f"w{listing_id}")
            if typed["back"] == "listing":
                return await self._listing_page(request, conn, community, access, listing_id, typed=typed,
                                                failed=failed)  # fmt: skip
            return await self._table_page(request, conn, community, typed=typed, failed=failed)
        if typed["back"] == "listing":
            return Redirect(swap_url(community.slug, f"/listings/{listing_id}?done=withdrawn"), status_code=303)
        return Redirect(swap_url(community.slug, "/table?done=withdrawn"), status_code=303)

    @get("/c/{slug:str}/swap/table/missed", operation_id="pageSwapMissed")
    async def missed(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess
    ) -> Template:
        """The API's listMissedHandovers: per member, the accepted swaps that timed out before they confirmed."""
        found = await swaps.missed_handovers(conn, community.id)
        return render(request, "swap/missed.html", community=community, missed=found,
                      admin=ADMIN in access.roles)  # fmt: skip

    # ---- the admin's settings ----------------------------------------------------------------------------------

    async def _settings_page(
        self, request: Request[Any, Any, Any], conn: Conn, community: Any, *, done: str = "",
        typed: Typed | None = None, failed: dict[str, Any] | None = None,
    ) -> Template:  # fmt: skip
        current = await swap_listings.get_settings(conn, community.id)
        shown = typed or Typed(
            {k: "" if v is None else str(v) for k, v in (
                ("handover_days", current.handover_days), ("listing_days", current.listing_days),
                ("bonus_points", current.bonus_points), ("bonus_cap_per_month", current.bonus_cap_per_month),
                ("bonus_type_id", current.bonus_type_id),
            )}
        )  # fmt: skip
        return render(
            request,
            "swap/settings.html",
            status=(failed or {}).get("status", 200),
            community=community,
            current=current,
            typed=shown,
            types=await types.list_types(conn, community.id, active_only=True),
            done=done,
            failed=failed,
            labels=LABELS,
            limits={"handover": swap_listings.MAX_HANDOVER_DAYS, "listing": swap_listings.MAX_LISTING_DAYS,
                    "bonus": swap_listings.MAX_BONUS_POINTS, "cap": swap_listings.MAX_BONUS_CAP},
            admin=True,
        )  # fmt: skip

    @get("/c/{slug:str}/swap/table/settings", operation_id="pageSwapSettings")
    async def settings(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, done: Done = ""
    ) -> Template:
        """The admin's swap settings: hand-over days, the listings' lifetime, the give-away bonus."""
        return await self._settings_page(request, conn, community, done=done)

    @post("/c/{slug:str}/swap/table/settings", operation_id="pageSwapSettingsSave")
    async def settings_save(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity
    ) -> Response[Any]:
        """The API's updateSwapSettings, the form read by the API's own Struct (empty bonus fields: no bonus)."""
        typed = await read_form(request)
        try:
            problems = Problems()
            body: dict[str, Any] = {}
            for key in ("handover_days", "listing_days", "bonus_points", "bonus_cap_per_month", "bonus_type_id"):
                value = problems.number(typed, key, required=key in ("handover_days", "listing_days"))
                if value is not None or key.startswith("bonus"):
                    body[key] = value
            problems.check()
            data = msgspec.convert(body, SettingsIn, strict=True)
            wanted = swap_listings.Settings(
                data.handover_days, data.bonus_points, data.bonus_cap_per_month, data.bonus_type_id,
                data.listing_days,
            )  # fmt: skip
            await swap_listings.update_settings(conn, community.id, wanted)
        except Exception as exc:
            return await self._settings_page(request, conn, community, typed=typed, failed=_worded(exc, "settings"))
        return Redirect(swap_url(community.slug, "/table/settings?done=saved"), status_code=303)
