"""The jobs themselves: plain async functions over the service's engine, each safe to run again.

Each one is idempotent (a second run finds nothing left to do), so a retry after a failure half-way, or a
schedule that fires while the last run is still queued, never does anything twice.
"""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

import ledger
from points import db
from points.auth.session_store import PostgresSessionStore
from points.expiry.service import expire_due
from points.publication.service import settle_due

log = structlog.get_logger("points.jobs")


async def expire_lapsed_holds(engine: AsyncEngine) -> int:
    """Expire every active hold past its timeout, community by community; returns how many.

    Each community's holds expire in one atomic call (ledger.expire_holds, inside that community); a failure in
    one community leaves the others done and the job's retry picks up the rest."""
    expired = 0
    async with db.connection(engine) as conn:
        communities = [r[0] for r in await conn.fetch("SELECT * FROM ledger.communities_with_lapsed_holds()")]
        for community_id in communities:
            await ledger.enter(conn, community_id)
            expired += await ledger.expire_holds(conn, community_id)
    if expired:
        log.info("holds_expired", holds=expired, communities=len(communities))
    return expired


async def delete_expired_sessions(engine: AsyncEngine) -> int:
    """Forget sessions past their idle timeout (their cookies are worthless already)."""
    deleted = await PostgresSessionStore(engine).delete_expired()
    if deleted:
        log.info("sessions_deleted", sessions=deleted)
    return deleted


async def expire_points(engine: AsyncEngine) -> int:
    """Post the points expiries due now, community by community (points/expiry/service.py); returns the points.

    Idempotent: a lot's expiry leaves nothing of it to expire, and PostgreSQL runs one community's expiries at a
    time (points.expire_points_at, migration 0015), so a second run — or a second worker — posts nothing again."""
    expired = 0
    async with db.connection(engine) as conn:
        communities = [r[0] for r in await conn.fetch("SELECT * FROM points.communities_with_expiry()")]
        for community_id in communities:
            expired += await expire_due(conn, community_id)
    if expired:
        log.info("points_expired", points=expired, communities=len(communities))
    return expired


async def settle_published_awards(engine: AsyncEngine) -> int:
    """Settle the awards whose 公示 window has ended and that wait for no decision, community by community
    (points/publication/service.py); returns how many.

    Idempotent: a settled award is no longer published, and each one settles under its row lock (an award an
    admin is deciding at that moment is skipped, and comes round at the next run if still published)."""
    settled = 0
    async with db.connection(engine) as conn:
        communities = [r[0] for r in await conn.fetch("SELECT * FROM points.communities_with_published_awards()")]
        for community_id in communities:
            settled += await settle_due(conn, community_id)
    if settled:
        log.info("awards_settled", awards=settled, communities=len(communities))
    return settled


async def time_out_swaps(engine: AsyncEngine) -> int:
    """Time out the swap table's accepted proposals past their hand-over deadline, community by community: each
    one's hold voided and its listings reopened in a transaction of its own (catalog.swaps.time_out_lapsed)."""
    from catalog import swaps  # the swap table's service; imported here so the jobs load without the catalog

    timed_out = 0
    async with db.connection(engine) as conn:
        communities = [r[0] for r in await conn.fetch("SELECT * FROM points.communities_with_lapsed_swaps()")]
        for community_id in communities:
            await ledger.enter(conn, community_id)
            timed_out += await swaps.time_out_lapsed(conn, community_id)
    if timed_out:
        log.info("swaps_timed_out", proposals=timed_out, communities=len(communities))
    return timed_out


async def expire_swap_listings(engine: AsyncEngine) -> int:
    """Expire the swap table's open listings older than their community's lifetime, community by community: each
    listing in a transaction of its own, its open proposals ended with it (catalog.swap_listings.expire_stale)."""
    from catalog import swap_listings  # the swap table's service; imported here so the jobs load without it

    expired = 0
    async with db.connection(engine) as conn:
        communities = [r[0] for r in await conn.fetch("SELECT * FROM points.communities_with_stale_listings()")]
        for community_id in communities:
            await ledger.enter(conn, community_id)
            expired += await swap_listings.expire_stale(conn, community_id)
    if expired:
        log.info("swap_listings_expired", listings=expired, communities=len(communities))
    return expired


async def time_out_service_orders(engine: AsyncEngine) -> int:
    """Service orders (points/orders/): dispatched ones not accepted within their community's accept timeout go
    back to the dispatcher; done ones not confirmed within the auto-confirm time count as confirmed (their workers
    awarded). Each order in a transaction of its own under its row lock, re-checked after it: a second run, or an
    acceptance or confirmation that came first, leaves nothing to do."""
    from points.orders import service as orders

    changed = 0
    async with db.connection(engine) as conn:
        communities = [r[0] for r in await conn.fetch("SELECT * FROM points.communities_with_due_orders()")]
        for community_id in communities:
            changed += await orders.return_unaccepted(conn, community_id)
            changed += await orders.confirm_unconfirmed(conn, community_id)
    if changed:
        log.info("service_orders_timed_out", orders=changed, communities=len(communities))
    return changed
