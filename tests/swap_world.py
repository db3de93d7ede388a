"""A community with a swap table, for the swap table's tests: the supermarket's world (a clerk, who is table
staff, and volunteers with 200 points each) and helpers to list, propose and read what happened."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from PIL import Image

import ledger
from points import db
from points.auth.access import Access, enter_community
from tests.earning_world import Person
from tests.supermarket_world import Shop, key


def png(color: str = "red", size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


class Table:
    def __init__(self, shop: Shop) -> None:
        self.shop = shop

    @property
    def staff(self) -> Person:
        return self.shop.clerk

    def v(self, n: int) -> Person:
        return self.shop.volunteers[n]

    async def call(self, who: Person | None, method: str, path: str, **kw: Any) -> httpx.Response:
        return await self.shop.call(who, method, f"/swap{path}", **kw)

    async def photo(self, who: Person, data: bytes | None = None) -> int:
        r = await self.shop.call(who, "POST", "/photos", content=data or png(), headers={"Content-Type": "image/png"})
        assert r.status_code == 201, r.text
        photo_id: int = r.json()["id"]
        return photo_id

    async def list_item(self, who: Person, title: str, **extra: Any) -> dict[str, Any]:
        body = {"title": title, "condition": "good", **extra}
        r = await self.call(who, "POST", "/listings", json=body)
        assert r.status_code == 201, r.text
        listing: dict[str, Any] = r.json()
        return listing

    async def propose(
        self, who: Person, take: list[int], give: list[int] | None = None, points: int = 0, **extra: Any
    ) -> httpx.Response:
        body = {"take": take, "give": give or [], "points": points, **extra}
        return await self.call(who, "POST", "/proposals", json=body, headers={"Idempotency-Key": key()})

    async def proposal(self, who: Person, take: list[int], give: list[int] | None = None, points: int = 0) -> int:
        r = await self.propose(who, take, give, points)
        assert r.status_code == 201, r.text
        proposal_id: int = r.json()["id"]
        return proposal_id

    async def act(self, who: Person, proposal_id: int, action: str) -> httpx.Response:
        return await self.call(who, "POST", f"/proposals/{proposal_id}/{action}")

    async def staff_confirm(self, proposal_id: int, who: Person | None = None) -> httpx.Response:
        return await self.call(who or self.staff, "POST", f"/table/proposals/{proposal_id}/handover")

    async def listing_status(self, listing_id: int) -> str:
        status: str = await self.shop.owner.fetchval(
            "SELECT status FROM points.swap_listings WHERE id = $1", listing_id
        )
        return status

    async def status(self, proposal_id: int) -> str:
        status: str = await self.shop.owner.fetchval(
            "SELECT status FROM points.swap_proposals WHERE id = $1", proposal_id
        )
        return status

    async def hold_status(self, proposal_id: int) -> str | None:
        status: str | None = await self.shop.owner.fetchval(
            "SELECT h.status FROM points.swap_proposals p JOIN ledger.holds h ON h.id = p.hold_id WHERE p.id = $1",
            proposal_id,
        )
        return status

    async def available(self, who: Person) -> int:
        value: int = await self.shop.owner.fetchval(
            "SELECT a.balance - a.held FROM points.members m JOIN ledger.accounts a ON a.id = m.wallet_account_id"
            " WHERE m.id = $1",
            who.member_id,
        )
        return value

    async def overdue(self, proposal_id: int) -> None:
        """Move the hand-over deadline into the past (as if the days had gone by)."""
        await self.shop.owner.execute(
            "UPDATE points.swap_proposals SET deadline_at = now() - interval '1 minute',"
            " accepted_at = now() - interval '8 days' WHERE id = $1",
            proposal_id,
        )

    async def old_listing(self, who: Person, title: str, days: int = 61, **extra: Any) -> int:
        """A listing put on the table ``days`` ago (written by the owner: the service's role never sets
        created_at, and a listing never changes it)."""
        listing_id: int = await self.shop.owner.fetchval(
            "INSERT INTO points.swap_listings (community_id, member_id, title, condition, free, created_at)"
            " VALUES ($1, $2, $3, 'good', $4, now() - make_interval(days => $5)) RETURNING id",
            self.shop.community_id,
            who.member_id,
            title,
            bool(extra.get("free", False)),
            days,
        )
        return listing_id

    @asynccontextmanager
    async def as_member(self, engine: Any, who: Person) -> AsyncIterator[tuple[Any, Access]]:
        """A connection of the service's own (from the engine's pool) entered as ``who``, for calling the service
        functions directly: two of these run at once, as two phones' requests do (the test client serves one
        request at a time)."""
        async with db.connection(engine) as c:
            await ledger.leave(c)
            person_id = await self.shop.owner.fetchval(
                "SELECT person_id FROM points.members WHERE id = $1", who.member_id
            )
            try:
                yield c, await enter_community(c, person_id, self.shop.community_id)
            finally:
                await ledger.leave(c)
