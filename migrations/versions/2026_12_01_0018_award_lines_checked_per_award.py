"""The award lines' attendance check (migration 0013) looks each line up by its award's activity, not by a join
that scans every award for every line.

Migration 0013 checked an activity award's lines against the confirmed attendance with one statement joining the
inserted lines (a transition table) to ``points.awards`` to ``points.attendance``. The planner has no statistics
for a transition table and often stale ones for a growing awards table, and it chose a nested loop that compared
every line with every activity award of the community: 953,000 comparisons, 86 ms of an award of 1,000 attendees
in a community of 954 awards (bench/ledger.py figure 7 fell from 62 ms an award to 350). Now the check reads the
awards of the inserted lines first (one row, nearly always), then checks that award's lines with its activity id
as a constant: one index lookup on the attendance's primary key per line. What it refuses is unchanged (LP013).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from migrations.script import execute_script, revision_module

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PER_AWARD = """
    -- An activity's award pays its confirmed attendees, for at most the minutes their attendance confirmed; each
    -- award's lines checked with its activity as a constant (an index lookup per line).
    FOR v_award IN
        SELECT w.id, w.activity_id FROM points.awards w
         WHERE w.id IN (SELECT DISTINCT n.award_id FROM new_lines n) AND w.kind = 'activity'
    LOOP
        SELECT l.member_id, v_award.activity_id AS activity_id INTO v_bad
          FROM new_lines l
          LEFT JOIN points.attendance t
            ON t.activity_id = v_award.activity_id AND t.member_id = l.member_id AND t.confirmed
         WHERE l.award_id = v_award.id AND (t.member_id IS NULL OR l.minutes > t.minutes)
         LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'member % is not a confirmed attendee of activity % for these minutes', v_bad.member_id,
                v_bad.activity_id USING ERRCODE = 'LP013';
        END IF;
    END LOOP;
"""


def _checks_0013() -> str:
    return str(revision_module("2026_12_01_0013_award_lines_follow_attendance.py")._checks())


def _checks() -> str:
    attendance = revision_module("2026_12_01_0013_award_lines_follow_attendance.py")
    text = _checks_0013()
    before = str(attendance._ATTENDANCE_CHECK)
    assert before in text
    text = text.replace(before, _PER_AWARD, 1)
    declare = "DECLARE\n    v_bad record;\n"
    assert declare in text
    return text.replace(declare, declare + "    v_award record;\n", 1)


def upgrade() -> None:
    execute_script(_checks())


def downgrade() -> None:
    execute_script(_checks_0013())
