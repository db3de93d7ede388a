"""The clerk's pages of the points supermarket (and the admin's, standing in): the one-screen counter, receipts
(reprint, a narrow layout for 58/80 mm printers, returns), the stock with its restock / write-off / correction
forms, and the day's totals with the reconciliation.

The counter keeps its basket in the page: every step posts the whole screen back (the member's code or card, the
basket's goods and quantities as fields, the idempotency key made when the screen was first shown), so it works
without JavaScript, and a refusal re-renders the same screen with the basket as it was. Each step calls what the
API calls: ``counter.preview`` after every change (the member, household, balance before and after, limits left,
or the first problem naming the good) and ``counter.confirm`` to redeem, with the screen's key, so a browser's
retry of a confirmation returns the same receipt and charges once. Enter in the scan field adds what was scanned
or typed (a barcode, else a name); Enter in it when it is empty confirms the basket.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any
from urllib.parse import quote, unquote, urlencode

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import QueryParameter
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template

from catalog import codes, counter, goods, reads_counter
from points.auth.errors import InvalidRequest, NotFound
from points.auth.policy import ADMIN, CLERK, STREET_ADMIN
from points.field_problems import field_problem
from points.fields import PathId
from points.pages.organize import Typed, new_key, read_form, refused
from points.pages.web import PAGE_EXCEPTION_HANDLERS, _, render
from points.wiring import Conn, CurrentAccess, CurrentCommunity

COUNTER_COOKIE = "counter"  # the counter's label (1号柜台), kept by the clerk's browser after a confirmation
SEARCH_CHOICES = 12
BARCODE = re.compile(r"[0-9A-Za-z-]{4,32}")
KEY = re.compile(r"page:[A-Za-z0-9_-]{8,60}")
MOVE_KINDS = {"restock": _("Restock"), "write_off": _("Write off"), "correction": _("Correction")}
METHOD_WORDS = {"code": _("payment code"), "card": _("member card"), "proxy": _("代办")}
PER_WORDS = {"member": _("per member"), "household": _("per household")}
PERIOD_WORDS = {"day": _("a day"), "week": _("a week"), "month": _("a month")}
LABELS = {
    "code": _("Payment code"),
    "card": _("Member card number"),
    "pin": _("PIN"),
    "reason": _("Reason"),
    "quantity": _("Quantity"),
    "kind": _("What"),
    "lines": _("Basket"),
    "payment_code": _("Payment code"),
    "card_number": _("Member card number"),
    "for_member_id": _("代办 for"),
    "counter": _("Counter"),
}
# What a refusal at the counter means for the clerk, with the good (or code, card, line) it names: (code) -> words
# formatted with the refusal's own data (the API's problem fields).
REFUSAL_WORDS = {
    "payment_code_expired": _("This payment code has expired: the member refreshes it and shows the new one."),
    "payment_code_used": _("This payment code has paid already: the member shows a new one."),
    "payment_code_other_community": _("This payment code is another community's: it pays only there."),
    "payment_code_unknown": _("No such payment code was issued: typed wrong, or forged. Scan it again."),
    "insufficient_stock": _("%(name)s: %(stock)s left in stock, %(needed)s in the basket."),
    "limit_reached": _("%(name)s: %(left)s left of the limit of %(limit)s %(per)s %(period)s."),
    "good_inactive": _("%(name)s is not on sale: take it out of the basket."),
    "insufficient_points": _("The member has %(available)s points; the basket costs %(needed)s."),
    "conflict_of_interest": _("A clerk does not serve themselves or their own household: another clerk serves them."),
    "wrong_pin": _("The PIN is wrong: %(attempts_left)s tries left before the card locks."),
    "card_locked": _("The card is locked after too many wrong PINs: try again in 15 minutes."),
    "return_exceeds_purchase": _("%(name)s: %(left)s left to return on this receipt."),
    "stock_negative": _("The stock would go below zero."),
    "idempotency_key_reused": _("This screen confirmed another basket already: start with a new customer."),
}
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
NO_MATCH = _("No good on sale matches “%(scan)s”.")


def _worded(exc: Exception, form: str) -> dict[str, Any]:
    """``refused`` (the API's title and field problems), plus what it means at the counter with the good named."""
    failed = refused(exc, form)
    template = REFUSAL_WORDS.get(failed["code"])
    data = dict(getattr(exc, "data", {}) or {})
    if failed["code"] == "not_found" and ("good_id" in data or "barcode" in data):
        template = _("No such good in this supermarket: take it out of the basket.")
    if failed["code"] == "not_found" and "card_number" in data:
        template = _("No member card with that number in this community: type it again.")
    if failed["code"] == "wrong_pin" and data.get("attempts_left") is None:
        template = _("A PIN is 4 to 6 digits: the member types it again.")
    if template and not set(PLACEHOLDER.findall(template)) <= {"per", "period"} | {
        k for k, v in data.items() if isinstance(v, str | int)
    }:
        template = None  # the database's own refusal (a race) without the good's details: its title and words
    if template:
        failed["words"], failed["detail"] = template, None
        failed["args"] = {
            **{k: v for k, v in data.items() if isinstance(v, str | int)},
            "per": PER_WORDS.get(str(data.get("per")), ""),
            "period": PERIOD_WORDS.get(str(data.get("period")), ""),
        }
    return failed


def _number(text: object, key: str, *, low: int = 1, high: int = 2**31 - 1) -> int:
    value = str(text).strip()
    if not value.isascii() or not value.isdigit() or len(value) > 12 or not low <= int(value) <= high:
        raise InvalidRequest("the form is not valid", errors=[field_problem(key, "not_digits")])
    return int(value)


def _basket(goods_ids: list[str], quantities: list[str]) -> tuple[list[list[int]], Exception | None]:
    """The basket the page posted back ([good_id, quantity] in the clerk's order; one line a good). A quantity of
    0 takes the line out; one that is no number keeps the line at 1, with the refusal to show."""
    lines: list[list[int]] = []
    bad: Exception | None = None
    for good, quantity in zip(goods_ids, quantities, strict=False):
        good_id = _number(good, "lines")
        if str(quantity).strip() == "0":
            continue
        try:
            how_many = _number(quantity or "1", "quantity", high=counter.MAX_QUANTITY)
        except InvalidRequest as exc:
            bad, how_many = exc, 1
        for line in lines:
            if line[0] == good_id:
                line[1] += how_many
                break
        else:
            lines.append([good_id, how_many])
    return lines, bad


def _add(lines: list[list[int]], good_id: int) -> None:
    for line in lines:
        if line[0] == good_id:
            line[1] += 1
            return
    lines.append([good_id, 1])


def _payer(typed: Typed) -> counter.Payer | None:
    code = str(typed["code"]).strip()
    card = str(typed["card"]).strip()
    if not code and not card:
        return None
    proxy = str(typed["for_member"]).strip()
    pin = str(typed["pin"]).strip()
    return counter.Payer(
        payment_code=code or None,
        card_number=None if code else card,
        pin=(pin or None) if not code else None,
        for_member_id=_number(proxy, "for_member_id") if proxy and code else None,
    )


def counter_url(slug: str, rest: str = "") -> str:
    return f"/c/{slug}{rest}"


class CounterPages(Controller):
    path = "/"
    include_in_schema = False
    request_class = HTMXRequest  # request.htmx: a step posted by htmx gets the screen back, a sale HX-Redirect
    exception_handlers = PAGE_EXCEPTION_HANDLERS

    # ---- the counter -------------------------------------------------------------------------------------------

    async def _screen(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        *,
        typed: Typed,
        lines: list[list[int]],
        choices: list[goods.Good] | None = None,
        failed: dict[str, Any] | None = None,
    ) -> Template:
        """The counter as it stands: the member (if identified), the basket, its totals and the balance after, or
        the first problem; every good named the way the preview names it."""
        payer = None
        plan = None
        shopper = None
        dependants: list[reads_counter.Dependant] = []
        try:
            payer = _payer(typed)
        except InvalidRequest as exc:
            failed = failed or _worded(exc, "counter")
        prior = failed  # a refusal of this step (a scan that matched nothing, a confirmation refused) stays shown
        if payer is not None:
            try:  # who it is first, so that a refused basket still shows whose it is
                if payer.payment_code is not None:
                    shown = await codes.resolve_code(conn, community.id, payer.payment_code)
                    member_id = payer.for_member_id or shown.member_id
                else:
                    member_id = await codes.card_member(conn, community.id, str(payer.card_number))
                shopper = await reads_counter.shopper(conn, community.id, member_id)
                if lines:
                    wanted = [counter.Wanted(q, good_id=g) for g, q in lines]
                    plan = await counter.preview(conn, access, payer, wanted)
            except Exception as exc:  # worded as the API words it, the basket kept; a 500 goes to the error page
                found = _worded(exc, "counter")
                failed = prior or found
                if str(found["code"]).startswith("payment_code"):
                    shopper = None
            if failed is not None and str(failed["code"]).startswith("payment_code"):
                typed["code"], shopper = "", None  # scanned again, into an empty field
        if payer is not None and payer.payment_code is not None and shopper is not None:
            # 代办: whom the code's member may pay for (members of their household without a phone)
            shown = await codes.resolve_code(conn, community.id, payer.payment_code)
            dependants = await reads_counter.dependants(conn, community.id, shown.member_id)
        planned = {x.good_id: x for x in plan.lines} if plan else {}
        rows: list[dict[str, Any]] = []
        for good_id, quantity in lines:
            line = planned.get(good_id)
            if line is not None:
                rows.append({"good_id": good_id, "name": line.name, "unit": line.unit, "quantity": quantity,
                             "price": line.unit_price, "amount": line.amount, "stock": line.stock,
                             "left": line.limit_left})  # fmt: skip
                continue
            try:
                good = await goods.get_good(conn, community.id, good_id)
            except NotFound:
                rows.append({"good_id": good_id, "name": f"#{good_id}", "unit": "", "quantity": quantity,
                             "price": None, "amount": None, "stock": None, "left": None})  # fmt: skip
                continue
            rows.append({"good_id": good_id, "name": good.name, "unit": good.unit, "quantity": quantity,
                         "price": good.price, "amount": good.price * quantity, "stock": good.stock,
                         "left": None})  # fmt: skip
        total = plan.total if plan else sum(int(r["amount"] or 0) for r in rows)
        return render(
            request,
            "counter/counter.html",
            status=(failed or {}).get("status", 200),
            community=community,
            typed=typed,
            rows=rows,
            total=total,
            plan=plan,
            shopper=shopper,
            dependants=dependants,
            choices=choices or [],
            failed=failed,
            labels=LABELS,
            method_words=METHOD_WORDS,
            identified=shopper is not None,
        )

    @get("/c/{slug:str}/counter", operation_id="pageCounter")
    async def counter_page(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess
    ) -> Template:
        """A new customer: the code field focused for the scanner, a new idempotency key for this basket."""
        typed = Typed({"key": new_key(), "counter": _counter_label(request)})
        return await self._screen(request, conn, community, access, typed=typed, lines=[])

    @post("/c/{slug:str}/counter", operation_id="pageCounterStep")
    async def counter_step(
        self, request: Request[Any, Any, Any], conn: Conn, community: CurrentCommunity, access: CurrentAccess
    ) -> Response[Any]:
        """One step at the counter: identify, add (barcode or name), change a quantity, remove, confirm."""
        typed = await read_form(request, "good", "qty")
        action = str(typed["action"]) or "go"
        if not KEY.fullmatch(str(typed["key"])):
            typed["key"] = new_key()  # a screen without its key starts a basket of its own
        try:
            lines, bad = _basket(typed["good"], typed["qty"])
        except InvalidRequest as exc:  # a good's id that is no number: not this page's form
            return await self._screen(request, conn, community, access, typed=typed, lines=[],
                                      failed=_worded(exc, "counter"))  # fmt: skip
        if bad is not None:
            return await self._screen(request, conn, community, access, typed=typed, lines=lines,
                                      failed=_worded(bad, "counter"))  # fmt: skip
        scan = str(typed["scan"]).strip()
        choices: list[goods.Good] = []
        failed: dict[str, Any] | None = None
        if action.startswith("remove:"):
            lines = [line for line in lines if str(line[0]) != action[7:]]
        elif action.startswith("add:"):
            try:
                _add(lines, _number(action[4:], "lines"))
            except InvalidRequest as exc:
                failed = _worded(exc, "counter")
            typed["scan"] = ""
        elif action == "go" and scan:
            found = await goods.list_goods(conn, community.id, barcode=scan, limit=1) if BARCODE.fullmatch(scan) else []
            if not found:
                found = await goods.list_goods(conn, community.id, search=scan[:100], limit=SEARCH_CHOICES)
            if len(found) == 1:
                _add(lines, found[0].id)
                typed["scan"] = ""
            elif found:
                choices = found
            else:
                failed = {"status": 404, "error": _("Not found"), "code": "not_found", "field": "scan",
                          "words": NO_MATCH, "args": {"scan": scan}, "detail": None, "fields": [],
                          "form": "counter"}  # fmt: skip
                typed["scan"] = ""  # the refusal names what was typed; the next scan goes into an empty field
        elif action == "confirm" or (action == "go" and lines):
            try:
                payer = _payer(typed)
                if payer is None:
                    raise InvalidRequest(
                        "scan the member's payment code first", errors=[field_problem("payment_code", "required")]
                    )
                if not lines:
                    raise InvalidRequest("the basket is empty", errors=[field_problem("lines", "required")])
                label = str(typed["counter"]).strip()
                receipt = await counter.confirm(
                    conn,
                    access,
                    payer,
                    [counter.Wanted(q, good_id=g) for g, q in lines],
                    idempotency_key=str(typed["key"]),
                    counter=label,
                    actor=access.actor,
                )
            except Exception as exc:  # the basket stays on the screen with the refusal
                failed = _worded(exc, "counter")
            else:
                cookies = [] if not label else [_counter_cookie(label)]
                url = counter_url(community.slug, f"/receipts/{receipt.number}?done=sale")
                if isinstance(request, HTMXRequest) and request.htmx:  # the whole page goes to the receipt
                    return Response(content=b"", headers={"HX-Redirect": url}, cookies=cookies)
                return Redirect(url, status_code=303, cookies=cookies)
        if failed is not None:
            typed["pin"] = ""
        return await self._screen(request, conn, community, access, typed=typed, lines=lines, choices=choices,
                                  failed=failed)  # fmt: skip

    # ---- receipts ------------------------------------------------------------------------------------------------

    async def _receipt_page(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        number: int,
        *,
        width: int | None = None,
        done: str = "",
        typed: Typed | None = None,
        failed: dict[str, Any] | None = None,
    ) -> Template:
        receipt = await counter.get_receipt(conn, community.id, number)
        return render(
            request,
            "counter/receipt.html",
            status=(failed or {}).get("status", 200),
            community=community,
            receipt=receipt,
            width=width,
            done=done,
            typed=typed or Typed({"key": new_key()}),
            failed=failed,
            labels=LABELS,
            method_words=METHOD_WORDS,
            can_return=bool({ADMIN, CLERK} & access.roles),
        )

    @get("/c/{slug:str}/receipts/{number:int}", operation_id="pageReceipt")
    async def receipt(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        number: PathId,
        width: Annotated[int | None, QueryParameter(ge=58, le=80)] = None,
        done: Annotated[str, QueryParameter(max_length=20)] = "",
    ) -> Template:
        """A receipt for the clerk: its lines at the prices charged, what was returned, a reprint (``width`` 58 or
        80: the receipt alone, as narrow as the printer's paper) and the return form."""
        narrow = width if width in (58, 80) else None
        return await self._receipt_page(request, conn, community, access, number, width=narrow, done=done)

    @post("/c/{slug:str}/receipts/{number:int}/return", operation_id="pageReceiptReturn")
    async def return_goods(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        number: PathId,
    ) -> Response[Any]:
        """The API's returnGoods from the receipt's form: the quantities typed per line, with the reason and the
        form's idempotency key (sent twice, it gives the points back once)."""
        typed = await read_form(request)
        try:
            key = str(typed["key"])
            if not KEY.fullmatch(key):
                raise InvalidRequest("the form has lost its key: open it again")
            lines = []
            for name, value in typed.items():
                if name.startswith("return_") and str(value).strip() not in ("", "0"):
                    line_no = _number(name[7:], "lines", high=counter.MAX_LINES)
                    lines.append((line_no, _number(value, f"lines[{line_no}].quantity", high=counter.MAX_QUANTITY)))
            if not lines:
                raise InvalidRequest(
                    "say how many of which line come back", errors=[field_problem("quantity", "required")]
                )
            reason = str(typed["reason"]).strip()
            if not reason:
                raise InvalidRequest("give a reason", errors=[field_problem("reason", "required")])
            if len(reason) > counter.MAX_REASON_CHARS:
                raise InvalidRequest(
                    "the reason is too long",
                    errors=[field_problem("reason", "too_long", max=counter.MAX_REASON_CHARS)],
                )
            await counter.return_goods(
                conn,
                access,
                number,
                lines=sorted(lines),
                reason=reason,
                idempotency_key=key,
                counter=_counter_label(request),
            )
        except Exception as exc:
            return await self._receipt_page(request, conn, community, access, number, typed=typed,
                                            failed=_worded(exc, "return"))  # fmt: skip
        return Redirect(counter_url(community.slug, f"/receipts/{number}?done=return"), status_code=303)

    @get("/c/{slug:str}/receipts", operation_id="pageReceipts")
    async def receipts(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        number: Annotated[str, QueryParameter(max_length=20)] = "",
    ) -> Response[Any]:
        """Look a receipt up by its number (for a reprint or a return); the latest ones below."""
        wanted = number.strip().lstrip("#")
        failed = None
        if wanted:
            if wanted.isascii() and wanted.isdigit() and 0 < int(wanted) < 2**31:
                try:
                    found = await counter.get_receipt(conn, community.id, int(wanted))
                except NotFound as exc:
                    failed = _worded(exc, "lookup")
                else:
                    return Redirect(counter_url(community.slug, f"/receipts/{found.number}"), status_code=303)
            else:
                failed = _worded(
                    InvalidRequest("a receipt number", errors=[field_problem("number", "not_digits")]), "lookup"
                )
        latest = await counter.list_receipts(conn, community.id, limit=30)
        return render(
            request,
            "counter/receipts.html",
            status=(failed or {}).get("status", 200),
            community=community,
            latest=latest,
            number=number,
            failed=failed,
            labels={"number": _("Receipt number")},
            method_words=METHOD_WORDS,
        )

    # ---- stock -------------------------------------------------------------------------------------------------

    async def _stock_page(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        *,
        done: str = "",
        typed: Typed | None = None,
        failed: dict[str, Any] | None = None,
        failed_good: int | None = None,
    ) -> Template:
        low = await goods.list_goods(conn, community.id, low_stock=True, limit=200)
        every = await goods.list_goods(conn, community.id, include_inactive=True, limit=200)
        low_ids = {g.id for g in low}
        return render(
            request,
            "counter/stock.html",
            status=(failed or {}).get("status", 200),
            community=community,
            low=low,
            rest=[g for g in every if g.id not in low_ids],
            kinds=MOVE_KINDS,
            done=done,
            typed=typed or Typed(),
            failed=failed,
            failed_good=failed_good,
            labels=LABELS,
        )

    @get("/c/{slug:str}/stock", operation_id="pageStock")
    async def stock(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        done: Annotated[str, QueryParameter(max_length=80)] = "",
    ) -> Template:
        """Low stock first (emptiest first), then every good; each with its restock / write-off / correction form."""
        return await self._stock_page(request, conn, community, done=done)

    @post("/c/{slug:str}/stock/{good_id:int}/movements", operation_id="pageStockMove")
    async def move(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        good_id: PathId,
    ) -> Response[Any]:
        """The API's moveStock from a form: restock, write off or correct, with why."""
        typed = await read_form(request)
        try:
            kind = str(typed["kind"])
            if kind not in MOVE_KINDS:
                raise InvalidRequest("restock, write off or correct", errors=[field_problem("kind", "invalid")])
            text = str(typed["quantity"]).strip()
            sign = -1 if kind == "correction" and text.startswith("-") else 1
            quantity = sign * _number(text.lstrip("+-"), "quantity", low=1, high=goods.MAX_MOVE)
            reason = str(typed["reason"]).strip()
            if not reason:
                raise InvalidRequest("give a reason", errors=[field_problem("reason", "required")])
            moved = await goods.record_movement(
                conn, community.id, access.member_id, good_id, kind=kind, quantity=quantity, reason=reason
            )
        except Exception as exc:
            return await self._stock_page(request, conn, community, typed=typed, failed=_worded(exc, "stock"),
                                          failed_good=good_id)  # fmt: skip
        query = urlencode({"done": f"{moved.good_id}:{moved.stock_after}"})
        return Redirect(counter_url(community.slug, f"/stock?{query}#good-{good_id}"), status_code=303)

    # ---- the day -----------------------------------------------------------------------------------------------

    @get("/c/{slug:str}/counter/today", operation_id="pageCounterToday")
    async def today(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        community: CurrentCommunity,
        access: CurrentAccess,
        day: Annotated[date | None, QueryParameter()] = None,
    ) -> Template:
        """The day's totals per clerk and counter (admins, as getDailyTotals allows) and the reconciliation:
        points redeemed per good against the stock sold (clerks and admins, as getReconciliation)."""
        on = day or counter.today()
        totals = None
        if {ADMIN, STREET_ADMIN} & access.roles:
            totals = await counter.daily_totals(conn, community.id, on)
        reconciled = await counter.reconcile(conn, community.id, on, None)
        return render(request, "counter/today.html", community=community, day=on, totals=totals,
                      reconciled=reconciled)  # fmt: skip


def _counter_cookie(label: str) -> Cookie:
    """The counter's label, percent-encoded (a cookie is ASCII; 1号柜台 is not)."""
    return Cookie(key=COUNTER_COOKIE, value=quote(label), max_age=365 * 86400, samesite="lax", httponly=True, path="/")


def _counter_label(request: Request[Any, Any, Any]) -> str:
    return unquote(request.cookies.get(COUNTER_COOKIE, ""))[: counter.MAX_COUNTER_CHARS]
