"""Pure values and rules of the ledger: no I/O here, so they can be checked exhaustively.

Amounts are integers in the smallest unit (points, minutes). A posting's amount
is signed: positive adds to the account's balance, negative takes from it. An
entry's postings sum to zero per unit, so the balances of a community always
sum to zero per unit too (the issuance account carries the negative side).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ledger.errors import InsufficientBalance, InvalidEntry, UnbalancedEntry, UpperBoundExceeded

KINDS = frozenset(
    {"award", "redemption", "return", "swap", "transfer", "expiry", "reversal", "budget", "adjustment", "opening"}
)
# Kinds a client may post directly; reversals are made only by reverse_entry.
POSTABLE_KINDS = KINDS - {"reversal"}

MAX_POSTINGS = 5_000
MAX_AMOUNT = 10**12
MAX_MEMO_CHARS = 500
MAX_REASON_CHARS = 500
MAX_KEY_CHARS = 128
MAX_ACTOR_CHARS = 128
MAX_METADATA_BYTES = 4_096  # the database allows 8 KiB of jsonb; JSON text is the stricter measure
MAX_HOLD_TIMEOUT_S = 30 * 24 * 3600
MAX_METADATA_DEPTH = 8  # {"a": {"b": 1}} is 2 deep; deeper JSON is a mistake or an attack (RecursionError)
# Ids and bounds are PostgreSQL bigints: a larger integer can name nothing and would fail in the driver.
MAX_BIGINT = 2**63 - 1
MAX_ID = MAX_BIGINT
# The times an entry may take effect, and a balance be asked for. Outside them a time is a typo (year 1) or
# overflows PostgreSQL's timestamptz once moved to UTC (9999-12-31T23:59:59-14:00).
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(2100, 1, 1, tzinfo=UTC)
# PostgreSQL's text and jsonb cannot hold U+0000; refused with words instead of the driver's error.
NUL = "\x00"
NO_NUL = "must not contain the NUL character (U+0000)"

UNBALANCED = "the postings do not sum to zero"


@dataclass(frozen=True, slots=True)
class Line:
    """One leg of an entry: an amount added to (or, if negative, taken from) an account."""

    account_id: int
    amount: int


@dataclass(frozen=True, slots=True)
class NewEntry:
    """An entry as a client asks for it. ``effective_at`` defaults to the posting time."""

    kind: str
    lines: tuple[Line, ...]
    idempotency_key: str
    memo: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    actor: str | None = None
    effective_at: datetime | None = None

    def metadata_json(self) -> str:
        return json.dumps(dict(self.metadata), ensure_ascii=False, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Posting:
    id: int
    account_id: int
    amount: int
    balance_after: int | None  # None for unbounded (striped) accounts: derived when history is read


@dataclass(frozen=True, slots=True)
class PostedEntry:
    id: int
    replayed: bool  # True when this was a retry of a request already posted
    posted_at: datetime
    effective_at: datetime
    postings: tuple[Posting, ...]


def check_key(key: str) -> list[str]:
    if not key or len(key) > MAX_KEY_CHARS or not key.isprintable():
        return [f"the idempotency key must be 1 to {MAX_KEY_CHARS} printable characters"]
    return []


def check_text(name: str, value: str | None, limit: int) -> list[str]:
    if value is None:
        return []
    problems = [f"{name} may be at most {limit} characters"] if len(value) > limit else []
    return problems + check_nul(name, value)


def check_nul(name: str, value: str | None) -> list[str]:
    return [f"{name} {NO_NUL}"] if value is not None and NUL in value else []


def check_id(name: str, value: int | None) -> list[str]:
    """An id names a row: a whole number from 1 to PostgreSQL's bigint maximum."""
    if value is None or (type(value) is int and 1 <= value <= MAX_ID):
        return []
    return [f"{name} must be a whole number from 1 to {MAX_ID}"]


def check_bound(name: str, value: int | None) -> list[str]:
    if value is None or (type(value) is int and -MAX_BIGINT <= value <= MAX_BIGINT):
        return []
    return [f"{name} must be a whole number from {-MAX_BIGINT} to {MAX_BIGINT}"]


def check_time(name: str, value: datetime | None) -> list[str]:
    """A time carries its time zone (never guessed) and lies between EARLIEST_TIME and LATEST_TIME."""
    if value is None:
        return []
    if value.tzinfo is None or value.utcoffset() is None:
        return [f"{name} must carry a time zone, e.g. 2026-11-01T09:00:00+08:00"]
    # Aware datetimes compare without converting, so 9999-12-31T23:59:59-14:00 is refused, not overflowed.
    if not EARLIEST_TIME <= value < LATEST_TIME:
        return [f"{name} must be from {EARLIEST_TIME:%Y-%m-%d} up to {LATEST_TIME:%Y-%m-%d}"]
    return []


def check_metadata(metadata: Any) -> list[str]:
    """Metadata is a JSON object nested at most MAX_METADATA_DEPTH deep, with text keys, finite numbers and no
    U+0000 anywhere. Walked with a stack that stops at the limit, so no depth can exhaust Python's recursion."""
    if not isinstance(metadata, Mapping):
        return ["metadata must be a JSON object"]
    stack: list[tuple[Any, int]] = [(metadata, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, Mapping | list | tuple):
            if depth > MAX_METADATA_DEPTH:
                return [f"metadata may nest at most {MAX_METADATA_DEPTH} levels deep"]
            if isinstance(value, Mapping):
                for key in value:
                    if not isinstance(key, str):
                        return ["metadata keys must be text"]
                    if NUL in key:
                        return [f"metadata keys {NO_NUL}"]
                children = list(value.values())
            else:
                children = list(value)
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(value, str):
            if NUL in value:
                return [f"metadata values {NO_NUL}"]
        elif isinstance(value, float):
            if not math.isfinite(value):
                return ["metadata numbers must be finite"]
        elif value is not None and not isinstance(value, bool | int):
            return ["metadata values are JSON: objects, lists, text, numbers, true, false or null"]
    return []


def check_entry(entry: NewEntry, *, allow_reversal: bool = False) -> list[str]:
    """Everything wrong with the entry that can be seen without the database, in one list.

    The database checks all of it again (and the per-unit sum, which needs the
    accounts' units); this runs first so that bad input never costs a round trip
    and every problem is reported at once rather than one per attempt.
    """
    problems: list[str] = []
    kinds = KINDS if allow_reversal else POSTABLE_KINDS
    if entry.kind not in kinds:
        problems.append(f"kind must be one of {', '.join(sorted(kinds))}")
    n = len(entry.lines)
    if n < 2:
        problems.append("an entry needs at least two postings")
    if n > MAX_POSTINGS:
        problems.append(f"an entry may have at most {MAX_POSTINGS} postings, this one has {n}")
    seen: set[int] = set()
    for line in entry.lines:
        if check_id("account_id", line.account_id):
            problems.append(f"account_id {line.account_id} is not an account id: ids run from 1 to {MAX_ID}")
            continue
        if line.account_id in seen:
            problems.append(f"account {line.account_id} appears more than once")
        seen.add(line.account_id)
        if line.amount == 0:
            problems.append(f"the amount for account {line.account_id} must not be zero")
        elif abs(line.amount) > MAX_AMOUNT:
            problems.append(f"the amount for account {line.account_id} is beyond ±{MAX_AMOUNT}")
    # Zero in every unit implies zero overall; the per-unit check needs the
    # accounts' units and is done by the database.
    if n >= 2 and sum(line.amount for line in entry.lines) != 0:
        problems.append(UNBALANCED)
    problems += check_key(entry.idempotency_key)
    problems += check_text("memo", entry.memo, MAX_MEMO_CHARS)
    problems += check_text("actor", entry.actor, MAX_ACTOR_CHARS)
    problems += check_time("effective_at", entry.effective_at)
    shape = check_metadata(entry.metadata)
    problems += shape
    # Only metadata of a sound shape is measured: json.dumps would recurse through any depth.
    if not shape and len(entry.metadata_json().encode()) > MAX_METADATA_BYTES:
        problems.append(f"metadata may be at most {MAX_METADATA_BYTES} bytes of JSON")
    return problems


def refuse(problems: list[str]) -> None:
    """Raise InvalidEntry for the first problem, listing them all; nothing when there are none."""
    if problems:
        raise InvalidEntry(problems[0], problems)


def require_valid(entry: NewEntry, *, allow_reversal: bool = False) -> None:
    """Raise for the first problem, listing them all. An entry that does not balance is an
    UnbalancedEntry whoever notices, Python here or the database per unit."""
    problems = check_entry(entry, allow_reversal=allow_reversal)
    if problems == [UNBALANCED]:
        raise UnbalancedEntry(UNBALANCED, problems=problems)
    if problems:
        raise InvalidEntry(problems[0], problems)


@dataclass(frozen=True, slots=True)
class Bounds:
    lower: int | None = 0
    upper: int | None = None

    @property
    def bounded(self) -> bool:
        return self.lower is not None or self.upper is not None


def apply_entry(
    balances: Mapping[int, int], held: Mapping[int, int], bounds: Mapping[int, Bounds], lines: tuple[Line, ...]
) -> dict[int, int]:
    """The balances after posting ``lines``, or the error the ledger must raise.

    This is the reference the database is tested against (see the stateful
    test): a lower bound applies to the available balance (balance - held), an
    upper bound to the balance itself.
    """
    after = dict(balances)
    for line in sorted(lines, key=lambda ln: ln.account_id):
        b = bounds[line.account_id]
        new = after.get(line.account_id, 0) + line.amount
        available = new - held.get(line.account_id, 0)
        if b.lower is not None and available < b.lower:
            raise InsufficientBalance(
                f"account {line.account_id} has {available - line.amount - b.lower} available",
                account_id=line.account_id,
                available=available - line.amount - b.lower,
                requested=-line.amount,
            )
        if b.upper is not None and new > b.upper:
            raise UpperBoundExceeded(f"account {line.account_id} would exceed {b.upper}", account_id=line.account_id)
        after[line.account_id] = new
    return after
