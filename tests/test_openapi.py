"""The OpenAPI document, as served, tells the truth a client generator relies on; points/openapi.py writes it.

Walks every operation, so an operation added later is held to the same rules without anyone remembering to.
tests/test_schemathesis.py then checks the running service against the document.
"""

from __future__ import annotations

import re
from typing import Any

from litestar.testing import AsyncTestClient

from points.auth.policy import POLICY
from points.openapi import PROBLEM_MEDIA_TYPE
from tests.test_authz_matrix import openapi_operations

Client = AsyncTestClient[Any]
PROBLEM_REF = "#/components/schemas/Problem"


async def test_every_operation_declares_every_path_parameter(anonymous_client: Client) -> None:
    missing = []
    for path, method, op in await openapi_operations(anonymous_client):
        declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        for name in re.findall(r"\{([^}:]+)", path):
            if name not in declared:
                missing.append(f"{op['operationId']} ({method.upper()} {path}) does not declare {name!r}")
    assert not missing, "\n".join(missing)


async def test_every_error_response_is_a_problem(anonymous_client: Client) -> None:
    """What points/errors.py sends (problem+json), never Litestar's own ``status_code``/``extra`` shape."""
    wrong = []
    for _, _, op in await openapi_operations(anonymous_client):
        for status, response in op["responses"].items():
            if status[0] not in "45" or (op["operationId"], status) == ("health", "503"):
                continue  # /health's 503 is its own report (the database is unreachable), not a problem
            content = response.get("content") or {}
            schema = content.get(PROBLEM_MEDIA_TYPE, {}).get("schema", {})
            if list(content) != [PROBLEM_MEDIA_TYPE] or schema.get("$ref") != PROBLEM_REF:
                wrong.append(f"{op['operationId']} {status}: {content}")
    assert not wrong, "\n".join(wrong)


async def test_the_problem_schema_is_what_errors_send(anonymous_client: Client) -> None:
    doc = (await anonymous_client.get("/schema/openapi.json")).json()
    problem = doc["components"]["schemas"]["Problem"]
    assert sorted(problem["required"]) == ["code", "detail", "status", "title", "type"]
    assert problem.get("additionalProperties") is not False, "problems carry the data of their error as extras"
    r = await anonymous_client.get("/api/v1/me")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    assert set(problem["required"]) <= set(r.json())


async def test_security_and_auth_errors_follow_the_policy(anonymous_client: Client) -> None:
    doc = (await anonymous_client.get("/schema/openapi.json")).json()
    assert set(doc["components"]["securitySchemes"]) == {"bearer", "session"}
    wrong = []
    for _, _, op in await openapi_operations(anonymous_client):
        op_id = op["operationId"]
        public = POLICY[op_id].public
        security = op.get("security", doc["security"])
        if public != (security == [{}]):
            wrong.append(f"{op_id}: policy says {'public' if public else 'signed in'}, the document {security}")
        if not public and not {"401", "403"} <= set(op["responses"]):
            wrong.append(f"{op_id}: not public, yet documents no 401 and 403")
    assert not wrong, "\n".join(wrong)


async def test_inputs_document_their_refusals(anonymous_client: Client) -> None:
    wrong = []
    for path, _, op in await openapi_operations(anonymous_client):
        statuses = set(op["responses"])
        op_id = op["operationId"]
        if "{slug" in path and "404" not in statuses:
            wrong.append(f"{op_id}: a community route without 404")
        if "requestBody" in op and not {"400", "413", "415"} <= statuses:
            wrong.append(f"{op_id}: a body without 400, 413 and 415")
        if op.get("parameters") and "400" not in statuses:
            wrong.append(f"{op_id}: parameters without 400")
    assert not wrong, "\n".join(wrong)


async def test_bodies_that_are_structs_refuse_unknown_fields(anonymous_client: Client) -> None:
    doc = (await anonymous_client.get("/schema/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    assert schemas["EntryIn"]["additionalProperties"] is False
    assert schemas["PostingIn"]["additionalProperties"] is False
    assert "additionalProperties" not in schemas["EntryOut"], "responses may grow fields"
    keys = schemas["EntryIn"]["properties"]["metadata"]["propertyNames"]
    assert keys["maxLength"] > 0
    assert keys["pattern"] == r"^[^\x00]*$", "metadata keys cannot hold U+0000"
    roles = schemas["MemberIn"]["properties"]["roles"]["items"]
    assert roles["pattern"] == r"^[^\x00]*$", "a list of text says its items' rules too (no U+0000 in a role)"


async def test_member_import_documents_its_csv_body(anonymous_client: Client) -> None:
    ops = {op["operationId"]: op for _, _, op in await openapi_operations(anonymous_client)}
    body = ops["importMembers"]["requestBody"]
    assert body["required"] is True
    assert list(body["content"]) == ["text/csv"]


async def test_integer_bounds_are_exact(anonymous_client: Client) -> None:
    """2^63-1 written as a float is 2^63, which the decoder refuses: the document must not invite it."""
    doc = await anonymous_client.get("/schema/openapi.json")
    floats = re.findall(r'"(?:maximum|minimum|exclusiveMaximum|exclusiveMinimum)":\s*-?[0-9.]+e[+-]?[0-9]+', doc.text)
    assert not floats, floats
    ops = {op["operationId"]: op for _, _, op in await openapi_operations(anonymous_client)}
    hold_id = next(p for p in ops["getHold"]["parameters"] if p["name"] == "hold_id")
    assert hold_id["schema"]["maximum"] == 2**63 - 1
    assert isinstance(hold_id["schema"]["maximum"], int)
