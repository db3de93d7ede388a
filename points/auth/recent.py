"""What was checked in the last few seconds: tokens, and each person's access in a community.

A counter terminal sends a queue of requests with one token in one community.
Looking the token up and loading the caller's roles for each of them would cost
two database round trips per request before any work is done; remembering both
for RECENT_S seconds makes the posting path one round trip.

The price, per process: a revoked or expired token, a revoked role, a suspended
member or a street admin's change keeps its old effect for at most RECENT_S
seconds in the *other* server processes. (Households are not affected: the
award conflict-of-interest check reads them from the database each time.) This process forgets at once: every change of
tokens, roles, membership or the org tree calls ``forget_person`` or
``forget_everyone`` (points/auth/web.py, points/members/service.py).
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import Generic, TypeVar

RECENT_S = 5.0
MAX_ENTRIES = 10_000

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Recent(Generic[K, V]):
    """A small time-to-live map, keyed per person so that one person's entries can be dropped together."""

    def __init__(self, ttl_s: float = RECENT_S, max_entries: int = MAX_ENTRIES) -> None:
        self._ttl_s = ttl_s
        self._max = max_entries
        self._items: dict[K, tuple[float, int, V]] = {}  # key -> (expires, person id, value)

    def get(self, key: K) -> V | None:
        found = self._items.get(key)
        if found is None or found[0] < time.monotonic():
            return None
        return found[2]

    def put(self, key: K, person_id: int, value: V) -> None:
        if len(self._items) >= self._max:
            self._items.clear()  # crude, but bounded: a burst of new keys only costs lookups again
        self._items[key] = (time.monotonic() + self._ttl_s, person_id, value)

    def forget_person(self, person_id: int) -> None:
        for key, (_, owner, _) in list(self._items.items()):
            if owner == person_id:
                del self._items[key]

    def clear(self) -> None:
        self._items.clear()


_caches: list[Recent[object, object]] = []


def register(cache: Recent[K, V]) -> Recent[K, V]:
    _caches.append(cache)  # type: ignore[arg-type]
    return cache


def forget_person(person_id: int) -> None:
    """This person's tokens, roles or membership changed: check them again on their next request."""
    for cache in _caches:
        cache.forget_person(person_id)


def forget_everyone() -> None:
    """A change that can touch many people's access at once (a community moved to another street)."""
    for cache in _caches:
        cache.clear()
