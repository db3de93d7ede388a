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
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime

import asyncpg

import ledger
from ledger.errors import AlreadyReversed, IdempotencyConflict, InsufficientBalance, from_database
from points.auth.access import Access
from points.auth.errors import ConflictOfInterest, Forbidden, InvalidRequest, NotFound
from points.earning.errors import BudgetExhausted, CapReached, NoBudget, WrongState, translated
from points.earning.periods import COMMUNITY_TZ, community_day
from points.earning.types import ActivityType
from points.field_problems import field_problem
from points.members import service as members

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
    state: str  # pending_approval, published (in its 公示 window), posted, rejected, voided (an objection upheld)
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
    window_ends_at: datetime | None  # published: when its 公示 window ends and it settles (points/publication/)
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
       EXISTS (SELECT 1 FROM points.award_corrections c WHERE c.award_id = w.id) AS corrected, w.window_ends_at
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
    lines = await _lines_of(conn, [award_id])
    return Award(**{name: row[name] for name in _FIELDS}, lines=lines.get(award_id, ()), replayed=replayed)


async def _lines_of(conn: ledger.Connection, award_ids: list[int]) -> dict[int, tuple[AwardLine, ...]]:
    """The lines of these awards, in member order: one read for one award or for a page of them."""
    rows = await conn.fetch(
        "SELECT l.award_id, l.member_id, m.display_name, l.requested_points, l.points, l.minutes"
        " FROM points.award_lines l JOIN points.members m ON m.id = l.member_id"
        " WHERE l.award_id = ANY($1::bigint[]) ORDER BY l.award_id, l.member_id",
        award_ids,
    )
    found: dict[int, list[AwardLine]] = {}
    for r in rows:
        found.setdefault(r["award_id"], []).append(
            AwardLine(r["member_id"], r["display_name"], r["requested_points"], r["points"], r["minutes"])
        )
    return {award_id: tuple(lines) for award_id, lines in found.items()}


async def list_awards(
    conn: ledger.Connection,
    community_id: int,
    *,
    state: str | None = None,
    member_id: int | None = None,
    before_id: int | None = None,
    limit: int = 50,
    with_lines: bool = False,
) -> list[Award]:
    """Newest first; ``member_id`` keeps the awards that pay that member (their own list); ``with_lines`` reads
    their lines too, in one more read for all of them."""
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
    lines = await _lines_of(conn, [r["id"] for r in rows]) if with_lines and rows else {}
    return [Award(**{name: r[name] for name in _FIELDS}, lines=lines.get(r["id"], ())) for r in rows]


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
#
# An award is two round trips in its transaction: points.award_plan reads all it is planned from, the rules are
# checked here on that, and points.make_award writes it (migration 0009). PostgreSQL checks the same rules again
# underneath: the lines' trigger (household ban, caps under the usage rows' locks), the budget's lower bound, the
# award's CHECKs and triggers (maker-checker), the one-live-award indexes and the idempotency key.


@dataclass(frozen=True, slots=True)
class _Plan:
    head: asyncpg.Record  # the activity, the existing award, the type, the day, the budget, the threshold, the maker
    payees: dict[int, asyncpg.Record]  # by member id: status, hours account, own household, caps used, minutes

    @property
    def activity_type(self) -> ActivityType:
        h = self.head
        if h["type_id"] is None:
            raise NotFound("no such activity type in this community")
        return ActivityType(
            h["type_id"], h["type_code"], h["type_name"], h["default_points"], h["points_per_hour"],
            h["cap_per_day"], h["cap_per_month"], h["type_active"],
        )  # fmt: skip


async def _plan(
    conn: ledger.Connection,
    access: Access,
    *,
    activity_id: int | None = None,
    type_id: int | None = None,
    day: date | None = None,
    member_ids: Sequence[int] = (),
    idempotency_key: str | None = None,
) -> _Plan:
    """Inside the caller's transaction, the tenant entered. An activity is locked first (and its attendees are
    the payees)."""
    rows = await conn.fetch(
        "SELECT * FROM points.award_plan($1, $2, $3, $4, $5, $6, $7, $8)",
        access.community_id,
        access.member_id,
        activity_id,
        type_id,
        day,
        list(member_ids),
        idempotency_key,
        COMMUNITY_TZ.key,
    )
    return _Plan(rows[0], {r["member_id"]: r for r in rows if r["member_id"] is not None})


def _cap_room(activity_type: ActivityType, payee: asyncpg.Record) -> int | None:
    """How many points of this type the member may still get on the award's day (None: no cap)."""
    limits = []
    if activity_type.cap_per_day is not None:
        limits.append(activity_type.cap_per_day - payee["used_day"])
    if activity_type.cap_per_month is not None:
        limits.append(activity_type.cap_per_month - payee["used_month"])
    return max(0, min(limits)) if limits else None


async def _refuse_conflicts(conn: ledger.Connection, community_id: int, member_id: int, paid: Sequence[int]) -> None:
    """Nobody approves an award that pays themselves or their household (the members service reads who that is)."""
    own = await members.own_household(conn, community_id, member_id)
    hit = sorted({m for m, _ in own} & set(paid))
    if hit:
        raise ConflictOfInterest("nobody awards points to themselves or to their own household", member_ids=hit)


async def _make(
    conn: ledger.Connection,
    access: Access,
    plan: _Plan,
    *,
    kind: str,
    activity_type: ActivityType,
    wanted: Sequence[Wanted],
    reason: str,
    idempotency_key: str,
    activity_id: int | None = None,
    report_id: int | None = None,
) -> Award:
    """Inside the caller's transaction: check the plan, cut the lines to the caps, write the award and its lines,
    posted unless it needs an approval. One round trip."""
    maker = _member(access)
    community_id = access.community_id
    head, payees = plan.head, plan.payees
    hit = sorted(w.member_id for w in wanted if w.member_id in payees and payees[w.member_id]["own_household"])
    if hit:
        raise ConflictOfInterest("nobody awards points to themselves or to their own household", member_ids=hit)
    for w in wanted:
        payee = payees.get(w.member_id)
        if payee is None or not payee["has_hours"]:
            raise NotFound(f"no member {w.member_id} in this community", member_id=w.member_id)
        if payee["status"] != "active":
            raise InvalidRequest(f"{payee['display_name']} is {payee['status']}: only active members are awarded")
    day: date = head["award_on"]
    if head["budget_id"] is None:
        raise NoBudget(f"no budget covers {day.isoformat()}: the admin allots one for its period first", day=day)
    lines = []
    for w in sorted(wanted, key=lambda w: w.member_id):
        left = _cap_room(activity_type, payees[w.member_id])
        points = w.points if left is None else min(w.points, left)
        lines.append(AwardLine(w.member_id, payees[w.member_id]["display_name"], w.points, points, w.minutes))
    total = sum(line.points for line in lines)
    minutes = sum(line.minutes for line in lines)
    threshold = head["approval_threshold"]
    pending = threshold is not None and any(line.points > threshold for line in lines)
    if not pending and total > head["budget_left"]:
        raise _exhausted(head["budget_period"], head["budget_left"], total)
    try:
        async with translated(), _ledger_errors():
            row = await conn.fetchrow(
                "SELECT * FROM points.make_award($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                community_id,
                kind,
                activity_id,
                report_id,
                activity_type.id,
                reason,
                day,
                head["budget_id"],
                maker,
                pending,
                idempotency_key,
                [line.member_id for line in lines],
                [line.requested_points for line in lines],
                [line.points for line in lines],
                [line.minutes for line in lines],
            )
    except InsufficientBalance as exc:  # another award drew on the budget since the plan read it
        raise _exhausted(head["budget_period"], exc.data.get("available", 0), total) from exc
    return Award(
        id=row["new_award_id"],
        kind=kind,
        state=row["new_state"],
        activity_id=activity_id,
        report_id=report_id,
        type_id=activity_type.id,
        type_name=activity_type.name,
        reason=reason,
        award_on=day,
        budget_period=head["budget_period"],
        made_by_member_id=maker,
        made_by_name=head["maker_name"],
        approved_by_member_id=None,
        decided_at=None,
        decision_reason=None,
        entry_id=row["new_entry_id"],
        total_points=total,
        total_minutes=minutes,
        created_at=row["new_created_at"],
        corrected=False,
        window_ends_at=row["new_window_ends_at"],
        lines=tuple(lines),
    )


@asynccontextmanager
async def _ledger_errors() -> AsyncIterator[None]:
    """The ledger's refusals raised inside the award functions (the budget's bound: LE001) as the ledger's errors."""
    try:
        yield
    except asyncpg.PostgresError as exc:
        found = from_database(exc)
        if found is None:
            raise
        raise found from exc


def _exhausted(period: str, left: int, needed: int) -> BudgetExhausted:
    return BudgetExhausted(
        f"the {period} budget has {left} points left; this award needs {needed}", left=left, needed=needed,
        period=period,
    )  # fmt: skip


async def _post(conn: ledger.Connection, award_id: int, *, approved_by: int | None) -> None:
    """An approved award goes where a decided award goes (points.publish_award): posted at once — one entry from
    the budget (and hours:served) to every line — or, with the community's 公示 window on, published with its points
    held on the budget."""
    # Read first: a refusal aborts the transaction, and the answer names the period and the points needed.
    row = await conn.fetchrow(
        "SELECT b.period, w.total_points FROM points.awards w JOIN points.budgets b ON b.id = w.budget_id"
        " WHERE w.id = $1",
        award_id,
    )
    try:
        async with translated(), _ledger_errors():
            await conn.fetchval("SELECT points.publish_award($1, $2)", award_id, approved_by)
    except InsufficientBalance as exc:
        raise _exhausted(row["period"], exc.data.get("available", 0), row["total_points"]) from exc


# --- the three kinds ---------------------------------------------------------------------------------------------


async def _planned_again_after_a_cap_race(attempt: Callable[[], Awaitable[Award]]) -> Award:
    """Two awards paying one member at once: both plans read the caps before either was written, so the second
    one's lines would take the member above a cap, and the lines' trigger refuses them (LP001) under the usage
    rows' locks. Planned again (a new transaction, which sees the first award), the second is cut to what is left,
    as if the two had come one after the other, instead of being refused. Once: a third attempt would meet the same
    race again only under a storm of awards, and then a clear refusal is the better answer."""
    try:
        return await attempt()
    except CapReached:
        return await attempt()


async def award_activity(conn: ledger.Connection, access: Access, activity_id: int) -> Award:
    """Award a closed activity's confirmed attendees: the activity's reward each (or the type's points per hour
    of their confirmed minutes), hours for their minutes. Awarding again returns the same award."""
    return await _planned_again_after_a_cap_race(lambda: _award_activity(conn, access, activity_id))


async def _award_activity(conn: ledger.Connection, access: Access, activity_id: int) -> Award:
    async with ledger.transaction(conn):
        await ledger.enter(conn, access.community_id)
        plan = await _plan(conn, access, activity_id=activity_id)
        head = plan.head
        if not head["activity_found"]:
            raise NotFound(f"no activity {activity_id} in this community", activity_id=activity_id)
        if head["existing_award_id"] is not None:
            return await get_award(conn, access.community_id, head["existing_award_id"], replayed=True)
        if head["activity_state"] != "closed" or not head["attendance_confirmed"]:
            raise WrongState(
                f"the activity is {head['activity_state']}: confirm its attendance before awarding",
                state=head["activity_state"],
            )
        activity_type = plan.activity_type
        if not plan.payees:
            raise WrongState("nobody's attendance is confirmed: there is nobody to award", state="closed")
        per_hour = activity_type.points_per_hour if head["per_hour"] else None
        wanted = [
            Wanted(
                p["member_id"],
                head["reward_points"] if per_hour is None else p["minutes"] * per_hour // 60,
                p["minutes"],
            )
            for p in plan.payees.values()
        ]
        return await _make(
            conn,
            access,
            plan,
            kind="activity",
            activity_type=activity_type,
            wanted=wanted,
            reason=head["activity_title"],
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
    return await _planned_again_after_a_cap_race(
        lambda: _award_adhoc(conn, access, member_id, type_id, points, reason, idempotency_key, minutes)
    )


async def _award_adhoc(
    conn: ledger.Connection,
    access: Access,
    member_id: int,
    type_id: int,
    points: int,
    reason: str,
    idempotency_key: str,
    minutes: int,
) -> Award:
    async with ledger.transaction(conn):
        await ledger.enter(conn, access.community_id)
        plan = await _plan(
            conn,
            access,
            type_id=type_id,
            day=community_day(datetime.now(UTC)),
            member_ids=[member_id],
            idempotency_key=idempotency_key,
        )
        if plan.head["existing_award_id"] is not None:
            replay = await get_award(conn, access.community_id, plan.head["existing_award_id"], replayed=True)
            same = replay.kind == "adhoc" and replay.type_id == type_id and replay.reason == reason.strip()
            same = same and [(x.member_id, x.requested_points, x.minutes) for x in replay.lines] == [
                (member_id, points, minutes)
            ]
            if not same:
                raise _key_reused()
            return replay
        if plan.head["type_id"] is None:
            raise NotFound(f"no activity type {type_id} in this community", type_id=type_id)
        return await _make(
            conn,
            access,
            plan,
            kind="adhoc",
            activity_type=plan.activity_type,
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
    plan = await _plan(
        conn,
        access,
        type_id=row["type_id"],
        day=community_day(datetime.now(UTC)),
        member_ids=[row["reporter_member_id"]],
    )
    if plan.head["type_id"] is None:
        raise NotFound(f"no activity type {row['type_id']} in this community", type_id=row["type_id"])
    activity_type = plan.activity_type
    amount = activity_type.default_points if points is None else points
    if not 1 <= amount <= MAX_AWARD_POINTS:
        raise InvalidRequest(
            f"points is 1 to {MAX_AWARD_POINTS}", errors=[field_problem("points", "too_large", max=MAX_AWARD_POINTS)]
        )
    return await _make(
        conn,
        access,
        plan,
        kind="report",
        activity_type=activity_type,
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
    """The second organizer's approval of a pending award: it posts now (today's budget balance permitting), or is
    published when the community's 公示 window is on."""
    checker = _member(access)
    async with ledger.transaction(conn):
        await ledger.enter(conn, access.community_id)
        row = await _locked(conn, access.community_id, award_id)
        if row["state"] != "pending_approval":
            if row["state"] in ("posted", "published") and row["made_by_member_id"] != checker:
                return await get_award(conn, access.community_id, award_id, replayed=True)
            raise WrongState(f"the award is {row['state']}: only a pending one is approved", state=row["state"])
        if row["made_by_member_id"] == checker:
            raise Forbidden("the maker of an award cannot approve it: a second organizer does")
        lines = await conn.fetch("SELECT member_id FROM points.award_lines WHERE award_id = $1", award_id)
        paid = [r["member_id"] for r in lines]
        await _refuse_conflicts(conn, access.community_id, checker, paid)
        await _post(conn, award_id, approved_by=checker)
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
