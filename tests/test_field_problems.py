"""Field problems: every refused field comes with a stable code and its parameters in problem+json, the codes are
described at GET /problems/{code}, and the CSV import's bad lines carry the same codes."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from points.errors import problem_catalog
from points.field_problems import FIELD_CODES
from tests.test_api import API, create_community, open_account

Client = AsyncTestClient[Any]

pytestmark = pytest.mark.usefixtures("no_change_on_4xx")


def only_error(r: Any) -> dict[str, Any]:
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["code"] == "invalid_request"
    assert problem["detail"]  # the English sentence for API users stays
    assert len(problem["errors"]) == 1, problem
    found: dict[str, Any] = problem["errors"][0]
    assert found["message"], found
    return found


async def test_a_too_long_name_is_too_long_with_its_maximum(client: Client) -> None:
    slug = await create_community(client)
    r = await client.post(f"{API}/{slug}/members", json={"display_name": "长" * 101})
    found = only_error(r)
    assert found | {"message": ""} == {
        "key": "display_name",
        "source": "body",
        "code": "too_long",
        "max": 100,
        "unit": "characters",
        "message": "",
    }
    assert "display_name must have at most 100 characters" in r.json()["detail"]


async def test_a_malformed_phone_is_not_a_phone_with_the_digits_it_needs(client: Client) -> None:
    slug = await create_community(client)
    r = await client.post(f"{API}/{slug}/members", json={"display_name": "林淑芬", "phone": "1370000abcd"})
    found = only_error(r)
    assert (found["key"], found["code"], found["min_digits"], found["max_digits"]) == ("phone", "not_a_phone", 6, 20)


async def test_a_wrong_type_an_unknown_field_and_a_naive_time(client: Client) -> None:
    slug = await create_community(client)
    wrong = only_error(await client.post(f"{API}/{slug}/members", json={"display_name": 7}))
    assert (wrong["key"], wrong["code"]) == ("display_name", "wrong_type")
    assert (wrong["expected"], wrong["got"]) == ("str", "int")
    unknown = only_error(await client.post(f"{API}/{slug}/members", json={"display_name": "甲", "nickname": "乙"}))
    assert (unknown["code"], unknown["field"]) == ("unknown_field", "nickname")
    account = await open_account(client, slug, "pool")
    naive = only_error(
        await client.get(f"{API}/{slug}/accounts/{account['id']}/balance-as-of", params={"at": "2026-11-01T09:00:00"})
    )
    assert (naive["key"], naive["source"], naive["code"]) == ("at", "query", "needs_time_zone")
    early = only_error(
        await client.get(f"{API}/{slug}/accounts/{account['id']}/balance-as-of", params={"at": "1999-01-01T00:00:00Z"})
    )
    assert (early["code"], early["earliest"], early["latest"]) == ("out_of_window", "2000-01-01", "2100-01-01")


async def test_a_number_past_its_bound_and_a_status_outside_its_choices(client: Client) -> None:
    slug = await create_community(client)
    big = only_error(await client.get(f"{API}/{slug}/members", params={"limit": "201"}))
    assert (big["key"], big["source"], big["code"], big["max"]) == ("limit", "query", "too_large", 200)
    digits = only_error(await client.get(f"{API}/{slug}/members", params={"after": "1e2"}))
    assert (digits["key"], digits["code"]) == ("after", "not_digits")
    member = (await client.post(f"{API}/{slug}/members", json={"display_name": "甲"})).json()
    r = await client.post(f"{API}/{slug}/members/{member['id']}/status", json={"status": "gone"})
    status = only_error(r)
    assert (status["key"], status["code"], status["value"]) == ("status", "not_one_of", "gone")
    assert status["allowed"] == ["active", "suspended", "left"]


async def test_every_field_code_is_described_and_none_shadows_a_problem_code(client: Client) -> None:
    for code, field in FIELD_CODES.items():
        r = await client.get(f"/problems/{code}")
        assert r.status_code == 200, code
        described = r.json()
        assert described["field_problem"] is True
        assert described["params"] == list(field.params)
    problem_codes = {code for code, p in problem_catalog().items() if not p.get("field_problem")}
    assert problem_codes.isdisjoint(FIELD_CODES), "a field problem code must not be a problem code as well"


async def test_the_import_report_carries_codes_line_by_line(client: Client) -> None:
    slug = await create_community(client)
    csv = "name,phone,household,roles\n赵一,12ab,1-101,boss\n,,1-102,\n"
    r = await client.post(
        f"{API}/{slug}/members/import",
        content=csv,
        headers={"Content-Type": "text/csv"},
        params={"dry_run": "true"},
    )
    assert r.status_code == 200, r.text
    lines = {e["line"]: e for e in r.json()["errors"]}
    assert [(p["key"], p["code"]) for p in lines[2]["errors"]] == [("phone", "not_a_phone"), ("roles", "not_one_of")]
    assert lines[2]["errors"][1]["value"] == ["boss"]
    assert lines[2]["problems"] == [p["message"] for p in lines[2]["errors"]]  # the English as it always was
    assert [(p["key"], p["code"]) for p in lines[3]["errors"]] == [("name", "required")]
