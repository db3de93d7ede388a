"""Helpers for the points-expiry tests: a shop (tests/supermarket_world.py) whose members earn at chosen times, and
the expiry job run at a chosen moment as the database owner (``points.expire_points_at``; the service's role may
only run it now)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.earning_world import Person
from tests.supermarket_world import Shop, key, person

NOW = datetime.now(UTC)


def months_ago(n: int, *, days: int = 0) -> datetime:
    return NOW - timedelta(days=30 * n + days)


_households = itertools.count(1)


async def newcomer(shop: Shop, conn: Any, name: str) -> Person:
    """A volunteer with an empty wallet, of a household of their own, who signs in (for payment codes)."""
    return await person(shop.client, shop.owner, conn, shop.slug, name, f"9-{next(_households):03d}", ["volunteer"])


async def earn(shop: Shop, who: Person, points: int, at: datetime) -> int:
    """An award credited at ``at`` (the admin's generic entry of kind award: an earning like any other)."""
    wallet = await shop.owner.fetchval("SELECT wallet_account_id FROM points.members WHERE id = $1", who.member_id)
    body = {
        "kind": "award",
        "effective_at": at.isoformat(),
        "postings": [{"account_id": shop.issuance, "amount": -points}, {"account_id": wallet, "amount": points}],
    }
    r = await shop.client.post(f"{shop.url}/entries", json=body, headers={"Idempotency-Key": key()})
    assert r.status_code == 201, r.text
    entry_id: int = r.json()["id"]
    return entry_id


async def set_expiry(shop: Shop, body: dict[str, Any], *, since: datetime | None = None) -> dict[str, Any]:
    r = await shop.client.put(f"{shop.url}/expiry-settings", json=body)
    assert r.status_code == 200, r.text
    if since is not None:  # the tests' clock: earnings are dated long before expiry was switched on
        await shop.owner.execute(
            "UPDATE points.expiry_settings SET since = $2 WHERE community_id = $1", shop.community_id, since
        )
    out: dict[str, Any] = r.json()
    return out


async def expire_at(shop: Shop, at: datetime, *, only: Person | None = None) -> list[tuple[int, int]]:
    """Run the job's function at ``at``: (member id, points) per expiry posted (``only``: of that member; the
    shop's own volunteers, funded at its opening, expire too when the clock is moved far enough)."""
    await shop.owner.execute("SELECT set_config('linli.community_id', $1, false)", str(shop.community_id))
    rows = await shop.owner.fetch(
        "SELECT member_id, points FROM points.expire_points_at($1, $2)", shop.community_id, at
    )
    return [(r["member_id"], r["points"]) for r in rows if only is None or r["member_id"] == only.member_id]


async def expired(shop: Shop, who: Person) -> int:
    total: int = await shop.owner.fetchval(
        "SELECT coalesce(sum(points), 0) FROM points.expiries WHERE member_id = $1", who.member_id
    )
    return total


async def wallet(shop: Shop, who: Person) -> tuple[int, int]:
    row = await shop.owner.fetchrow(
        "SELECT a.balance, a.held FROM points.members m JOIN ledger.accounts a ON a.id = m.wallet_account_id"
        " WHERE m.id = $1",
        who.member_id,
    )
    return row["balance"], row["held"]


async def lots(shop: Shop, who: Person) -> list[tuple[int, int]]:
    """(amount, left) of each lot, oldest first, as PostgreSQL computes them."""
    rows = await shop.owner.fetch(
        "SELECT l.amount, l.left_points FROM points.members m, points.expiry_lots(m.wallet_account_id) l"
        " WHERE m.id = $1",
        who.member_id,
    )
    return [(r["amount"], r["left_points"]) for r in rows]
