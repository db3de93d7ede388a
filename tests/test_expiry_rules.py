"""Points expiry's refusals: bad settings (each a 400 naming its field, nothing changed), the entries API refusing
the job's kind, account and reversals, and PostgreSQL refusing the same beneath the service (LX001, LX002)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

import ledger
from tests.expiry_world import earn, expire_at, months_ago, newcomer, set_expiry
from tests.supermarket_world import Shop, key, make_shop

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


@pytest.fixture
async def shop(client: Any, owner_conn: asyncpg.Connection, conn: Any) -> Shop:
    return await make_shop(client, owner_conn, conn, volunteers=1)


BAD_SETTINGS = [
    ({"mode": "weekly"}, "mode"),
    ({"mode": "months"}, "months"),
    ({"mode": "months", "months": 0}, "months"),
    ({"mode": "months", "months": 121}, "months"),
    ({"mode": "months", "months": "6"}, "months"),
    ({"mode": "months", "months": 6, "reset_on": "12-31"}, "reset_on"),
    ({"mode": "yearly"}, "reset_on"),
    ({"mode": "yearly", "reset_on": "02-29"}, "reset_on"),
    ({"mode": "yearly", "reset_on": "04-31"}, "reset_on"),
    ({"mode": "yearly", "reset_on": "13-01"}, "reset_on"),
    ({"mode": "yearly", "reset_on": "12/31"}, "reset_on"),
    ({"mode": "yearly", "reset_on": "12-31", "months": 3}, "months"),
    ({"mode": "off", "months": 3}, "months"),
    ({"mode": "off", "since": "2020-01-01T00:00:00Z"}, "since"),
    ({}, "mode"),
]


@pytest.mark.parametrize(("body", "field"), BAD_SETTINGS)
async def test_bad_settings_are_refused_naming_the_field(
    shop: Shop, no_change_on_4xx: list[str], body: dict[str, Any], field: str
) -> None:
    await set_expiry(shop, {"mode": "months", "months": 12})
    r = await shop.client.put(f"{shop.url}/expiry-settings", json=body)
    assert r.status_code == 400, r.text
    problem = r.json()
    assert problem["code"] == "invalid_request"
    assert field in str(problem.get("errors", problem)), problem
    assert (await shop.client.get(f"{shop.url}/expiry-settings")).json()["months"] == 12
    assert no_change_on_4xx


async def test_only_admins_change_the_setting_and_members_read_their_own(shop: Shop) -> None:
    v = shop.volunteers[0]
    r = await shop.call(v, "PUT", "/expiry-settings", json={"mode": "off"})
    assert r.status_code == 403, r.text
    assert (await shop.call(v, "GET", "/me/expiries", params={"weeks": 53})).status_code == 400
    assert (await shop.call(v, "GET", "/me/expiries", params={"weeks": 0})).status_code == 400
    mine = await shop.call(v, "GET", "/me/expiries")
    assert mine.status_code == 200, mine.text
    assert mine.json() == {
        "setting": {"mode": "off", "months": None, "reset_on": None, "since": None},
        "weeks": 8,
        "upcoming": [],
        "expired_by_month": [],
    }


async def _an_expiry(shop: Shop, conn: Any) -> tuple[int, int, int]:
    """(expiry entry, wallet, expired account) of a member whose points expired."""
    await set_expiry(shop, {"mode": "months", "months": 6}, since=LONG_AGO)
    v = await newcomer(shop, conn, "过期者")
    await earn(shop, v, 30, months_ago(7))
    assert await expire_at(shop, datetime.now(UTC), only=v) == [(v.member_id, 30)]
    row = await shop.owner.fetchrow(
        "SELECT entry_id, wallet_account_id, expired_account_id FROM points.expiries WHERE member_id = $1", v.member_id
    )
    return row["entry_id"], row["wallet_account_id"], row["expired_account_id"]


async def test_the_entries_api_refuses_the_jobs_kind_account_and_reversals(
    shop: Shop, conn: Any, no_change_on_4xx: list[str]
) -> None:
    entry, wallet, expired_account = await _an_expiry(shop, conn)
    reversal = await shop.client.post(
        f"{shop.url}/entries/{entry}/reversal", json={"reason": "误过期"}, headers={"Idempotency-Key": key()}
    )
    assert (reversal.status_code, reversal.json()["code"]) == (409, "expiry_entry_not_reversed")
    back = {"kind": "transfer", "postings": [{"account_id": expired_account, "amount": -5},
                                             {"account_id": wallet, "amount": 5}]}  # fmt: skip
    r = await shop.client.post(f"{shop.url}/entries", json=back, headers={"Idempotency-Key": key()})
    assert (r.status_code, r.json()["code"]) == (422, "expiry_not_postable")
    into = {"kind": "expiry", "postings": [{"account_id": shop.issuance, "amount": -5},
                                           {"account_id": wallet, "amount": 5}]}  # fmt: skip
    r = await shop.client.post(f"{shop.url}/entries", json=into, headers={"Idempotency-Key": key()})
    assert (r.status_code, r.json()["code"]) == (422, "expiry_not_postable")
    hold = {"account_id": expired_account, "counter_account_id": wallet, "amount": 5}
    r = await shop.client.post(f"{shop.url}/holds", json=hold, headers={"Idempotency-Key": key()})
    assert (r.status_code, r.json()["code"]) == (422, "expiry_not_postable")
    assert len(no_change_on_4xx) == 4


async def test_postgresql_refuses_an_expiry_not_posted_by_the_job(shop: Shop, conn: Any) -> None:
    """As the service's own role, straight to the ledger: without migration 0015's triggers each would post."""
    entry, wallet, expired_account = await _an_expiry(shop, conn)
    await ledger.enter(conn, shop.community_id)

    async def attempt(kind: str, accounts: list[tuple[int, int]]) -> None:
        async with ledger.transaction(conn):
            await conn.fetch(
                "SELECT * FROM ledger.post_entry($1, $2, '', '{}', NULL, NULL, $3, $4, $5)",
                shop.community_id, kind, key(), [a for a, _ in accounts], [n for _, n in accounts],
            )  # fmt: skip

    rich = await shop.owner.fetchval(
        "SELECT wallet_account_id FROM points.members WHERE id = $1", shop.volunteers[0].member_id
    )
    with pytest.raises(asyncpg.PostgresError) as kind_refused:  # an expiry entry the job did not post
        await attempt("expiry", sorted([(rich, -5), (expired_account, 5)]))
    assert kind_refused.value.sqlstate == "LX001"
    with pytest.raises(asyncpg.PostgresError) as back:  # expired points given back by a transfer
        await attempt("transfer", sorted([(expired_account, -5), (wallet, 5)]))
    assert back.value.sqlstate == "LX002"
    with pytest.raises(asyncpg.PostgresError) as into:  # something else put into the expired account
        await attempt("transfer", sorted([(expired_account, 5), (shop.issuance, -5)]))
    assert into.value.sqlstate == "LX002"
    with pytest.raises(asyncpg.PostgresError) as reversed_:  # the expiry reversed behind the API's back
        async with ledger.transaction(conn):
            await ledger.reverse_entry(conn, shop.community_id, entry, reason="误过期", idempotency_key=key())
    assert getattr(reversed_.value, "sqlstate", "") == "LX002" or "LX002" in str(reversed_.value)
    with pytest.raises(asyncpg.PostgresError) as denied:  # the service's role cannot run the job at another time
        await conn.fetch("SELECT * FROM points.expire_points_at($1, now() + interval '1 year')", shop.community_id)
    assert denied.value.sqlstate == "42501"
    with pytest.raises(asyncpg.PostgresError) as written:  # nor write the expiries itself
        await conn.execute(
            "INSERT INTO points.expiries (entry_id, community_id, member_id, wallet_account_id, expired_account_id,"
            " points, due_at) SELECT entry_id, community_id, member_id, wallet_account_id, expired_account_id, 1,"
            " now() FROM points.expiries LIMIT 1"
        )
    assert written.value.sqlstate == "42501"


async def test_the_settings_check_constraints_hold_beneath_the_service(shop: Shop) -> None:
    for mode, months, month, day in [("months", None, None, None), ("months", 0, None, None),
                                     ("yearly", None, 2, 29), ("yearly", None, 4, 31), ("off", 3, None, None),
                                     ("weekly", None, None, None), ("yearly", None, 12, None)]:  # fmt: skip
        with pytest.raises(asyncpg.CheckViolationError):
            await shop.owner.execute(
                "INSERT INTO points.expiry_settings (community_id, mode, months, reset_month, reset_day)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (community_id) DO UPDATE SET mode = EXCLUDED.mode,"
                " months = EXCLUDED.months, reset_month = EXCLUDED.reset_month, reset_day = EXCLUDED.reset_day",
                shop.community_id, mode, months, month, day,
            )  # fmt: skip
