"""Recipes for the swap table's operations in the all-or-nothing proof (tests/test_rollback.py imports this module
before it collects its parametrized test, so these register in its RECIPES like its own). Each write is sent
again and again failing at its n-th statement: the accept's hold, the hand-over's posting and the listings the
trigger moves must all be undone with it."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from tests.rollback_catalog import _base, _shopper
from tests.test_rollback import Call, Client, World, _idem, _ok, recipe, unique


async def _listing(w: World, c: Client, who: dict[str, str], **extra: object) -> int:
    body = {"title": unique("电饭煲"), "condition": "good", **extra}
    listing_id: int = (await _ok(await c.post(f"{_base(w)}/swap/listings", json=body, headers=who)))["id"]
    return listing_id


@dataclass
class Proposed:
    b: dict[str, str]  # the cooker's member, whom the proposal is made to
    c: dict[str, str]  # the proposer, offering the kettle and points
    id: int
    cooker: int
    kettle: int


async def _proposed(w: World, c: Client, o: asyncpg.Connection, points: int = 10) -> Proposed:
    b, cc = await _shopper(w, c, o), await _shopper(w, c, o)
    cooker, kettle = await _listing(w, c, b), await _listing(w, c, cc)
    body = {"take": [cooker], "give": [kettle], "points": points}
    p = await _ok(await c.post(f"{_base(w)}/swap/proposals", json=body, headers=_idem(cc)))
    return Proposed(b, cc, p["id"], cooker, kettle)


async def _accepted(w: World, c: Client, o: asyncpg.Connection) -> Proposed:
    p = await _proposed(w, c, o)
    await _ok(await c.post(f"{_base(w)}/swap/proposals/{p.id}/accept", headers=p.b), 200)
    return p


@recipe("createSwapListing")
async def _create(w: World, c: Client, o: asyncpg.Connection) -> Call:
    body = {"title": "电饭煲", "condition": "like_new", "wants": "水壶", "description": "三升"}
    return Call("post", f"{_base(w)}/swap/listings", await _shopper(w, c, o), json=body)


@recipe("intakeSwapListing")
async def _intake(w: World, c: Client, o: asyncpg.Connection) -> Call:
    member = await _ok(await c.post(f"{_base(w)}/members", json={"display_name": unique("李奶奶")}, headers=w.admin))
    body = {"member_id": member["id"], "title": "旧书", "condition": "fair", "free": True}
    return Call("post", f"{_base(w)}/swap/intake", w.admin, json=body)


@recipe("withdrawSwapListing")
async def _withdraw(w: World, c: Client, o: asyncpg.Connection) -> Call:
    p = await _proposed(w, c, o)  # the open proposal for the cooker ends with it (the trigger)
    return Call("post", f"{_base(w)}/swap/listings/{p.cooker}/withdraw", p.b)


@recipe("withdrawTableListing")
async def _staff_withdraw(w: World, c: Client, o: asyncpg.Connection) -> Call:
    listing = await _listing(w, c, await _shopper(w, c, o))
    await _ok(
        await c.post(f"{_base(w)}/swap/proposals", json={"take": [listing]}, headers=_idem(await _shopper(w, c, o)))
    )
    # the proposal superseded with it, and the audit line, undone with it
    return Call("post", f"{_base(w)}/swap/table/listings/{listing}/withdraw", w.admin, json={"reason": "不宜交换"})


async def expired_listing(w: World, o: asyncpg.Connection, member_id: int) -> int:
    """A listing put on the table 61 days ago and expired (as the job does), written by the owner."""
    listing_id: int = await o.fetchval(
        "INSERT INTO points.swap_listings (community_id, member_id, title, condition, created_at)"
        " SELECT id, $2, $3, 'good', now() - interval '61 days' FROM ledger.communities WHERE slug = $1 RETURNING id",
        w.slug, member_id, unique("旧台灯"),
    )  # fmt: skip
    await o.execute("UPDATE points.swap_listings SET status = 'expired' WHERE id = $1", listing_id)
    return listing_id


@recipe("relistSwapListing")
async def _relist(w: World, c: Client, o: asyncpg.Connection) -> Call:
    who = await _shopper(w, c, o)
    member_id = await o.fetchval("SELECT member_id FROM points.swap_listings WHERE id = $1", await _listing(w, c, who))
    listing = await expired_listing(w, o, member_id)
    return Call("post", f"{_base(w)}/swap/listings/{listing}/relist", who)


@recipe("updateSwapSettings")
async def _settings(w: World, c: Client, o: asyncpg.Connection) -> Call:
    return Call("put", f"{_base(w)}/swap/settings", w.admin, json={"handover_days": 5, "listing_days": 30})


@recipe("proposeSwap")
async def _propose(w: World, c: Client, o: asyncpg.Connection) -> Call:
    b, cc = await _shopper(w, c, o), await _shopper(w, c, o)
    cooker, kettle = await _listing(w, c, b), await _listing(w, c, cc)
    body = {"take": [cooker], "give": [kettle], "points": 10, "note": "加10积分"}
    return Call("post", f"{_base(w)}/swap/proposals", _idem(cc), json=body)


@recipe("counterSwapProposal")
async def _counter(w: World, c: Client, o: asyncpg.Connection) -> Call:
    p = await _proposed(w, c, o)
    body = {"take": [p.kettle], "give": [p.cooker], "points": 20}
    return Call("post", f"{_base(w)}/swap/proposals/{p.id}/counter", _idem(p.b), json=body)


@recipe("acceptSwapProposal")
async def _accept(w: World, c: Client, o: asyncpg.Connection) -> Call:
    p = await _proposed(w, c, o)
    d = await _shopper(w, c, o)  # a competing proposal, put on hold by the accept
    await _ok(await c.post(f"{_base(w)}/swap/proposals", json={"take": [p.cooker], "points": 5}, headers=_idem(d)))
    return Call("post", f"{_base(w)}/swap/proposals/{p.id}/accept", p.b)


@recipe("declineSwapProposal")
async def _decline(w: World, c: Client, o: asyncpg.Connection) -> Call:
    p = await _proposed(w, c, o)
    return Call("post", f"{_base(w)}/swap/proposals/{p.id}/decline", p.b)


@recipe("cancelSwapProposal")
async def _cancel(w: World, c: Client, o: asyncpg.Connection) -> Call:
    p = await _accepted(w, c, o)  # the hold is voided, the listings reopen
    return Call("post", f"{_base(w)}/swap/proposals/{p.id}/cancel", p.c)


@recipe("confirmSwapHandover")
async def _handover(w: World, c: Client, o: asyncpg.Connection) -> Call:
    p = await _accepted(w, c, o)
    await _ok(await c.post(f"{_base(w)}/swap/proposals/{p.id}/handover", headers=p.b), 200)
    return Call("post", f"{_base(w)}/swap/proposals/{p.id}/handover", p.c)  # the second: posts and swaps


@recipe("confirmTableHandover")
async def _table_handover(w: World, c: Client, o: asyncpg.Connection) -> Call:
    p = await _accepted(w, c, o)
    return Call("post", f"{_base(w)}/swap/table/proposals/{p.id}/handover", w.admin)
