"""The demo's points expiry (``points demo``): 阳光社区's points expire 12 months after they were earned, and
刘志强 (the demo volunteer who signs in, 13800000004) earned 30 points for a 助老 visit almost a year ago; what
his supermarket receipt left of them (spending takes the oldest first) expires in about three weeks: 我的积分 shows
it under 即将到期."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import ledger
from ledger.errors import IdempotencyConflict
from ledger.model import Line, NewEntry
from points.expiry import service
from points.expiry.model import add_months

EXPIRES_IN = timedelta(days=21)


async def load_expiry(conn: ledger.Connection, community_id: int, wallet_account_id: int, issuance_id: int) -> None:
    """Idempotent: a second run finds the setting and the old earning in place."""
    setting = await service.get_settings(conn, community_id)
    if setting.mode == "off":
        await service.set_settings(conn, community_id, "months", 12)
    now = datetime.now(UTC)
    earned = add_months((now + EXPIRES_IN).replace(tzinfo=None), -12).replace(tzinfo=UTC)
    # Earnings from before expiry was switched on count as earned then: the demo switched it on long ago.
    await conn.execute(
        "UPDATE points.expiry_settings SET since = least(since, $2) WHERE community_id = $1",
        community_id,
        earned - timedelta(days=30),
    )
    entry = NewEntry(
        "award",
        (Line(wallet_account_id, 30), Line(issuance_id, -30)),
        "demo:expiry:old-award",
        memo="助老服务 · 去年冬天陪老人就医",
        effective_at=earned,
    )
    with contextlib.suppress(IdempotencyConflict):  # loaded by an earlier run (its date was that run's)
        await ledger.post_entry(conn, community_id, entry)
