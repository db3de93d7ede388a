"""Reports (随手拍): a member (a resident, a delivery rider) reports a hazard — a category (an activity type such as
``report`` or ``patrol``), a text, optionally a place and a photo of their own; an organizer verifies it and awards
the reporter from today's budget (points/earning/awards.py ``award_report``, the one award path: caps, household,
approval threshold, budget), or rejects it with a reason. The reporter follows the outcome.

Nobody decides their own report: checked here, and by the table's CHECK ``reports_not_own``. A verification is
one transaction: the report is locked, moves to verified and is awarded, or nothing happens. A retry of it (the
same Idempotency-Key, or the report already verified) answers the report's live award and posts nothing again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

import ledger
from ledger.errors import IdempotencyConflict
from points import photos
from points.auth.access import Access
from points.auth.errors import Forbidden, InvalidRequest, NotFound
from points.earning import awards
from points.earning.errors import WrongState, translated
from points.earning.types import get_type
from points.field_problems import field_problem

MAX_TEXT_CHARS = 2000
MAX_REASON_CHARS = 500
STATES = ("submitted", "verified", "rejected")


@dataclass(frozen=True, slots=True)
class Report:
    id: int
    reporter_member_id: int
    reporter_name: str
    type_id: int
    type_name: str
    text: str
    place_id: int | None
    photo_id: int | None
    state: str
    decided_by_member_id: int | None
    decided_at: datetime | None
    decision_reason: str | None
    created_at: datetime
    award_id: int | None  # the live (not rejected) award of a verified report
    award_state: str | None
    award_points: int | None


_SELECT = """
SELECT r.id, r.reporter_member_id, m.display_name AS reporter_name, r.type_id, t.name AS type_name, r.text,
       r.place_id, r.photo_id, r.state, r.decided_by_member_id, r.decided_at, r.decision_reason, r.created_at,
       w.id AS award_id, w.state AS award_state, w.total_points AS award_points
  FROM points.reports r
  JOIN points.members m ON m.id = r.reporter_member_id
  JOIN points.activity_types t ON t.id = r.type_id
  LEFT JOIN points.awards w ON w.report_id = r.id AND w.state <> 'rejected'
"""


def _report(row: asyncpg.Record) -> Report:
    return Report(**dict(row))


async def get_report(conn: ledger.Connection, community_id: int, report_id: int) -> Report:
    await ledger.enter(conn, community_id)
    row = await conn.fetchrow(_SELECT + " WHERE r.id = $1 AND r.community_id = $2", report_id, community_id)
    if row is None:
        raise NotFound(f"no report {report_id} in this community", report_id=report_id)
    return _report(row)


def _member(access: Access) -> int:
    if access.member_id is None or access.status != "active":
        raise Forbidden("only an active member of the community reports or decides reports")
    return access.member_id


def _check_text(key: str, value: str, most: int) -> str:
    text = value.strip()
    if not text:
        # Worded apart from the decoder's own "… is required": tests/test_schemathesis.py tells a rule of the service
        # from the decoder refusing schema-valid input (here, text of white space alone) by the wording.
        raise InvalidRequest(
            f"{key} is required: write it in words, not only spaces", errors=[field_problem(key, "required")]
        )
    if len(value) > most:
        raise InvalidRequest(
            f"{key} has at most {most} characters",
            errors=[field_problem(key, "too_long", max=most, unit="characters")],
        )
    return text


async def submit_report(
    conn: ledger.Connection,
    access: Access,
    *,
    type_id: int,
    text: str,
    place_id: int | None = None,
    photo_id: int | None = None,
) -> Report:
    """Any active member reports: the category must be an active type of the community, the place one of its
    places, the photo one the reporter uploaded here."""
    reporter = _member(access)
    body = _check_text("text", text, MAX_TEXT_CHARS)
    community_id = access.community_id
    await ledger.enter(conn, community_id)
    category = await get_type(conn, community_id, type_id)
    if not category.active:
        raise InvalidRequest(
            f"the category {category.name} is no longer used", errors=[field_problem("type_id", "invalid")]
        )
    if place_id is not None and not await conn.fetchval(
        "SELECT 1 FROM points.places WHERE id = $1 AND community_id = $2", place_id, community_id
    ):
        raise NotFound(f"no place {place_id} in this community", place_id=place_id)
    if photo_id is not None:
        uploader = await conn.fetchval(
            "SELECT uploaded_by_member_id FROM points.photos WHERE id = $1 AND community_id = $2",
            photo_id,
            community_id,
        )
        if uploader is None:
            raise NotFound(f"no photo {photo_id} in this community", photo_id=photo_id)
        if uploader != reporter:
            raise InvalidRequest(
                "a report carries a photo its reporter uploaded",
                errors=[field_problem("photo_id", "invalid", message="photo_id is another member's photo")],
            )
    async with ledger.transaction(conn):
        report_id = await conn.fetchval(
            "INSERT INTO points.reports (community_id, reporter_member_id, type_id, text, place_id, photo_id)"
            " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            community_id,
            reporter,
            type_id,
            body,
            place_id,
            photo_id,
        )
        return await get_report(conn, community_id, report_id)


async def upload_photo(conn: ledger.Connection, access: Access, data: bytes) -> photos.StoredPhoto:
    """A member's photo for a report: checked and cleaned (points/photos.py), then stored."""
    uploader = _member(access)
    photo = photos.accept_photo(data)
    async with ledger.transaction(conn):  # the row and its read-back: a failure between leaves no photo
        photo_id = await photos.store_photo(conn, access.community_id, uploader, photo)
        return await photos.get_photo(conn, access.community_id, photo_id)


async def list_reports(
    conn: ledger.Connection,
    community_id: int,
    *,
    state: str | None = None,
    reporter_member_id: int | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[Report]:
    """Newest first."""
    await ledger.enter(conn, community_id)
    rows = await conn.fetch(
        _SELECT + " WHERE r.community_id = $1 AND ($2::text IS NULL OR r.state = $2)"
        " AND ($3::bigint IS NULL OR r.reporter_member_id = $3) AND ($4::bigint IS NULL OR r.id < $4)"
        " ORDER BY r.id DESC LIMIT $5",
        community_id,
        state,
        reporter_member_id,
        before_id,
        limit,
    )
    return [_report(r) for r in rows]


async def my_reports(
    conn: ledger.Connection, access: Access, *, before_id: int | None = None, limit: int = 50
) -> list[Report]:
    """The caller's own reports with their outcome (and the award's state and points once verified)."""
    if access.member_id is None:
        return []
    return await list_reports(
        conn, access.community_id, reporter_member_id=access.member_id, before_id=before_id, limit=limit
    )


async def _locked(conn: ledger.Connection, community_id: int, report_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT id, state, reporter_member_id FROM points.reports WHERE id = $1 AND community_id = $2 FOR UPDATE",
        report_id,
        community_id,
    )
    if row is None:
        raise NotFound(f"no report {report_id} in this community", report_id=report_id)
    return row


def _not_own(row: asyncpg.Record, decider: int) -> None:
    if row["reporter_member_id"] == decider:
        raise Forbidden("nobody decides their own report: another organizer does")


async def verify_report(
    conn: ledger.Connection, access: Access, report_id: int, *, points: int | None, idempotency_key: str
) -> awards.Award:
    """Verify and award, in one transaction. A retry (the same key, or the report verified already) answers the
    report's award, replayed, and posts nothing. A report whose award was rejected is verified again."""
    verifier = _member(access)
    community_id = access.community_id
    async with ledger.transaction(conn):
        await ledger.enter(conn, community_id)
        row = await _locked(conn, community_id, report_id)
        _not_own(row, verifier)
        again = False
        if row["state"] == "verified":
            award_id = await conn.fetchval(
                "SELECT id FROM points.awards WHERE report_id = $1 AND state <> 'rejected'", report_id
            )
            if award_id is not None:
                return await awards.get_award(conn, community_id, award_id, replayed=True)
            # Its award was turned down (maker-checker): the report still stands, so it is verified anew, by
            # whoever verifies it now, and awarded again (the old award stays, rejected, with its reason).
            again = True
        if row["state"] != "submitted" and not again:
            raise WrongState(f"the report is {row['state']}: only a submitted one is verified", state=row["state"])
        if await conn.fetchval(
            "SELECT 1 FROM points.awards WHERE community_id = $1 AND idempotency_key = $2",
            community_id,
            idempotency_key,
        ):
            raise IdempotencyConflict("the idempotency key was used for a different award")
        async with translated():
            await conn.execute(
                "UPDATE points.reports SET state = 'verified', decided_by_member_id = $2, decided_at = now()"
                " WHERE id = $1",
                report_id,
                verifier,
            )
        return await awards.award_report(conn, access, report_id, points=points, idempotency_key=idempotency_key)


async def reject_report(conn: ledger.Connection, access: Access, report_id: int, reason: str) -> Report:
    """Turn a submitted report down with a reason the reporter sees; nothing is paid."""
    decider = _member(access)
    why = _check_text("reason", reason, MAX_REASON_CHARS)
    community_id = access.community_id
    async with ledger.transaction(conn):
        await ledger.enter(conn, community_id)
        row = await _locked(conn, community_id, report_id)
        _not_own(row, decider)
        if row["state"] != "submitted":
            raise WrongState(f"the report is {row['state']}: only a submitted one is rejected", state=row["state"])
        async with translated():
            await conn.execute(
                "UPDATE points.reports SET state = 'rejected', decided_by_member_id = $2, decided_at = now(),"
                " decision_reason = $3 WHERE id = $1",
                report_id,
                decider,
                why,
            )
        return await get_report(conn, community_id, report_id)
