"""Points expiry against PostgreSQL, by hypothesis: random histories of earnings (dated on a moving clock),
supermarket baskets, held points and job runs at chosen moments. After every step, for the member: expired + spent
+ balance == earned; nothing expired that was spent or held (the job never takes more than balance − held); and
PostgreSQL's lots (points.expiry_lots) are exactly the rule's model (points/expiry/model.py) on the same
credits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tests.hypothesis_profiles  # noqa: F401  (the suite's profiles)
from points.expiry import model
from tests.expiry_world import earn, expire_at, expired, newcomer, set_expiry, wallet
from tests.supermarket_world import Shop, make_shop

pytestmark = pytest.mark.slow
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)
CUP = 20  # the shop's 杯子

STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("earn"), st.integers(1, 60)),
        st.tuples(st.just("buy"), st.integers(1, 2)),  # cups
        st.tuples(st.just("hold"), st.integers(1, 40)),
        st.tuples(st.just("release"), st.just(0)),
        st.tuples(st.just("wait"), st.integers(1, 120)),  # days
        st.tuples(st.just("job"), st.just(0)),
    ),
    min_size=1,
    max_size=14,
)


@pytest.fixture
async def shop(client: Any, owner_conn: asyncpg.Connection, conn: Any) -> Shop:
    s = await make_shop(client, owner_conn, conn, volunteers=1)
    cup = s.goods["杯子"]["id"]
    r = await s.call(s.clerk, "POST", f"/goods/{cup}/movements", json={"kind": "restock", "quantity": 5000,
                                                                        "reason": "捐赠"})  # fmt: skip
    assert r.status_code == 201, r.text
    return s


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
async def test_fifo_expiry_in_postgresql_never_takes_what_was_spent_or_held(
    shop: Shop, conn: Any, steps: list[tuple[str, int]]
) -> None:
    await set_expiry(shop, {"mode": "months", "months": 3}, since=LONG_AGO)
    v = await newcomer(shop, conn, "林晓")
    wallet_id = await shop.owner.fetchval("SELECT wallet_account_id FROM points.members WHERE id = $1", v.member_id)
    rule = model.Rule("months", 3, since=LONG_AGO)
    clock = datetime.now(UTC) - timedelta(days=720)  # earnings are dated on this clock; the job runs on it
    credits: list[model.Credit] = []
    earned = spent = 0
    holds: list[int] = []
    for step, n in steps:
        balance, held = await wallet(shop, v)
        if step == "earn":
            await earn(shop, v, n, clock)
            credits.append(model.Credit(clock, n, earning=True))
            earned += n
        elif step == "buy" and balance - held >= n * CUP:
            r = await shop.redeem(v, [("杯子", n)])
            assert r.status_code == 201, r.text
            spent += n * CUP
        elif step == "hold" and balance - held >= n:
            r = await shop.client.post(
                f"{shop.url}/holds",
                json={"account_id": wallet_id, "counter_account_id": shop.issuance, "amount": n, "kind": "transfer",
                      "timeout_s": 3600},
                headers={"Idempotency-Key": f"h-{uuid.uuid4()}"},  # each hold its own (a hold released, then another)
            )  # fmt: skip
            assert r.status_code == 201, r.text
            holds.append(r.json()["id"])
        elif step == "release" and holds:
            r = await shop.client.post(f"{shop.url}/holds/{holds.pop()}/void")
            assert r.status_code == 200, r.text
        elif step == "wait":
            clock = min(clock + timedelta(days=n), datetime.now(UTC))
        elif step == "job":
            before_balance, before_held = balance, held
            taken = sum(p for _, p in await expire_at(shop, clock, only=v))
            assert taken <= before_balance - before_held  # never what is held
        balance, held = await wallet(shop, v)
        gone = await expired(shop, v)
        assert gone + spent + balance == earned
        assert balance >= held >= 0
        found = await shop.owner.fetch("SELECT amount, left_points FROM points.expiry_lots($1)", wallet_id)
        assert [(r["amount"], r["left_points"]) for r in found] == [
            (lot.amount, lot.left) for lot in model.lots(credits, balance, rule)
        ]
    for hold_id in holds:  # leave nothing reserved for the next example's member (a wallet of its own anyway)
        await shop.client.post(f"{shop.url}/holds/{hold_id}/void")
