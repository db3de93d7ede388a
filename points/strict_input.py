"""Strict decoding for every operation, in one ``before_request`` hook (points/app.py), not per handler.

Litestar converts request data leniently (``msgspec.convert(strict=False)``): a JSON body's ``"1"``, ``1.0`` and
``1e2`` all became the integer 1 or 100, ``?after=1e2`` read as 100, a body sent as text/plain was parsed as
JSON anyway, and a body nested 10,000 deep raised RecursionError (a 500) inside msgspec. This hook runs after
the guards and before Litestar reads the request, and refuses all of that:

- a JSON operation's body must say ``Content-Type: application/json`` (else 415); an operation that reads a
  raw body itself names the media types it takes in ``opt={"body_media_types": (...)}`` (a photo upload), and
  any other is refused (415);
- the body is decoded strictly against the handler's own Struct, so the types, limits and ``__post_init__``
  checks of points/fields.py apply with no coercion; it is only read, so Litestar's own decoding of the same
  bytes afterwards can only agree;
- an integer query parameter is digits only, and a time in a query carries its time zone and lies in the
  ledger's window (``ledger.model.EARLIEST_TIME`` .. ``LATEST_TIME``).

Errors are Litestar ValidationExceptions with one entry per field; points/errors.py gives each its field problem
code (points/field_problems.py) and words them.
"""

from __future__ import annotations

import re
import types
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Union, get_args, get_origin

import msgspec
from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, ValidationException
from litestar.params import BodyKwarg, ParameterKwarg
from litestar.status_codes import HTTP_415_UNSUPPORTED_MEDIA_TYPE

from ledger.model import check_time
from points.fields import Timestamp

JSON = "application/json"
INTEGER = re.compile(r"-?[0-9]+")
# "Expected `int`, got `str` - at `$.postings[0].account_id`"; "... - at `key` in `$.metadata`"
_AT = re.compile(r"^(?P<message>.*?)(?: - at `(?P<at>[^`]*)`(?: in `(?P<within>[^`]*)`)?)?$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class _Plan:
    handler: Any  # kept so that the id the plan is filed under is never reused by another object
    body: msgspec.json.Decoder[Any] | None
    int_params: tuple[str, ...]
    time_params: tuple[str, ...]


_plans: dict[int, _Plan] = {}


def _bare(annotation: Any) -> Any:
    """``int | None`` -> ``int``; anything else as it is."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _plan(handler: Any) -> _Plan:
    plan = _plans.get(id(handler))
    if plan is not None:
        return plan
    body = None
    ints: list[str] = []
    times: list[str] = []
    for name, field in handler.parsed_fn_signature.parameters.items():
        kwarg = field.kwarg_definition
        if name == "data":
            if kwarg is None or (isinstance(kwarg, BodyKwarg) and kwarg.media_type == RequestEncodingType.JSON):
                body = msgspec.json.Decoder(field.annotation, strict=True)
            continue
        if isinstance(kwarg, ParameterKwarg) and (kwarg.header or kwarg.cookie):
            continue
        query = kwarg.query if isinstance(kwarg, ParameterKwarg) and kwarg.query else name
        bare = _bare(field.annotation)
        if bare is int:
            ints.append(query)
        elif bare is datetime:
            times.append(query)
    plan = _Plan(handler, body, tuple(ints), tuple(times))
    _plans[id(handler)] = plan
    return plan


def _invalid(request: Request[Any, Any, Any], problems: list[dict[str, Any]]) -> ValidationException:
    return ValidationException(detail=f"Validation failed for {request.method} {request.url.path}", extra=problems)


def msgspec_problem(exc: msgspec.ValidationError) -> dict[str, str]:
    """One msgspec error as Litestar states a validation error: message, key (the field's path), source."""
    found = _AT.match(str(exc))
    if found is None:  # the pattern matches any text; this keeps mypy and a future msgspec honest
        return {"message": str(exc), "key": "", "source": "body"}
    message, at, within = found.group("message"), found.group("at"), found.group("within")
    if within is not None:  # "- at `key` in `$.metadata`": a key of that object
        key = f"{within.removeprefix('$').lstrip('.')} key".strip()
    else:
        key = (at or "$").removeprefix("$").lstrip(".")
    return {"message": message, "key": key, "source": "body"}


async def _check_body(request: Request[Any, Any, Any], decoder: msgspec.json.Decoder[Any]) -> None:
    body = await request.body()
    if not body:
        return  # Litestar itself refuses a missing body that the operation needs
    media_type, _ = request.content_type
    if media_type.lower() != JSON:
        raise HTTPException(
            status_code=HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            detail=f"the body must be JSON, sent with Content-Type: {JSON} (this one was {media_type or 'unnamed'})",
        )
    try:
        decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise _invalid(request, [msgspec_problem(exc)]) from None
    except msgspec.DecodeError as exc:
        raise _invalid(
            request,
            [{"message": f"the body is not valid JSON ({exc})", "key": "", "source": "body", "code": "not_json"}],
        ) from None
    except RecursionError:  # msgspec gives up at Python's recursion limit; nothing this deep is a request of ours
        problem = {"message": "the body nests too deeply", "key": "", "source": "body", "code": "too_deep"}
        raise _invalid(request, [problem]) from None


def _check_query(request: Request[Any, Any, Any], plan: _Plan) -> None:
    problems: list[dict[str, Any]] = []
    query = request.query_params
    for name in plan.int_params:
        if name in request.path_params:
            continue
        for raw in query.getall(name, []):
            if not INTEGER.fullmatch(raw):
                problems.append(
                    {
                        "message": "must be a whole number, written in digits",
                        "key": name,
                        "source": "query",
                        "code": "not_digits",
                    }
                )
    for name in plan.time_params:
        for raw in query.getall(name, []):
            try:
                at = msgspec.convert(raw, Timestamp)
            except msgspec.ValidationError as exc:
                problems.append({**msgspec_problem(exc), "key": name, "source": "query"})
                continue
            problems += [{"message": p, "key": name, "source": "query"} for p in check_time(name, at)]
    if problems:
        raise _invalid(request, problems)


async def strict_input(request: Request[Any, Any, Any]) -> None:
    """The before_request hook: refuse what lenient decoding would let through. Returns None: the handler runs."""
    plan = _plan(request.route_handler)
    allowed = request.route_handler.opt.get("body_media_types")
    if allowed:
        media_type, _ = request.content_type
        if media_type.lower() not in allowed:
            raise HTTPException(
                status_code=HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                detail=f"the body must be one of {', '.join(allowed)} (this one was {media_type or 'unnamed'})",
            )
    if plan.int_params or plan.time_params:
        _check_query(request, plan)
    if plan.body is not None:
        await _check_body(request, plan.body)
