"""SQLAlchemy Core statements run on the request's asyncpg connection, inside the same transaction as a ledger
call: a domain's CRUD rows and its entry commit together, or neither does."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert, select

import ledger
from points import db
from points.tables import households
from tests.conftest import fund


class Refused(Exception):
    pass


async def test_a_core_insert_and_an_entry_commit_or_roll_back_together(
    conn: Any, community: ledger.Community, issuance: ledger.Account
) -> None:
    wallet = await ledger.open_account(conn, community.id, "volunteer:core")

    async def household_ids(label: str) -> list[int]:
        query = select(households.c.id).where(households.c.community_id == community.id, households.c.label == label)
        return [r[0] for r in await conn.fetch(*db.compiled(query))]

    async def household_and_award_then_fail() -> None:
        async with ledger.transaction(conn):
            await conn.fetchval(*db.compiled(insert(households).values(community_id=community.id, label="三栋")))
            await fund(conn, community, issuance, wallet, 9)
            raise Refused  # something later in the same operation fails

    with pytest.raises(Refused):
        await household_and_award_then_fail()
    assert await household_ids("三栋") == []
    assert (await ledger.balance(conn, community.id, wallet.id)).balance == 0

    async with ledger.transaction(conn):
        made = insert(households).values(community_id=community.id, label="三栋").returning(households.c.id)
        household_id = await conn.fetchval(*db.compiled(made))
        await fund(conn, community, issuance, wallet, 9)
    assert await household_ids("三栋") == [household_id]
    assert (await ledger.balance(conn, community.id, wallet.id)).balance == 9
