"""The ledger's exceptions. Each says when it is raised and carries its data.

The database raises the same rules with SQLSTATE class ``LE`` (see the
migration ``0001``); :func:`from_database` turns those into these classes so
callers see one exception tree whichever layer caught the problem first.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar


class LedgerError(Exception):
    """Base class. ``code`` is stable and is what API clients match on."""

    code: ClassVar[str] = "ledger_error"

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class InvalidEntry(LedgerError):
    """The request itself is malformed: too few postings, zero amounts, a bad key, a limit exceeded."""

    code = "invalid_entry"

    def __init__(self, message: str, problems: list[str] | None = None, **data: Any) -> None:
        super().__init__(message, problems=problems or [message], **data)
        self.problems = problems or [message]


class UnbalancedEntry(LedgerError):
    """The postings of some unit do not sum to zero."""

    code = "unbalanced_entry"


class InsufficientBalance(LedgerError):
    """Posting (or holding) would take an account below its lower bound: not enough points."""

    code = "insufficient_points"


class UpperBoundExceeded(LedgerError):
    """Posting would take an account above its upper bound."""

    code = "upper_bound_exceeded"


class UnknownAccount(LedgerError):
    """No such account in this community. Another community's account looks exactly like a missing one."""

    code = "account_not_found"


class UnknownCommunity(LedgerError):
    """No such community."""

    code = "community_not_found"


class UnknownUnit(LedgerError):
    """No such unit in this community: an account can only be opened in a unit the community keeps."""

    code = "unit_not_found"


class UnitMismatch(LedgerError):
    """Accounts of different units were put together where one unit is required."""

    code = "unit_mismatch"


class IdempotencyConflict(LedgerError):
    """The idempotency key was already used for a different request."""

    code = "idempotency_key_reused"


class AlreadyReversed(LedgerError):
    """The entry already has a reversal; an entry is reversed at most once."""

    code = "already_reversed"


class EntryNotFound(LedgerError):
    """No such entry in this community."""

    code = "entry_not_found"


class HoldNotFound(LedgerError):
    """No such hold in this community."""

    code = "hold_not_found"


class HoldNotActive(LedgerError):
    """The hold was already posted, voided or expired."""

    code = "hold_not_active"


class HoldExpired(LedgerError):
    """The hold's timeout passed; what it reserved is free again."""

    code = "hold_expired"


class DuplicateCode(LedgerError):
    """A community slug, unit code or account code that is already taken."""

    code = "duplicate_code"


class CommunityMismatch(LedgerError):
    """A write named a community other than the one its connection is entered in: a bug in the caller, which
    checked access to the community it entered. Raised by the ledger and by the database (SQLSTATE LE013)."""

    code = "community_mismatch"


class AppendOnlyViolation(LedgerError):
    """Someone tried to change or delete a posted entry. Raised only by the database."""

    code = "append_only"


_BY_SQLSTATE: dict[str, type[LedgerError]] = {
    "LE001": InsufficientBalance,
    "LE002": UnbalancedEntry,
    "LE003": UnknownAccount,
    "LE004": UnitMismatch,
    "LE005": IdempotencyConflict,
    "LE006": AlreadyReversed,
    "LE007": EntryNotFound,
    "LE008": HoldNotFound,
    "LE009": HoldNotActive,
    "LE010": HoldExpired,
    "LE011": InvalidEntry,
    "LE012": UpperBoundExceeded,
    "LE013": CommunityMismatch,
    "LE020": AppendOnlyViolation,
}

# Constraint names that back a rule, with the words a person reads and the field they name. Some back a rule
# already checked earlier in the function and fire only on races (two reversals of one entry at the same moment).
# PostgreSQL's own text ("duplicate key value violates unique constraint ...") never reaches a client.
_BY_CONSTRAINT: dict[str, tuple[type[LedgerError], str, str | None]] = {
    "entries_reversed_once": (AlreadyReversed, "the entry was already reversed", None),
    "communities_slug_key": (DuplicateCode, "a community with this slug already exists", "slug"),
    "units_pkey": (DuplicateCode, "this community already keeps a unit with this code", "code"),
    "accounts_community_code_key": (DuplicateCode, "this community already has an account with this code", "code"),
    "accounts_within_lower_bound": (InsufficientBalance, "the account would go below its lower bound", None),
    "accounts_within_upper_bound": (UpperBoundExceeded, "the account would go above its upper bound", None),
    "accounts_unit_fkey": (UnknownUnit, "this community keeps no unit with that code", "unit"),
    "units_community_id_fkey": (UnknownCommunity, "no such community", None),
}


def from_database(exc: BaseException) -> LedgerError | None:
    """The ledger error a database exception stands for, or None if it is not one of ours."""
    sqlstate = getattr(exc, "sqlstate", None)
    message = getattr(exc, "message", None) or str(exc)
    cls = _BY_SQLSTATE.get(sqlstate or "")
    if cls is None:
        constraint = getattr(exc, "constraint_name", None)
        known = _BY_CONSTRAINT.get(constraint or "")
        if known is not None:
            cls, words, field = known
            return cls(words, constraint=constraint, **({"field": field} if field else {}))
        if sqlstate == "23514":  # any other CHECK: a value out of its allowed range
            return InvalidEntry("a value is outside its allowed range", constraint=constraint)
        return None
    detail = getattr(exc, "detail", None)
    data: dict[str, Any] = {}
    if detail:
        try:
            data = json.loads(detail)
        except ValueError:
            data = {"detail": detail}
    return cls(message, **data)
