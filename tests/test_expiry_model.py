"""The expiry rule's model (points/expiry/model.py), and PostgreSQL's lots held to it: hypothesis runs random
histories of earnings, spending, holds and job runs; per member, expired + spent + left == earned, nothing is ever
negative, and nothing expires that was spent or held."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from points.expiry import model

START = datetime(2026, 1, 1, tzinfo=UTC)
RULES = st.one_of(
    st.builds(model.Rule, st.just("months"), st.integers(1, 24)),
    st.builds(
        lambda m, d: model.Rule("yearly", None, m, d),
        st.integers(1, 12),
        st.integers(1, 28),
    ),
)
STEP = st.one_of(
    st.tuples(st.just("earn"), st.integers(1, 500)),
    st.tuples(st.just("return"), st.integers(1, 100)),
    st.tuples(st.just("spend"), st.integers(1, 500)),
    st.tuples(st.just("hold"), st.integers(0, 300)),
    st.tuples(st.just("wait"), st.integers(1, 200)),  # days
    st.tuples(st.just("job"), st.just(0)),
)


@given(RULES, st.lists(STEP, max_size=60))
def test_expired_plus_spent_plus_left_is_what_was_earned(rule: model.Rule, steps: list[tuple[str, int]]) -> None:
    now = START
    credits: list[model.Credit] = []
    balance = held = spent = expired = earned = returned = 0
    for step, n in steps:
        if step == "earn":
            credits.append(model.Credit(now, n, earning=True))
            balance += n
            earned += n
        elif step == "return":  # new money that never expires
            credits.append(model.Credit(now, n, earning=False))
            balance += n
            returned += n
        elif step == "spend" and n <= balance - held:
            balance -= n
            spent += n
        elif step == "hold":
            held = min(n, balance)
        elif step == "wait":
            now += timedelta(days=n)
        elif step == "job":
            due = model.due(credits, balance, held, rule, now)
            assert 0 <= due <= balance - held
            balance -= due
            expired += due
            # what is due now is gone: a second run finds nothing
            assert model.due(credits, balance, held, rule, now) == 0 or held > 0
        assert balance >= 0
        assert expired + spent + balance == earned + returned
        lots = model.lots(credits, balance, rule)
        assert sum(lot.left for lot in lots) == balance
        assert all(0 <= lot.left <= lot.amount for lot in lots)
        # never more expired than was ever earned (returns never expire)
        assert expired <= earned


def test_months_keep_the_wall_clock_and_clamp_the_day() -> None:
    rule = model.Rule("months", 1)
    earned = datetime(2026, 1, 31, 10, tzinfo=model.COMMUNITY_TIME)
    assert model.lot_expires_at(earned, rule) == datetime(2026, 2, 28, 10, tzinfo=model.COMMUNITY_TIME)


def test_a_yearly_reset_ends_the_day() -> None:
    rule = model.Rule("yearly", None, 12, 31)
    z = model.COMMUNITY_TIME
    assert model.lot_expires_at(datetime(2026, 12, 31, 23, 59, tzinfo=z), rule) == datetime(2027, 1, 1, tzinfo=z)
    assert model.lot_expires_at(datetime(2027, 1, 1, 0, 0, tzinfo=z), rule) == datetime(2028, 1, 1, tzinfo=z)
    assert not model.reset_day_exists(2, 29)
    assert model.reset_day_exists(2, 28)
