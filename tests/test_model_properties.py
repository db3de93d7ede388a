"""Properties of the pure ledger rules in ``ledger.model`` (no database).

``check_entry`` must accept exactly the entries that keep the rules and name
every rule an entry breaks; ``apply_entry`` (the reference the database is
checked against in test_ledger_stateful) must conserve points, respect every
bound touched, not care about the order of the lines, leave its inputs alone,
and be undone by the mirror entry. Each property is stated against an
oracle written here from the rules in DESIGN.md, not from the code under test.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tests.hypothesis_profiles  # noqa: F401  (registers and loads the settings profile)
from ledger.errors import InsufficientBalance, InvalidEntry, LedgerError, UnbalancedEntry, UpperBoundExceeded
from ledger.model import (
    KINDS,
    MAX_ACTOR_CHARS,
    MAX_AMOUNT,
    MAX_KEY_CHARS,
    MAX_MEMO_CHARS,
    MAX_METADATA_BYTES,
    MAX_POSTINGS,
    POSTABLE_KINDS,
    Bounds,
    Line,
    NewEntry,
    apply_entry,
    check_entry,
    require_valid,
)
from ledger.posting import canonical_lines

# --------------------------------------------------------------------------- strategies

account_ids = st.integers(min_value=1, max_value=2**40)
printable_text = st.characters(exclude_categories=("C", "Z")) | st.just(" ")
keys = st.text(printable_text, min_size=1, max_size=MAX_KEY_CHARS).filter(str.isprintable)
storable = st.characters(codec="utf-8", exclude_characters="\x00")  # PostgreSQL's text cannot hold U+0000: never valid
memos = st.text(storable, max_size=40) | st.text(storable, min_size=MAX_MEMO_CHARS, max_size=MAX_MEMO_CHARS)
actors = st.none() | st.text(storable, max_size=MAX_ACTOR_CHARS)
json_values = st.none() | st.booleans() | st.integers() | st.text(storable, max_size=30)
metadata = st.dictionaries(st.text(storable, max_size=12), json_values, max_size=6)


@st.composite
def balanced_amounts(draw: st.DrawFn, n: int, limit: int = MAX_AMOUNT) -> list[int]:
    """``n`` non-zero amounts within ±limit that sum to zero (all of them, boundaries included, can occur)."""
    head: list[int] = []
    total = 0
    for i in range(n - 1):
        low, high = max(-limit, -limit - total), min(limit, limit - total)
        last_of_head = i == n - 2
        amount = draw(
            st.integers(low, high).filter(lambda a, t=total, last=last_of_head: a != 0 and not (last and a == -t))
        )
        head.append(amount)
        total += amount
    # The running total stays within ±limit and is not zero, so the balancing line is a valid amount.
    return [*head, -total]


@st.composite
def balanced_lines(
    draw: st.DrawFn, min_size: int = 2, max_size: int = 8, ids: st.SearchStrategy[int] = account_ids
) -> tuple[Line, ...]:
    n = draw(st.integers(min_size, max_size))
    accounts = draw(st.lists(ids, min_size=n, max_size=n, unique=True))
    amounts = draw(balanced_amounts(n))
    return tuple(Line(a, x) for a, x in zip(accounts, amounts, strict=True))


@st.composite
def valid_entries(draw: st.DrawFn) -> NewEntry:
    return NewEntry(
        kind=draw(st.sampled_from(sorted(POSTABLE_KINDS))),
        lines=draw(balanced_lines()),
        idempotency_key=draw(keys),
        memo=draw(memos),
        metadata=draw(metadata),
        actor=draw(actors),
    )


# --------------------------------------------------------------------------- the oracle


def metadata_bytes(value: Mapping[str, Any]) -> int:
    """The size rule: compact JSON text, UTF-8."""
    return len(json.dumps(dict(value), ensure_ascii=False, separators=(",", ":")).encode())


def keeps_the_rules(entry: NewEntry, *, allow_reversal: bool = False) -> bool:
    accounts = [line.account_id for line in entry.lines]
    return (
        entry.kind in (KINDS if allow_reversal else KINDS - {"reversal"})
        and 2 <= len(entry.lines) <= 5_000
        and len(set(accounts)) == len(accounts)
        and all(line.amount != 0 and -(10**12) <= line.amount <= 10**12 for line in entry.lines)
        and sum(line.amount for line in entry.lines) == 0
        and 1 <= len(entry.idempotency_key) <= 128
        and entry.idempotency_key.isprintable()
        and len(entry.memo) <= 500
        and (entry.actor is None or len(entry.actor) <= 128)
        and "\x00" not in entry.memo + (entry.actor or "") + json.dumps(dict(entry.metadata), ensure_ascii=False)
        and metadata_bytes(entry.metadata) <= 4_096
    )


def test_limits_are_the_documented_ones() -> None:
    assert (MAX_POSTINGS, MAX_AMOUNT, MAX_KEY_CHARS, MAX_MEMO_CHARS, MAX_ACTOR_CHARS, MAX_METADATA_BYTES) == (
        5_000,
        10**12,
        128,
        500,
        128,
        4_096,
    )
    assert "reversal" in KINDS
    assert "reversal" not in POSTABLE_KINDS


# --------------------------------------------------------------------------- check_entry: valid


@given(valid_entries())
def test_valid_entries_are_accepted(entry: NewEntry) -> None:
    assert keeps_the_rules(entry)
    assert check_entry(entry) == []
    require_valid(entry)  # does not raise


# --------------------------------------------------------------------------- check_entry: mutations


@dataclass(frozen=True)
class Mutation:
    name: str
    apply: Callable[[st.DataObject, NewEntry], NewEntry]
    reported: str  # a phrase every problem list for this mutation must contain


def _fresh_ids(entry: NewEntry, count: int) -> list[int]:
    used = {line.account_id for line in entry.lines}
    start = max(used, default=0) + 1
    return [start + i for i in range(count)]


def _too_few(data: st.DataObject, e: NewEntry) -> NewEntry:
    keep = data.draw(st.integers(0, 1), label="postings kept")
    return replace(e, lines=e.lines[:keep])


def _unbalanced(data: st.DataObject, e: NewEntry) -> NewEntry:
    if not e.lines:  # (only when composed after "too few postings")
        return e
    i = data.draw(st.integers(0, len(e.lines) - 1), label="line")
    old = e.lines[i]
    new_amount = data.draw(st.integers(-MAX_AMOUNT, MAX_AMOUNT).filter(lambda a: a not in (0, old.amount)))
    lines = list(e.lines)
    lines[i] = Line(old.account_id, new_amount)
    return replace(e, lines=tuple(lines))


def _duplicate(data: st.DataObject, e: NewEntry) -> NewEntry:
    if len(e.lines) < 2:  # (only when composed after "too few postings")
        return e
    i, j = data.draw(st.permutations(range(len(e.lines))), label="lines")[:2]
    lines = list(e.lines)
    lines[j] = Line(lines[i].account_id, lines[j].amount)
    return replace(e, lines=tuple(lines))


def _zero(data: st.DataObject, e: NewEntry) -> NewEntry:
    (fresh,) = _fresh_ids(e, 1)
    at = data.draw(st.integers(0, len(e.lines)), label="position")
    lines = list(e.lines)
    lines.insert(at, Line(fresh, 0))
    return replace(e, lines=tuple(lines))


def _too_big(data: st.DataObject, e: NewEntry) -> NewEntry:
    over = data.draw(st.integers(1, 2**62 - MAX_AMOUNT), label="excess")
    a, b = _fresh_ids(e, 2)
    return replace(e, lines=(*e.lines, Line(a, MAX_AMOUNT + over), Line(b, -MAX_AMOUNT - over)))


def _bad_kind(data: st.DataObject, e: NewEntry) -> NewEntry:
    kind = data.draw(st.just("reversal") | st.text(max_size=20).filter(lambda k: k not in KINDS), label="kind")
    return replace(e, kind=kind)


def _bad_key(data: st.DataObject, e: NewEntry) -> NewEntry:
    too_long = st.text(printable_text, min_size=MAX_KEY_CHARS + 1, max_size=MAX_KEY_CHARS + 40)
    unprintable = st.tuples(keys, st.sampled_from(["\n", "\t", "\x00", "\u200b", "\u2028", "\x7f"]), st.integers(0, 5))
    key = data.draw(
        st.just("")
        | too_long
        | unprintable.map(lambda t: t[0][: t[2]] + t[1] + t[0][t[2] :]).filter(lambda k: len(k) <= MAX_KEY_CHARS),
        label="key",
    )
    return replace(e, idempotency_key=key)


def _long_memo(data: st.DataObject, e: NewEntry) -> NewEntry:
    return replace(e, memo=data.draw(st.text(storable, min_size=MAX_MEMO_CHARS + 1, max_size=MAX_MEMO_CHARS + 50)))


def _long_actor(data: st.DataObject, e: NewEntry) -> NewEntry:
    return replace(e, actor=data.draw(st.text(storable, min_size=MAX_ACTOR_CHARS + 1, max_size=MAX_ACTOR_CHARS + 50)))


def _nul_memo(data: st.DataObject, e: NewEntry) -> NewEntry:
    """One character of the memo becomes U+0000: its length, and so every other rule, stays as it was."""
    if not e.memo:
        return replace(e, memo="\x00")
    at = data.draw(st.integers(0, len(e.memo) - 1), label="at")
    return replace(e, memo=e.memo[:at] + "\x00" + e.memo[at + 1 :])


def _big_metadata(data: st.DataObject, e: NewEntry) -> NewEntry:
    filler = data.draw(st.sampled_from(["x", "积", "é", "😀"]), label="filler")
    size = data.draw(st.integers(MAX_METADATA_BYTES + 1, MAX_METADATA_BYTES + 500), label="bytes")
    meta: dict[str, Any] = {"k": ""}
    base = metadata_bytes(meta)
    meta["k"] = filler * ((size - base) // len(filler.encode()) + 1)
    assert metadata_bytes(meta) > MAX_METADATA_BYTES
    return replace(e, metadata=meta)


LINE_MUTATIONS = (
    Mutation("too few postings", _too_few, "at least two postings"),
    Mutation("unbalanced", _unbalanced, "do not sum to zero"),
    Mutation("duplicate account", _duplicate, "appears more than once"),
    Mutation("zero amount", _zero, "must not be zero"),
    Mutation("amount too big", _too_big, f"beyond ±{MAX_AMOUNT}"),
)
FIELD_MUTATIONS = (
    Mutation("kind", _bad_kind, "kind must be one of"),
    Mutation("key", _bad_key, "idempotency key"),
    Mutation("memo", _long_memo, "memo may be at most"),
    Mutation("actor", _long_actor, "actor may be at most"),
    Mutation("metadata", _big_metadata, "metadata may be at most"),
    Mutation("memo (U+0000)", _nul_memo, "memo must not contain the NUL character"),
)


@given(valid_entries(), st.sampled_from(LINE_MUTATIONS + FIELD_MUTATIONS), st.data())
def test_each_broken_rule_is_reported(entry: NewEntry, mutation: Mutation, data: st.DataObject) -> None:
    broken = mutation.apply(data, entry)
    assert not keeps_the_rules(broken), mutation.name
    problems = check_entry(broken)
    assert problems, f"{mutation.name} was not reported"
    # The entry was valid before, so every problem reported is about this one mutation.
    assert all(mutation.reported in p for p in problems), (mutation.name, problems)
    assert_refused_as(broken, problems)


def assert_refused_as(entry: NewEntry, problems: list[str]) -> None:
    """require_valid raises with every problem listed: an entry whose one problem is that it does not
    balance is an UnbalancedEntry (as when the database finds a unit that does not), anything else InvalidEntry."""
    unbalanced_only = problems == ["the postings do not sum to zero"]
    with pytest.raises(UnbalancedEntry if unbalanced_only else InvalidEntry) as raised:
        require_valid(entry)
    assert raised.value.data["problems"] == problems
    assert raised.value.code == ("unbalanced_entry" if unbalanced_only else "invalid_entry")


@given(
    valid_entries(),
    st.sampled_from((None, *LINE_MUTATIONS)),
    st.lists(st.sampled_from(FIELD_MUTATIONS), unique_by=lambda m: m.name.split()[0]),  # one mutation per field
    st.data(),
)
def test_every_problem_is_reported_at_once(
    entry: NewEntry, line_mutation: Mutation | None, field_mutations: list[Mutation], data: st.DataObject
) -> None:
    mutations = ([line_mutation] if line_mutation else []) + field_mutations
    for mutation in mutations:
        entry = mutation.apply(data, entry)
    problems = check_entry(entry)
    for mutation in mutations:
        assert any(mutation.reported in p for p in problems), (mutation.name, problems)
    assert bool(problems) == bool(mutations)
    if problems:
        assert_refused_as(entry, problems)


@st.composite
def any_entries(draw: st.DrawFn) -> NewEntry:
    """Entries near and across every boundary: valid ones with 0-3 random mutations."""
    entry = draw(valid_entries())
    data = draw(st.data())
    for mutation in draw(st.lists(st.sampled_from(LINE_MUTATIONS + FIELD_MUTATIONS), max_size=3)):
        entry = mutation.apply(data, entry)
    return entry


@given(any_entries(), st.booleans())
def test_check_entry_accepts_exactly_the_entries_that_keep_the_rules(entry: NewEntry, allow_reversal: bool) -> None:
    assert (check_entry(entry, allow_reversal=allow_reversal) == []) == keeps_the_rules(
        entry, allow_reversal=allow_reversal
    )


@given(valid_entries())
def test_reversal_kind_only_when_allowed(entry: NewEntry) -> None:
    reversal = replace(entry, kind="reversal")
    assert check_entry(reversal, allow_reversal=True) == []
    assert [p for p in check_entry(reversal) if "kind must be one of" in p]


# --------------------------------------------------------------------------- check_entry: exact boundaries


def _entry(**changes: Any) -> NewEntry:
    base = NewEntry("award", (Line(1, -5), Line(2, 5)), "k")
    return replace(base, **changes)


@pytest.mark.parametrize(
    ("entry", "ok"),
    [
        (_entry(lines=(Line(1, -MAX_AMOUNT), Line(2, MAX_AMOUNT))), True),
        (_entry(lines=(Line(1, -MAX_AMOUNT - 1), Line(2, MAX_AMOUNT + 1))), False),
        (_entry(idempotency_key="k" * MAX_KEY_CHARS), True),
        (_entry(idempotency_key="k" * (MAX_KEY_CHARS + 1)), False),
        (_entry(idempotency_key=" "), True),
        (_entry(memo="m" * MAX_MEMO_CHARS), True),
        (_entry(memo="m" * (MAX_MEMO_CHARS + 1)), False),
        (_entry(actor="a" * MAX_ACTOR_CHARS), True),
        (_entry(actor="a" * (MAX_ACTOR_CHARS + 1)), False),
        (_entry(metadata={"k": "x" * (MAX_METADATA_BYTES - 8)}), True),  # {"k":"…"} is 8 bytes of JSON around it
        (_entry(metadata={"k": "x" * (MAX_METADATA_BYTES - 7)}), False),
        (_entry(metadata={"k": "积" * ((MAX_METADATA_BYTES - 8) // 3)}), True),  # 3 bytes each in UTF-8
        (_entry(metadata={"k": "积" * ((MAX_METADATA_BYTES - 8) // 3 + 1)}), False),
    ],
)
def test_boundaries(entry: NewEntry, ok: bool) -> None:
    assert keeps_the_rules(entry) is ok
    assert (check_entry(entry) == []) is ok


def _many_lines(n: int) -> tuple[Line, ...]:
    amounts = [n - 1] + [-1] * (n - 1)
    return tuple(Line(i + 1, a) for i, a in enumerate(amounts))


def test_posting_count_limit() -> None:
    assert check_entry(_entry(lines=_many_lines(MAX_POSTINGS))) == []
    problems = check_entry(_entry(lines=_many_lines(MAX_POSTINGS + 1)))
    assert problems == [f"an entry may have at most {MAX_POSTINGS} postings, this one has {MAX_POSTINGS + 1}"]


# --------------------------------------------------------------------------- apply_entry


@st.composite
def account_states(draw: st.DrawFn) -> tuple[dict[int, int], dict[int, int], dict[int, Bounds]]:
    """Accounts whose stored state is within their bounds, as the database guarantees."""
    ids = draw(st.lists(st.integers(1, 60), min_size=2, max_size=7, unique=True))
    balances: dict[int, int] = {}
    held: dict[int, int] = {}
    bounds: dict[int, Bounds] = {}
    for a in ids:
        lower = draw(st.sampled_from([None, 0, 0]) | st.integers(-300, 0))
        upper = draw(st.none() | st.integers(max(0, lower or 0), 600))
        low = lower if lower is not None else -1_000
        high = upper if upper is not None else low + 1_000
        bal = draw(st.integers(low, high))
        reserve = draw(st.integers(0, bal - lower)) if lower is not None else draw(st.sampled_from([0, 0, 50]))
        bounds[a] = Bounds(lower, upper)
        if reserve:
            held[a] = reserve
        if bal or draw(st.booleans()):  # a missing account has balance 0
            balances[a] = bal
    return balances, held, bounds


@st.composite
def states_and_lines(
    draw: st.DrawFn,
) -> tuple[dict[int, int], dict[int, int], dict[int, Bounds], tuple[Line, ...]]:
    balances, held, bounds = draw(account_states())
    ids = sorted(bounds)
    n = draw(st.integers(2, len(ids)))
    accounts = draw(st.permutations(ids))[:n]
    amounts = draw(balanced_amounts(n, limit=700))
    return balances, held, bounds, tuple(Line(a, x) for a, x in zip(accounts, amounts, strict=True))


def within_bounds(balances: Mapping[int, int], held: Mapping[int, int], bounds: Mapping[int, Bounds]) -> bool:
    for a, b in bounds.items():
        bal = balances.get(a, 0)
        if b.lower is not None and bal - held.get(a, 0) < b.lower:
            return False
        if b.upper is not None and bal > b.upper:
            return False
    return True


def expected_outcome(
    balances: Mapping[int, int], held: Mapping[int, int], bounds: Mapping[int, Bounds], lines: tuple[Line, ...]
) -> dict[int, int] | tuple[type[LedgerError], int]:
    """The spec: every line lands, unless an account would end below its lower bound (counting holds) or
    above its upper bound; then the first such account in id order is named, the lower bound first."""
    for line in sorted(lines, key=lambda ln: ln.account_id):
        b = bounds[line.account_id]
        new = balances.get(line.account_id, 0) + line.amount
        if b.lower is not None and new - held.get(line.account_id, 0) < b.lower:
            return InsufficientBalance, line.account_id
        if b.upper is not None and new > b.upper:
            return UpperBoundExceeded, line.account_id
    after = dict(balances)
    for line in lines:
        after[line.account_id] = after.get(line.account_id, 0) + line.amount
    return after


def outcome(
    balances: Mapping[int, int], held: Mapping[int, int], bounds: Mapping[int, Bounds], lines: tuple[Line, ...]
) -> dict[int, int] | tuple[type[LedgerError], int]:
    try:
        return apply_entry(balances, held, bounds, lines)
    except (InsufficientBalance, UpperBoundExceeded) as exc:
        return type(exc), exc.data["account_id"]


@given(states_and_lines())
def test_apply_entry_follows_the_spec(case: Any) -> None:
    balances, held, bounds, lines = case
    before = copy.deepcopy((balances, held, bounds))
    expected = expected_outcome(balances, held, bounds, lines)
    refused: InsufficientBalance | UpperBoundExceeded | None = None
    try:
        after = apply_entry(balances, held, bounds, lines)
    except (InsufficientBalance, UpperBoundExceeded) as exc:
        refused = exc
    if refused is None:
        assert after == expected
        assert after is not balances
    else:
        a = refused.data["account_id"]
        assert expected == (type(refused), a)
        if isinstance(refused, InsufficientBalance):
            amount = next(line.amount for line in lines if line.account_id == a)
            # What was available before this entry, above the bound, and what the line asked for.
            assert refused.data["available"] == balances.get(a, 0) - held.get(a, 0) - (bounds[a].lower or 0)
            assert refused.data["requested"] == -amount
            assert refused.data["requested"] > refused.data["available"]
            assert refused.code == "insufficient_points"
    # The inputs are never changed, whether the entry lands or is refused.
    assert (balances, held, bounds) == before


@given(states_and_lines())
def test_apply_entry_conserves_the_total(case: Any) -> None:
    balances, held, bounds, lines = case
    result = outcome(balances, held, bounds, lines)
    if isinstance(result, dict):
        assert sum(result.values()) == sum(balances.values())
        assert set(result) == set(balances) | {line.account_id for line in lines}


@given(states_and_lines())
def test_apply_entry_never_leaves_an_account_outside_its_bounds(case: Any) -> None:
    balances, held, bounds, lines = case
    assert within_bounds(balances, held, bounds)
    snapshot = dict(balances)
    result = outcome(balances, held, bounds, lines)
    if isinstance(result, dict):
        assert within_bounds(result, held, bounds)
    else:
        error, account = result
        line = next(ln for ln in lines if ln.account_id == account)
        new = balances.get(account, 0) + line.amount
        if error is InsufficientBalance:
            assert new - held.get(account, 0) < bounds[account].lower
        else:
            assert new > bounds[account].upper
        assert balances == snapshot


@given(states_and_lines(), st.data())
def test_apply_entry_does_not_depend_on_the_order_of_lines(case: Any, data: st.DataObject) -> None:
    balances, held, bounds, lines = case
    shuffled = tuple(data.draw(st.permutations(lines), label="order"))
    assert outcome(balances, held, bounds, shuffled) == outcome(balances, held, bounds, lines)


@given(states_and_lines())
def test_the_mirror_entry_restores_the_balances(case: Any) -> None:
    balances, held, bounds, lines = case
    result = outcome(balances, held, bounds, lines)
    if not isinstance(result, dict):
        return
    mirror = tuple(Line(line.account_id, -line.amount) for line in lines)
    # Every account returns to a balance it already had within its bounds, so no bound can refuse it.
    restored = apply_entry(result, held, bounds, mirror)
    assert restored == {**{line.account_id: 0 for line in lines}, **balances}


# --------------------------------------------------------------------------- canonical_lines


@given(balanced_lines(max_size=12), st.data())
def test_canonical_lines_ignore_the_order_of_the_request(lines: tuple[Line, ...], data: st.DataObject) -> None:
    canonical = canonical_lines(lines)
    shuffled = data.draw(st.permutations(lines), label="order")
    assert canonical_lines(shuffled) == canonical
    assert isinstance(canonical, tuple)
    assert sorted(canonical, key=lambda ln: (ln.account_id, ln.amount)) == sorted(
        lines, key=lambda ln: (ln.account_id, ln.amount)
    )
    assert [ln.account_id for ln in canonical] == sorted(ln.account_id for ln in lines)
    assert canonical_lines(canonical) == canonical
