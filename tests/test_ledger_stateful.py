"""The ledger against the real database, step by step, compared with an in-memory model.

A Hypothesis ``RuleBasedStateMachine`` posts entries (some of them invalid),
retries requests with their idempotency key (same body: replayed; other body:
refused), reverses entries, and places, posts and voids holds, all through the
``ledger`` API on one connection as the application role. Before each call
the model says what must happen — which entry or hold comes back, or exactly
which error — and after every step every balance, every held amount, the
trial balance, the number of entries and postings and the state of every hold
must equal the model. At the end of each example every account's history
(paged) matches the model and ``points verify``'s checks find nothing.

Every example works in a community of its own (ledger rows are never
deleted). The machine is synchronous, so the async ledger calls run on a
private event loop owned by this module, never on pytest-asyncio's loop.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import asyncpg
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

import ledger
from ledger import holds as ledger_holds
from ledger import integrity, queries
from ledger.accounts import add_unit
from ledger.errors import (
    AlreadyReversed,
    EntryNotFound,
    HoldNotActive,
    HoldNotFound,
    IdempotencyConflict,
    InsufficientBalance,
    InvalidEntry,
    LedgerError,
    UnbalancedEntry,
    UnitMismatch,
    UnknownAccount,
    UpperBoundExceeded,
)
from ledger.model import MAX_AMOUNT, POSTABLE_KINDS, Bounds, Line, NewEntry, PostedEntry, apply_entry
from points.settings import APP_ROLE, app_url
from tests import hypothesis_profiles
from tests.conftest import new_slug, plain_url

pytestmark = pytest.mark.slow

T = TypeVar("T")

HOLD_TIMEOUT_S = 3_600  # no hold expires during a run; expiry is tested elsewhere


# --------------------------------------------------------------------------- the private loop


class LoopConnection:
    """An event loop of our own and one asyncpg connection on it, logged in as the application role."""

    def __init__(self, database_url: str) -> None:
        self.loop = asyncio.new_event_loop()
        try:  # logged in as linli_app, exactly as the service is
            self.conn: asyncpg.Connection = self.loop.run_until_complete(
                asyncpg.connect(plain_url(app_url(database_url)))
            )
        except BaseException:
            self.loop.close()
            raise

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        try:
            self.run(self.conn.close())
        finally:
            try:
                self.run(self.loop.shutdown_asyncgens())
            finally:
                self.loop.close()


@dataclass(frozen=True)
class Foreign:
    """Another community: its ids must look exactly like missing ones, and nothing may touch it."""

    community_id: int
    account_ids: tuple[int, int]
    entry_id: int
    hold_id: int
    balances: dict[int, int]
    held: dict[int, int]


@dataclass
class Harness:
    db: LoopConnection
    foreign: Foreign
    examples: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # what the calls were predicted to do, how often


async def _make_foreign(conn: asyncpg.Connection) -> Foreign:
    community = await ledger.create_community(conn, new_slug(), "别的社区")
    issuance = await ledger.open_account(conn, community.id, "issuance", normal_side="debit", lower_bound=None)
    wallet = await ledger.open_account(conn, community.id, "volunteer:1")
    posted = await ledger.post_entry(
        conn,
        community.id,
        NewEntry("award", (Line(issuance.id, -70), Line(wallet.id, 70)), "foreign-award"),
    )
    hold = await ledger_holds.place_hold(
        conn,
        community.id,
        account_id=wallet.id,
        counter_account_id=issuance.id,
        amount=30,
        kind="swap",
        timeout_s=HOLD_TIMEOUT_S,
        idempotency_key="foreign-hold",
    )
    balances = {issuance.id: -70, wallet.id: 70}
    return Foreign(community.id, (issuance.id, wallet.id), posted.id, hold.id, balances, {wallet.id: 30})


@pytest.fixture(scope="module")
def harness(database_url: str) -> Iterator[Harness]:
    db = LoopConnection(database_url)
    try:
        assert db.run(db.conn.fetchval("SELECT current_user")) == APP_ROLE
        yield Harness(db, db.run(_make_foreign(db.conn)))
    finally:
        db.close()


# --------------------------------------------------------------------------- accounts and requests

POINTS, MINUTES = "points", "minutes"


@dataclass(frozen=True)
class Spec:
    code: str
    unit: str
    lower: int | None
    upper: int | None = None


# By index; the strategies below speak in indices, the machine maps them to this example's ids.
ACCOUNTS = (
    Spec("issuance", POINTS, None),  # 0: unbounded, the community's source of points
    Spec("volunteer:a", POINTS, 0),  # 1-3: wallets that may never go below 0
    Spec("volunteer:b", POINTS, 0),
    Spec("volunteer:c", POINTS, 0),
    Spec("volunteer:credit", POINTS, -50),  # 4: a wallet with a credit limit of 50
    Spec("volunteer:capped", POINTS, 0, 300),  # 5: a wallet that may hold at most 300
    Spec("time-issuance", MINUTES, None),  # 6: a time bank in minutes, unbounded
    Spec("time:wallet", MINUTES, 0),  # 7
)
POINT_ACCOUNTS = tuple(i for i, s in enumerate(ACCOUNTS) if s.unit == POINTS)
POINT_WALLETS = tuple(i for i in POINT_ACCOUNTS if ACCOUNTS[i].lower is not None)
MINUTE_ACCOUNTS = tuple(i for i, s in enumerate(ACCOUNTS) if s.unit == MINUTES)
CAPPED = 5
FOREIGN = -1  # stands for an account of another community

MEMOS = ("", "治安巡逻", "积分超市 redemption")
REASONS = ("录入错误", "duplicate award")
KINDS = ("award", "transfer", "redemption")
METADATA: tuple[dict[str, Any], ...] = ({}, {"activity": 7}, {"备注": "楼栋长确认"})
HOLD_KINDS = ("swap", "redemption")


@dataclass(frozen=True)
class PostRequest:
    entry: NewEntry


@dataclass(frozen=True)
class ReverseRequest:
    entry_id: int
    reason: str
    key: str


@dataclass(frozen=True)
class PostHoldRequest:
    hold_id: int
    amount: int | None
    key: str
    memo: str | None = None


EntryRequest = PostRequest | ReverseRequest | PostHoldRequest


@dataclass(frozen=True)
class PlaceHoldRequest:
    account_id: int
    counter_account_id: int
    amount: int
    kind: str
    key: str
    memo: str = ""


@dataclass(frozen=True)
class EntryRecord:
    """An entry the ledger posted, and the request that posted it (retried by the retry rules)."""

    entry_id: int
    request: EntryRequest
    posted: PostedEntry


@dataclass(frozen=True)
class HoldRecord:
    hold_id: int
    request: PlaceHoldRequest


@dataclass
class HoldState:
    account_id: int
    counter_account_id: int
    amount: int
    kind: str
    memo: str
    status: str = "active"
    posted_amount: int | None = None
    entry_id: int | None = None


# What the model says a call must do.
@dataclass(frozen=True)
class Refused:
    error: type[LedgerError]
    data: dict[str, Any] = field(default_factory=dict)  # must match the error's data


@dataclass(frozen=True)
class Replayed:
    record_id: int  # the entry (or hold) the key already stands for


@dataclass(frozen=True)
class Applied:
    lines: tuple[Line, ...]
    balances: dict[int, int]  # every balance after the entry


Prediction = Refused | Replayed | Applied


# --------------------------------------------------------------------------- strategies (indices only)


@st.composite
def entry_plans(draw: st.DrawFn) -> tuple[str, tuple[tuple[int, int], ...]]:
    """(shape, lines as (account index, amount)); FOREIGN marks another community's account."""
    valid = ("award", "transfer", "mixed", "award", "overdraw", "mixed", "with_minutes", "transfer", "fill_cap")
    invalid = ("unbalanced", "duplicate", "single", "zero", "cross_unit", "foreign")
    shape = draw(st.sampled_from(valid) if draw(st.integers(0, 4)) else st.sampled_from(invalid))

    def award() -> list[tuple[int, int]]:
        wallets = draw(st.lists(st.sampled_from(POINT_WALLETS), min_size=1, max_size=3, unique=True))
        lines = [(w, draw(st.integers(1, 200))) for w in wallets]
        return [(0, -sum(a for _, a in lines)), *lines]

    if shape == "award":
        return shape, tuple(award())
    if shape == "transfer":
        src, dst = draw(st.permutations(POINT_WALLETS))[:2]
        amount = draw(st.integers(1, 150))
        return shape, ((src, -amount), (dst, amount))
    if shape == "overdraw":  # resolved by the machine, which knows what the wallet has
        src, dst = draw(st.permutations(POINT_WALLETS))[:2]
        return shape, ((src, draw(st.integers(0, 2))), (dst, 0))
    if shape == "fill_cap":  # resolved by the machine: the capped wallet is filled to its cap, or one past or short
        return shape, ((0, draw(st.integers(-1, 1))), (CAPPED, 0))
    if shape == "mixed":
        accounts = draw(st.lists(st.sampled_from(POINT_ACCOUNTS), min_size=2, max_size=4, unique=True))
        head = [draw(st.integers(-150, 150).filter(bool)) for _ in accounts[1:]]
        if sum(head) == 0:
            head[0] += 1 if head[0] > 0 else -1
        return shape, ((accounts[0], -sum(head)), *zip(accounts[1:], head, strict=True))
    if shape == "with_minutes":
        src, dst = draw(st.permutations(MINUTE_ACCOUNTS))[:2]
        amount = draw(st.integers(1, 90))
        return shape, (*award(), (src, -amount), (dst, amount))
    if shape == "unbalanced":
        lines = award()
        i = draw(st.integers(0, len(lines) - 1))
        delta = draw(st.integers(1, 5))
        lines[i] = (lines[i][0], lines[i][1] + (delta if lines[i][1] > 0 else -delta))
        return shape, tuple(lines)
    if shape == "duplicate":
        lines = award()
        w, a = lines[-1]
        return shape, ((0, lines[0][1] - a), *lines[1:], (w, a))
    if shape == "single":
        return shape, ((draw(st.sampled_from(POINT_WALLETS)), draw(st.integers(1, 50))),)
    if shape == "zero":
        lines = award()
        spare = next(i for i in POINT_WALLETS if i not in {a for a, _ in lines})
        return shape, (*lines, (spare, 0))
    if shape == "cross_unit":
        amount = draw(st.integers(1, 50))
        return shape, (
            (draw(st.sampled_from(POINT_WALLETS)), amount),
            (draw(st.sampled_from(MINUTE_ACCOUNTS)), -amount),
        )
    lines = award()  # foreign: one wallet is another community's
    i = draw(st.integers(1, len(lines) - 1))
    lines[i] = (FOREIGN, lines[i][1])
    return shape, tuple(lines)


# --------------------------------------------------------------------------- the machine


class LedgerMachine(RuleBasedStateMachine):
    entries = Bundle("entries")
    holds = Bundle("holds")

    def __init__(self, harness: Harness) -> None:
        super().__init__()
        self.h = harness
        self.db = harness.db
        self.conn = harness.db.conn
        harness.examples += 1
        self.keys = itertools.count(1)
        community = self.run(ledger.create_community(self.conn, new_slug(), "状态机社区"))
        self.cid = community.id
        self.run(add_unit(self.conn, self.cid, MINUTES, "分钟"))
        self.ids: list[int] = []
        for spec in ACCOUNTS:
            account = self.run(
                ledger.open_account(
                    self.conn,
                    self.cid,
                    spec.code,
                    unit=spec.unit,
                    normal_side="debit" if spec.lower is None else "credit",
                    lower_bound=spec.lower,
                    upper_bound=spec.upper,
                )
            )
            assert account.bounds == Bounds(spec.lower, spec.upper)
            self.ids.append(account.id)
        # The model.
        self.bounds = {self.ids[i]: Bounds(s.lower, s.upper) for i, s in enumerate(ACCOUNTS)}
        self.units = {self.ids[i]: s.unit for i, s in enumerate(ACCOUNTS)}
        self.balances = dict.fromkeys(self.ids, 0)
        self.held = dict.fromkeys(self.ids, 0)
        self.entry_keys: dict[str, tuple[tuple[Any, ...], int]] = {}  # key -> (request fingerprint, entry id)
        self.hold_keys: dict[str, tuple[tuple[Any, ...], int]] = {}  # key -> (request fingerprint, hold id)
        self.entry_lines: dict[int, tuple[Line, ...]] = {}
        self.reversed_by: dict[int, int] = {}
        self.hold_states: dict[int, HoldState] = {}
        self.unused_keys: list[str] = []  # keys of refused requests: never claimed, free to use again
        self.records: dict[int, EntryRecord] = {}
        # Per account, oldest first: (entry id, amount, balance after it, the entry it reverses).
        self.history: dict[int, list[tuple[int, int, int, int | None]]] = {a: [] for a in self.ids}

    # ------------------------------------------------------------------ plumbing

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.db.run(coro)

    def new_key(self, prefix: str) -> str:
        return f"{prefix}-{next(self.keys)}"

    def account(self, index: int) -> int:
        return self.h.foreign.account_ids[1] if index == FOREIGN else self.ids[index]

    def available(self, account_id: int) -> int:
        return self.balances[account_id] - self.held[account_id] - (self.bounds[account_id].lower or 0)

    def expect(self, prediction: Prediction, call: Coroutine[Any, Any, T]) -> T | None:
        """Run the call; it must be refused exactly as predicted, or succeed when the model says so."""
        outcome = f"{getattr(call, '__qualname__', call)}: {type(prediction).__name__}"
        if isinstance(prediction, Refused):
            outcome += f" {prediction.error.__name__}"
        self.h.outcomes[outcome] += 1
        error: LedgerError | None = None
        try:
            result = self.run(call)
        except LedgerError as exc:
            error = exc
        if error is not None:
            assert isinstance(prediction, Refused), f"the model expected {prediction}, the ledger raised {error!r}"
            assert type(error) is prediction.error, f"expected {prediction.error.__name__}, got {error!r}"
            for name, value in prediction.data.items():
                assert error.data.get(name) == value, (name, value, error.data)
            return None
        assert not isinstance(prediction, Refused), f"expected {prediction.error.__name__}, the call returned {result}"
        return result

    def check_bounds(self, lines: tuple[Line, ...], held: dict[int, int]) -> Prediction:
        """The reference model decides whether the bounds let these lines through."""
        try:
            after = apply_entry(self.balances, held, self.bounds, lines)
        except InsufficientBalance as exc:
            return Refused(InsufficientBalance, dict(exc.data))
        except UpperBoundExceeded as exc:
            return Refused(UpperBoundExceeded, {"account_id": exc.data["account_id"]})
        return Applied(lines, after)

    def check_key(self, key: str, fingerprint: tuple[Any, ...]) -> Prediction | None:
        if key not in self.entry_keys:
            return None
        used_for, entry_id = self.entry_keys[key]
        return Replayed(entry_id) if used_for == fingerprint else Refused(IdempotencyConflict, {"entry_id": entry_id})

    def check_posted(self, prediction: Prediction, posted: PostedEntry | None) -> None:
        """A new entry: its postings are the predicted lines, bounded accounts carry their running balance."""
        assert isinstance(prediction, Applied)
        assert posted is not None
        assert posted.replayed is False
        assert posted.id not in self.entry_lines
        assert sorted((p.account_id, p.amount) for p in posted.postings) == sorted(
            (line.account_id, line.amount) for line in prediction.lines
        )
        for p in posted.postings:
            bounded = self.bounds[p.account_id].bounded
            assert p.balance_after == (prediction.balances[p.account_id] if bounded else None)

    def check_replayed(self, prediction: Prediction, posted: PostedEntry | None) -> None:
        assert isinstance(prediction, Replayed)
        assert posted is not None
        assert posted.replayed is True
        assert posted.id == prediction.record_id
        original = self.records[posted.id].posted
        assert posted.postings == original.postings
        assert posted.posted_at == original.posted_at

    def commit(
        self, key: str, fingerprint: tuple[Any, ...], prediction: Applied, posted: PostedEntry, request: EntryRequest
    ) -> EntryRecord:
        self.balances = prediction.balances
        self.entry_keys[key] = (fingerprint, posted.id)
        self.entry_lines[posted.id] = prediction.lines
        reverses = request.entry_id if isinstance(request, ReverseRequest) else None
        for line in prediction.lines:
            self.history[line.account_id].append(
                (posted.id, line.amount, prediction.balances[line.account_id], reverses)
            )
        record = EntryRecord(posted.id, request, posted)
        self.records[posted.id] = record
        return record

    # ------------------------------------------------------------------ fingerprints: what the database hashes

    @staticmethod
    def post_fingerprint(entry: NewEntry) -> tuple[Any, ...]:
        lines = tuple(sorted((line.account_id, line.amount) for line in entry.lines))
        return ("post", entry.kind, entry.memo, entry.metadata_json(), entry.actor, entry.effective_at, lines)

    def post_hold_fingerprint(self, request: PostHoldRequest) -> tuple[Any, ...]:
        hold = self.hold_states[request.hold_id]
        amount = hold.amount if request.amount is None else request.amount
        return ("post_hold", request.hold_id, amount, hold.memo if request.memo is None else request.memo)

    # ------------------------------------------------------------------ predictions

    def predict_post(self, entry: NewEntry) -> Prediction:
        accounts = [line.account_id for line in entry.lines]
        if (
            len(accounts) < 2
            or len(set(accounts)) != len(accounts)
            or any(not 0 < abs(line.amount) <= MAX_AMOUNT for line in entry.lines)
            or entry.kind not in POSTABLE_KINDS
        ):
            return Refused(InvalidEntry)
        if sum(line.amount for line in entry.lines) != 0:
            return Refused(UnbalancedEntry)  # refused before the database, as the database would
        replay = self.check_key(entry.idempotency_key, self.post_fingerprint(entry))
        if replay is not None:
            return replay
        missing = [a for a in accounts if a not in self.bounds]
        if missing:
            return Refused(UnknownAccount, {"account_id": missing[0]})
        for unit in {self.units[a] for a in accounts}:
            if sum(line.amount for line in entry.lines if self.units[line.account_id] == unit) != 0:
                return Refused(UnbalancedEntry)
        return self.check_bounds(tuple(entry.lines), self.held)

    def predict_reverse(self, request: ReverseRequest) -> Prediction:
        if request.entry_id not in self.entry_lines:
            return Refused(EntryNotFound, {"entry_id": request.entry_id})
        if request.key not in self.entry_keys and request.entry_id in self.reversed_by:
            return Refused(
                AlreadyReversed,
                {"entry_id": request.entry_id, "reversal_entry_id": self.reversed_by[request.entry_id]},
            )
        replay = self.check_key(request.key, ("reverse", request.entry_id, request.reason))
        if replay is not None:
            return replay
        mirror = tuple(Line(line.account_id, -line.amount) for line in self.entry_lines[request.entry_id])
        return self.check_bounds(mirror, self.held)

    def predict_post_hold(self, request: PostHoldRequest) -> Prediction:
        if request.hold_id not in self.hold_states:
            return Refused(HoldNotFound, {"hold_id": request.hold_id})
        hold = self.hold_states[request.hold_id]
        replay = self.check_key(request.key, self.post_hold_fingerprint(request))
        if replay is not None:
            return replay
        if hold.status != "active":
            return Refused(HoldNotActive, {"hold_id": request.hold_id, "status": hold.status})
        amount = hold.amount if request.amount is None else request.amount
        if amount > hold.amount:
            return Refused(InvalidEntry)
        released = {**self.held, hold.account_id: self.held[hold.account_id] - hold.amount}
        return self.check_bounds((Line(hold.account_id, -amount), Line(hold.counter_account_id, amount)), released)

    def predict_place_hold(self, request: PlaceHoldRequest) -> Prediction:
        if request.account_id == request.counter_account_id:
            return Refused(InvalidEntry)
        fingerprint = (request.account_id, request.counter_account_id, request.amount, request.kind, request.memo)
        if request.key in self.hold_keys:
            used_for, hold_id = self.hold_keys[request.key]
            return Replayed(hold_id) if used_for == fingerprint else Refused(IdempotencyConflict, {"hold_id": hold_id})
        for a in (request.account_id, request.counter_account_id):
            if a not in self.bounds:
                return Refused(UnknownAccount, {"account_id": a})
        if self.units[request.account_id] != self.units[request.counter_account_id]:
            return Refused(UnitMismatch)
        lower = self.bounds[request.account_id].lower
        if lower is not None and request.amount > self.available(request.account_id):
            return Refused(
                InsufficientBalance,
                {
                    "account_id": request.account_id,
                    "available": self.available(request.account_id),
                    "requested": request.amount,
                },
            )
        return Applied((), self.balances)

    # ------------------------------------------------------------------ calls

    def do_post(self, entry: NewEntry) -> EntryRecord | None:
        prediction = self.predict_post(entry)
        posted = self.expect(prediction, ledger.post_entry(self.conn, self.cid, entry))
        if isinstance(prediction, Refused):
            if entry.idempotency_key not in self.entry_keys:
                self.unused_keys.append(entry.idempotency_key)
            return None
        if isinstance(prediction, Replayed):
            self.check_replayed(prediction, posted)
            return None
        assert isinstance(prediction, Applied)
        assert posted is not None
        self.check_posted(prediction, posted)
        return self.commit(entry.idempotency_key, self.post_fingerprint(entry), prediction, posted, PostRequest(entry))

    def do_reverse(self, request: ReverseRequest) -> EntryRecord | None:
        prediction = self.predict_reverse(request)
        posted = self.expect(
            prediction,
            ledger.reverse_entry(
                self.conn, self.cid, request.entry_id, reason=request.reason, idempotency_key=request.key
            ),
        )
        if isinstance(prediction, Refused):
            return None
        if isinstance(prediction, Replayed):
            self.check_replayed(prediction, posted)
            return None
        assert isinstance(prediction, Applied)
        assert posted is not None
        self.check_posted(prediction, posted)
        self.reversed_by[request.entry_id] = posted.id
        return self.commit(request.key, ("reverse", request.entry_id, request.reason), prediction, posted, request)

    def do_post_hold(self, request: PostHoldRequest) -> EntryRecord | None:
        prediction = self.predict_post_hold(request)
        posted = self.expect(
            prediction,
            ledger_holds.post_hold(
                self.conn,
                self.cid,
                request.hold_id,
                idempotency_key=request.key,
                amount=request.amount,
                memo=request.memo,
            ),
        )
        if isinstance(prediction, Refused):
            return None
        if isinstance(prediction, Replayed):
            self.check_replayed(prediction, posted)
            return None
        assert isinstance(prediction, Applied)
        assert posted is not None
        self.check_posted(prediction, posted)
        fingerprint = self.post_hold_fingerprint(request)
        hold = self.hold_states[request.hold_id]
        self.held[hold.account_id] -= hold.amount
        hold.status, hold.posted_amount, hold.entry_id = "posted", prediction.lines[1].amount, posted.id
        return self.commit(request.key, fingerprint, prediction, posted, request)

    def do_place_hold(self, request: PlaceHoldRequest) -> HoldRecord | None:
        prediction = self.predict_place_hold(request)
        hold = self.expect(
            prediction,
            ledger_holds.place_hold(
                self.conn,
                self.cid,
                account_id=request.account_id,
                counter_account_id=request.counter_account_id,
                amount=request.amount,
                kind=request.kind,
                timeout_s=HOLD_TIMEOUT_S,
                idempotency_key=request.key,
                memo=request.memo,
            ),
        )
        if isinstance(prediction, Refused):
            return None
        assert hold is not None
        if isinstance(prediction, Replayed):
            assert hold.replayed is True
            assert hold.id == prediction.record_id
            self.check_hold(hold)
            return None
        assert hold.replayed is False
        assert hold.id not in self.hold_states
        self.hold_states[hold.id] = HoldState(
            request.account_id, request.counter_account_id, request.amount, request.kind, request.memo
        )
        self.check_hold(hold)
        self.held[request.account_id] += request.amount
        fingerprint = (request.account_id, request.counter_account_id, request.amount, request.kind, request.memo)
        self.hold_keys[request.key] = (fingerprint, hold.id)
        return HoldRecord(hold.id, request)

    def check_hold(self, hold: ledger_holds.Hold) -> None:
        state = self.hold_states[hold.id]
        assert (
            hold.account_id,
            hold.counter_account_id,
            hold.amount,
            hold.kind,
            hold.memo,
            hold.status,
            hold.posted_amount,
            hold.entry_id,
            hold.unit,
        ) == (
            state.account_id,
            state.counter_account_id,
            state.amount,
            state.kind,
            state.memo,
            state.status,
            state.posted_amount,
            state.entry_id,
            self.units[state.account_id],
        )

    def mostly_active(self, hold_id: int, data: st.DataObject) -> int:
        """Holds are settled quickly, so most settling would hit settled ones: mostly switch to an active one."""
        active = sorted(i for i, h in self.hold_states.items() if h.status == "active")
        if self.hold_states[hold_id].status == "active" or not active:
            return hold_id
        if data.draw(st.integers(0, 3), label="keep the settled hold") == 3:
            return hold_id
        return data.draw(st.sampled_from(active), label="active hold")

    # ------------------------------------------------------------------ rules

    @initialize(
        target=entries, amounts=st.lists(st.integers(0, 250), min_size=len(POINT_WALLETS), max_size=len(POINT_WALLETS))
    )
    def opening_award(self, amounts: list[int]) -> Any:
        """Most examples start with points in the wallets (through the same checked path as any entry)."""
        lines = [Line(self.ids[w], a) for w, a in zip(POINT_WALLETS, amounts, strict=True) if a]
        if not lines:
            return multiple()
        entry = NewEntry("opening", (Line(self.ids[0], -sum(line.amount for line in lines)), *lines), "opening")
        record = self.do_post(entry)
        assert record is not None, "an opening award from the unbounded issuance account always posts"
        return record

    @initialize(target=holds, wallet=st.sampled_from(POINT_WALLETS), amount=st.integers(1, 150))
    def opening_hold(self, wallet: int, amount: int) -> Any:
        """A hold from the unbounded issuance account (always placed), so the hold rules run from the start."""
        request = PlaceHoldRequest(self.ids[0], self.ids[wallet], amount, "award", "opening-hold")
        record = self.do_place_hold(request)
        assert record is not None, "a hold on the unbounded issuance account is always placed"
        return record

    @rule(target=entries, plan=entry_plans(), kind=st.sampled_from(KINDS), memo=st.sampled_from(MEMOS), data=st.data())
    def post_entry(
        self, plan: tuple[str, tuple[tuple[int, int], ...]], kind: str, memo: str, data: st.DataObject
    ) -> Any:
        """A new request: valid or not, within the bounds or not; now and then on the key of a refused one."""
        shape, lines = plan
        self.h.outcomes[f"plan {shape}"] += 1
        if shape == "fill_cap":
            (src, off), (dst, _) = lines
            cap = ACCOUNTS[dst].upper
            assert cap is not None
            amount = max(1, cap - self.balances[self.ids[dst]] + off)
            lines = ((src, -amount), (dst, amount))
        elif shape == "overdraw":  # a wallet pays just over what it has available (the plan's amount is the excess)
            (src, over), (dst, _) = lines
            amount = max(1, self.available(self.ids[src])) + over
            lines = ((src, -amount), (dst, amount))
        key = self.new_key("e")
        if self.unused_keys and data.draw(st.integers(0, 3), label="reuse a refused request's key") == 0:
            key = data.draw(st.sampled_from(self.unused_keys), label="key")
        metadata = data.draw(st.sampled_from(METADATA), label="metadata")
        entry = NewEntry(kind, tuple(Line(self.account(i), a) for i, a in lines), key, memo=memo, metadata=metadata)
        record = self.do_post(entry)
        return multiple() if record is None else record

    @rule(record=entries, same=st.booleans(), data=st.data())
    def retry(self, record: EntryRecord, same: bool, data: st.DataObject) -> None:
        """A request that made an entry, again with the same key: with the same body the original entry
        comes back; with any other body it is refused as a conflict. Either way nothing changes."""
        if same:
            self.retry_same_body(record, data)
        else:
            self.retry_other_body(record, data)

    def retry_same_body(self, record: EntryRecord, data: st.DataObject) -> None:
        request = record.request
        if isinstance(request, PostRequest):
            lines = tuple(data.draw(st.permutations(request.entry.lines), label="line order"))
            assert self.do_post(replace(request.entry, lines=lines)) is None
        elif isinstance(request, ReverseRequest):
            assert self.do_reverse(request) is None
        else:
            hold = self.hold_states[request.hold_id]
            amount = hold.amount if request.amount is None else request.amount
            if amount == hold.amount:  # "everything" may be said either way
                request = PostHoldRequest(request.hold_id, data.draw(st.sampled_from([None, amount])), request.key)
            assert self.do_post_hold(request) is None

    def retry_other_body(self, record: EntryRecord, data: st.DataObject) -> None:
        key = _key_of(record.request)
        choice = data.draw(st.sampled_from(["post", "reverse", "post_hold", "one_field"]), label="other request")
        if choice == "one_field" and isinstance(record.request, PostRequest):
            # The same request but for one field: memo, metadata, kind or one amount.
            original = record.request.entry
            field_ = data.draw(st.sampled_from(["memo", "metadata", "kind", "amount"]), label="field")
            if field_ == "memo":
                entry = replace(original, memo=original.memo + "·改")
            elif field_ == "metadata":
                entry = replace(original, metadata={**original.metadata, "改": 1})
            elif field_ == "kind":
                entry = replace(original, kind="adjustment")
            else:
                first, second, *rest = original.lines
                step = 1 if first.amount > 0 else -1  # move one point from the first line to the second
                moved = (Line(first.account_id, first.amount - step), Line(second.account_id, second.amount + step))
                entry = replace(original, lines=(*moved, *rest))
                if not all(line.amount for line in entry.lines):
                    entry = replace(original, memo=original.memo + "·改")
            assert self.predict_post(entry) == Refused(IdempotencyConflict, {"entry_id": self.entry_keys[key][1]})
            assert self.do_post(entry) is None
        elif choice == "post_hold" and self.hold_states:
            hold_id = data.draw(st.sampled_from(sorted(self.hold_states)), label="hold")
            other_post = PostHoldRequest(hold_id, None, key, memo="另一个请求")
            assert isinstance(self.predict_post_hold(other_post), Refused)
            assert self.do_post_hold(other_post) is None
        elif choice == "reverse":
            entry_id = data.draw(st.sampled_from(sorted(self.entry_lines)), label="entry")
            other_reversal = ReverseRequest(entry_id, "another reason", key)
            assert isinstance(self.predict_reverse(other_reversal), Refused)
            assert self.do_reverse(other_reversal) is None
        else:
            wallet = self.ids[data.draw(st.sampled_from(POINT_WALLETS), label="wallet")]
            amount = data.draw(st.integers(1, 100), label="amount")
            entry = NewEntry("award", (Line(self.ids[0], -amount), Line(wallet, amount)), key, memo="另一个请求")
            assert self.predict_post(entry) == Refused(IdempotencyConflict, {"entry_id": self.entry_keys[key][1]})
            assert self.do_post(entry) is None

    @rule(target=entries, record=entries, reason=st.sampled_from(REASONS), foreign=st.integers(0, 9))
    def reverse_entry(self, record: EntryRecord, reason: str, foreign: int) -> Any:
        """Reverse an entry: once; a second reversal is refused, and so is one the wallets cannot pay.
        Another community's entry does not exist here."""
        entry_id = self.h.foreign.entry_id if foreign == 0 else record.entry_id
        result = self.do_reverse(ReverseRequest(entry_id, reason, self.new_key("r")))
        return multiple() if result is None else result

    @rule(target=holds, data=st.data())
    def place_hold(self, data: st.DataObject) -> Any:
        plan = data.draw(
            st.sampled_from(
                ["within", "from_issuance", "beyond", "within", "minutes", "cross_unit", "foreign", "same"]
            ),
            label="hold plan",
        )
        amount = data.draw(st.integers(1, 120), label="amount")
        if plan in ("within", "beyond"):
            src, dst = data.draw(st.permutations(POINT_ACCOUNTS[1:]), label="accounts")[:2]
            free = self.available(self.ids[src])
            if plan == "within" and free > 0:
                amount = data.draw(st.integers(1, free), label="within")
            elif plan == "beyond":
                amount = max(0, free) + data.draw(st.integers(1, 5), label="over")
            counter = data.draw(st.sampled_from([0, dst]), label="counter")
            account, counter_account = self.ids[src], self.ids[counter]
        elif plan == "from_issuance":
            account, counter_account = self.ids[0], self.ids[data.draw(st.sampled_from(POINT_WALLETS))]
        elif plan == "minutes":
            src, dst = data.draw(st.permutations(MINUTE_ACCOUNTS), label="accounts")[:2]
            account, counter_account = self.ids[src], self.ids[dst]
        elif plan == "cross_unit":
            account = self.ids[data.draw(st.sampled_from(POINT_ACCOUNTS))]
            counter_account = self.ids[data.draw(st.sampled_from(MINUTE_ACCOUNTS))]
        elif plan == "foreign":
            account, counter_account = self.ids[0], self.h.foreign.account_ids[1]
        else:
            account = counter_account = self.ids[data.draw(st.sampled_from(POINT_WALLETS))]
        kind = data.draw(st.sampled_from(HOLD_KINDS), label="kind")
        memo = data.draw(st.sampled_from(["", "亲邻易物台"]), label="memo")
        request = PlaceHoldRequest(account, counter_account, amount, kind, self.new_key("h"), memo)
        result = self.do_place_hold(request)
        return multiple() if result is None else result

    @rule(record=holds, other=st.sampled_from([0, 0, 1, 50]))
    def retry_hold(self, record: HoldRecord, other: int) -> None:
        """Placing the same hold again with its key returns it as it is now and reserves nothing more;
        the key with another amount is refused."""
        request = record.request
        if other:
            request = replace(request, amount=request.amount + other)
            assert self.predict_place_hold(request) == Refused(IdempotencyConflict, {"hold_id": record.hold_id})
        assert self.do_place_hold(request) is None

    @rule(target=entries, record=holds, elsewhere=st.integers(0, 9), data=st.data())
    def post_hold(self, record: HoldRecord, elsewhere: int, data: st.DataObject) -> Any:
        """Post a hold, all of it or part (the rest is released), or more than it holds (refused).
        Another community's hold does not exist here."""
        if elsewhere == 0:
            foreign = PostHoldRequest(self.h.foreign.hold_id, None, self.new_key("p"))
            assert self.do_post_hold(foreign) is None
            return multiple()
        hold_id = self.mostly_active(record.hold_id, data)
        hold = self.hold_states[hold_id]
        how = data.draw(st.sampled_from(["all", "part", "exact", "too_much"]), label="how much")
        amount = {
            "all": None,
            "exact": hold.amount,
            "part": data.draw(st.integers(1, hold.amount), label="part"),
            "too_much": hold.amount + data.draw(st.integers(1, 10), label="excess"),
        }[how]
        result = self.do_post_hold(PostHoldRequest(hold_id, amount, self.new_key("p")))
        return multiple() if result is None else result

    @rule(record=holds, elsewhere=st.integers(0, 9), data=st.data())
    def void_hold(self, record: HoldRecord, elsewhere: int, data: st.DataObject) -> None:
        """Void: releases what the hold reserved; voiding twice changes nothing; a posted hold stays posted.
        Another community's hold does not exist here."""
        if elsewhere == 0:
            foreign = self.h.foreign.hold_id
            self.expect(
                Refused(HoldNotFound, {"hold_id": foreign}), ledger_holds.void_hold(self.conn, self.cid, foreign)
            )
            return
        hold_id = self.mostly_active(record.hold_id, data)
        state = self.hold_states[hold_id]
        if state.status == "posted":
            prediction: Prediction = Refused(HoldNotActive, {"hold_id": hold_id, "status": "posted"})
        elif state.status == "voided":
            prediction = Replayed(hold_id)
        else:
            prediction = Applied((), self.balances)
        hold = self.expect(prediction, ledger_holds.void_hold(self.conn, self.cid, hold_id))
        if isinstance(prediction, Refused):
            return
        assert hold is not None
        assert hold.replayed is isinstance(prediction, Replayed)
        if isinstance(prediction, Applied):
            state.status = "voided"
            self.held[state.account_id] -= state.amount
        self.check_hold(hold)

    # ------------------------------------------------------------------ after every step

    @invariant()
    def database_matches_model(self) -> None:
        for account_id in self.ids:
            b = self.run(queries.balance(self.conn, self.cid, account_id))
            expected = (self.balances[account_id], self.held[account_id], self.available(account_id))
            assert (b.balance, b.held, b.available) == expected, (account_id, self.bounds[account_id])
        trial = {line.unit: line for line in self.run(queries.trial_balance(self.conn, self.cid))}
        assert sorted(trial) == [MINUTES, POINTS]
        for unit, line in trial.items():
            mine = [self.balances[a] for a in self.ids if self.units[a] == unit]
            assert line.total == 0
            assert (line.debits, line.credits, line.accounts) == (
                -sum(b for b in mine if b < 0),
                sum(b for b in mine if b > 0),
                len(mine),
            )
        # Refused requests wrote nothing: exactly the model's entries, postings and holds exist.
        row = self.run(
            self.conn.fetchrow(
                "SELECT (SELECT count(*) FROM ledger.entries WHERE community_id = $1) AS entries, "
                "(SELECT count(*) FROM ledger.postings WHERE community_id = $1) AS postings",
                self.cid,
            )
        )
        assert (row["entries"], row["postings"]) == (
            len(self.entry_lines),
            sum(len(lines) for lines in self.entry_lines.values()),
        )
        found = {
            r["id"]: (r["status"], r["posted_amount"], r["entry_id"])
            for r in self.run(
                self.conn.fetch(
                    "SELECT id, status, posted_amount, entry_id FROM ledger.holds WHERE community_id = $1", self.cid
                )
            )
        }
        assert found == {i: (s.status, s.posted_amount, s.entry_id) for i, s in self.hold_states.items()}

    def teardown(self) -> None:
        # Every account's history, paged by cursor, newest first, with the running balance after each posting
        # (stored for bounded accounts, derived for unbounded ones).
        for account_id in self.ids:
            lines: list[queries.HistoryLine] = []
            cursor: str | None = None
            while True:
                page = self.run(queries.history(self.conn, self.cid, account_id, cursor=cursor, limit=3))
                lines += page.lines
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
            found = [(line.entry_id, line.amount, line.balance_after, line.reverses_entry_id) for line in lines]
            assert found == self.history[account_id][::-1], account_id
        assert self.run(integrity.verify(self.conn, self.cid)) == []


def _key_of(request: EntryRequest) -> str:
    return request.entry.idempotency_key if isinstance(request, PostRequest) else request.key


EXPECTED_OUTCOMES = (
    *(f"post_entry: {o}" for o in ("Applied", "Replayed", "Refused IdempotencyConflict")),
    *(f"post_entry: Refused {e}" for e in ("InvalidEntry", "InsufficientBalance", "UpperBoundExceeded")),
    *(f"post_entry: Refused {e}" for e in ("UnbalancedEntry", "UnknownAccount")),
    *(f"reverse_entry: {o}" for o in ("Applied", "Replayed", "Refused IdempotencyConflict")),
    *(f"reverse_entry: Refused {e}" for e in ("AlreadyReversed", "InsufficientBalance", "EntryNotFound")),
    *(f"place_hold: {o}" for o in ("Applied", "Replayed", "Refused IdempotencyConflict")),
    *(f"place_hold: Refused {e}" for e in ("InsufficientBalance", "UnitMismatch", "UnknownAccount", "InvalidEntry")),
    *(f"post_hold: {o}" for o in ("Applied", "Replayed", "Refused IdempotencyConflict")),
    *(f"post_hold: Refused {e}" for e in ("HoldNotActive", "InvalidEntry", "HoldNotFound")),
    *(f"void_hold: {o}" for o in ("Applied", "Replayed", "Refused HoldNotActive", "Refused HoldNotFound")),
)


def test_ledger_matches_the_model(harness: Harness) -> None:
    run_state_machine_as_test(lambda: LedgerMachine(harness), settings=settings())
    if settings().max_examples >= hypothesis_profiles.CI_MAX_EXAMPLES:
        # A full run must have driven the ledger into every situation the model knows, or it proved little.
        assert harness.examples >= hypothesis_profiles.CI_MAX_EXAMPLES
        missing = [outcome for outcome in EXPECTED_OUTCOMES if not harness.outcomes[outcome]]
        assert not missing, (missing, sorted(harness.outcomes.items()))
    # No example touched the other community.
    foreign = harness.foreign
    for account_id, expected in foreign.balances.items():
        got = harness.db.run(queries.balance(harness.db.conn, foreign.community_id, account_id))
        assert (got.balance, got.held) == (expected, foreign.held.get(account_id, 0))
    hold = harness.db.run(ledger_holds.get_hold(harness.db.conn, foreign.community_id, foreign.hold_id))
    assert hold is not None
    assert hold.status == "active"
    assert harness.db.run(integrity.verify(harness.db.conn, harness.foreign.community_id)) == []
