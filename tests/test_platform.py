"""Stories of the organisation tree and of rules about people: street admins, households, corrections."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import OPERATOR_PHONE, bearer_token, make_person, new_slug

# Every refused request (4xx) in this module is checked to have changed no row anywhere (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("no_change_on_4xx")

Client = AsyncTestClient[Any]
API = "/api/v1"


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def award(issuance: int, wallet: int, points: int) -> dict[str, Any]:
    return {
        "kind": "award",
        "postings": [{"account_id": issuance, "amount": -points}, {"account_id": wallet, "amount": points}],
    }


async def community_with_members(client: Client) -> tuple[str, dict[str, Any]]:
    """A community the operator runs, with issuance, and a household of two plus a neighbour."""
    slug = new_slug()
    admin = {"display_name": "管理员", "phone": OPERATOR_PHONE}
    r = await client.post(f"{API}/communities", json={"slug": slug, "name": "长安社区", "admin": admin})
    assert r.status_code == 201, r.text
    r = await client.post(
        f"{API}/communities/{slug}/accounts", json={"code": "issuance", "normal_side": "debit", "lower_bound": None}
    )
    assert r.status_code == 201, r.text
    made = {"issuance": r.json()}
    for name, household in (("父亲", "9-901"), ("女儿", "9-901"), ("邻居", "9-902")):
        r = await client.post(f"{API}/communities/{slug}/members", json={"display_name": name, "household": household})
        assert r.status_code == 201, r.text
        made[name] = r.json()
    return slug, made


async def test_an_admin_may_not_award_their_own_household(client: Client, owner_conn: asyncpg.Connection) -> None:
    slug, made = await community_with_members(client)
    # the operator-admin lives in household 9-901, with 父亲 and 女儿
    me = (await client.get(f"{API}/me")).json()
    member_id = next(m["member_id"] for m in me["memberships"] if m["slug"] == slug)
    household = made["父亲"]["household_id"]
    await owner_conn.execute("UPDATE points.members SET household_id = $1 WHERE id = $2", household, member_id)
    own_wallet = await owner_conn.fetchval("SELECT wallet_account_id FROM points.members WHERE id = $1", member_id)

    issuance = made["issuance"]["id"]
    for wallet in (made["女儿"]["wallet_account_id"], made["父亲"]["wallet_account_id"], own_wallet):
        r = await client.post(f"{API}/communities/{slug}/entries", headers=key(), json=award(issuance, wallet, 5))
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "conflict_of_interest"
    neighbour = made["邻居"]["wallet_account_id"]
    r = await client.post(f"{API}/communities/{slug}/entries", headers=key(), json=award(issuance, neighbour, 5))
    assert r.status_code == 201, r.text
    balances = {a["id"]: a["balance"] for a in (await client.get(f"{API}/communities/{slug}/accounts")).json()}
    assert balances[made["女儿"]["wallet_account_id"]] == 0
    assert balances[own_wallet] == 0
    assert balances[neighbour] == 5


async def test_a_street_admin_reads_the_communities_under_the_street(
    client: Client, conn: Any, owner_conn: asyncpg.Connection, anonymous_client: Client
) -> None:
    """The street (街道) keeps an eye on its communities: it reads their books but cannot post in them."""
    slug, made = await community_with_members(client)
    city = (await client.post(f"{API}/regions", json={"level": "city", "name": "重庆市"})).json()
    street = await client.post(
        f"{API}/regions", json={"level": "street", "name": "石油路街道", "parent_id": city["id"]}
    )
    assert street.status_code == 201, street.text
    street_id = street.json()["id"]
    r = await client.post(f"{API}/communities/{slug}/street", json={"street_id": street_id})
    assert r.status_code == 200, r.text

    phone = f"177{uuid.uuid4().int % 10**8:08d}"
    person_id = await make_person(owner_conn, phone, "street-admin-pw")
    headers = {"Authorization": f"Bearer {await bearer_token(conn, person_id)}"}
    trial = await anonymous_client.get(f"{API}/communities/{slug}/trial-balance", headers=headers)
    assert trial.status_code == 404, "not yet a street admin: the community is invisible"

    r = await client.post(f"{API}/regions/{street_id}/admins", json={"phone": phone})
    assert r.status_code == 200, r.text
    trial = await anonymous_client.get(f"{API}/communities/{slug}/trial-balance", headers=headers)
    assert trial.status_code == 200, trial.text
    assert trial.json()["balanced"] is True
    wallet = made["邻居"]["wallet_account_id"]
    post = await anonymous_client.post(
        f"{API}/communities/{slug}/entries", headers={**headers, **key()}, json=award(made["issuance"]["id"], wallet, 1)
    )
    assert post.status_code == 403, post.text

    other, _ = await community_with_members(client)  # not under the street: stays invisible
    r = await anonymous_client.get(f"{API}/communities/{other}/trial-balance", headers=headers)
    assert r.status_code == 404


async def test_only_operators_shape_the_tree(
    client: Client, conn: Any, owner_conn: asyncpg.Connection, anonymous_client: Client
) -> None:
    slug, _ = await community_with_members(client)
    phone = f"176{uuid.uuid4().int % 10**8:08d}"
    body = {"display_name": "某管理员", "phone": phone, "password": "admin-pw-123", "roles": ["admin"]}
    r = await client.post(f"{API}/communities/{slug}/members", json=body)
    assert r.status_code == 201, r.text
    person_id = await owner_conn.fetchval("SELECT id FROM points.people WHERE phone = $1", phone)
    headers = {"Authorization": f"Bearer {await bearer_token(conn, person_id)}"}
    r = await anonymous_client.post(f"{API}/regions", json={"level": "city", "name": "某市"}, headers=headers)
    assert r.status_code == 403
    r = await anonymous_client.post(f"{API}/communities/{slug}/street", json={"street_id": 1}, headers=headers)
    assert r.status_code == 403, "a community admin does not move the community in the tree"


async def test_corrections_go_to_the_audit_trail(client: Client) -> None:
    slug, made = await community_with_members(client)
    issuance, wallet = made["issuance"]["id"], made["邻居"]["wallet_account_id"]
    r = await client.post(f"{API}/communities/{slug}/entries", headers=key(), json=award(issuance, wallet, 8))
    entry_id = r.json()["id"]
    headers = key()
    for _ in range(2):  # the retry replays and is not audited twice
        r = await client.post(
            f"{API}/communities/{slug}/entries/{entry_id}/reversal", headers=headers, json={"reason": "记错了人"}
        )
        assert r.status_code in (200, 201), r.text
    audit = (await client.get(f"{API}/communities/{slug}/audit")).json()
    reversed_lines = [a for a in audit if a["action"] == "entry.reversed"]
    assert len(reversed_lines) == 1
    assert reversed_lines[0]["subject"] == f"entry {entry_id}"
    assert reversed_lines[0]["detail"]["reason"] == "记错了人"
    assert {"member.created", "community.created"} <= {a["action"] for a in audit}
