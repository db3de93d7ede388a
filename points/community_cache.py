"""Slug → community, cached per process.

A community's slug never changes and communities are never deleted (the
application role can only insert them), so a cached lookup stays true and the
posting path keeps its single round trip.
"""

from __future__ import annotations

from typing import Any

import ledger
from ledger import get_community

MAX_CACHED = 50_000


class CommunityCache:
    def __init__(self) -> None:
        self._by_slug: dict[str, ledger.Community] = {}

    async def get(self, conn: Any, slug: str) -> ledger.Community:
        found = self._by_slug.get(slug)
        if found is None:
            found = await get_community(conn, slug)
            if len(self._by_slug) >= MAX_CACHED:
                self._by_slug.clear()
            self._by_slug[slug] = found
        return found
