"""A community with a stocked supermarket, for the supermarket's tests: the operator as its admin, a clerk, and
volunteers with points in their wallets (each of a household of their own unless asked), each calling the API
with a token of their own (``as_``); goods: soap 15, a cup 20, a bag of rice 44 (one per household a month)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
from litestar.testing import AsyncTestClient

from tests.conftest import bearer_token
from tests.earning_world import Person, phone
from tests.test_api import API, create_community

Client = AsyncTestClient[Any]


def key() -> str:
    return f"k-{uuid.uuid4()}"


@dataclass
class Shop:
    client: Client
    owner: asyncpg.Connection
    slug: str
    community_id: int
    clerk: Person
    volunteers: list[Person]
    goods: dict[str, dict[str, Any]] = field(default_factory=dict)
    issuance: int = 0

    @property
    def url(self) -> str:
        return f"{API}/{self.slug}"

    async def call(self, who: Person | None, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {**kw.pop("headers", {}), **(who.headers if who else {})}
        return await self.client.request(method, f"{self.url}{path}", headers=headers, **kw)

    async def balance(self, person: Person) -> int:
        value: int = await self.owner.fetchval(
            "SELECT a.balance FROM points.members m JOIN ledger.accounts a ON a.id = m.wallet_account_id"
            " WHERE m.id = $1",
            person.member_id,
        )
        return value

    async def stock(self, name: str) -> int:
        value: int = await self.owner.fetchval("SELECT stock FROM points.goods WHERE id = $1", self.goods[name]["id"])
        return value

    async def supermarket(self) -> int:
        value: int = await self.owner.fetchval(
            "SELECT coalesce(sum(s.balance), 0) FROM ledger.accounts a JOIN ledger.account_stripes s"
            " ON s.account_id = a.id WHERE a.community_id = $1 AND a.code = 'supermarket'",
            self.community_id,
        )
        return value

    async def code(self, person: Person) -> str:
        r = await self.call(person, "POST", "/me/payment-code")
        assert r.status_code == 201, r.text
        code: str = r.json()["code"]
        return code

    async def redeem(
        self,
        person: Person | None,
        lines: list[tuple[str, int]],
        *,
        clerk: Person | None = None,
        idem: str = "",
        **extra: Any,
    ) -> httpx.Response:
        body: dict[str, Any] = {"lines": [{"good_id": self.goods[n]["id"], "quantity": q} for n, q in lines], **extra}
        if person is not None and "payment_code" not in extra and "card_number" not in extra:
            body["payment_code"] = await self.code(person)
        return await self.call(
            clerk or self.clerk, "POST", "/counter/redemptions", json=body, headers={"Idempotency-Key": idem or key()}
        )

    async def fund(self, person: Person, points: int) -> None:
        wallet = await self.owner.fetchval(
            "SELECT wallet_account_id FROM points.members WHERE id = $1", person.member_id
        )
        body = {
            "kind": "award",
            "postings": [{"account_id": self.issuance, "amount": -points}, {"account_id": wallet, "amount": points}],
        }
        r = await self.client.post(f"{self.url}/entries", json=body, headers={"Idempotency-Key": key()})
        assert r.status_code == 201, r.text

    async def add_good(self, name: str, price: int, stock: int, **extra: Any) -> dict[str, Any]:
        r = await self.client.post(f"{self.url}/goods", json={"name": name, "price": price, **extra})
        assert r.status_code == 201, r.text
        good: dict[str, Any] = r.json()
        if stock:
            r = await self.client.post(
                f"{self.url}/goods/{good['id']}/movements",
                json={"kind": "restock", "quantity": stock, "reason": "捐赠"},
            )
            assert r.status_code == 201, r.text
            good["stock"] = stock
        self.goods[name] = good
        return good


async def person(
    client: Client,
    owner: asyncpg.Connection,
    conn: Any,
    slug: str,
    name: str,
    household: str | None,
    roles: list[str],
    *,
    signs_in: bool = True,
) -> Person:
    body: dict[str, Any] = {"display_name": name, "roles": roles}
    if household:
        body["household"] = household
    if signs_in:
        body |= {"phone": phone(), "password": "shop-pass-1"}
    r = await client.post(f"{API}/{slug}/members", json=body)
    assert r.status_code == 201, r.text
    member = r.json()
    if not signs_in:
        return Person(member["id"], "", name)
    person_id = await owner.fetchval("SELECT person_id FROM points.members WHERE id = $1", member["id"])
    return Person(member["id"], await bearer_token(conn, person_id), name)


async def make_shop(
    client: Client, owner: asyncpg.Connection, conn: Any, *, volunteers: int = 3, points: int = 200
) -> Shop:
    slug = await create_community(client)
    community_id = await owner.fetchval("SELECT id FROM ledger.communities WHERE slug = $1", slug)
    clerk = await person(client, owner, conn, slug, "陈店员", "1-101", ["clerk", "volunteer"])
    people = [
        await person(client, owner, conn, slug, f"居民{n}", f"5-{n:03d}", ["volunteer"]) for n in range(volunteers)
    ]
    shop = Shop(client, owner, slug, community_id, clerk, people)
    r = await client.post(
        f"{shop.url}/accounts", json={"code": "issuance", "normal_side": "debit", "lower_bound": None}
    )
    assert r.status_code == 201, r.text
    shop.issuance = r.json()["id"]
    for p in people:
        await shop.fund(p, points)
    await shop.add_good("肥皂", 15, 50, category="日用品", barcode="6901234567892")
    await shop.add_good("杯子", 20, 30, category="日用品")
    await shop.add_good("大米", 44, 3, category="粮油", unit="袋", limit_per_household=1, limit_period="month")
    return shop
