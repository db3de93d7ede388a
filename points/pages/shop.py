"""The volunteer's supermarket pages: my payment code (付款码), the goods catalogue with my limits left, and my
receipts with their returns.

Thin like the rest of points/pages/: the code is issued by the service the API's issuePaymentCode calls
(catalog/codes.py), the catalogue and receipts come from catalog/goods.py and counter.py, and what those do not
answer (what became of the code a phone shows, limits left, whom a member may pay for) from catalog/reads_shop.py.

The code page renews its code by itself, but only shortly before it runs out: every renewal replaces the code
the clerk may be typing, so it must not happen on every poll. With JavaScript, htmx asks every few seconds what
became of the code shown (by its id, never its digits): nothing (204, the code stays), paid (the receipt and the
balance now), replaced by a code opened on another page (say so and stop, rather than two pages taking turns
replacing each other's), or about to run out (a new code, swapped in). Without JavaScript the page reloads itself
shortly before the code runs out, which issues the next one.
"""

from __future__ import annotations

from itertools import groupby
from typing import Annotated, Any

from litestar import Controller, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.params import Parameter, QueryParameter
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Template

from catalog import codes, counter, goods, reads_shop
from points.auth.access import Access
from points.auth.errors import Forbidden, NotFound
from points.pages.organize import qr_markup, request_words
from points.pages.web import PAGE_EXCEPTION_HANDLERS, _, render
from points.wiring import Conn, CurrentAccess, CurrentCommunity

NO_STORE = CacheControlHeader(no_store=True)  # a payment code is money for two minutes: no cache keeps one
POLL_S = 3  # how often the code page asks what became of its code
RENEW_AHEAD_S = 20  # a new code this long before the shown one runs out: time for a clerk to finish typing it
CATALOGUE_LIMIT = 200
RECEIPTS_PAGE = 20
CodeId = Annotated[int | None, QueryParameter(name="shown", ge=1, le=2**62)]
ForMember = Annotated[int | None, QueryParameter(name="for", ge=1, le=2**62)]
Before = Annotated[int | None, QueryParameter(name="before", ge=1, le=2_147_483_647)]
Search = Annotated[str | None, QueryParameter(name="q", max_length=100, pattern=r"^[^\x00]*$")]
Number = Annotated[int, Parameter(ge=1, le=2_147_483_647)]

QR_WORDS = _("Payment code: show it to the clerk")
METHOD_WORDS = {"code": _("Payment code"), "card": _("Member card"), "proxy": _("代办")}
PERIOD_WORDS = {"day": _("today"), "week": _("this week"), "month": _("this month")}


def _member_id(access: Access) -> int:
    """The reader's own member id here: only a member has a wallet to pay from (as codes.issue_code says)."""
    if access.member_id is None or access.status != "active":
        raise Forbidden("only an active member of the community pays at its supermarket")
    return access.member_id


def grouped(code: str) -> str:
    """18 digits in three groups of six, easier to read out and to type."""
    return " ".join(code[i : i + 6] for i in range(0, len(code), 6))


def _category(item: tuple[int, goods.Good]) -> str:
    return item[1].category


def stock_state(good: goods.Good) -> str:
    if good.stock <= 0:
        return "out"
    return "few" if good.stock <= good.low_stock_at else "in"


class ShopPages(Controller):
    path = "/"
    include_in_schema = False
    request_class = HTMXRequest  # request.htmx: the code page's fragment alone
    exception_handlers = PAGE_EXCEPTION_HANDLERS

    # ---- my payment code -----------------------------------------------------------------------------------------

    async def _payee(self, conn: Conn, access: Access, for_member: int | None) -> reads_shop.Member | None:
        """The household member without a phone this code is shown for (代办), or None: the reader's own."""
        if for_member is None:
            return None
        household = await reads_shop.proxied(conn, access.community_id, _member_id(access))
        found = [m for m in household if m.id == for_member]
        if not found:
            raise NotFound("no member of your household without a phone by that id", member_id=for_member)
        return found[0]

    @get("/c/{slug:str}/pay", operation_id="pagePay", cache_control=NO_STORE)
    async def pay(
        self,
        request: HTMXRequest,
        conn: Conn,
        access: CurrentAccess,
        community: CurrentCommunity,
        shown: CodeId = None,
        for_member: ForMember = None,
    ) -> Response[Any]:
        """付款码: a new code (digits and QR), the balance it pays from, and whom else it may pay for (代办). The
        fragment's poll (htmx, ``shown``) says what became of the code shown, renewing it only near its end."""
        me = _member_id(access)
        payee = await self._payee(conn, access, for_member)
        state = None
        if request.htmx and shown is not None:
            state = await reads_shop.code_state(conn, community.id, me, shown)
            if state is not None and state.state == "live" and state.seconds_left > RENEW_AHEAD_S:
                return Response(content=b"", status_code=204, headers={"Cache-Control": "no-store"})
        context: dict[str, Any] = {"community": community, "payee": payee, "state": None, "shown": None}
        if state is not None and state.state in ("used", "replaced"):
            context["state"] = state
            if state.state == "used":
                paid_for = state.receipt_member_id or me
                context["paid_for"] = await reads_shop.member(conn, community.id, paid_for)
                context["mine"] = paid_for == me
        else:
            issued = await codes.issue_code(conn, access)
            left = max(0, int((issued.expires_at - issued.issued_at).total_seconds()))
            context["shown"] = {
                "id": await reads_shop.code_id(conn, community.id, me, issued.code),
                "digits": grouped(issued.code),
                "seconds_left": left,
                "expires_at": issued.expires_at.isoformat(),
                "qr": qr_markup(issued.code, request_words(request, QR_WORDS)),
            }
            context["refresh"] = max(1, left - RENEW_AHEAD_S)
        context["poll_s"] = POLL_S
        context["wallet"] = payee or await reads_shop.member(conn, community.id, me)
        context["fragment_url"] = f"/c/{community.slug}/pay"
        context["for_query"] = f"&for={payee.id}" if payee else ""
        if request.htmx:
            return render(request, "shop/_pay_code.html", **context)
        context["household"] = await reads_shop.proxied(conn, community.id, me)
        return render(request, "shop/pay.html", **context)

    # ---- the catalogue ---------------------------------------------------------------------------------------------

    @get("/c/{slug:str}/shop", operation_id="pageShop")
    async def shop(
        self,
        request: HTMXRequest,
        conn: Conn,
        access: CurrentAccess,
        community: CurrentCommunity,
        search: Search = None,
    ) -> Template:
        """积分超市: the goods on sale by category, each with its price, unit, whether it is in stock, and what the
        reader and their household may still take of a limited one this period."""
        me = _member_id(access)
        wanted = (search or "").strip() or None
        listed = await goods.list_goods(conn, community.id, search=wanted, limit=CATALOGUE_LIMIT)
        who = await reads_shop.member(conn, community.id, me)
        rooms = await reads_shop.limits_left(conn, me, who.household_id, listed)
        rows = [{"good": g, "stock": stock_state(g), "room": rooms.get(g.id)} for g in listed]
        # list_goods orders by category: one heading per category, in that order
        categories = [(name, [rows[n] for n, _g in items]) for name, items in groupby(enumerate(listed), key=_category)]
        return render(
            request,
            "shop/catalogue.html",
            community=community,
            categories=categories,
            search=wanted or "",
            wallet=who,
            period_words=PERIOD_WORDS,
        )

    # ---- my receipts ---------------------------------------------------------------------------------------------

    @get("/c/{slug:str}/me/receipts", operation_id="pageMyReceipts")
    async def receipts(
        self,
        request: HTMXRequest,
        conn: Conn,
        access: CurrentAccess,
        community: CurrentCommunity,
        before: Before = None,
    ) -> Template:
        """My receipts, newest first, with what was given back of each."""
        if access.member_id is None:  # as listMyReceipts: no membership here, no receipts
            raise NotFound("you are not a member of this community")
        me = access.member_id
        found = await counter.list_receipts(
            conn, community.id, member_id=me, before_number=before, limit=RECEIPTS_PAGE + 1
        )
        more = found[RECEIPTS_PAGE - 1].number if len(found) > RECEIPTS_PAGE else None
        return render(
            request,
            "shop/receipts.html",
            community=community,
            receipts=found[:RECEIPTS_PAGE],
            more=more,
            later_page=before is not None,
            method_words=METHOD_WORDS,
        )

    @get("/c/{slug:str}/me/receipts/{number:int}", operation_id="pageMyReceipt")
    async def receipt(
        self, request: HTMXRequest, conn: Conn, access: CurrentAccess, community: CurrentCommunity, number: Number
    ) -> Template:
        """One of my receipts: its lines at the prices charged, and its returns with their reasons."""
        found = await counter.get_own_receipt(conn, community.id, access.member_id, number)
        by_line = {line.line_no: line for line in found.lines}
        returns = [
            {"r": t, "lines": [(by_line[n].name if n in by_line else str(n), q) for n, q in t.lines]}
            for t in found.returns
        ]
        return render(
            request,
            "shop/receipt.html",
            community=community,
            receipt=found,
            returns=returns,
            method_words=METHOD_WORDS,
        )
