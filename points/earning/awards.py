"""Awards: points (and service hours) from the period's budget to members, for an activity's confirmed attendees,
for a deed (ad hoc: a mediation that settled a dispute), or for a verified report.

One path for all three (``_make``): the rules are checked here first —

- nobody is paid by an award they make, nor is anyone of their household;
- every line is cut to what the member has left under the type's caps for the award's day and month, and the
  cut is shown (requested vs points);
- an award paying any member more than the community's approval threshold waits, pending, for a second
  organizer (never its maker, never someone it pays); below it, it posts at once;
- the budget of the award's day must hold the points, or the award is refused saying how much is left —

then written in one transaction: the award, its lines (PostgreSQL charges the caps again under the usage row's
lock, and refuses self-awards), and one ledger entry from the budget to every wallet (and from hours:served to
every hours account), which the budget's lower bound and lock keep from overspending. A retry of the same
request (its idempotency key; for an activity, the activity itself) returns the first award and posts nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime

import asyncpg

import ledger
from ledger.errors import AlreadyReversed, IdempotencyConflict, InsufficientBalance
from points.auth.access import Access
from points.auth.errors import ConflictOfInterest, Forbidden, InvalidRequest, NotFound
from points.earning.budgets import Budget, budget_on
from points.earning.errors import BudgetExhausted, WrongState, translated
from points.earning.periods import community_day
from points.earning.types import ActivityType, get_type
from points.field_problems import field_problem

MAX_AWARD_POINTS = 100_000
MAX_MINUTES = 1440
MAX_REASON_CHARS = 500


@dataclass(frozen=True, slots=True)
class AwardLine:
    member_id: int
    display_name: str
    requested_points: int
    points: int  # after the caps
    minutes: int

    @property
    def capped(self) -> int:
        return self.requested_points - self.points


@dataclass(frozen=True, slots=True)
class Award:
    id: int
    kind: str  # activity, adhoc, report
    state: str  # pending_approval, posted, rejected
    activity_id: int | None
    report_id: int | None
    type_id: int
    type_name: str
    reason: str
    award_on: date
    budget_period: str
    made_by_member_id: int
    made_by_name: str
    approved_by_member_id: int | None
    decided_at: datetime | None
    decision_reason: str | None
    entry_id: int | None
    total_points: int
    total_minutes: int
    created_at: datetime
    corrected: bool
    lines: tuple[AwardLine, ...] = ()
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class Wanted:
    """What an award asks for one member, before the caps."""

    member_id: int
    points: int
    minutes: int = 0


_SELECT = """
SELECT w.id, w.kind, w.state, w.activity_id, w.report_id, w.type_id, t.name AS type_name, w.reason, w.award_on,
       b.period AS budget_period, w.made_by_member_id, m.display_name AS made_by_name, w.approved_by_member_id,
       w.decided_at, w.decision_reason, w.entry_id, w.total_points, w.total_minutes, w.created_at,
       EXISTS (SELECT 1 FROM points.award_corrections c WHERE c.award_id = w.id) AS corrected
  FROM points.awards w
  JOIN points.activity_types t ON t.id = w.type_id
  JOIN points.budgets b ON b.id = w.budget_id
  JOIN points.members m ON m.id = w.made_by_member_id
"""
_FIELDS = tuple(f.name for f in fields(Award) if f.name not in ("lines", "replayed"))


async def get_award(conn: ledger.Connection, community_id: int, award_id: int, *, replayed: bool = False) -> Award:
    await ledger.enter(conn, community_id)
    row = await conn.fetchrow(_SELECT + " WHERE w.id = $1 AND w.community_id = $2", award_id, community_id)
    if row is None:
        raise NotFound(f"no award {award_id} in this community", award_id=award_id)
    lines = await conn.fetch(
        "SELECT l.member_id, m.display_name, l.requested_points, l.points, l.minutes FROM points.award_lines l"
        " JOIN points.members m ON m.id = l.member_id WHERE l.award_id = $1 ORDER BY l.member_id",
        award_id,
    )
    return Award(
        **{name: row[name] for name in _FIELDS},
        lines=tuple(AwardLine(**dict(line)) for line in lines),
        replayed=replayed,
    )


async def list_awards(
    conn: ledger.Connection,
    community_id: int,
    *,
    state: str | None = None,
    member_id: int | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[Award]:
    """Newest first; ``member_id`` keeps the awards that pay that member (their own list)."""
    await ledger.enter(conn, community_id)
    rows = await conn.fetch(
        _SELECT + " WHERE w.community_id = $1 AND ($2::text IS NULL OR w.state = $2)"
        " AND ($3::bigint IS NULL OR EXISTS (SELECT 1 FROM points.award_lines l WHERE l.award_id = w.id"
        " AND l.member_id = $3)) AND ($4::bigint IS NULL OR w.id < $4) ORDER BY w.id DESC LIMIT $5",
        community_id,
        state,
        member_id,
        before_id,
        limit,
    )
    return [Award(**{name: r[name] for name in _FIELDS}) for r in rows]


async def approval_threshold(conn: ledger.Connection, community_id: int) -> int | None:
    await ledger.enter(conn, community_id)
    found: int | None = await conn.fetchval(
        "SELECT approval_threshold FROM points.earning_settings WHERE community_id = $1", community_id
    )
    return found


async def set_approval_threshold(conn: ledger.Connection, community_id: int, threshold: int | None) -> int | None:
    if threshold is not None and not 1 <= threshold <= 1_000_000:
        raise InvalidRequest(
            "approval_threshold is 1 to 1000000, or null for no approvals",
            errors=[field_problem("approval_threshold", "too_large", max=1_000_000)],
        )
    await ledger.enter(conn, community_id)
    await conn.execute(
        "INSERT INTO points.earning_settings (community_id, approval_threshold) VALUES ($1, $2)"
        " ON CONFLICT (community_id) DO UPDATE SET approval_threshold = EXCLUDED.approval_threshold,"
        " updated_at = now()",
        community_id,
        threshold,
    )
    return threshold


# --- the one path ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Payee:
    member_id: int
    display_name: str
    household_id: int | None
    status: str
    wallet_account_id: int
    hours_account_id: int


async def _payees(conn: ledger.Connection, community_id: int, member_ids: Sequence[int]) -> dict[int, _Payee]:
    rows = await conn.fetch(
        "SELECT m.id AS member_id, m.display_name, m.household_id, m.status, m.wallet_account_id,"
        " h.id AS hours_account_id FROM points.members m"
        " JOIN ledger.accounts h ON h.community_id = m.community_id AND h.code = 'hours:' || m.id"
        " WHERE m.community_id = $1 AND m.id = ANY($2::bigint[])",
        community_id,
        list(member_ids),
    )
    return {r["member_id"]: _Payee(**dict(r)) for r in rows}


async def _cap_room(
    conn: ledger.Connection, activity_type: ActivityType, day: date, member_ids: Sequence[int]
) -> dict[int, int | None]:
    """How many points of this type each member may still get on ``day`` (None: no cap)."""
    if activity_type.cap_per_day is None and activity_type.cap_per_month is None:
        return dict.fromkeys(member_ids)
    rows = await conn.fetch(
        "SELECT member_id, period, points FROM points.cap_usage WHERE type_id = $1 AND member_id = ANY($2::bigint[])"
        " AND period = ANY($3::text[])",
        activity_type.id,
        list(member_ids),
        [day.isoformat(), day.isoformat()[:7]],
    )
    used = {(r["member_id"], len(r["period"])): r["points"] for r in rows}
    room: dict[int, int | None] = {}
    for member_id in member_ids:
        limits = []
        if activity_type.cap_per_day is not None:
            limits.append(activity_type.cap_per_day - used.get((member_id, 10), 0))
        if activity_type.cap_per_month is not None:
            limits.append(activity_type.cap_per_month - used.get((member_id, 7), 0))
        room[member_id] = max(0, min(limits))
    return room


async def _refuse_conflicts(conn: ledger.Connection, community_id: int, member_id: int, paid: Sequence[int]) -> None:
    """Nobody makes or approves an award that pays themselves or their household."""
    own = await conn.fetch(
        "SELECT o.id FROM points.members me JOIN points.members o ON o.community_id = me.community_id"
        " AND (o.id = me.id OR (me.household_id IS NOT NULL AND o.household_id = me.household_id))"
        " WHERE me.id = $1 AND me.community_id = $2",
        member_id,
        community_id,
    )
    hit = sorted({r["id"] for r in own} & set(paid))
    if hit:
        raise ConflictOfInterest("nobody awards points to themselves or to their own household", member_ids=hit)


async def _make(
    conn: ledger.Connection,
    access: Access,
    *,
    kind: str,
    activity_type: ActivityType,
    day: date,
    wanted: Sequence[Wanted],
    reason: str,
    idempotency_key: str,
    activity_id: int | None = None,
    report_id: int | None = None,
) -> Award:
    """Inside the caller's transaction: check, plan the caps, write the award and its lines, post unless it
    needs an approval."""
    maker = _member(access)
    community_id = access.community_id
    member_ids = [w.member_id for w in wanted]
    await _refuse_conflicts(conn, community_id, maker, member_ids)
    payees = await _payees(conn, community_id, member_ids)
    for w in wanted:
        payee = payees.get(w.member_id)
        if payee is None:
            raise NotFound(f"no member {w.member_id} in this community", member_id=w.member_id)
        if payee.status != "active":
            raise InvalidRequest(f"{payee.display_name} is {payee.status}: only active members are awarded")
    budget = await budget_on(conn, community_id, day)
    room = await _cap_room(conn, activity_type, day, member_ids)
    lines = []
    for w in wanted:
        left = room[w.member_id]
        points = w.points if left is None else min(w.points, left)
        lines.append(AwardLine(w.member_id, payees[w.member_id].display_name, w.points, points, w.minutes))
    total = sum(line.points for line in lines)
    minutes = sum(line.minutes for line in lines)
    threshold = await approval_threshold(conn, community_id)
    pending = threshold is not None and any(line.points > threshold for line in lines)
    if not pending and total > budget.left:
        raise _exhausted(budget, total)
    async with translated():
        award_id = await conn.fetchval(
            "INSERT INTO points.awards (community_id, kind, activity_id, report_id, type_id, reason, award_on,"
            " budget_id, made_by_member_id, state, total_points, total_minutes, idempotency_key)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending_approval', $10, $11, $12) RETURNING id",
            community_id,
            kind,
            activity_id,
            report_id,
            activity_type.id,
            reason,
            day,
            budget.id,
            maker,
            total,
            minutes,
            idempotency_key,
        )
        # In member order: the cap usage rows are locked in the same order by every award, so none deadlock.
        await conn.execute(
            "INSERT INTO points.award_lines (community_id, award_id, member_id, requested_points, points, minutes)"
            " SELECT $1::bigint, $2::bigint, * FROM unnest($3::bigint[], $4::int[], $5::int[], $6::int[]) ORDER BY 1",
            community_id,
            award_id,
            [line.member_id for line in lines],
            [line.requested_points for line in lines],
            [line.points for line in lines],
            [line.minutes for line in lines],
        )
    if not pending:
        await _post(conn, community_id, award_id, approved_by=None)
    return await get_award(conn, community_id, award_id)


def _exhausted(budget: Budget, needed: int) -> BudgetExhausted:
    return BudgetExhausted(
        f"the {budget.period} budget has {budget.left} points left; this award needs {needed}",
        left=budget.left,
        needed=needed,
        period=budget.period,
    )


async def _post(conn: ledger.Connection, community_id: int, award_id: int, *, approved_by: int | None) -> None:
    """Post a pending award: one entry from the budget (and hours:served) to every line, then mark it posted."""
    row = await conn.fetchrow(
        "SELECT w.kind, w.activity_id, w.report_id, w.total_points, w.total_minutes, w.budget_id, b.account_id,"
        " b.period, t.name AS type_name, w.reason, w.made_by_member_id FROM points.awards w"
        " JOIN points.budgets b ON b.id = w.budget_id JOIN points.activity_types t ON t.id = w.type_id"
        " WHERE w.id = $1",
        award_id,
    )
    lines = await conn.fetch(
        "SELECT l.member_id, l.points, l.minutes, m.wallet_account_id, h.id AS hours_account_id"
        " FROM points.award_lines l JOIN points.members m ON m.id = l.member_id"
        " JOIN ledger.accounts h ON h.community_id = m.community_id AND h.code = 'hours:' || m.id"
        " WHERE l.award_id = $1",
        award_id,
    )
    entry_id = None
    if row["total_points"] > 0 or row["total_minutes"] > 0:
        postings = [ledger.Line(r["wallet_account_id"], r["points"]) for r in lines if r["points"] > 0]
        postings += [ledger.Line(r["hours_account_id"], r["minutes"]) for r in lines if r["minutes"] > 0]
        if row["total_points"] > 0:
            postings.append(ledger.Line(row["account_id"], -row["total_points"]))
        if row["total_minutes"] > 0:
            served = await ledger.find_account(conn, community_id, "hours:served")
            assert served is not None  # opened with the community's first member (migration 0008)
            postings.append(ledger.Line(served.id, -row["total_minutes"]))
        memo = row["type_name"] + (f" · {row['reason']}" if row["reason"] else "")
        try:
            posted = await ledger.post_entry(
                conn,
                community_id,
                ledger.NewEntry(
                    "award",
                    tuple(postings),
                    f"award:{award_id}",
                    memo=memo[:500],
                    actor=f"member:{row['made_by_member_id']}",
                    metadata={"award_id": award_id, "kind": row["kind"]},
                ),
            )
        except InsufficientBalance as exc:
            left = await conn.fetchval("SELECT balance FROM ledger.accounts WHERE id = $1", row["account_id"])
            raise BudgetExhausted(
                f"the {row['period']} budget has {left} points left; this award needs {row['total_points']}",
                left=left,
                needed=row["total_points"],
                period=row["period"],
            ) from exc
        entry_id = posted.id
    async with translated():
        await conn.execute(
            "UPDATE points.awards SET state = 'posted', entry_id = $2, approved_by_member_id = $3,"
            " decided_at = CASE WHEN $3::bigint IS NULL THEN NULL ELSE now() END WHERE id = $1",
            award_id,
            entry_id,
            approved_by,
        )
        if row["activity_id"] is not None:
            await conn.execute("UPDATE points.activities SET state = 'awarded' WHERE id = $1", row["activity_id"])


# --- the three kinds ---------------------------------------------------------------------------------------------


async def award_activity(conn: ledger.Connection, access: Access, activity_id: int) -> Award:
    """Award a closed activity's confirmed attendees: the activity's reward each (or the type's points per hour
    of their confirmed minutes), hours for their minutes. Awarding again returns the same award."""
    async with ledger.transaction(conn):
        await ledger.enter(conn, access.community_id)
        activity = await conn.fetchrow(
            "SELECT id, type_id, state, starts_at, reward_points, per_hour, attendance_confirmed_at, title"
            " FROM points.activities WHERE id = $1 AND community_id = $2 FOR UPDATE",
            activity_id,
            access.community_id,
        )
        if activity is None:
            raise NotFound(f"no activity {activity_id} in this community", activity_id=activity_id)
        live = await conn.fetchval(
            "SELECT id FROM points.awards WHERE activity_id = $1 AND state <> 'rejected'", activity_id
        )
        if live is not None:
            return await get_award(conn, access.community_id, live, replayed=True)
        if activity["state"] != "closed" or activity["attendance_confirmed_at"] is None:
            raise WrongState(
                f"the activity is {activity['state']}: confirm its attendance before awarding",
                state=activity["state"],
            )
        activity_type = await get_type(conn, access.community_id, activity["type_id"])
        attendees = await conn.fetch(
            "SELECT member_id, minutes FROM points.attendance WHERE activity_id = $1 AND confirmed ORDER BY member_id",
            activity_id,
        )
        if not attendees:
            raise WrongState("nobody's attendance is confirmed: there is nobody to award", state="closed")
        per_hour = activity_type.points_per_hour if activity["per_hour"] else None
        wanted = [
            Wanted(
                r["member_id"],
                activity["reward_points"] if per_hour is None else r["minutes"] * per_hour // 60,
                r["minutes"],
            )
            for r in attendees
        ]
        return await _make(
            conn,
            access,
            kind="activity",
            activity_type=activity_type,
            day=community_day(activity["starts_at"]),
            wanted=wanted,
            reason=activity["title"],
            idempotency_key=f"activity:{activity_id}:{secrets.token_hex(8)}",
            activity_id=activity_id,
        )


async def award_adhoc(
    conn: ledger.Connection,
    access: Access,
    *,
    member_id: int,
    type_id: int,
    points: int,
    reason: str,
    idempotency_key: str,
    minutes: int = 0,
) -> Award:
    """An award for a deed outside any activity (a mediation that settled a dispute): a reason and a category
    (the activity type) are required; today's budget and caps apply."""
    _check_reason(reason)
    if not 1 <= points <= MAX_AWARD_POINTS:
        raise InvalidRequest(
            f"points is 1 to {MAX_AWARD_POINTS}", errors=[field_problem("points", "too_large", max=MAX_AWARD_POINTS)]
        )
    if not 0 <= minutes <= MAX_MINUTES:
        raise InvalidRequest(
            f"minutes is 0 to {MAX_MINUTES}", errors=[field_problem("minutes", "too_large", max=MAX_MINUTES)]
        )
    async with ledger.transaction(conn):
        replay = await _replay(conn, access.community_id, idempotency_key)
        if replay is not None:
            same = replay.kind == "adhoc" and replay.type_id == type_id and replay.reason == reason.strip()
            same = same and [(x.member_id, x.requested_points, x.minutes) for x in replay.lines] == [
                (member_id, points, minutes)
            ]
            if not same:
                raise _key_reused()
            return replay
        activity_type = await get_type(conn, access.community_id, type_id)
        return await _make(
            conn,
            access,
            kind="adhoc",
            activity_type=activity_type,
            day=community_day(datetime.now(UTC)),
            wanted=[Wanted(member_id, points, minutes)],
            reason=reason.strip(),
            idempotency_key=idempotency_key,
        )


async def award_report(
    conn: ledger.Connection, access: Access, report_id: int, *, points: int | None, idempotency_key: str
) -> Award:
    """Inside the caller's transaction (the report's verification): pay its reporter from today's budget, the
    report type's points unless ``points`` says otherwise."""
    row = await conn.fetchrow(
        "SELECT reporter_member_id, type_id, text FROM points.reports WHERE id = $1 AND community_id = $2",
        report_id,
        access.community_id,
    )
    if row is None:
        raise NotFound(f"no report {report_id} in this community", report_id=report_id)
    activity_type = await get_type(conn, access.community_id, row["type_id"])
    amount = activity_type.default_points if points is None else points
    if not 1 <= amount <= MAX_AWARD_POINTS:
        raise InvalidRequest(
            f"points is 1 to {MAX_AWARD_POINTS}", errors=[field_problem("points", "too_large", max=MAX_AWARD_POINTS)]
        )
    return await _make(
        conn,
        access,
        kind="report",
        activity_type=activity_type,
        day=community_day(datetime.now(UTC)),
        wanted=[Wanted(row["reporter_member_id"], amount)],
        reason=row["text"][:100],
        idempotency_key=idempotency_key,
        report_id=report_id,
    )


# --- decisions and corrections -----------------------------------------------------------------------------------


async def _locked(conn: ledger.Connection, community_id: int, award_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT id, state, made_by_member_id, entry_id, activity_id, report_id FROM points.awards"
        " WHERE id = $1 AND community_id = $2 FOR UPDATE",
        award_id,
        community_id,
    )
    if row is None:
        raise NotFound(f"no award {award_id} in this community", award_id=award_id)
    return row


async def approve(conn: ledger.Connection, access: Access, award_id: int) -> Award:
    """The second organizer's approval of a pending award: it posts now (today's budget balance permitting)."""
    checker = _member(access)
    async with ledger.transaction(conn):
        await ledger.enter(conn, access.community_id)
        row = await _locked(conn, access.community_id, award_id)
        if row["state"] != "pending_approval":
            if row["state"] == "posted" and row["made_by_member_id"] != checker:
                return await get_award(conn, access.community_id, award_id, replayed=True)
            raise WrongState(f"the award is {row['state']}: only a pending one is approved", state=row["state"])
        if row["made_by_member_id"] == checker:
            raise Forbidden("the maker of an award cannot approve it: a second organizer does")
        lines = await conn.fetch("SELECT member_id FROM points.award_lines WHERE award_id = $1", award_id)
        paid = [r["member_id"] for r in lines]
        await _refuse_conflicts(conn, access.community_id, checker, paid)
        await _post(conn, access.community_id, award_id, approved_by=checker)
        return await get_award(conn, access.community_id, award_id)


async def reject(conn: ledger.Connection, access: Access, award_id: int, reason: str) -> Award:
    """Turn down a pending award (or, by its maker, withdraw it): nothing is posted and the caps it reserved are
    given back; an activity can then be awarded again."""
    _check_reason(reason)
    checker = _member(access)
    async with ledger.transaction(conn):
        await ledger.enter(conn, access.community_id)
        row = await _locked(conn, access.community_id, award_id)
        if row["state"] != "pending_approval":
            raise WrongState(f"the award is {row['state']}: only a pending one is rejected", state=row["state"])
        async with translated():
            await conn.execute(
                "UPDATE points.awards SET state = 'rejected', approved_by_member_id = CASE WHEN $2 ="
                " made_by_member_id THEN NULL ELSE $2 END, decided_at = now(), decision_reason = $3 WHERE id = $1",
                award_id,
                checker,
                reason.strip(),
            )
        return await get_award(conn, access.community_id, award_id)


async def correct(conn: ledger.Connection, access: Access, award_id: int, reason: str) -> Award:
    """Undo a posted award by reversing its entry, with a reason (never an edit); its caps are given back."""
    _check_reason(reason)
    corrector = _member(access)
    async with ledger.transaction(conn):
        await ledger.enter(conn, access.community_id)
        row = await _locked(conn, access.community_id, award_id)
        if row["state"] != "posted" or row["entry_id"] is None:
            raise WrongState(f"the award is {row['state']}: only a posted award is corrected", state=row["state"])
        if await conn.fetchval("SELECT 1 FROM points.award_corrections WHERE award_id = $1", award_id):
            raise AlreadyReversed("the award was already corrected", award_id=award_id)
        reversal = await ledger.reverse_entry(
            conn,
            access.community_id,
            row["entry_id"],
            reason=reason.strip(),
            idempotency_key=f"award-correction:{award_id}",
            actor=access.actor,
        )
        if not reversal.replayed:
            async with translated():
                await conn.execute(
                    "INSERT INTO points.award_corrections (award_id, community_id, entry_id, reason,"
                    " corrected_by_member_id) VALUES ($1, $2, $3, $4, $5)",
                    award_id,
                    access.community_id,
                    reversal.id,
                    reason.strip(),
                    corrector,
                )
        return await get_award(conn, access.community_id, award_id, replayed=reversal.replayed)


# --- small helpers -----------------------------------------------------------------------------------------------


async def _replay(conn: ledger.Connection, community_id: int, idempotency_key: str) -> Award | None:
    await ledger.enter(conn, community_id)
    found = await conn.fetchval(
        "SELECT id FROM points.awards WHERE community_id = $1 AND idempotency_key = $2", community_id, idempotency_key
    )
    return None if found is None else await get_award(conn, community_id, found, replayed=True)


def _key_reused() -> IdempotencyConflict:
    return IdempotencyConflict("the idempotency key was used for a different award")


def _check_reason(reason: str) -> None:
    if not reason.strip() or len(reason) > MAX_REASON_CHARS:
        raise InvalidRequest(
            f"a reason of 1 to {MAX_REASON_CHARS} characters is required",
            errors=[field_problem("reason", "required" if not reason.strip() else "too_long", max=MAX_REASON_CHARS)],
        )


def _member(access: Access) -> int:
    if access.member_id is None:
        raise Forbidden("only a member of the community makes or decides awards")
    return access.member_id
