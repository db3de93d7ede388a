"""Points expiry, as stories against PostgreSQL: N months after earning, first in first out across several
earnings with a redemption in between; a year-end reset; held points never expired; a return after expiry that
resurrects nothing; the job run twice (and twice at once) posting once; the job racing a redemption; what a member
sees coming and their statement's monthly line; and what PostgreSQL refuses beneath the service."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from points.expiry import model
from points.jobs import tasks
from points.jobs.worker import PeriodicJob, Worker
from tests.conftest import plain_url
from tests.expiry_world import earn, expire_at, expired, lots, months_ago, newcomer, set_expiry, wallet
from tests.supermarket_world import Shop, key, make_shop
from tests.test_jobs import eventually

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
async def shop(client: Any, owner_conn: asyncpg.Connection, conn: Any) -> Shop:
    return await make_shop(client, owner_conn, conn, volunteers=1)


LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


async def test_points_expire_n_months_after_earning_first_in_first_out(shop: Shop, conn: Any) -> None:
    await set_expiry(shop, {"mode": "months", "months": 6}, since=LONG_AGO)
    v = await newcomer(shop, conn, "林晓")
    await earn(shop, v, 100, months_ago(8))  # due two months ago
    await earn(shop, v, 50, months_ago(7))  # due a month ago
    await earn(shop, v, 30, months_ago(1))  # due in five months
    r = await shop.redeem(v, [("杯子", 4)])  # 80, taken from the oldest earning
    assert r.status_code == 201, r.text
    assert await lots(shop, v) == [(100, 20), (50, 50), (30, 30)]

    now = datetime.now(UTC)
    assert await expire_at(shop, now, only=v) == [(v.member_id, 70)]  # 20 left of the first, all of the second
    assert await wallet(shop, v) == (30, 0)
    assert await lots(shop, v) == [(100, 0), (50, 0), (30, 30)]
    assert await expire_at(shop, now, only=v) == []  # nothing left that is due: never twice

    mine = (await shop.call(v, "GET", "/me/expiries", params={"weeks": 52})).json()
    assert [u["points"] for u in mine["upcoming"]] == [30]
    due = datetime.fromisoformat(mine["upcoming"][0]["expires_at"])
    assert due == model.add_months(months_ago(1).astimezone(SHANGHAI).replace(tzinfo=None), 6).replace(tzinfo=SHANGHAI)
    assert (await shop.call(v, "GET", "/me/expiries")).json()["upcoming"] == []  # 8 weeks: not yet
    assert mine["expired_by_month"] == [{"month": now.astimezone(SHANGHAI).strftime("%Y-%m"), "points": 70}]

    assert await expire_at(shop, due - timedelta(seconds=1), only=v) == []
    assert await expire_at(shop, due, only=v) == [(v.member_id, 30)]
    assert await wallet(shop, v) == (0, 0)
    # expired + spent + left == earned
    assert await expired(shop, v) + 80 + 0 == 180


async def test_a_year_end_reset_expires_what_was_earned_up_to_12_31(shop: Shop, conn: Any) -> None:
    await set_expiry(shop, {"mode": "yearly", "reset_on": "12-31"}, since=LONG_AGO)
    v = await newcomer(shop, conn, "周宁")
    await earn(shop, v, 40, datetime(2025, 6, 1, 9, tzinfo=SHANGHAI))
    await earn(shop, v, 25, datetime(2025, 12, 31, 23, 30, tzinfo=SHANGHAI))  # half an hour before the reset
    await earn(shop, v, 10, datetime(2026, 1, 1, 0, 5, tzinfo=SHANGHAI))  # just after it: next year's
    assert await expire_at(shop, datetime(2025, 12, 31, 23, 59, 59, tzinfo=SHANGHAI), only=v) == []
    assert await expire_at(shop, datetime(2026, 1, 1, 0, 0, tzinfo=SHANGHAI), only=v) == [(v.member_id, 65)]
    assert await wallet(shop, v) == (10, 0)
    assert await expire_at(shop, datetime(2026, 12, 31, 12, tzinfo=SHANGHAI), only=v) == []
    assert await expire_at(shop, datetime(2027, 1, 1, tzinfo=SHANGHAI), only=v) == [(v.member_id, 10)]


async def test_held_points_are_not_expired_until_the_hold_lets_them_go(shop: Shop, conn: Any) -> None:
    await set_expiry(shop, {"mode": "months", "months": 6}, since=LONG_AGO)
    v = await newcomer(shop, conn, "郑阳")
    await earn(shop, v, 100, months_ago(8))
    wallet_id = await shop.owner.fetchval("SELECT wallet_account_id FROM points.members WHERE id = $1", v.member_id)
    sink = (await shop.client.post(f"{shop.url}/accounts", json={"code": "swap:escrow", "lower_bound": None})).json()
    body = {"account_id": wallet_id, "counter_account_id": sink["id"], "amount": 60, "timeout_s": 3600}
    hold = await shop.client.post(f"{shop.url}/holds", json=body, headers={"Idempotency-Key": key()})
    assert hold.status_code == 201, hold.text

    assert await expire_at(shop, datetime.now(UTC), only=v) == [(v.member_id, 40)]  # only what is available
    assert await wallet(shop, v) == (60, 60)
    voided = await shop.client.post(f"{shop.url}/holds/{hold.json()['id']}/void", headers={"Idempotency-Key": key()})
    assert voided.status_code == 200, voided.text
    assert await expire_at(shop, datetime.now(UTC), only=v) == [(v.member_id, 60)]  # let go: it was due all along
    assert await wallet(shop, v) == (0, 0)


async def test_a_posted_hold_spends_the_held_points_and_nothing_more_expires(shop: Shop, conn: Any) -> None:
    await set_expiry(shop, {"mode": "months", "months": 6}, since=LONG_AGO)
    v = await newcomer(shop, conn, "孙悦")
    await earn(shop, v, 100, months_ago(8))
    wallet_id = await shop.owner.fetchval("SELECT wallet_account_id FROM points.members WHERE id = $1", v.member_id)
    sink = (await shop.client.post(f"{shop.url}/accounts", json={"code": "swap:escrow", "lower_bound": None})).json()
    body = {"account_id": wallet_id, "counter_account_id": sink["id"], "amount": 60, "timeout_s": 3600}
    hold = (await shop.client.post(f"{shop.url}/holds", json=body, headers={"Idempotency-Key": key()})).json()
    assert await expire_at(shop, datetime.now(UTC), only=v) == [(v.member_id, 40)]
    posted = await shop.client.post(f"{shop.url}/holds/{hold['id']}/post", json={}, headers={"Idempotency-Key": key()})
    assert posted.status_code == 201, posted.text
    assert await expire_at(shop, datetime.now(UTC), only=v) == []
    assert (await wallet(shop, v), await expired(shop, v)) == ((0, 0), 40)


async def test_a_return_after_expiry_does_not_resurrect_expired_points(shop: Shop, conn: Any) -> None:
    await set_expiry(shop, {"mode": "months", "months": 6}, since=LONG_AGO)
    v = await newcomer(shop, conn, "何静")
    await earn(shop, v, 100, months_ago(8))
    r = await shop.redeem(v, [("杯子", 2)])  # 40
    assert r.status_code == 201, r.text
    number = r.json()["number"]
    assert await expire_at(shop, datetime.now(UTC), only=v) == [(v.member_id, 60)]
    assert await wallet(shop, v) == (0, 0)

    back = await shop.call(
        shop.clerk, "POST", f"/receipts/{number}/returns", headers={"Idempotency-Key": key()}, json={"reason": "坏了"}
    )
    assert back.status_code == 201, back.text
    assert await wallet(shop, v) == (40, 0)  # what was spent comes back, as new points that never expire
    assert await expire_at(shop, datetime.now(UTC), only=v) == []
    assert await expire_at(shop, datetime.now(UTC) + timedelta(days=3650), only=v) == []
    assert await expired(shop, v) == 60  # the expired 60 stay expired
    assert (await shop.call(v, "GET", "/me/expiries", params={"weeks": 52})).json()["upcoming"] == []


async def test_switching_expiry_on_counts_old_earnings_as_earned_now(shop: Shop, conn: Any) -> None:
    v = await newcomer(shop, conn, "钱芳")
    await earn(shop, v, 100, months_ago(30))
    setting = await set_expiry(shop, {"mode": "months", "months": 6})
    assert await expire_at(shop, datetime.now(UTC), only=v) == []  # nobody's old points vanish the minute it is on
    since = datetime.fromisoformat(setting["since"])
    assert await expire_at(shop, model.add_months(since.astimezone(SHANGHAI).replace(tzinfo=None), 6).replace(
        tzinfo=SHANGHAI) + timedelta(seconds=1), only=v) == [(v.member_id, 100)]  # fmt: skip
    # a change while on keeps since; off then on again starts it anew
    assert (await set_expiry(shop, {"mode": "months", "months": 12}))["since"] == setting["since"]
    await set_expiry(shop, {"mode": "off"})
    assert (await set_expiry(shop, {"mode": "months", "months": 12}))["since"] != setting["since"]


async def test_expiry_off_expires_nothing(shop: Shop, conn: Any) -> None:
    v = await newcomer(shop, conn, "吴迪")
    await earn(shop, v, 100, months_ago(30))
    assert await expire_at(shop, datetime.now(UTC) + timedelta(days=36500), only=v) == []
    await set_expiry(shop, {"mode": "months", "months": 1}, since=LONG_AGO)
    await set_expiry(shop, {"mode": "off"})
    assert await expire_at(shop, datetime.now(UTC) + timedelta(days=36500), only=v) == []
    assert (await shop.call(v, "GET", "/me/expiries")).json()["upcoming"] == []


async def test_the_job_run_twice_and_twice_at_once_posts_once(shop: Shop, conn: Any, engine: Any) -> None:
    await set_expiry(shop, {"mode": "months", "months": 6}, since=LONG_AGO)
    v = await newcomer(shop, conn, "冯雪")
    await earn(shop, v, 70, months_ago(9))
    first, second = await asyncio.gather(tasks.expire_points(engine), tasks.expire_points(engine))
    assert sorted([first, second])[0] == 0  # one of the two found nothing left (other communities may add)
    assert await tasks.expire_points(engine) == 0 or await expired(shop, v) == 70
    assert await expired(shop, v) == 70
    count = await shop.owner.fetchval("SELECT count(*) FROM points.expiries WHERE member_id = $1", v.member_id)
    assert count == 1


async def test_the_job_racing_a_redemption_never_expires_spent_points(shop: Shop, conn: Any, database_url: str) -> None:
    """The two in two transactions of their own, on one wallet whose 50 points are due. The job holding the
    wallet's lock first: the redemption waits, then finds the points gone (insufficient). The redemption first: the
    job waits, sees it, and expires only what is left. Never both, never below zero."""
    await set_expiry(shop, {"mode": "months", "months": 6}, since=LONG_AGO)
    a = await newcomer(shop, conn, "甲")
    await earn(shop, a, 50, months_ago(8))
    await shop.redeem(shop.volunteers[0], [("肥皂", 1)])  # opens the supermarket account
    supermarket = await shop.owner.fetchval(
        "SELECT id FROM ledger.accounts WHERE community_id = $1 AND code = 'supermarket'", shop.community_id
    )
    job, spender = [await asyncpg.connect(plain_url(database_url)) for _ in range(2)]
    try:
        for c in (job, spender):
            await c.execute("SELECT set_config('linli.community_id', $1, false)", str(shop.community_id))

        async def spend(who: Any, points: int) -> str:
            wallet_id = await spender.fetchval("SELECT wallet_account_id FROM points.members WHERE id = $1", who)
            ids = sorted([wallet_id, supermarket])
            try:
                await spender.fetch(
                    "SELECT * FROM ledger.post_entry($1, 'transfer', '', '{}', NULL, NULL, $2, $3, $4)",
                    shop.community_id, key(), ids, [-points if i == wallet_id else points for i in ids],
                )  # fmt: skip
            except asyncpg.PostgresError as exc:
                return str(exc.sqlstate)
            return "posted"

        # the job first
        t = job.transaction()
        await t.start()
        rows = await job.fetch("SELECT member_id, points FROM points.expire_points_at($1, now())", shop.community_id)
        assert (a.member_id, 50) in [(r["member_id"], r["points"]) for r in rows]
        waiting = asyncio.create_task(spend(a.member_id, 40))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # on the wallet's row lock
        await t.commit()
        assert await waiting == "LE001"  # insufficient: the points expired
        assert (await wallet(shop, a), await expired(shop, a)) == ((0, 0), 50)

        # the redemption first
        b = await newcomer(shop, conn, "乙")
        await earn(shop, b, 50, months_ago(8))
        t = spender.transaction()
        await t.start()
        assert await spend(b.member_id, 30) == "posted"
        running = asyncio.create_task(
            job.fetch("SELECT member_id, points FROM points.expire_points_at($1, now())", shop.community_id)
        )
        await asyncio.sleep(0.3)
        assert not running.done()
        await t.commit()
        assert [(r["member_id"], r["points"]) for r in await running] == [(b.member_id, 20)]
        assert (await wallet(shop, b), await expired(shop, b)) == ((0, 0), 20)
    finally:
        await job.close()
        await spender.close()


async def test_the_scheduled_job_expires_due_points_with_nobody_touching_anything(
    shop: Shop, conn: Any, engine: Any
) -> None:
    await set_expiry(shop, {"mode": "months", "months": 6}, since=LONG_AGO)
    v = await newcomer(shop, conn, "褚明")
    await earn(shop, v, 45, months_ago(7))

    async def gone() -> bool:
        return await expired(shop, v) == 45

    job = PeriodicJob("expire_points", 1, tasks.expire_points)  # every second, for the test
    async with Worker(engine, [job]):
        await eventually(gone, 15, "the points' expiry")
    assert await wallet(shop, v) == (0, 0)
