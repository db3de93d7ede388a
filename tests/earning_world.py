"""A community to earn points in, for the earning tests: the operator as its admin, two organizers of different
households, volunteers, a budget for this month, and the default activity types. Each person calls the API with
a token of their own (``as_``)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from litestar.testing import AsyncTestClient

from points.earning.periods import community_day
from tests.conftest import bearer_token
from tests.test_api import API, create_community

Client = AsyncTestClient[Any]


def phone() -> str:
    return "17" + "".join(secrets.choice("0123456789") for _ in range(9))


@dataclass
class Person:
    member_id: int
    token: str
    name: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class World:
    client: Client
    owner: asyncpg.Connection
    slug: str
    community_id: int
    organizer: Person
    checker: Person  # a second organizer, of another household
    volunteers: list[Person]
    types: dict[str, dict[str, Any]] = field(default_factory=dict)

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

    async def minutes(self, person: Person) -> int:
        value: int = await self.owner.fetchval(
            "SELECT balance FROM ledger.accounts WHERE community_id = $1 AND code = $2",
            self.community_id,
            f"hours:{person.member_id}",
        )
        return value

    async def budget_left(self) -> int:
        value: int = await self.owner.fetchval(
            "SELECT a.balance FROM points.budgets b JOIN ledger.accounts a ON a.id = b.account_id"
            " WHERE b.community_id = $1 AND b.starts_on <= $2 AND $2 < b.ends_on",
            self.community_id,
            community_day(datetime.now(UTC)),
        )
        return value

    async def entries(self) -> int:
        value: int = await self.owner.fetchval(
            "SELECT count(*) FROM ledger.entries WHERE community_id = $1 AND kind = 'award'", self.community_id
        )
        return value

    async def activity(self, *, attendees: list[Person], type_code: str = "patrol", **extra: Any) -> int:
        """An activity that took place an hour ago, with these members' attendance confirmed (written as the
        owner: the check-in API is tested in tests/test_attendance.py)."""
        body = {
            "type_id": self.types[type_code]["id"],
            "title": extra.pop("title", "治安巡逻 夜巡"),
            "starts_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
            "ends_at": (datetime.now(UTC) + timedelta(days=1, hours=2)).isoformat(),
            "open": True,
            **extra,
        }
        r = await self.call(self.organizer, "POST", "/activities", json=body)
        assert r.status_code == 201, r.text
        activity_id: int = r.json()["id"]
        await confirm_attendance(self.owner, activity_id, [(p.member_id, 120) for p in attendees])
        return activity_id


async def confirm_attendance(owner: asyncpg.Connection, activity_id: int, rows: list[tuple[int, int]]) -> None:
    """Move the activity into the past, mark these members present by hand, and confirm the list."""
    async with owner.transaction():
        await owner.execute(
            "UPDATE points.activities SET starts_at = now() - interval '3 hours', ends_at = now() - interval '1 hour'"
            " WHERE id = $1",
            activity_id,
        )
        organizer = await owner.fetchval("SELECT organizer_member_id FROM points.activities WHERE id = $1", activity_id)
        for member_id, minutes in rows:
            await owner.execute(
                "INSERT INTO points.attendance (community_id, activity_id, member_id, checked_in_at, checked_out_at,"
                " method, recorded_by_member_id, note, confirmed, minutes)"
                " SELECT community_id, id, $2, starts_at, starts_at + make_interval(mins => $3), 'manual', $4,"
                " '到场', true, $3 FROM points.activities WHERE id = $1",
                activity_id,
                member_id,
                minutes,
                organizer,
            )
        await owner.execute(
            "UPDATE points.activities SET state = 'closed', attendance_confirmed_at = now(),"
            " confirmed_by_member_id = $2 WHERE id = $1",
            activity_id,
            organizer,
        )


async def _person(
    client: Client, owner: asyncpg.Connection, conn: Any, slug: str, name: str, household: str, roles: list[str]
) -> Person:
    number, password = phone(), "earning-pass-1"
    r = await client.post(
        f"{API}/{slug}/members",
        json={"display_name": name, "phone": number, "password": password, "household": household, "roles": roles},
    )
    assert r.status_code == 201, r.text
    member = r.json()
    person_id = await owner.fetchval("SELECT person_id FROM points.members WHERE id = $1", member["id"])
    return Person(member["id"], await bearer_token(conn, person_id), name)


async def make_world(
    client: Client, owner: asyncpg.Connection, conn: Any, *, volunteers: int = 4, budget: int = 1000
) -> World:
    slug = await create_community(client)
    community_id = await owner.fetchval("SELECT id FROM ledger.communities WHERE slug = $1", slug)
    organizer = await _person(client, owner, conn, slug, "李建国", "2-302", ["organizer", "volunteer"])
    checker = await _person(client, owner, conn, slug, "周敏", "7-101", ["organizer", "volunteer"])
    people = [
        await _person(client, owner, conn, slug, f"志愿者{n}", f"9-{n:03d}", ["volunteer"]) for n in range(volunteers)
    ]
    world = World(client, owner, slug, community_id, organizer, checker, people)
    r = await client.get(f"{world.url}/activity-types")
    assert r.status_code == 200, r.text
    world.types = {t["code"]: t for t in r.json()}
    if budget:
        period = community_day(datetime.now(UTC)).isoformat()[:7]
        r = await client.post(
            f"{world.url}/budgets", json={"period": period, "points": budget}, headers={"Idempotency-Key": phone()}
        )
        assert r.status_code == 201, r.text
    return world
