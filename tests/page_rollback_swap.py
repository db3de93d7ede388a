"""Forms of the swap table's pages in the all-or-nothing walk of tests/test_page_rollback.py (which imports this
module, so that these register in its PAGE_RECIPES): listing an item, proposing (with the form's key),
accepting (the hold, the reservations, a competing proposal put on hold), declining, countering, cancelling an
accepted swap (its hold voided), withdrawing, both members' hand-over (the second posts and swaps), and the
staff's intake and hand-over; each posted as the page posts it, by the member it belongs to (signed in by the
sign-in form) or by the world's admin, who is table staff."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from tests.conftest import bearer_token
from tests.rollback_catalog import _base
from tests.rollback_swap import expired_listing
from tests.test_page_rollback import ADMIN_PASSWORD, PageCall, _admin_phone, page_recipe
from tests.test_rollback import Client, World, _idem, _ok, new_phone, unique

SHOPPER_PASSWORD = "shopper-password-1"


@dataclass
class Member:
    phone: str
    headers: dict[str, str]


async def _member(w: World, c: Client, o: asyncpg.Connection) -> Member:
    """A volunteer with 60 points (as tests/rollback_catalog.py's shopper), and the phone they sign in with."""
    phone = new_phone()
    body = {"display_name": unique("居民"), "phone": phone, "password": SHOPPER_PASSWORD, "roles": ["volunteer"]}
    member = await _ok(await c.post(f"{_base(w)}/members", json=body, headers=w.admin))
    award = {"kind": "award", "postings": [{"account_id": w.issuance, "amount": -60},
                                           {"account_id": member["wallet_account_id"], "amount": 60}]}  # fmt: skip
    await _ok(await c.post(f"{_base(w)}/entries", json=award, headers=_idem(w.admin)))
    person = await o.fetchval("SELECT id FROM points.people WHERE phone = $1", phone)
    return Member(phone, {"Authorization": f"Bearer {await bearer_token(o, person)}"})


async def _listing(w: World, c: Client, who: Member) -> int:
    body = {"title": unique("电饭煲"), "condition": "good"}
    listing_id: int = (await _ok(await c.post(f"{_base(w)}/swap/listings", json=body, headers=who.headers)))["id"]
    return listing_id


@dataclass
class Proposed:
    b: Member
    c: Member
    id: int
    cooker: int
    kettle: int


async def _proposed(w: World, c: Client, o: asyncpg.Connection) -> Proposed:
    b, cc = await _member(w, c, o), await _member(w, c, o)
    cooker, kettle = await _listing(w, c, b), await _listing(w, c, cc)
    body = {"take": [cooker], "give": [kettle], "points": 10}
    p = await _ok(await c.post(f"{_base(w)}/swap/proposals", json=body, headers=_idem(cc.headers)))
    return Proposed(b, cc, p["id"], cooker, kettle)


async def _accepted(w: World, c: Client, o: asyncpg.Connection) -> Proposed:
    p = await _proposed(w, c, o)
    await _ok(await c.post(f"{_base(w)}/swap/proposals/{p.id}/accept", headers=p.b.headers), 200)
    return p


def _key() -> str:
    return "page:" + unique("k").replace(":", "-")[:40]


def _mine(w: World) -> str:
    return f"/c/{w.slug}/swap/mine"


def _as(who: Member, action: str, page: str, form: dict[str, object] | None = None) -> PageCall:
    return PageCall(action, page, form or {}, phone=who.phone, password=SHOPPER_PASSWORD)


@page_recipe("pageSwapCreate")
async def _create(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    form = {"title": "电饭煲", "condition": "like_new", "wants": "水壶", "description": "三升"}
    return _as(await _member(w, c, o), f"/c/{w.slug}/swap/listings", f"/c/{w.slug}/swap/new", form)


@page_recipe("pageSwapPropose")
async def _propose(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    b, cc = await _member(w, c, o), await _member(w, c, o)
    cooker, kettle = await _listing(w, c, b), await _listing(w, c, cc)
    page = f"/c/{w.slug}/swap/listings/{cooker}"
    return _as(cc, f"{page}/propose", page, {"key": _key(), "give": [str(kettle)], "points": "10", "note": "加积分"})


@page_recipe("pageSwapAccept")
async def _accept(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    p = await _proposed(w, c, o)
    d = await _member(w, c, o)  # a competing proposal, put on hold by the accept
    body = {"take": [p.cooker], "points": 5}
    await _ok(await c.post(f"{_base(w)}/swap/proposals", json=body, headers=_idem(d.headers)))
    return _as(p.b, f"/c/{w.slug}/swap/proposals/{p.id}/accept", _mine(w))


@page_recipe("pageSwapDecline")
async def _decline(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    p = await _proposed(w, c, o)
    return _as(p.b, f"/c/{w.slug}/swap/proposals/{p.id}/decline", _mine(w))


@page_recipe("pageSwapCounter")
async def _counter(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    p = await _proposed(w, c, o)
    page = f"/c/{w.slug}/swap/proposals/{p.id}/counter"
    return _as(p.b, page, page, {"key": _key(), "take": [str(p.kettle)], "give": [str(p.cooker)], "points": "-5"})


@page_recipe("pageSwapCancel")
async def _cancel(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    p = await _accepted(w, c, o)  # the hold voided, the listings open again
    return _as(p.c, f"/c/{w.slug}/swap/proposals/{p.id}/cancel", _mine(w))


@page_recipe("pageSwapWithdraw")
async def _withdraw(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    p = await _proposed(w, c, o)  # the open proposal for the cooker ends with it
    return _as(p.b, f"/c/{w.slug}/swap/listings/{p.cooker}/withdraw", _mine(w))


@page_recipe("pageSwapHandover")
async def _handover(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    p = await _accepted(w, c, o)
    await _ok(await c.post(f"{_base(w)}/swap/proposals/{p.id}/handover", headers=p.b.headers), 200)
    return _as(p.c, f"/c/{w.slug}/swap/proposals/{p.id}/handover", _mine(w))  # the second: posts and swaps


@page_recipe("pageSwapIntake")
async def _intake(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    member = await _ok(await c.post(f"{_base(w)}/members", json={"display_name": unique("李奶奶")}, headers=w.admin))
    form = {"member_id": str(member["id"]), "title": "旧书", "condition": "fair", "free": "on"}
    table = f"/c/{w.slug}/swap/table"
    return PageCall(f"/c/{w.slug}/swap/intake", table, form, phone=await _admin_phone(w, o), password=ADMIN_PASSWORD)


@page_recipe("pageSwapTableHandover")
async def _table_handover(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    p = await _accepted(w, c, o)
    table = f"/c/{w.slug}/swap/table"
    action = f"/c/{w.slug}/swap/table/proposals/{p.id}/handover"
    return PageCall(action, table, {}, phone=await _admin_phone(w, o), password=ADMIN_PASSWORD)


@page_recipe("pageSwapRelist")
async def _relist(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    who = await _member(w, c, o)
    member_id = await o.fetchval("SELECT member_id FROM points.swap_listings WHERE id = $1", await _listing(w, c, who))
    listing = await expired_listing(w, o, member_id)
    return _as(who, f"/c/{w.slug}/swap/listings/{listing}/relist", _mine(w))


@page_recipe("pageSwapTableWithdraw")
async def _table_withdraw(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    p = await _proposed(w, c, o)  # the open proposal for the cooker ends with it; the audit line is written
    action = f"/c/{w.slug}/swap/table/listings/{p.cooker}/withdraw"
    form = {"reason": "不宜交换"}
    return PageCall(action, f"/c/{w.slug}/swap/table", form, phone=await _admin_phone(w, o), password=ADMIN_PASSWORD)


@page_recipe("pageSwapSettingsSave")
async def _settings(w: World, c: Client, o: asyncpg.Connection) -> PageCall:
    page = f"/c/{w.slug}/swap/table/settings"
    form = {
        "handover_days": "5",
        "listing_days": "30",
        "bonus_points": "",
        "bonus_cap_per_month": "",
        "bonus_type_id": "",
    }
    return PageCall(page, page, form, phone=await _admin_phone(w, o), password=ADMIN_PASSWORD)
