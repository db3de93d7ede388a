"""Schemathesis against the service's own OpenAPI document: every operation, as every role, with every check.

Each role (platform operator, community admin, organizer, clerk, volunteer) gets its own run with its own Bearer
token, in community A of the authorization matrix's world (tests/test_authz_matrix.py builds it; the same callers
serve here). The path's ``slug`` is pinned to that community: a random slug would only ever meet the guard's 404.
Everything else is generated, valid and invalid alike, through schemathesis' examples, coverage and fuzzing
phases. Expected: no server error, and no response that breaks the documented status codes, media types, headers
or schemas; invalid input refused; valid input never refused by the decoder.

The app runs in-process through schemathesis' ASGI transport rather than behind uvicorn: no port to find, no
server thread to stop, the same requests a client sends (headers as latin-1 octets, the raw body), and the app's
lifespan, which creates its engine, is started by the first request and shut down by schemathesis' pytest
plugin when the test ends. Requests go one after another on schemathesis' own event loop thread, so that loop
is the only one that ever touches the app's engine.

Measured on the 2-core box against PostgreSQL 15, with other work running alongside: 41 operations x 5 roles
(205 subtests) in 70 to 90 s, the matrix's world included (see MAX_EXAMPLES).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import schemathesis
from hypothesis import settings
from schemathesis import CheckContext, Response

import tests.hypothesis_profiles  # noqa: F401  (the suite's Hypothesis profiles, loaded before @settings)
from points.app import create_app
from points.errors import describe_invalid
from tests.conftest import test_settings as app_settings
from tests.test_authz_matrix import World, matrix_client, world

__all__ = ["matrix_client", "world"]  # the matrix's fixtures, used here: imported so that pytest finds them

ROLES = ("operator", "admin", "organizer", "clerk", "volunteer")

# Examples per operation and role in the fuzzing phase; the coverage phase adds its own bounded set per operation.
# 10 keeps the whole file at 70 to 90 s on two cores (measured, CI=true: 91 s); CI has 90 minutes for everything.
MAX_EXAMPLES = 10

# Valid by the schema is not valid by the rules: a balanced entry, two different accounts for a hold, a phone
# number that is one, enough points. The service answers those with 400 (a field breaks its rule) or 422 (a
# ledger rule), naming the rule in ``code``. A refusal by the *decoder* of schema-valid input, on the other
# hand, means the document and the decoder disagree: ``decoder_accepts_valid_input`` below fails on that.
# Decoder refusals JSON Schema cannot express, whatever the document says:
# - JSON Schema counts 362.0 as an integer, and schemathesis sends such whole floats for integer fields of JSON
#   bodies on purpose; the service refuses them by design (issue 7: "1.0 is not an integer");
# - times are taken from 2000 up to 2100 (ledger.model), and a date-time string has no minimum or maximum;
# - an entry's metadata is free JSON, limited in depth and without U+0000 in its values at any depth
#   (ledger.model.check_metadata): a schema can say neither of a value of any shape.
NOT_IN_JSON_SCHEMA = re.compile(
    r"^Expected `int( \| null)?`, got `float`$|must be from \d{4}-\d\d-\d\d up to \d{4}-\d\d-\d\d"
    r"|metadata may nest at most \d+ levels deep|metadata values must not contain the NUL character"
)
# 423: the fuzz's own wrong current passwords lock the caller's sign-in for a while, as they should.
POSITIVE_STATUSES = ["2xx", "3xx", "400", "401", "403", "404", "409", "422", "423", "429"]
# The guard answers a caller outside the community with 404 before any input is read (a community is not
# told apart from one that does not exist), so a missing header can meet that 404 first.
MISSING_HEADER_STATUSES = ["400", "401", "403", "404", "406", "415", "422"]


@schemathesis.check
def decoder_accepts_valid_input(ctx: CheckContext, response: Response, case: schemathesis.Case) -> bool | None:
    """Input valid by the document is never refused by Litestar's decoding (a 400 that lists ``errors``)."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 400:
        return None
    body = response.json()
    errors = body.get("errors") if isinstance(body, dict) else None
    if not errors:
        return None  # a rule of the service, named in ``code``
    # A rule of the service names its field too (a phone that is none, a password too short), with the service's
    # own sentence as detail; a decoder refusal's detail is the wording of its errors (points/errors.py).
    if body.get("detail") != "; ".join(describe_invalid(e) for e in errors):
        return None
    if all(NOT_IN_JSON_SCHEMA.search(str(e.get("message", ""))) for e in errors if isinstance(e, dict)):
        return None
    raise AssertionError(f"the decoder refused input the OpenAPI document allows: {body}")


@pytest.fixture(params=ROLES)
def api(request: pytest.FixtureRequest, world: World, database_url: str) -> Any:
    caller = next(c for c in world.callers if c.name == request.param)
    config = schemathesis.Config.from_dict(
        {
            "headers": caller.headers(),
            "parameters": {"path.slug": world.a.slug},
            "generation": {"no-shrink": True},
            "checks": {
                "positive_data_acceptance": {"expected-statuses": POSITIVE_STATUSES},
                "missing_required_header": {"expected-statuses": MISSING_HEADER_STATUSES},
            },
            "phases": {"stateful": {"enabled": False}},
        }
    )
    app = create_app(app_settings(), database_url=database_url)
    return schemathesis.openapi.from_asgi("/schema/openapi.json", app, config=config)


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """schemathesis 4.32's fixture-loaded tests read and rename ``item._nodeid`` to label each operation's
    subtest; pytest 9.2 keeps the id elsewhere (``item.nodeid`` is read-only), so give it the attribute it
    reads. Only report labels depend on it."""
    request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("api")


@pytest.mark.schemathesis
@schema.parametrize()
# On the test itself, because a loaded Hypothesis profile outranks schemathesis' own max-examples (the suite's
# "ci" profile asks 200, which took 11 minutes here). The rest comes from that profile: derandomized in CI like
# the suite's other Hypothesis tests (tests/hypothesis_profiles.py), so a CI run cannot fail by chance.
@settings(max_examples=MAX_EXAMPLES)
def test_api_keeps_its_openapi_promises(case: schemathesis.Case) -> None:
    case.call_and_validate()
