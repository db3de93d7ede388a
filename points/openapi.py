"""What the OpenAPI document says about errors, authentication and bodies Litestar cannot describe by itself.

Every handler names the error statuses it really answers with, ``responses=problems(400, 401, 403, 404)``, and
each becomes an ``application/problem+json`` response whose schema is what points/errors.py sends. Listing 400
here also replaces Litestar's own automatic 400 ("ValidationException", ``application/json`` with
``status_code``/``extra``), which is not what this service sends: the problem details plugin turns it into
problem+json. tests/test_openapi.py checks the document against the policy table and the routes, and
tests/test_schemathesis.py checks the service against the document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, get_args, get_origin, get_type_hints

import msgspec

# Litestar's own schema plugin for msgspec Structs; it has no public name, and the pinned version is tested.
from litestar._openapi.schema_generation import schema as _litestar_schema
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    Components,
    OpenAPIMediaType,
    Operation,
    RequestBody,
    Schema,
    SecurityRequirement,
    SecurityScheme,
)
from litestar.openapi.spec.enums import OpenAPIType

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.params import KwargDefinition
    from litestar.typing import FieldDefinition

PROBLEM_MEDIA_TYPE = "application/problem+json"
CSV_MEDIA_TYPE = "text/csv"


FieldCode = Annotated[
    str,
    msgspec.Meta(
        description="What is wrong with the field, a stable code: GET /problems/{code} says what it means and which "
        "members (its parameters, e.g. max and unit of too_long) come with it. Match on it and word it yourself; "
        "message is English.",
        examples=["too_long"],
    ),
]


class FieldError(msgspec.Struct):
    """One field the service refused, under ``errors``: where it is, a field problem ``code`` with its parameters
    beside it (``"code": "too_long", "max": 100, "unit": "characters"``; points/field_problems.py), and the English
    ``message``."""

    message: str
    code: FieldCode
    key: str | None = None
    source: str | None = None


class Problem(msgspec.Struct):
    """An RFC 9457 problem, as points/errors.py sends it. Clients match on ``code``; ``type`` is a link to what it
    means (GET it). More members may follow: the data of the error (an account id, the amounts involved)."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    errors: list[FieldError] | None = None  # when a field was refused: one item per field


# Why each status is answered; the same words for every operation, so that a client learns them once.
WHEN: dict[int, str] = {
    400: "The request is not valid: it could not be decoded, or a field breaks its rule (code names which).",
    401: "Not signed in, or the token is unknown, revoked or expired; at sign-in, the wrong phone or password.",
    403: "Signed in, but not allowed: the caller's roles, a missing CSRF token with a session cookie, "
    "or an award to oneself (conflict_of_interest).",
    404: "No such community (or the caller is not a member of it), or no such id in it.",
    409: "Taken already: an idempotency key reused with another body, a duplicate code or phone, "
    "or a hold, entry or activity no longer in a state that allows this (or not at this time: not_now).",
    413: "The body is larger than the service accepts (2 MiB).",
    415: "The body is not of the media type this operation reads.",
    422: "A ledger rule refuses it: not enough points, an upper bound, postings that do not sum to zero, "
    "accounts in different units; or an earning rule: a cap, a budget, a check-in code not taken; or a supermarket "
    "rule: stock, a limit, a good off sale, a payment code refused, a wrong PIN, a return above what was bought.",
    423: "The account (or the member card) is locked for a while after repeated wrong passwords (or PINs).",
    429: "Too many sign-in attempts from this address; retry after the time in Retry-After.",
}


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """``responses=`` for a handler decorator: one problem+json response per status the handler answers with."""
    unknown = sorted(set(statuses) - set(WHEN))
    if unknown:
        raise ValueError(f"no description for status {unknown}: add it to points.openapi.WHEN")
    return {
        status: ResponseSpec(
            data_container=Problem, description=WHEN[status], media_type=PROBLEM_MEDIA_TYPE, generate_examples=False
        )
        for status in sorted(statuses)
    }


def replayed(model: type[Any]) -> dict[int, ResponseSpec]:
    """The 200 of an idempotent write retried with the same key and body: the original result, replayed."""
    return {
        200: ResponseSpec(
            data_container=model,
            description="A retry of a request already carried out (same Idempotency-Key and body): its original "
            'result, with "replayed": true.',
            generate_examples=False,
        )
    }


# ---- request bodies ----------------------------------------------------------------------------------------


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """Litestar's Struct schemas leave ``additionalProperties`` open even when the Struct is declared
    ``forbid_unknown_fields=True`` and the decoder refuses an unknown field with 400; this says so in the schema.
    Registered in the app's plugins, it is asked before Litestar's own."""

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        config = getattr(field_definition.type_, "__struct_config__", None)
        if config is not None and config.forbid_unknown_fields:
            schema.additional_properties = False
        _document_key_rules(field_definition.type_, schema)
        _document_item_rules(field_definition.type_, schema)
        return schema


def _document_key_rules(struct: type[Any], schema: Schema) -> None:
    """Litestar documents a ``dict[K, V]`` field by its values only; when K is a constrained str (metadata keys:
    a length, no U+0000), the decoder refuses keys the document did not warn about. ``propertyNames`` says it."""
    hints = get_type_hints(struct, include_extras=True)
    for field in msgspec.structs.fields(struct):
        prop = (schema.properties or {}).get(field.encode_name)
        if not isinstance(prop, Schema) or get_origin(hints[field.name]) is not dict:
            continue
        key = get_args(hints[field.name])[0]
        metas = [m for m in get_args(key)[1:] if isinstance(m, msgspec.Meta)] if get_origin(key) is Annotated else []
        if metas:
            prop.property_names = Schema(
                type=OpenAPIType.STRING,
                min_length=next((m.min_length for m in metas if m.min_length is not None), None),
                max_length=next((m.max_length for m in metas if m.max_length is not None), None),
                pattern=next((m.pattern for m in metas if m.pattern is not None), None),
            )


def _document_item_rules(struct: type[Any], schema: Schema) -> None:
    """Litestar documents a ``list[Id]`` field's items as any integer, dropping the bounds of ``Id``; the decoder
    refuses 0 all the same. The items' ``minimum`` and ``maximum`` say it. The same for a ``list[Text]``: its items'
    length and pattern (no U+0000) are dropped, and the decoder refuses a role with a NUL in it (schemathesis found
    it on ``MemberIn.roles``)."""
    hints = get_type_hints(struct, include_extras=True)
    for field in msgspec.structs.fields(struct):
        prop = (schema.properties or {}).get(field.encode_name)
        hint = hints[field.name]
        if get_origin(hint) is Annotated:
            hint = get_args(hint)[0]
        _document_optional_zero_bound(hint, prop)
        if not isinstance(prop, Schema) or get_origin(hint) is not list or not isinstance(prop.items, Schema):
            continue
        item = get_args(hint)[0]
        metas = [m for m in get_args(item)[1:] if isinstance(m, msgspec.Meta)] if get_origin(item) is Annotated else []
        for meta in metas:
            if get_args(item)[0] is int and meta.ge is not None:
                prop.items.minimum = meta.ge
            if get_args(item)[0] is int and meta.le is not None:
                prop.items.maximum = meta.le
            if get_args(item)[0] is str:
                prop.items.pattern = meta.pattern or prop.items.pattern
                prop.items.min_length = meta.min_length if meta.min_length is not None else prop.items.min_length
                prop.items.max_length = meta.max_length if meta.max_length is not None else prop.items.max_length


def _document_optional_zero_bound(hint: Any, prop: Any) -> None:
    """An optional integer bounded below by 0 (``Points | None``) loses its ``minimum: 0`` in Litestar's document
    (0 reads as no bound there), so a client trusting the document sends -13 and the decoder refuses it."""
    if not isinstance(prop, Schema) or prop.minimum is not None or type(None) not in get_args(hint):
        return
    for arm in get_args(hint):
        if get_origin(arm) is Annotated and get_args(arm)[0] is int:
            for meta in get_args(arm)[1:]:
                if isinstance(meta, msgspec.Meta) and meta.ge is not None:
                    prop.minimum = meta.ge


@dataclass
class CsvBodyOperation(Operation):
    """For handlers that read a CSV body themselves (``await request.body()``): Litestar decodes only JSON,
    msgpack and forms, so it cannot see that such a handler has a body at all."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            content={CSV_MEDIA_TYPE: OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))},
            description="UTF-8 or GB18030 text with a header row.",
            required=True,
        )


def _exact_integer_bounds() -> None:
    """Litestar writes every numeric bound as a float (``float(le)``), and 2^63-1, the bound of every id, becomes
    9.223372036854776e18, which is 2^63: one more than the decoder accepts, so a client (or schemathesis) that
    trusts the document sends 9223372036854775808 and is refused. Integer bounds stay integers here. Litestar
    offers no hook for this; the pinned version is tested by tests/test_openapi.py."""
    original = _litestar_schema.create_numerical_constrained_field_schema  # type: ignore[attr-defined]
    if getattr(original, "exact_integer_bounds", False):
        return

    def exact(field_type: type[Any], kwarg_definition: KwargDefinition) -> Schema:
        schema = original(field_type, kwarg_definition)
        if issubclass(field_type, int):
            for attr, bound in (
                ("maximum", kwarg_definition.le),
                ("exclusive_maximum", kwarg_definition.lt),
                ("minimum", kwarg_definition.ge),
                ("exclusive_minimum", kwarg_definition.gt),
            ):
                if isinstance(bound, int):
                    setattr(schema, attr, bound)
        return schema

    exact.exact_integer_bounds = True  # type: ignore[attr-defined]
    _litestar_schema.create_numerical_constrained_field_schema = exact  # type: ignore[attr-defined]


_exact_integer_bounds()


# ---- authentication ----------------------------------------------------------------------------------------

BEARER = "bearer"
SESSION = "session"

SECURITY_SCHEMES: dict[str, SecurityScheme] = {
    BEARER: SecurityScheme(
        type="http",
        scheme="bearer",
        description="A personal or device token from POST /api/v1/me/tokens (lp_...).",
    ),
    SESSION: SecurityScheme(
        type="apiKey",
        security_scheme_in="cookie",
        name="session",
        description="The session cookie set by POST /api/v1/login; writes also need the x-csrftoken header "
        "carrying the csrftoken cookie.",
    ),
}

# Every operation needs one of the two, unless it says PUBLIC (points/auth/policy.py is the authority; the
# OpenAPI test checks that the two agree).
SIGNED_IN: list[SecurityRequirement] = [{BEARER: []}, {SESSION: []}]
# An empty requirement is OpenAPI's way of saying "no credentials needed"; Litestar adds a handler's security to
# the document's, so public handlers cannot simply say nothing.
PUBLIC: list[SecurityRequirement] = [{}]


def components() -> Components:
    return Components(security_schemes=dict(SECURITY_SCHEMES))
