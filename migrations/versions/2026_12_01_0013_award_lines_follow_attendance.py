"""An activity's award pays its confirmed attendees only, for no more minutes than their attendance confirmed.

The service has always built an activity's award lines from the confirmed attendance list (``points.award_plan``),
but nothing beneath it said so: an award line of kind ``activity`` could name anyone of the community, with any
minutes. The award lines' statement trigger (migration 0009) now refuses, over all the lines of an INSERT at once,
a line of an activity award whose member has no confirmed attendance of that activity, or more minutes than the
attendance confirmed (SQLSTATE LP013). Ad-hoc and report awards have no attendance and are not affected.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from migrations.script import execute_script, revision_module, sql_block

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ATTENDANCE_CHECK = """
    -- An activity's award pays its confirmed attendees, for at most the minutes their attendance confirmed.
    SELECT l.member_id, w.activity_id INTO v_bad
      FROM new_lines l JOIN points.awards w ON w.id = l.award_id
      LEFT JOIN points.attendance t ON t.activity_id = w.activity_id AND t.member_id = l.member_id AND t.confirmed
     WHERE w.kind = 'activity' AND (t.member_id IS NULL OR l.minutes > t.minutes)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'member % is not a confirmed attendee of activity % for these minutes', v_bad.member_id,
            v_bad.activity_id USING ERRCODE = 'LP013';
    END IF;
"""
_BEFORE = "    -- Nobody is awarded by themselves or by someone of their household.\n"


def _checks() -> str:
    awards = revision_module("2026_12_01_0009_awards_in_two_round_trips.py")
    original = sql_block(awards.LINE_CHECKS, "CREATE FUNCTION points.award_lines_checks()")
    assert _BEFORE in original
    return original.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1).replace(
        _BEFORE, _ATTENDANCE_CHECK + _BEFORE, 1
    )


def upgrade() -> None:
    execute_script(_checks())


def downgrade() -> None:
    awards = revision_module("2026_12_01_0009_awards_in_two_round_trips.py")
    original = sql_block(awards.LINE_CHECKS, "CREATE FUNCTION points.award_lines_checks()")
    execute_script(original.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
