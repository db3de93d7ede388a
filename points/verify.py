"""`points verify`, run on one consistent snapshot of the database."""

from __future__ import annotations

from ledger import get_community, verify
from ledger.errors import UnknownCommunity
from points import db


async def run_verify(url: str, slug: str | None) -> tuple[bool, str]:
    engine = db.make_engine(url, pool_size=1, as_owner=True)
    try:
        async with db.connection(engine) as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            community_id = None
            if slug is not None:
                try:
                    community_id = (await get_community(conn, slug)).id
                except UnknownCommunity as exc:
                    return False, str(exc)
            found = await verify(conn, community_id)
            counts = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM ledger.entries WHERE $1::bigint IS NULL OR community_id = $1) AS entries,"
                " (SELECT count(*) FROM ledger.postings WHERE $1::bigint IS NULL OR community_id = $1) AS postings,"
                " (SELECT count(*) FROM ledger.accounts WHERE $1::bigint IS NULL OR community_id = $1) AS accounts",
                community_id,
            )
    finally:
        await engine.dispose()
    scope = f"community {slug}" if slug else "all communities"
    summary = f"{counts['entries']} entries, {counts['postings']} postings, {counts['accounts']} accounts ({scope})"
    if not found:
        return True, f"ok: {summary}; every entry balances and every stored balance equals its postings"
    lines = [f"FAILED: {len(found)} discrepancies in {summary}", f"first: {found[0]}"]
    lines += [f"  {d}" for d in found[1:]]
    return False, "\n".join(lines)
