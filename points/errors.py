"""The one place where errors become HTTP responses: RFC 9457 problem+json with a stable ``code``.

Every domain exception carries its code and data; this module decides only
the status and the wording of the ``type`` link. Clients match on ``code``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsException, ProblemDetailsPlugin

from catalog import errors as ce
from catalog import swap_errors as se
from ledger import errors as le
from ledger.model import NO_NUL
from points.auth import errors as ae
from points.earning import errors as ee
from points.entries import AwardEntryNotReversed, BudgetNotPostable, HoursNotSpent
from points.expiry.errors import ExpiryEntryNotReversed, ExpiryNotPostable
from points.field_problems import FIELD_CODES, english, field_problem
from points.fields import NO_NUL_PATTERN
from points.orders.errors import OrderNotDue, OrderWrongState, UnitDoesNotOffer
from points.settings import SettingsError

log = structlog.get_logger("points.errors")

# status, title — by exception class (most specific first is not needed: exact classes).
LEDGER_STATUS: dict[type[le.LedgerError], tuple[int, str]] = {
    le.InvalidEntry: (400, "The request is not valid"),
    le.UnbalancedEntry: (422, "The postings do not sum to zero"),
    le.InsufficientBalance: (422, "Not enough points"),
    le.UpperBoundExceeded: (422, "The account would exceed its upper bound"),
    le.UnitMismatch: (422, "The accounts keep different units"),
    le.UnknownAccount: (404, "No such account"),
    le.UnknownUnit: (404, "No such unit"),
    le.UnknownCommunity: (404, "No such community"),
    le.EntryNotFound: (404, "No such entry"),
    le.HoldNotFound: (404, "No such hold"),
    le.IdempotencyConflict: (409, "The idempotency key was used for a different request"),
    le.AlreadyReversed: (409, "The entry was already reversed"),
    le.HoldNotActive: (409, "The hold is no longer active"),
    le.HoldExpired: (409, "The hold has expired"),
    le.DuplicateCode: (409, "That code is already taken"),
    le.AppendOnlyViolation: (500, "Ledger rows cannot be changed"),
    le.CommunityMismatch: (500, "A write named another community than the one entered"),
}

ACCESS_STATUS: dict[type[ae.AccessError], tuple[int, str]] = {
    ae.LoginFailed: (401, "Wrong phone number or password"),
    ae.AccountLocked: (423, "The account is locked for a while"),
    ae.NotSignedIn: (401, "Sign in first"),
    ae.Forbidden: (403, "Not allowed"),
    ae.DeviceTokenNotAllowed: (403, "Not with a device token"),
    ae.ConflictOfInterest: (403, "Not for yourself or your household"),
    ae.InvalidRequest: (400, "The request is not valid"),
    ae.NotFound: (404, "Not found"),
    ae.Conflict: (409, "Already taken"),
}

EARNING_STATUS: dict[type[ee.EarningError], tuple[int, str]] = {
    ee.CapReached: (422, "Above the cap of the activity type"),
    ee.NoBudget: (422, "No budget covers that day"),
    ee.BudgetExhausted: (422, "The budget has not enough points left"),
    ee.CheckinCodeRefused: (422, "The check-in code is not taken"),
    ee.WrongState: (409, "Not in a state that allows this"),
    ee.NotNow: (409, "Not at this time"),
    ee.AlreadyCheckedIn: (409, "Checked in already"),
    ee.AlreadyCheckedOut: (409, "Checked out already"),
    ee.ActivityFull: (409, "The activity is full"),
    ee.AttendanceConfirmed: (409, "The attendance list is confirmed"),
    ee.BudgetOverlap: (409, "Another budget covers part of that period"),
    HoursNotSpent: (422, "Service hours are never spent"),
    BudgetNotPostable: (422, "A budget moves only by allotting and awards"),
    AwardEntryNotReversed: (409, "Correct the award instead"),
    # the 公示 window (points/publication/)
    ee.NotInWindow: (409, "The award is not in its 公示 window"),
    ee.AlreadyObjected: (409, "You have objected to this award already"),
    ee.PublicationInconsistent: (500, "The award's publication does not add up"),
}
# points expiry (points/expiry/errors.py)
EARNING_STATUS |= {
    ExpiryNotPostable: (422, "Only the expiry job posts expiries"),
    ExpiryEntryNotReversed: (409, "Expired points are never given back"),
}
# service orders (points/orders/errors.py)
EARNING_STATUS |= {
    OrderWrongState: (409, "The order is not in a state that allows this"),
    OrderNotDue: (409, "Not at this time"),
    UnitDoesNotOffer: (422, "The unit does not take orders of this category"),
}

CATALOG_STATUS: dict[type[ce.CatalogError], tuple[int, str]] = {
    ce.InsufficientStock: (422, "Not enough in stock"),
    ce.LimitReached: (422, "Above the good's limit for the period"),
    ce.GoodInactive: (422, "The good is not on sale"),
    ce.StockNegative: (422, "The stock would go below zero"),
    ce.PaymentCodeExpired: (422, "The payment code has expired"),
    ce.PaymentCodeUsed: (422, "The payment code was used already"),
    ce.PaymentCodeOtherCommunity: (422, "The payment code is another community's"),
    ce.PaymentCodeUnknown: (422, "No such payment code was issued"),
    ce.WrongPin: (422, "Wrong PIN"),
    ce.CardLocked: (423, "The member card is locked for a while"),
    ce.ReturnTooMuch: (422, "More than is left to return"),
    ce.ReceiptInconsistent: (500, "The receipt does not add up"),
    # the swap table (catalog/swap_errors.py)
    se.ListingUnavailable: (409, "The listing is no longer open"),
    se.SwapWrongState: (409, "Not in a state that allows this"),
    se.ProposalOnHold: (409, "The proposal is on hold"),
    se.HandoverOverdue: (409, "The hand-over is overdue"),
    se.NotAParty: (403, "Not your proposal"),
    se.SwapInconsistent: (500, "The swap does not add up"),
}

HTTP_CODES: dict[int, str] = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    423: "account_locked",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}


_PROBLEM_MEMBERS = frozenset({"type", "title", "status", "detail", "instance", "code"})


def problem_type(code: str) -> str:
    """A relative URI: GET it on this server for what the code means."""
    return f"/problems/{code}"


def _ledger_problem(exc: le.LedgerError) -> ProblemDetailsException:
    status, title = LEDGER_STATUS.get(type(exc), (400, "The request is not valid"))
    # Data named like a problem member (a hold's "status") must not overwrite it: it gets a prefix.
    data = {f"ledger_{k}" if k in _PROBLEM_MEMBERS else k: v for k, v in exc.data.items() if k != "constraint"}
    extra: dict[str, Any] = {"code": exc.code, **data}
    if status >= 500:
        log.error("ledger_invariant_violation", code=exc.code, detail=exc.message)
    return ProblemDetailsException(
        status_code=status, title=title, detail=exc.message, type_=problem_type(exc.code), extra=extra
    )


def _access_problem(exc: ae.AccessError) -> ProblemDetailsException:
    status, title = ACCESS_STATUS.get(type(exc), (400, "The request is not valid"))
    extra: dict[str, Any] = {"code": exc.code, **{k: v for k, v in exc.data.items() if k not in _PROBLEM_MEMBERS}}
    return ProblemDetailsException(
        status_code=status, title=title, detail=exc.message, type_=problem_type(exc.code), extra=extra
    )


def _earning_problem(exc: ee.EarningError) -> ProblemDetailsException:
    status, title = EARNING_STATUS.get(type(exc), (409, "Not in a state that allows this"))
    extra: dict[str, Any] = {"code": exc.code, **{k: v for k, v in exc.data.items() if k not in _PROBLEM_MEMBERS}}
    return ProblemDetailsException(
        status_code=status, title=title, detail=exc.message, type_=problem_type(exc.code), extra=extra
    )


def _catalog_problem(exc: ce.CatalogError) -> ProblemDetailsException:
    status, title = CATALOG_STATUS.get(type(exc), (422, "The supermarket refuses this"))
    extra: dict[str, Any] = {"code": exc.code, **{k: v for k, v in exc.data.items() if k not in _PROBLEM_MEMBERS}}
    if status >= 500:
        log.error("catalog_invariant_violation", code=exc.code, detail=exc.message)
    return ProblemDetailsException(
        status_code=status, title=title, detail=exc.message, type_=problem_type(exc.code), extra=extra
    )


# msgspec's and Litestar's validation messages, as a field problem's code and parameters (points/field_problems.py).
# The English words of the code follow the field's name in ``detail``.
_COMPARED = {"<=": ("too_large", "max", 0), ">=": ("too_small", "min", 0), "<": ("too_large", "max", -1),
             ">": ("too_small", "min", 1)}  # fmt: skip
_LENGTH_OF = {"str": "characters", "array": "items", "object": "entries"}
Coded = tuple[str, dict[str, Any]]


def _number(text: str) -> int | float:
    return int(text) if re.fullmatch(r"-?[0-9]+", text) else float(text)


def _compared(m: re.Match[str]) -> Coded:
    code, param, shift = _COMPARED[m[1]]
    bound = _number(m[2])  # "< 10" is "at most 9" for the integers the service reads
    return code, {param: bound + shift if isinstance(bound, int) else bound}


def _length(m: re.Match[str]) -> Coded:
    code, param, _ = _COMPARED[m[2]]
    return ("too_long" if code == "too_large" else "too_short"), {
        param: int(m[3]),
        "unit": _LENGTH_OF.get(m[1], "items"),
    }


_WORDINGS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], Coded]], ...] = (
    (re.compile(r"Expected `(\w+)`, got `(\w+)`"), lambda m: ("wrong_type", {"expected": m[1], "got": m[2]})),
    (re.compile(r"Expected `\w+` (<=|>=|<|>) (-?[0-9.]+)"), _compared),
    (re.compile(r"Expected `(\w+)` of length (<=|>=) ([0-9]+)"), _length),
    (
        re.compile(r"Expected `str` matching regex '(.*)'"),
        lambda m: ("contains_nul", {}) if m[1] == repr(NO_NUL_PATTERN)[1:-1] else ("malformed", {"pattern": m[1]}),
    ),
    (re.compile(r"Expected `datetime` with a timezone component"), lambda m: ("needs_time_zone", {})),
    (re.compile(r"Invalid RFC3339 encoded datetime"), lambda m: ("not_a_time", {})),
    (re.compile(r"Object contains unknown field `(.*)`"), lambda m: ("unknown_field", {"field": m[1]})),
    (re.compile(r"Object missing required field `(.*)`"), lambda m: ("missing_field", {"field": m[1]})),
    (re.compile(r"Integer value out of range"), lambda m: ("number_too_large", {})),
)
# Our own checks' sentences (ledger.model's, a Struct's __post_init__), which name the field themselves: a code for
# them, and ``detail`` keeps the sentence as it is.
_OWN: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], Coded]], ...] = (
    (re.compile(r".* must carry a time zone"), lambda m: ("needs_time_zone", {})),
    (
        re.compile(r".* must be from ([0-9-]+) up to ([0-9-]+)"),
        lambda m: ("out_of_window", {"earliest": m[1], "latest": m[2]}),
    ),
    (re.compile(r".* may nest at most ([0-9]+) levels deep"), lambda m: ("too_deep", {"max": int(m[1])})),
    (re.compile(r".* " + re.escape(NO_NUL)), lambda m: ("contains_nul", {})),
    (re.compile(r".* must be finite"), lambda m: ("not_finite", {})),
)
_WHERE = {"query": "query parameter {}", "path": "{} in the path", "header": "header {}", "cookie": "cookie {}"}


def _key_and_source(problem: dict[str, Any]) -> tuple[str, str]:
    key, source = str(problem.get("key") or ""), problem.get("source")
    source = getattr(source, "value", source)  # Litestar's ParamType is an enum of the same words
    if str(source) == "header" and "_" in key:  # a header parameter reports its Python name: x_on_behalf_of
        key = "-".join(part.capitalize() for part in key.split("_"))
    return key, str(source or "body")


def _code_of(message: str) -> tuple[Coded, bool]:
    """The code and parameters of a message, and whether the message was msgspec's (worded anew in ``detail``)."""
    for pattern, coded in _WORDINGS:
        found = pattern.match(message)
        if found:
            return coded(found), True
    for pattern, coded in _OWN:
        found = pattern.match(message)
        if found:
            return coded(found), False
    return ("invalid", {}), False


def coded_problem(problem: Any) -> dict[str, Any]:
    """One validation error as an ``errors`` item: its key, source and message as they were, with the field
    problem's ``code`` and parameters beside them. An item that has its code already (our own checks) stays."""
    if not isinstance(problem, dict):
        return field_problem("", "invalid", message=str(problem))
    key, source = _key_and_source(problem)
    if "code" in problem:
        return {**problem, "key": key, "source": source}
    (code, params), _ = _code_of(str(problem.get("message", "")))
    return {"key": key, "source": source, "code": code, **params, "message": str(problem.get("message", ""))}


def describe_invalid(problem: Any) -> str:
    """One validation error as a sentence that starts with the field it is about."""
    if not isinstance(problem, dict):
        return str(problem)
    message = str(problem.get("message", ""))
    key, source = _key_and_source(problem)
    where = _WHERE.get(source, "{}").format(key) if key else "the body"
    (code, params), reworded = _code_of(message)
    if reworded:
        return f"{where} {english(code, params)}"
    if not key or message.startswith(key):
        return message  # our own checks (a Struct's __post_init__, the ledger's) already name the field
    return f"{where}: {message}"


def field_problems_of(exc: Exception) -> list[dict[str, Any]]:
    """The coded field problems of a refused request, as its problem+json ``errors`` holds them (none for an error
    that is not about a field), for what shows errors another way (the pages)."""
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list):
        return [coded_problem(p) for p in exc.extra]
    if isinstance(exc, ae.AccessError) and isinstance(exc.data.get("errors"), list):
        return [coded_problem(p) for p in exc.data["errors"]]
    return []


def _http_problem(exc: HTTPException) -> ProblemDetailsException:
    code = HTTP_CODES.get(exc.status_code, "http_error")
    extra: dict[str, Any] = {"code": code}
    title = exc.detail if exc.status_code < 500 else "Internal server error"
    detail = title
    if isinstance(exc, ValidationException) and exc.extra:
        extra["errors"] = exc.extra
        if isinstance(exc.extra, list):
            title = "The request is not valid"
            detail = "; ".join(describe_invalid(p) for p in exc.extra)
            extra["errors"] = [coded_problem(p) for p in exc.extra]
    elif isinstance(exc.extra, dict):
        extra.update(exc.extra)
    return ProblemDetailsException(
        status_code=exc.status_code,
        title=title,
        detail=detail,
        type_=problem_type(code),
        extra=extra,
        headers=exc.headers,
    )


def _settings_problem(exc: SettingsError) -> ProblemDetailsException:
    return ProblemDetailsException(
        status_code=500,
        title="Misconfigured",
        detail=str(exc),
        type_=problem_type("internal_error"),
        extra={"code": "internal_error"},
    )


def _data_problem(exc: asyncpg.exceptions.DataError) -> ProblemDetailsException:
    """The net under the explicit checks: a value PostgreSQL cannot take (SQLSTATE class 22: out of range,
    U+0000, a malformed number) that some check missed. Logged, so the missing check gets written; the client
    reads words, never the driver's text (which may quote the value or the schema)."""
    log.warning("unchecked_data_error", sqlstate=getattr(exc, "sqlstate", None), error_type=type(exc).__name__)
    return ProblemDetailsException(
        status_code=400,
        title="The request is not valid",
        detail="a value in the request is out of range or holds characters that cannot be stored",
        type_=problem_type("invalid_request"),
        extra={"code": "invalid_request"},
    )


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Anything unforeseen: log it with the trace, tell the client nothing about internals."""
    log.exception("unhandled_error", path=request.url.path, error_type=type(exc).__name__)
    return ProblemDetailsException(
        status_code=500,
        title="Internal server error",
        detail="Internal server error",
        type_=problem_type("internal_error"),
        extra={"code": "internal_error"},
    ).to_response(request)


PROBLEMS: dict[type[Exception], Callable[[Any], ProblemDetailsException]] = {
    le.LedgerError: _ledger_problem,
    ae.AccessError: _access_problem,
    ee.EarningError: _earning_problem,
    ce.CatalogError: _catalog_problem,
    HTTPException: _http_problem,
    asyncpg.exceptions.DataError: _data_problem,
    SettingsError: _settings_problem,
}


def problem_details_plugin() -> ProblemDetailsPlugin:
    return ProblemDetailsPlugin(ProblemDetailsConfig(exception_to_problem_detail_map=dict(PROBLEMS)))


def problem_for(exc: Exception) -> tuple[int, str]:
    """(status, code) the API answers an exception with, for what shows errors another way (the pages)."""
    for cls in type(exc).__mro__:
        if cls in PROBLEMS:
            problem = PROBLEMS[cls](exc)
            return problem.status_code, str(problem.extra.get("code", "internal_error"))  # type: ignore[union-attr]
    return 500, "internal_error"


def problem_catalog() -> dict[str, dict[str, Any]]:
    """Every code this service can answer with, for GET /problems/{code}."""
    catalog: dict[str, dict[str, Any]] = {}
    for cls, (status, title) in LEDGER_STATUS.items():
        catalog[cls.code] = {
            "code": cls.code,
            "status": status,
            "title": title,
            "description": (cls.__doc__ or "").strip(),
        }
    for acls, (status, title) in ACCESS_STATUS.items():
        catalog.setdefault(
            acls.code,
            {"code": acls.code, "status": status, "title": title, "description": (acls.__doc__ or "").strip()},
        )
    for ecls, (status, title) in EARNING_STATUS.items():
        catalog.setdefault(
            ecls.code,
            {"code": ecls.code, "status": status, "title": title, "description": (ecls.__doc__ or "").strip()},
        )
    for ccls, (status, title) in CATALOG_STATUS.items():
        catalog.setdefault(
            ccls.code,
            {"code": ccls.code, "status": status, "title": title, "description": (ccls.__doc__ or "").strip()},
        )
    for status, code in HTTP_CODES.items():
        catalog.setdefault(
            code, {"code": code, "status": status, "title": code.replace("_", " "), "description": f"HTTP {status}"}
        )
    for fcode, field in FIELD_CODES.items():  # the codes of a refused request's errors items, one per field
        catalog.setdefault(
            fcode,
            {
                "code": fcode,
                "status": 400,
                "title": field.title,
                "description": f"A field problem, in an item of errors: the field {field.english}.",
                "field_problem": True,
                "params": list(field.params),
            },
        )
    return catalog
