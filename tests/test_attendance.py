"""Attendance: rotating check-in codes, check-in and check-out by them, 代办, marks by hand, the confirmed list.

The code function is pure and takes ``now`` (hypothesis properties below). The HTTP stories use activities whose
window includes the real now: they are written as the owner (open, with their sign-ups while the start is ahead)
and moved in time as the owner while still open, which the activities' trigger allows. Check-ins themselves go
through the API, whose trigger holds the window with PostgreSQL's own clock.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from points import db
from points.auth.access import Access, enter_community
from points.earning import attendance, checkin
from points.earning.errors import ActivityFull, AlreadyCheckedIn
from points.earning.web_attendance import qr_svg
from tests.conftest import bearer_token
from tests.test_api import API, assert_problem, create_community

# Every refused request (4xx) in this module is checked to have changed no row anywhere (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("no_change_on_4xx")

Client = AsyncTestClient[Any]
MINUTE = timedelta(minutes=1)


# ---- the code, pure -----------------------------------------------------------------------------------------

secrets_st = st.binary(min_size=32, max_size=32)
# Any moment from 2001 to 2099, to the microsecond.
moments = st.integers(min_value=978_307_200_000_000, max_value=4_102_444_799_000_000).map(
    lambda us: datetime.fromtimestamp(us / 1_000_000, UTC)
)


def _into_step_s(now: datetime) -> float:
    return now.timestamp() - checkin.step_of(now) * checkin.STEP_S


@given(secrets_st, moments)
def test_the_current_code_is_taken(secret: bytes, now: datetime) -> None:
    shown = checkin.current_code(secret, now)
    assert len(shown.code) == 6
    assert shown.code.isdigit()
    assert checkin.check_code(secret, shown.code, now) is None
    assert 1 <= shown.seconds_left <= checkin.STEP_S
    assert shown.step_ends_at > now >= shown.step_ends_at - timedelta(seconds=checkin.STEP_S)
    # the code on the screen is taken until its step ends, and for the grace after it
    assert checkin.check_code(secret, shown.code, shown.step_ends_at - timedelta(microseconds=1)) is None
    assert checkin.check_code(secret, shown.code, shown.step_ends_at + timedelta(seconds=9.99)) is None


@given(secrets_st, moments)
def test_the_previous_code_is_taken_only_within_the_grace(secret: bytes, now: datetime) -> None:
    step = checkin.step_of(now)
    previous = checkin.code_at(secret, step - 1)
    assume(previous != checkin.code_at(secret, step))  # one in a million: the two steps share a code
    verdict = checkin.check_code(secret, previous, now)
    if _into_step_s(now) < checkin.GRACE_S:
        assert verdict is None
    else:
        assert verdict == "expired"


@given(secrets_st, moments, st.integers(min_value=2, max_value=10))
def test_older_codes_are_expired_for_five_minutes_then_wrong(secret: bytes, now: datetime, back: int) -> None:
    step = checkin.step_of(now)
    old = checkin.code_at(secret, step - back)
    assume(all(old != checkin.code_at(secret, step - k) for k in (0, 1)))
    assert checkin.check_code(secret, old, now) == "expired"
    much_older = checkin.code_at(secret, step - 11 - back)
    assume(all(much_older != checkin.code_at(secret, step - k) for k in range(11)))
    assert checkin.check_code(secret, much_older, now) == "wrong"


@given(secrets_st, moments, st.integers(min_value=1, max_value=1000))
def test_no_code_from_a_later_step_is_taken(secret: bytes, now: datetime, ahead: int) -> None:
    step = checkin.step_of(now)
    future = checkin.code_at(secret, step + ahead)
    assume(all(future != checkin.code_at(secret, step - k) for k in range(11)))
    assert checkin.check_code(secret, future, now) == "wrong"


@given(secrets_st, secrets_st, moments)
def test_another_activitys_code_is_wrong(secret: bytes, other: bytes, now: datetime) -> None:
    theirs = checkin.current_code(other, now).code
    step = checkin.step_of(now)
    assume(all(theirs != checkin.code_at(secret, step - k) for k in range(11)))
    assert checkin.check_code(secret, theirs, now) == "wrong"


@given(secrets_st, moments, st.text(max_size=12))
def test_whatever_is_typed_is_taken_only_if_it_is_a_recent_code(secret: bytes, now: datetime, typed: str) -> None:
    step = checkin.step_of(now)
    verdict = checkin.check_code(secret, typed, now)
    taken = {checkin.code_at(secret, step)} | (
        {checkin.code_at(secret, step - 1)} if _into_step_s(now) < checkin.GRACE_S else set()
    )
    recent = {checkin.code_at(secret, step - k) for k in range(11)}
    assert (verdict is None) == (typed in taken)
    assert (verdict == "expired") == (typed in recent - taken)


def test_the_rfc_6238_truncation_with_sha256() -> None:
    """RFC 6238's SHA-256 test vector (its 32-byte seed), read to six digits: 119246 at T=59 (step 1)."""
    seed = b"12345678901234567890123456789012"
    assert checkin.code_at(seed, 1) == "119246"
    assert checkin.code_at(seed, 1111111109 // 30) == "084774"


def test_served_minutes_stay_within_the_schedule() -> None:
    start = datetime(2026, 12, 5, 19, 0, tzinfo=UTC)
    end = start + timedelta(hours=2)
    served = attendance.served_minutes
    assert served(start - 20 * MINUTE, start + 90 * MINUTE, start, end, end) == 90  # early arrival counts from 19:00
    assert served(start + 10 * MINUTE, end + 40 * MINUTE, start, end, end) == 110  # late departure up to 21:00
    assert served(start + 10 * MINUTE, None, start, end, end) == 110  # no check-out: up to the scheduled end
    assert served(start + 10 * MINUTE, None, start, end, end + timedelta(hours=20)) == 110  # never 20 hours
    assert served(start + 10 * MINUTE, None, start, end, start + 40 * MINUTE) == 30  # so far, during it
    assert served(end + MINUTE, None, start, end, end) == 0  # marked after the end: nothing served


# ---- a community with people and activities --------------------------------------------------------------------


@dataclass
class Person:
    member_id: int
    person_id: int | None
    name: str
    headers: dict[str, str]


@dataclass
class Place:
    client: Client
    owner: asyncpg.Connection
    slug: str
    community_id: int
    organizer: Person

    @property
    def base(self) -> str:
        return f"{API}/{self.slug}"

    async def member(
        self, conn: Any, name: str, *, household: str | None = None, phone: bool = True, roles: list[str] | None = None
    ) -> Person:
        body: dict[str, Any] = {"display_name": name, "roles": roles or ["volunteer"]}
        if household:
            body["household"] = household
        if phone:
            body |= {"phone": "135" + str(uuid.uuid4().int)[:8], "password": "attend-pass-1"}
        r = await self.client.post(f"{self.base}/members", json=body)
        assert r.status_code == 201, r.text
        member_id = r.json()["id"]
        person_id = await self.owner.fetchval("SELECT person_id FROM points.members WHERE id = $1", member_id)
        headers = {"Authorization": f"Bearer {await bearer_token(conn, person_id)}"} if phone else {}
        return Person(member_id, person_id, name, headers)

    async def activity(
        self,
        *,
        starts_in: timedelta,
        lasts: timedelta = timedelta(hours=2),
        capacity: int | None = None,
        per_hour: bool = False,
        state: str = "open",
        signups: list[Person] = (),  # type: ignore[assignment]
    ) -> int:
        """An activity written as the owner, with its sign-ups while its start is ahead; ``starts_in`` may be
        negative: the start is then moved there after the sign-ups (an open activity's schedule may move)."""
        type_id = await self.owner.fetchval(
            "INSERT INTO points.activity_types (community_id, code, name, default_points, points_per_hour)"
            " VALUES ($1, 'patrol_t', '治安巡逻', 5, 2) ON CONFLICT (community_id, code) DO UPDATE SET active = true"
            " RETURNING id",
            self.community_id,
        )
        ahead = datetime.now(UTC) + timedelta(hours=1)
        activity_id: int = await self.owner.fetchval(
            "INSERT INTO points.activities (community_id, type_id, title, starts_at, ends_at, capacity, reward_points,"
            " per_hour, organizer_member_id, state, checkin_secret) VALUES ($1, $2, '治安巡逻 夜巡', $3, $4, $5, 5, $6,"
            " $7, $8, $9) RETURNING id",
            self.community_id,
            type_id,
            ahead,
            ahead + lasts,
            capacity,
            per_hour,
            self.organizer.member_id,
            state,
            secrets.token_bytes(32),
        )
        for p in signups:
            await self.owner.execute(
                "INSERT INTO points.signups (community_id, activity_id, member_id, status) VALUES ($1, $2, $3,"
                " 'registered')",
                self.community_id,
                activity_id,
                p.member_id,
            )
        await self.move(activity_id, starts_in=starts_in, lasts=lasts)
        return activity_id

    async def move(self, activity_id: int, *, starts_in: timedelta, lasts: timedelta) -> None:
        starts_at = datetime.now(UTC) + starts_in
        await self.owner.execute(
            "UPDATE points.activities SET starts_at = $2, ends_at = $3 WHERE id = $1",
            activity_id,
            starts_at,
            starts_at + lasts,
        )

    async def secret(self, activity_id: int) -> bytes:
        value: bytes = await self.owner.fetchval(
            "SELECT checkin_secret FROM points.activities WHERE id = $1", activity_id
        )
        return value

    async def code(self, activity_id: int) -> str:
        """The code on the organizer's screen now."""
        r = await self.client.get(f"{self.base}/activities/{activity_id}/checkin-code", headers=self.organizer.headers)
        assert r.status_code == 200, r.text
        code: str = r.json()["code"]
        return code

    async def check_in(self, who: Person, activity_id: int, code: str, **body: Any) -> httpx.Response:
        return await self.client.post(
            f"{self.base}/activities/{activity_id}/checkin", json={"code": code, **body}, headers=who.headers
        )

    async def check_out(self, who: Person, activity_id: int, code: str, **body: Any) -> httpx.Response:
        return await self.client.post(
            f"{self.base}/activities/{activity_id}/checkout", json={"code": code, **body}, headers=who.headers
        )

    async def listing(self, activity_id: int) -> dict[str, Any]:
        r = await self.client.get(f"{self.base}/activities/{activity_id}/attendance", headers=self.organizer.headers)
        assert r.status_code == 200, r.text
        found: dict[str, Any] = r.json()
        return found

    async def confirm(self, activity_id: int, member_ids: list[int]) -> httpx.Response:
        return await self.client.post(
            f"{self.base}/activities/{activity_id}/attendance/confirm",
            json={"member_ids": member_ids},
            headers=self.organizer.headers,
        )

    async def mark(self, activity_id: int, body: dict[str, Any]) -> httpx.Response:
        return await self.client.post(
            f"{self.base}/activities/{activity_id}/attendance", json=body, headers=self.organizer.headers
        )


@pytest.fixture
async def place(client: Client, owner_conn: asyncpg.Connection, conn: Any) -> Place:
    slug = await create_community(client)
    community_id = await owner_conn.fetchval("SELECT id FROM ledger.communities WHERE slug = $1", slug)
    p = Place(client, owner_conn, slug, community_id, Person(0, None, "", {}))
    p.organizer = await p.member(conn, "李建国", household="2-302", roles=["organizer", "volunteer"])
    return p


def by_name(listing: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["member_name"]: row for row in listing["rows"]}


# ---- stories ----------------------------------------------------------------------------------------------------


async def test_a_patrol_of_twelve_ten_come_two_forget_to_check_out(place: Place, conn: Any) -> None:
    volunteers = [await place.member(conn, f"巡逻队员{n:02d}", household=f"9-{n:03d}") for n in range(12)]
    # a four-hour patrol that began three hours ago, per hour: a missing check-out shows at once
    patrol = await place.activity(
        starts_in=-3 * timedelta(hours=1), lasts=timedelta(hours=4), capacity=12, per_hour=True, signups=volunteers
    )
    before = await place.listing(patrol)
    assert [r["present"] for r in before["rows"]] == [False] * 12  # everyone signed up, nobody here yet

    came, absent = volunteers[:10], volunteers[10:]
    for v in came:
        r = await place.check_in(v, patrol, await place.code(patrol))
        assert r.status_code == 201, r.text
        assert r.json()["method"] == "code"
        assert r.json()["recorded_by_member_id"] == v.member_id
    left, forgot = came[:8], came[8:]
    for v in left:
        r = await place.check_out(v, patrol, await place.code(patrol))
        assert r.status_code == 200, r.text
        assert r.json()["checked_out_at"] is not None

    # one more, found on the organizer's paper list: marked by hand, there since before the start
    late = await place.member(conn, "王大爷", household="1-101", phone=False)
    starts_at = datetime.fromisoformat(before["starts_at"])
    r = await place.mark(
        patrol,
        {"member_id": late.member_id, "note": "纸质签到表", "checked_in_at": (starts_at - 20 * MINUTE).isoformat()},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["method"], r.json()["recorded_by_name"]) == ("manual", "李建国")

    during = by_name(await place.listing(patrol))
    assert {n for n, row in during.items() if row["present"]} == {v.name for v in came} | {"王大爷"}
    assert {n for n, row in during.items() if not row["present"]} == {v.name for v in absent}
    assert all(during[v.name]["signup"] == "registered" for v in absent)
    assert {n for n, row in during.items() if row["checkout_missing"]} == {v.name for v in forgot} | {"王大爷"}
    assert during["王大爷"]["served_minutes"] == 180  # from the start, not 20 minutes before it

    # the organizer confirms the ten who came and the one marked; the absent two are not on it
    confirmed = await place.confirm(patrol, [v.member_id for v in came] + [late.member_id])
    assert confirmed.status_code == 200, confirmed.text
    after = confirmed.json()
    assert after["state"] == "closed"
    assert after["confirmed_by_member_id"] == place.organizer.member_id
    assert after["attendance_confirmed_at"] is not None
    rows = by_name(after)
    for v in forgot:  # counted up to the scheduled end (an hour from now), flagged; never the hours since
        assert rows[v.name]["confirmed"] is True
        assert rows[v.name]["checkout_missing"] is True
        assert 59 <= rows[v.name]["minutes"] <= 60
    for v in left:  # checked in and out just now: a few seconds served
        assert (rows[v.name]["confirmed"], rows[v.name]["checkout_missing"], rows[v.name]["minutes"]) == (
            True,
            False,
            0,
        )
    assert (rows["王大爷"]["minutes"], rows["王大爷"]["checkout_missing"]) == (240, True)  # the whole window, capped
    for v in absent:
        assert (rows[v.name]["present"], rows[v.name]["confirmed"], rows[v.name]["minutes"]) == (False, False, None)
    stored = await place.owner.fetch(
        "SELECT member_id, confirmed, minutes, checkout_missing FROM points.attendance WHERE activity_id = $1",
        patrol,
    )
    assert len(stored) == 11
    assert all(r["confirmed"] for r in stored)

    # the list no longer changes, by the API or underneath it
    late_one = await place.check_in(absent[0], patrol, "000000")
    assert late_one.status_code == 409, late_one.text
    assert late_one.json()["code"] == "attendance_confirmed"
    with pytest.raises(asyncpg.PostgresError) as refused:
        await place.owner.execute(
            "UPDATE points.attendance SET minutes = 1440 WHERE activity_id = $1 AND member_id = $2",
            patrol,
            forgot[0].member_id,
        )
    assert refused.value.sqlstate == "LP007"


async def test_a_confirmed_list_is_a_subset_and_never_pays_the_night_after(place: Place, conn: Any) -> None:
    """Confirmed the next morning: an activity that ended 20 hours ago, one attendee who never checked out and
    one the organizer leaves off. The forgotten check-out counts to the scheduled end, not to the morning."""
    a, b = await place.member(conn, "甲", household="3-1"), await place.member(conn, "乙", household="3-2")
    night = await place.activity(starts_in=-22 * timedelta(hours=1), lasts=timedelta(hours=2))
    for p in (a, b):  # written as they were that evening (a code check-in then was in its window)
        await place.owner.execute(
            "INSERT INTO points.attendance (community_id, activity_id, member_id, checked_in_at, method,"
            " recorded_by_member_id, note) SELECT community_id, id, $2, starts_at - interval '10 minutes', 'manual',"
            " $3, '补录' FROM points.activities WHERE id = $1",
            night,
            p.member_id,
            place.organizer.member_id,
        )
    listed = by_name(await place.listing(night))
    assert listed["甲"]["checkout_missing"] is True  # ended: every missing check-out is flagged
    assert listed["甲"]["served_minutes"] == 120
    r = await place.confirm(night, [a.member_id])
    assert r.status_code == 200, r.text
    rows = by_name(r.json())
    assert (rows["甲"]["confirmed"], rows["甲"]["minutes"], rows["甲"]["checkout_missing"]) == (True, 120, True)
    assert (rows["乙"]["confirmed"], rows["乙"]["minutes"]) == (False, None)


async def test_proxy_check_in_of_a_phoneless_household_member_is_by_x_for_y(place: Place, conn: Any) -> None:
    x = await place.member(conn, "刘志强", household="5-102")
    y = await place.member(conn, "刘奶奶", household="5-102", phone=False)
    patrol = await place.activity(starts_in=-5 * MINUTE)
    r = await place.check_in(x, patrol, await place.code(patrol), for_member_id=y.member_id)
    assert r.status_code == 201, r.text
    row = r.json()
    assert (row["member_id"], row["method"], row["recorded_by_member_id"], row["recorded_by_name"]) == (
        y.member_id,
        "proxy",
        x.member_id,
        "刘志强",
    )
    assert row["signup"] is None  # a walk-in: no sign-up after the start, the attendance row is the place
    own = await place.check_in(x, patrol, await place.code(patrol))  # and X checks in for themselves too
    assert own.status_code == 201, own.text
    listed = by_name(await place.listing(patrol))
    assert (listed["刘奶奶"]["method"], listed["刘奶奶"]["recorded_by_name"]) == ("proxy", "刘志强")
    assert (listed["刘志强"]["method"], listed["刘志强"]["recorded_by_name"]) == ("code", "刘志强")


async def test_proxy_check_out_of_a_phoneless_household_member(place: Place, conn: Any) -> None:
    x = await place.member(conn, "刘志强", household="5-103")
    y = await place.member(conn, "刘爷爷", household="5-103", phone=False)
    neighbour = await place.member(conn, "隔壁张阿姨", household="5-104")
    patrol = await place.activity(starts_in=-5 * MINUTE)
    r = await place.check_in(x, patrol, await place.code(patrol), for_member_id=y.member_id)
    assert r.status_code == 201, r.text
    r = await place.check_out(neighbour, patrol, await place.code(patrol), for_member_id=y.member_id)
    await assert_problem(place.client, r, 403, "forbidden")  # not of the neighbour's household
    r = await place.check_out(x, patrol, await place.code(patrol), for_member_id=y.member_id)
    assert r.status_code == 200, r.text
    assert (r.json()["member_id"], r.json()["method"], r.json()["checked_out_at"] is not None) == (
        y.member_id, "proxy", True,
    )  # fmt: skip
    listed = by_name(await place.listing(patrol))
    assert listed["刘爷爷"]["checked_out_at"] is not None
    assert "刘志强" not in listed or listed["刘志强"]["checked_out_at"] is None  # X's own row is untouched
    r = await place.check_out(x, patrol, await place.code(patrol), for_member_id=y.member_id)
    await assert_problem(place.client, r, 409, "already_checked_out")


async def test_a_walk_in_before_the_start_is_registered_and_a_full_activity_refuses(place: Place, conn: Any) -> None:
    a, b, c = [await place.member(conn, n, household=f"6-{i}") for i, n in enumerate("甲乙丙")]
    early = await place.activity(starts_in=20 * MINUTE, capacity=2, signups=[a])
    r = await place.check_in(b, early, await place.code(early))  # a walk-in, ten minutes into the check-in window
    assert r.status_code == 201, r.text
    assert r.json()["signup"] == "registered"
    full = await place.check_in(c, early, await place.code(early))
    await assert_problem(place.client, full, 409, "activity_full")
    r = await place.check_in(a, early, await place.code(early))  # a registered member always has their place
    assert r.status_code == 201, r.text


async def test_the_qr_is_the_check_in_link_and_is_never_cached(place: Place) -> None:
    patrol = await place.activity(starts_in=-MINUTE)
    for _ in range(3):  # the code may rotate between the two calls; then again
        code = await place.client.get(f"{place.base}/activities/{patrol}/checkin-code", headers=place.organizer.headers)
        qr = await place.client.get(
            f"{place.base}/activities/{patrol}/checkin-code.svg", headers=place.organizer.headers
        )
        assert code.status_code == 200, code.text
        assert qr.status_code == 200, qr.text
        shown = code.json()
        if qr.content == qr_svg(shown["checkin_url"]):
            break
    else:
        pytest.fail("the QR never showed the link of the code")
    assert shown["checkin_url"] == f"/c/{place.slug}/activities/{patrol}/checkin?code={shown['code']}"
    assert 1 <= shown["seconds_left"] <= 30
    assert qr.headers["content-type"].startswith("image/svg+xml")
    assert qr.content.lstrip().startswith(b"<svg")
    for response in (code, qr):
        assert "no-store" in response.headers["cache-control"]


async def test_the_organizer_corrects_a_check_out_before_confirming(place: Place, conn: Any) -> None:
    v = await place.member(conn, "陈静", household="8-1")
    patrol = await place.activity(starts_in=-90 * MINUTE, lasts=timedelta(hours=3))
    assert (await place.check_in(v, patrol, await place.code(patrol))).status_code == 201
    came = datetime.fromisoformat(by_name(await place.listing(patrol))["陈静"]["checked_in_at"])
    out = came + 45 * MINUTE
    r = await place.mark(
        patrol, {"member_id": v.member_id, "note": "忘记签退，45分钟后离开", "checked_out_at": out.isoformat()}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["method"], r.json()["served_minutes"]) == ("code", 45)  # still their own check-in
    assert datetime.fromisoformat(r.json()["checked_out_at"]) == out
    rewrite = await place.mark(
        patrol,
        {
            "member_id": v.member_id,
            "note": "改签到",
            "checked_in_at": (came - MINUTE).isoformat(),
            "checked_out_at": out.isoformat(),
        },
    )
    problem = await assert_problem(place.client, rewrite, 400, "invalid_request")
    assert problem["errors"][0]["key"] == "checked_in_at"
    audited = await place.owner.fetchval(
        "SELECT count(*) FROM points.audit_log WHERE community_id = $1 AND action = 'attendance.checkout_corrected'",
        place.community_id,
    )
    assert audited == 1


# ---- refusals -----------------------------------------------------------------------------------------------


async def test_check_in_refusals(place: Place, conn: Any) -> None:
    v = await place.member(conn, "赵敏", household="4-1")
    patrol = await place.activity(starts_in=-10 * MINUTE)
    secret = await place.secret(patrol)
    code = await place.code(patrol)

    # a forged code, and another activity's current one (unless, once in a million, they agree)
    other = await place.activity(starts_in=-10 * MINUTE)
    for typed in ("000000", "123456", await place.code(other)):
        if checkin.check_code(secret, typed, datetime.now(UTC)) is not None:
            r = await place.check_in(v, patrol, typed)
            problem = await assert_problem(place.client, r, 422, "checkin_code_refused")
            assert problem["reason"] == "wrong"

    # a code that rotated away more than the grace ago: expired (a photo sent on by video)
    now = datetime.now(UTC)
    into = now.timestamp() % checkin.STEP_S
    back = 1 if checkin.GRACE_S + 1 <= into <= checkin.STEP_S - 2 else 2
    old = checkin.code_at(secret, checkin.step_of(now) - back)
    if checkin.check_code(secret, old, now) == "expired":
        problem = await assert_problem(place.client, await place.check_in(v, patrol, old), 422, "checkin_code_refused")
        assert problem["reason"] == "expired"

    # malformed codes never reach the service
    for bad in ("12345", "1234567", "12a456", ""):
        await assert_problem(place.client, await place.check_in(v, patrol, bad), 400, "invalid_request")

    # once, not twice
    code = await place.code(patrol)
    assert (await place.check_in(v, patrol, code)).status_code == 201
    await assert_problem(place.client, await place.check_in(v, patrol, code), 409, "already_checked_in")

    # before the window (the start is an hour away), after the end, an activity not open, none at all
    ahead = await place.activity(starts_in=timedelta(hours=1))
    r = await place.check_in(v, ahead, checkin.current_code(await place.secret(ahead), datetime.now(UTC)).code)
    await assert_problem(place.client, r, 409, "not_now")
    await assert_problem(
        place.client,
        await place.client.get(f"{place.base}/activities/{ahead}/checkin-code", headers=place.organizer.headers),
        409,
        "not_now",
    )
    over = await place.activity(starts_in=-121 * MINUTE)
    r = await place.check_in(v, over, checkin.current_code(await place.secret(over), datetime.now(UTC)).code)
    await assert_problem(place.client, r, 409, "not_now")
    draft = await place.activity(starts_in=-MINUTE, state="draft")
    r = await place.check_in(v, draft, checkin.current_code(await place.secret(draft), datetime.now(UTC)).code)
    await assert_problem(place.client, r, 409, "wrong_state")
    await assert_problem(
        place.client,
        await place.client.get(f"{place.base}/activities/{draft}/checkin-code.svg", headers=place.organizer.headers),
        409,
        "wrong_state",
    )
    await assert_problem(place.client, await place.check_in(v, 999_999_999, "000000"), 404, "not_found")
    await assert_problem(place.client, await place.check_in(v, patrol, "000000", extra=1), 400, "invalid_request")

    # a volunteer does not see or show the code
    r = await place.client.get(f"{place.base}/activities/{patrol}/checkin-code", headers=v.headers)
    await assert_problem(place.client, r, 403, "forbidden")


async def test_proxy_refusals(place: Place, conn: Any) -> None:
    x = await place.member(conn, "孙丽", household="7-1")
    neighbour = await place.member(conn, "隔壁王奶奶", household="7-2", phone=False)
    with_phone = await place.member(conn, "孙强", household="7-1")
    patrol = await place.activity(starts_in=-MINUTE)
    r = await place.check_in(x, patrol, await place.code(patrol), for_member_id=neighbour.member_id)
    await assert_problem(place.client, r, 403, "forbidden")  # not of X's household
    r = await place.check_in(x, patrol, await place.code(patrol), for_member_id=with_phone.member_id)
    problem = await assert_problem(place.client, r, 400, "invalid_request")  # checks in with their own phone
    assert problem["errors"][0]["key"] == "for_member_id"
    r = await place.check_in(x, patrol, await place.code(patrol), for_member_id=999_999_999)
    await assert_problem(place.client, r, 404, "not_found")
    assert await place.owner.fetchval("SELECT count(*) FROM points.attendance WHERE activity_id = $1", patrol) == 0


async def test_check_out_refusals(place: Place, conn: Any) -> None:
    v, w = await place.member(conn, "周一", household="10-1"), await place.member(conn, "周二", household="10-2")
    patrol = await place.activity(starts_in=-30 * MINUTE)
    await assert_problem(place.client, await place.check_out(v, patrol, await place.code(patrol)), 404, "not_found")
    assert (await place.check_in(v, patrol, await place.code(patrol))).status_code == 201
    assert (await place.check_in(w, patrol, await place.code(patrol))).status_code == 201
    r = await place.check_out(v, patrol, "000000" if checkin.check_code(await place.secret(patrol), "000000",
                                                                          datetime.now(UTC)) else "000001")  # fmt: skip
    await assert_problem(place.client, r, 422, "checkin_code_refused")
    assert (await place.check_out(v, patrol, await place.code(patrol))).status_code == 200
    await assert_problem(
        place.client, await place.check_out(v, patrol, await place.code(patrol)), 409, "already_checked_out"
    )
    # hours later, from home: the check-outs closed 30 minutes after the end
    await place.move(patrol, starts_in=-4 * timedelta(hours=1), lasts=timedelta(hours=3))
    r = await place.check_out(w, patrol, checkin.current_code(await place.secret(patrol), datetime.now(UTC)).code)
    await assert_problem(place.client, r, 409, "not_now")
    await assert_problem(
        place.client,
        await place.client.get(f"{place.base}/activities/{patrol}/checkin-code", headers=place.organizer.headers),
        409,
        "not_now",
    )


async def test_mark_and_confirm_refusals(place: Place, conn: Any) -> None:
    v = await place.member(conn, "吴一", household="11-1")
    ahead = await place.activity(starts_in=20 * MINUTE)
    await assert_problem(place.client, await place.confirm(ahead, []), 409, "not_now")  # not started yet
    patrol = await place.activity(starts_in=-10 * MINUTE)
    await assert_problem(place.client, await place.mark(patrol, {"member_id": v.member_id, "note": ""}), 400,
                         "invalid_request")  # fmt: skip
    await assert_problem(place.client, await place.mark(patrol, {"member_id": v.member_id, "note": "   "}), 400,
                         "invalid_request")  # fmt: skip
    r = await place.mark(patrol, {"member_id": v.member_id, "note": "到场",
                                  "checked_in_at": (datetime.now(UTC) - timedelta(hours=2)).isoformat()})  # fmt: skip
    problem = await assert_problem(place.client, r, 400, "invalid_request")
    assert problem["errors"][0]["code"] == "out_of_window"
    await assert_problem(place.client, await place.mark(patrol, {"member_id": 999_999_999, "note": "到场"}), 404,
                         "not_found")  # fmt: skip
    assert (await place.mark(patrol, {"member_id": v.member_id, "note": "到场"})).status_code == 200
    await assert_problem(place.client, await place.mark(patrol, {"member_id": v.member_id, "note": "又到场"}), 409,
                         "already_checked_in")  # fmt: skip
    r = await place.confirm(patrol, [v.member_id, place.organizer.member_id])  # the organizer is not on the list
    problem = await assert_problem(place.client, r, 400, "invalid_request")
    assert problem["errors"][0]["key"] == "member_ids"
    assert (await place.confirm(patrol, [v.member_id])).status_code == 200
    await assert_problem(place.client, await place.confirm(patrol, [v.member_id]), 409, "attendance_confirmed")
    late = {"member_id": place.organizer.member_id, "note": "补录"}
    await assert_problem(place.client, await place.mark(patrol, late), 409, "attendance_confirmed")
    r = await place.client.post(
        f"{place.base}/activities/{patrol}/attendance/confirm", json={"member_ids": []}, headers=v.headers
    )
    await assert_problem(place.client, r, 403, "forbidden")


# ---- concurrency ---------------------------------------------------------------------------------------------


async def _access(engine: AsyncEngine, person_id: int, community_id: int) -> Access:
    async with db.connection(engine) as c:
        return await enter_community(c, person_id, community_id)


async def _check_in_alone(engine: AsyncEngine, access: Access, activity_id: int, code: str) -> str:
    async with db.connection(engine) as c:
        try:
            await attendance.check_in(c, access, activity_id, code)
        except AlreadyCheckedIn:
            return "twice"
        except ActivityFull:
            return "full"
        return "in"


async def test_one_member_checking_in_twice_at_once_gets_one_row(place: Place, conn: Any, engine: AsyncEngine) -> None:
    v = await place.member(conn, "郑一", household="12-1")
    access = await _access(engine, v.person_id or 0, place.community_id)
    for _ in range(3):
        activity = await place.activity(starts_in=-MINUTE)
        code = checkin.current_code(await place.secret(activity), datetime.now(UTC)).code
        outcomes = await asyncio.gather(*(_check_in_alone(engine, access, activity, code) for _ in range(2)))
        assert sorted(outcomes) == ["in", "twice"]
        count = await place.owner.fetchval(
            "SELECT count(*) FROM points.attendance WHERE activity_id = $1 AND member_id = $2", activity, v.member_id
        )
        assert count == 1


async def test_many_walk_ins_at_once_never_exceed_the_capacity(place: Place, conn: Any, engine: AsyncEngine) -> None:
    people = [await place.member(conn, f"路人{n}", household=f"13-{n}") for n in range(10)]
    registered = people[:2]
    walk_ins = people[2:]
    patrol = await place.activity(starts_in=-MINUTE, capacity=5, signups=registered)
    code = checkin.current_code(await place.secret(patrol), datetime.now(UTC)).code
    accesses = [await _access(engine, p.person_id or 0, place.community_id) for p in people]
    outcomes = await asyncio.gather(*(_check_in_alone(engine, a, patrol, code) for a in accesses))
    # the two registered always get in; of the eight walk-ins exactly the three free places are taken
    assert outcomes[:2] == ["in", "in"]
    assert sorted(outcomes[2:]) == ["full"] * 5 + ["in"] * 3
    assert await place.owner.fetchval("SELECT count(*) FROM points.attendance WHERE activity_id = $1", patrol) == 5
    assert len(walk_ins) == 8


def test_every_earning_error_has_its_own_status() -> None:
    """No earning refusal falls through to a default status: each is in points/errors.py's map, once."""
    from points.earning import errors as ee
    from points.errors import EARNING_STATUS

    def subclasses(cls: type[ee.EarningError]) -> set[type[ee.EarningError]]:
        return {s for c in cls.__subclasses__() for s in {c, *subclasses(c)}}

    domain = subclasses(ee.EarningError)
    assert domain - set(EARNING_STATUS) == set()
    assert len({cls.code for cls in domain}) == len(domain)
