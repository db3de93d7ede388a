"""The points-expiry setting in the all-or-nothing proof (tests/test_rollback.py imports this module before it
collects its parametrized test, so the recipe registers in its RECIPES like its own): the write fails at every
statement in turn and must leave every row as it was."""

from __future__ import annotations

import asyncpg

from tests.test_rollback import API, Call, Client, World, recipe


@recipe("updateExpirySettings")
async def _update_expiry_settings(w: World, c: Client, o: asyncpg.Connection) -> Call:
    return Call("put", f"{API}/communities/{w.slug}/expiry-settings", w.admin, json={"mode": "months", "months": 12})
