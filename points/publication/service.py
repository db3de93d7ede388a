"""The 公示 window's rules: the setting, the public list, objections and the admin's decisions, the settling.

- **The setting.** A window of 1 to 14 days, or none. An award takes the window of the moment it is decided (made
  below the approval threshold, or approved) and keeps it: switching the window off, or changing its length,
  changes nothing for awards already published (the award's own ``window_ends_at``).
- **Published.** The award's lines are held on the budget (one ledger hold per paid line, budget → wallet): the
  budget cannot be spent twice, and the wallet does not have the points yet. The member sees them as pending.
- **Objections.** Any member of the community may object to a published award once, with a reason, until its
  window ends. An objection left open stops the award from settling until an admin decides it, so an objection
  in the last minute is not overtaken by the job.
- **Decisions** (admins; never the objector, nor anyone the award pays or of their household): *uphold* voids the
  award (its holds voided, its caps given back, nothing posted; the other open objections close with it);
  *dismiss* lets it settle at the end of its window (at once, by the next run, if the window has ended). Both
  are written to the audit trail with their reason.
- **Settling** (the job, every minute): every published award whose window has ended and which has no open
  objection, under its row lock: the holds voided and the award's one ledger entry posted. The job skips an award
  an admin is deciding at that moment (it is locked); the admin's decision, once it has the lock, finds the award
  still published or already settled, never both.

PostgreSQL checks the same underneath (migration 0016, SQLSTATE class LG).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

import ledger
from points.audit import audit
from points.auth.access import Access
from points.auth.errors import ConflictOfInterest, Forbidden, InvalidRequest, NotFound
from points.earning.errors import AlreadyObjected, NotInWindow, WrongState, translated
from points.field_problems import field_problem
from points.members import service as members
from points.publication.names import masked

MIN_DAYS = 1
MAX_DAYS = 14
MAX_REASON_CHARS = 500


# --- the setting -------------------------------------------------------------------------------------------------


async def window_days(conn: ledger.Connection, community_id: int) -> int | None:
    """The community's window in days, or None when awards post at once."""
    await ledger.enter(conn, community_id)
    found: int | None = await conn.fetchval(
        "SELECT window_days FROM points.publication_settings WHERE community_id = $1", community_id
    )
    return found


async def set_window_days(conn: ledger.Connection, community_id: int, days: int | None) -> int | None:
    """Switch the window on (``days``), change its length, or switch it off (None). Awards already published keep
    the window they were published with."""
    if days is not None and not MIN_DAYS <= days <= MAX_DAYS:
        raise InvalidRequest(
            f"window_days is {MIN_DAYS} to {MAX_DAYS}, or null for no 公示 window",
            errors=[field_problem("window_days", "too_small" if days < MIN_DAYS else "too_large", max=MAX_DAYS)],
        )
    await ledger.enter(conn, community_id)
    await conn.execute(
        "INSERT INTO points.publication_settings (community_id, window_days) VALUES ($1, $2)"
        " ON CONFLICT (community_id) DO UPDATE SET window_days = EXCLUDED.window_days, updated_at = now()",
        community_id,
        days,
    )
    return days


# --- what is published -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PublishedLine:
    member_id: int
    name: str  # the member's name; the public page shows ``masked_name`` only
    points: int
    minutes: int

    @property
    def masked_name(self) -> str:
        return masked(self.name)


@dataclass(frozen=True, slots=True)
class Published:
    award_id: int
    kind: str
    type_name: str
    reason: str
    award_on: date
    total_points: int
    published_at: datetime
    window_ends_at: datetime
    objections_open: int
    lines: tuple[PublishedLine, ...]

    @property
    def waiting_for_decision(self) -> bool:
        return self.objections_open > 0


async def published(conn: ledger.Connection, community_id: int, *, limit: int = 200) -> list[Published]:
    """The community's awards in their window (and those past it waiting for an admin's decision), soonest to
    settle first, with their lines."""
    await ledger.enter(conn, community_id)
    rows = await conn.fetch(
        "SELECT w.id, w.kind, t.name AS type_name, w.reason, w.award_on, w.total_points, w.published_at,"
        " w.window_ends_at,"
        " (SELECT count(*) FROM points.objections o WHERE o.award_id = w.id AND o.state = 'open') AS objections_open"
        " FROM points.awards w JOIN points.activity_types t ON t.id = w.type_id"
        " WHERE w.community_id = $1 AND w.state = 'published' ORDER BY w.window_ends_at, w.id LIMIT $2",
        community_id,
        limit,
    )
    lines = await _lines(conn, [r["id"] for r in rows])
    return [
        Published(
            r["id"],
            r["kind"],
            r["type_name"],
            r["reason"],
            r["award_on"],
            r["total_points"],
            r["published_at"],
            r["window_ends_at"],
            r["objections_open"],
            lines.get(r["id"], ()),
        )
        for r in rows
    ]


async def _lines(conn: ledger.Connection, award_ids: list[int]) -> dict[int, tuple[PublishedLine, ...]]:
    if not award_ids:
        return {}
    rows = await conn.fetch(
        "SELECT l.award_id, l.member_id, m.display_name, l.points, l.minutes FROM points.award_lines l"
        " JOIN points.members m ON m.id = l.member_id WHERE l.award_id = ANY($1::bigint[])"
        " ORDER BY l.award_id, m.display_name, l.member_id",
        award_ids,
    )
    found: dict[int, list[PublishedLine]] = defaultdict(list)
    for r in rows:
        found[r["award_id"]].append(PublishedLine(r["member_id"], r["display_name"], r["points"], r["minutes"]))
    return {k: tuple(v) for k, v in found.items()}


# --- objections --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Objection:
    id: int
    award_id: int
    member_id: int
    member_name: str
    reason: str
    state: str  # open, upheld, dismissed, closed (the award was voided by another objection)
    created_at: datetime
    decided_by_member_id: int | None
    decided_by_name: str | None
    decided_at: datetime | None
    decision_reason: str | None
    award_state: str
    award_type_name: str
    award_reason: str
    award_points: int
    window_ends_at: datetime | None
    paid: tuple[str, ...]  # the names the award pays (for the admin deciding it)


_OBJECTION = """
SELECT o.id, o.award_id, o.member_id, m.display_name AS member_name, o.reason, o.state, o.created_at,
       o.decided_by_member_id, d.display_name AS decided_by_name, o.decided_at, o.decision_reason,
       w.state AS award_state, t.name AS award_type_name, w.reason AS award_reason, w.total_points AS award_points,
       w.window_ends_at,
       ARRAY(SELECT pm.display_name FROM points.award_lines l JOIN points.members pm ON pm.id = l.member_id
              WHERE l.award_id = w.id ORDER BY pm.display_name) AS paid
  FROM points.objections o
  JOIN points.members m ON m.id = o.member_id
  LEFT JOIN points.members d ON d.id = o.decided_by_member_id
  JOIN points.awards w ON w.id = o.award_id
  JOIN points.activity_types t ON t.id = w.type_id
"""


def _objection(r: asyncpg.Record) -> Objection:
    return Objection(
        r["id"], r["award_id"], r["member_id"], r["member_name"], r["reason"], r["state"], r["created_at"],
        r["decided_by_member_id"], r["decided_by_name"], r["decided_at"], r["decision_reason"], r["award_state"],
        r["award_type_name"], r["award_reason"], r["award_points"], r["window_ends_at"], tuple(r["paid"]),
    )  # fmt: skip


async def get_objection(conn: ledger.Connection, community_id: int, objection_id: int) -> Objection:
    await ledger.enter(conn, community_id)
    row = await conn.fetchrow(_OBJECTION + " WHERE o.id = $1 AND o.community_id = $2", objection_id, community_id)
    if row is None:
        raise NotFound(f"no objection {objection_id} in this community", objection_id=objection_id)
    return _objection(row)


async def list_objections(
    conn: ledger.Connection, community_id: int, *, state: str | None = None, before_id: int | None = None,
    limit: int = 50,
) -> list[Objection]:  # fmt: skip
    """Newest first; ``state=open``: the objections waiting for an admin."""
    await ledger.enter(conn, community_id)
    rows = await conn.fetch(
        _OBJECTION + " WHERE o.community_id = $1 AND ($2::text IS NULL OR o.state = $2)"
        " AND ($3::bigint IS NULL OR o.id < $3) ORDER BY o.id DESC LIMIT $4",
        community_id,
        state,
        before_id,
        limit,
    )
    return [_objection(r) for r in rows]


def _check_reason(reason: str, field: str = "reason") -> str:
    text = reason.strip()
    if not text or len(reason) > MAX_REASON_CHARS:
        raise InvalidRequest(
            f"a reason of 1 to {MAX_REASON_CHARS} characters is needed",
            errors=[field_problem(field, "required" if not text else "too_long", max=MAX_REASON_CHARS)],
        )
    return text


async def object_to(conn: ledger.Connection, access: Access, award_id: int, reason: str) -> Objection:
    """A member's objection to a published award, while its window is open; once per member per award."""
    text = _check_reason(reason)
    if access.member_id is None:
        raise Forbidden("only a member of the community objects to its awards")
    async with ledger.transaction(conn):
        await ledger.enter(conn, access.community_id)
        # Share-locked as PostgreSQL does too: the award cannot settle between this check and the objection.
        award = await conn.fetchrow(
            "SELECT state, window_ends_at, window_ends_at <= now() AS ended FROM points.awards"
            " WHERE id = $1 AND community_id = $2 FOR SHARE",
            award_id,
            access.community_id,
        )
        if award is None:
            raise NotFound(f"no award {award_id} in this community", award_id=award_id)
        if award["state"] != "published" or award["ended"]:
            raise NotInWindow(_not_in_window(award["state"]), award_id=award_id, state=award["state"])
        mine = await conn.fetchval(
            "SELECT id FROM points.objections WHERE award_id = $1 AND member_id = $2", award_id, access.member_id
        )
        if mine is not None:
            raise AlreadyObjected("you have objected to this award already", objection_id=mine)
        async with translated():
            objection_id = await conn.fetchval(
                "INSERT INTO points.objections (community_id, award_id, member_id, reason) VALUES ($1, $2, $3, $4)"
                " RETURNING id",
                access.community_id,
                award_id,
                access.member_id,
                text,
            )
        return await get_objection(conn, access.community_id, objection_id)


def _not_in_window(state: str) -> str:
    if state == "published":
        return "the award's 公示 window has ended: it takes no more objections"
    if state == "posted":
        return "the award has settled: its points count, and it takes no objection"
    if state == "voided":
        return "the award was voided after an objection"
    return "the award is not published (it is waiting for its approval, or was turned down)"


async def decide(conn: ledger.Connection, access: Access, objection_id: int, *, uphold: bool, reason: str) -> Objection:
    """An admin's decision on an open objection. Uphold: the award is voided (its held points released, nothing
    posted, the member sees why). Dismiss: the award settles at the end of its window as usual."""
    text = _check_reason(reason)
    decider = access.member_id
    if decider is None:
        raise Forbidden("only a member of the community decides objections")
    async with ledger.transaction(conn):
        await ledger.enter(conn, access.community_id)
        found = await conn.fetchrow(
            "SELECT award_id, member_id FROM points.objections WHERE id = $1 AND community_id = $2",
            objection_id,
            access.community_id,
        )
        if found is None:
            raise NotFound(f"no objection {objection_id} in this community", objection_id=objection_id)
        award_id = found["award_id"]
        # The award's row lock first, as the settle job takes it: whichever of the two has it decides, and the
        # other finds the award settled, or voided, or still published without the settle.
        award = await conn.fetchrow("SELECT state FROM points.awards WHERE id = $1 FOR UPDATE", award_id)
        objection = await conn.fetchrow("SELECT state FROM points.objections WHERE id = $1", objection_id)
        if objection["state"] != "open":
            raise WrongState(f"the objection is {objection['state']} already", state=objection["state"])
        if award["state"] != "published":
            raise WrongState(_not_in_window(award["state"]), state=award["state"])
        if found["member_id"] == decider:
            raise Forbidden("an objection is decided by another admin than the member who made it")
        paid = [r["member_id"] for r in await conn.fetch(
            "SELECT member_id FROM points.award_lines WHERE award_id = $1", award_id)]  # fmt: skip
        own = {m for m, _ in await members.own_household(conn, access.community_id, decider)}
        if own & set(paid):
            raise ConflictOfInterest(
                "nobody decides an objection to an award paying themselves or their household", award_id=award_id
            )
        async with translated():
            await conn.execute(
                "UPDATE points.objections SET state = $2, decided_by_member_id = $3, decided_at = now(),"
                " decision_reason = $4 WHERE id = $1",
                objection_id,
                "upheld" if uphold else "dismissed",
                decider,
                text,
            )
            if uphold:
                await conn.execute(
                    "UPDATE points.objections SET state = 'closed', decided_at = now()"
                    " WHERE award_id = $1 AND state = 'open'",
                    award_id,
                )
                await conn.execute("SELECT points.release_award_holds($1)", award_id)
                await conn.execute(
                    "UPDATE points.awards SET state = 'voided', decision_reason = $2 WHERE id = $1", award_id, text
                )
        await audit(
            conn,
            "objection.upheld" if uphold else "objection.dismissed",
            community_id=access.community_id,
            actor_person_id=access.person_id,
            subject=f"award:{award_id}",
            detail={"objection_id": objection_id, "reason": text},
        )
        return await get_objection(conn, access.community_id, objection_id)


# --- the member's own --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MyObjection:
    reason: str
    state: str
    created_at: datetime
    decided_at: datetime | None
    decision_reason: str | None


@dataclass(frozen=True, slots=True)
class MyAward:
    award_id: int
    state: str  # published (pending) or voided
    type_name: str
    reason: str
    points: int
    minutes: int
    window_ends_at: datetime
    decision_reason: str | None  # why it was voided
    objections: tuple[MyObjection, ...]  # without who made them


async def mine(conn: ledger.Connection, access: Access, *, voided_limit: int = 20) -> list[MyAward]:
    """The caller's awards in their window (pending points, not spendable until they settle) and the latest of
    their voided ones with the reason, each with the objections to it and their outcome (not who objected)."""
    if access.member_id is None:
        return []
    await ledger.enter(conn, access.community_id)
    rows = await conn.fetch(
        "(SELECT w.id, w.state, t.name AS type_name, w.reason, l.points, l.minutes, w.window_ends_at,"
        " w.decision_reason FROM points.awards w JOIN points.award_lines l ON l.award_id = w.id AND l.member_id = $2"
        " JOIN points.activity_types t ON t.id = w.type_id WHERE w.community_id = $1 AND w.state = 'published')"
        " UNION ALL"
        " (SELECT w.id, w.state, t.name, w.reason, l.points, l.minutes, w.window_ends_at, w.decision_reason"
        " FROM points.awards w JOIN points.award_lines l ON l.award_id = w.id AND l.member_id = $2"
        " JOIN points.activity_types t ON t.id = w.type_id WHERE w.community_id = $1 AND w.state = 'voided'"
        " ORDER BY w.id DESC LIMIT $3)",
        access.community_id,
        access.member_id,
        voided_limit,
    )
    ids = [r["id"] for r in rows]
    objections: dict[int, list[MyObjection]] = defaultdict(list)
    if ids:
        for o in await conn.fetch(
            "SELECT award_id, reason, state, created_at, decided_at, decision_reason FROM points.objections"
            " WHERE award_id = ANY($1::bigint[]) ORDER BY id",
            ids,
        ):
            objections[o["award_id"]].append(
                MyObjection(o["reason"], o["state"], o["created_at"], o["decided_at"], o["decision_reason"])
            )
    found = [
        MyAward(
            r["id"],
            r["state"],
            r["type_name"],
            r["reason"],
            r["points"],
            r["minutes"],
            r["window_ends_at"],
            r["decision_reason"],
            tuple(objections.get(r["id"], ())),
        )
        for r in rows
    ]
    return sorted(found, key=lambda a: (a.state != "published", a.window_ends_at, a.award_id))


def pending_points(awards: list[MyAward]) -> int:
    return sum(a.points for a in awards if a.state == "published")


# --- the job -----------------------------------------------------------------------------------------------------


async def settle_due(conn: ledger.Connection, community_id: int) -> int:
    """Settle the community's awards whose window has ended and that wait for no decision (points.settle_due_awards,
    one transaction); returns how many. Run again, it settles nothing twice: a settled award is no longer
    published."""
    async with ledger.transaction(conn):
        await ledger.enter(conn, community_id)
        rows = await conn.fetch("SELECT award_id FROM points.settle_due_awards($1)", community_id)
    return len(rows)
