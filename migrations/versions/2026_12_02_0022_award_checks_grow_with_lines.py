"""An award's checks cost what its lines cost: none of them reads every account or every award in the database.

Two statements on the award path grew with the community instead of the award (found with ``auto_explain`` on a
kept bench database, bench/ledger.py figures 7 and 8):

- ``ledger.raise_if_unbalanced`` ran for every entry of more than one unit (every award: points and minutes). It
  joined the postings to ``ledger.accounts`` for their units, under ``post_entry``'s ``enable_nestloop = off``:
  a merge join that read the accounts' primary key from the first account of the database up to the entry's
  last, 4,000 rows and 3 ms of a 10-person award's 9.5 ms in a bench database of 19,000 accounts. ``post_entry``
  has each posting's unit already (its validation statement reads them); it now hands them over, and the check
  sums the arrays without reading a table.
- The award lines' statement trigger (``points.award_lines_checks``) joined the inserted lines (a transition
  table: no statistics, and a plan kept for the size of the session's first award) to ``points.awards`` four
  times, by a hash or merge join over every award in the database (the trigger runs as the owner, so row-level
  security does not narrow the scan to the community), and its attendance check compared every
  line with every attendee (a nested loop with a join filter: 499,500 comparisons, 67 ms of an award of 1,000).
  It now reads each award of the statement once (one, in practice) and checks its lines with the award's
  columns as constants: an index lookup per line for the attendance and the household, one upsert for the caps.

What either refuses is unchanged (LE002; LP013, LP002, LP004, LP001, in that order per award).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from migrations.script import execute_script, revision_module, sql_block

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CALL_BEFORE = "PERFORM ledger.raise_if_unbalanced(p_account_ids, p_amounts);"
_CALL_AFTER = "PERFORM ledger.raise_if_unbalanced(v_unit_of, p_amounts);"

UNBALANCED = """
-- The units come from the caller (post_entry's validation statement has read them, in posting order): summing two
-- arrays reads no table, whatever the size of the ledger.
CREATE FUNCTION ledger.raise_if_unbalanced(p_units text[], p_amounts bigint[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_unit text;
BEGIN
    SELECT l.unit INTO v_unit FROM unnest(p_units, p_amounts) AS l(unit, amount)
     GROUP BY l.unit HAVING sum(l.amount) <> 0 ORDER BY l.unit LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'the postings in unit % do not sum to zero', v_unit
            USING ERRCODE = 'LE002', DETAIL = jsonb_build_object('unit', v_unit)::text;
    END IF;
END $$;
REVOKE ALL ON FUNCTION ledger.raise_if_unbalanced(text[], bigint[]) FROM PUBLIC;
"""

# Once post_entry calls the new one (the old one read the accounts for the units).
UNBALANCED_OLD = """
DROP FUNCTION ledger.raise_if_unbalanced(bigint[], bigint[]);
"""

LINE_CHECKS = """
-- Once per INSERT of award lines, per award of the statement (one, in practice), with the award's columns read
-- once and used as constants: every statement below is driven by the lines and looks each one up by index, so
-- its cost follows the award's size, never the community's count of awards or members.
CREATE OR REPLACE FUNCTION points.award_lines_checks() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_id bigint;
    v_award record;
    v_bad record;
BEGIN
    FOR v_id IN SELECT DISTINCT n.award_id FROM new_lines n ORDER BY n.award_id LOOP
        SELECT w.id, w.kind, w.activity_id, w.state, w.type_id, w.award_on, w.made_by_member_id,
               maker.household_id AS maker_household_id, t.cap_per_day, t.cap_per_month
          INTO v_award
          FROM points.awards w
          JOIN points.members maker ON maker.id = w.made_by_member_id
          JOIN points.activity_types t ON t.id = w.type_id
         WHERE w.id = v_id;
        -- An activity's award pays its confirmed attendees, for at most the minutes their attendance confirmed.
        IF v_award.kind = 'activity' THEN
            -- LATERAL ... LIMIT 1: an index lookup per line is the only plan (the planner, estimating a handful of
            -- lines, would otherwise compare every line with every attendee).
            SELECT l.member_id INTO v_bad
              FROM new_lines l
              LEFT JOIN LATERAL (
                   SELECT true AS found, t.minutes FROM points.attendance t
                    WHERE t.activity_id = v_award.activity_id AND t.member_id = l.member_id AND t.confirmed
                    LIMIT 1) t ON true
             WHERE l.award_id = v_id AND (t.found IS NULL OR l.minutes > t.minutes)
             LIMIT 1;
            IF FOUND THEN
                RAISE EXCEPTION 'member % is not a confirmed attendee of activity % for these minutes',
                    v_bad.member_id, v_award.activity_id USING ERRCODE = 'LP013';
            END IF;
        END IF;
        -- Nobody is awarded by themselves or by someone of their household.
        SELECT l.member_id INTO v_bad
          FROM new_lines l
          CROSS JOIN LATERAL (SELECT m.household_id FROM points.members m WHERE m.id = l.member_id LIMIT 1) m
         WHERE l.award_id = v_id
           AND (l.member_id = v_award.made_by_member_id OR m.household_id = v_award.maker_household_id)
         LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'member % cannot be awarded by member %: themselves or their household', v_bad.member_id,
                v_award.made_by_member_id USING ERRCODE = 'LP002';
        END IF;
        IF v_award.state = 'rejected' THEN
            RAISE EXCEPTION 'award % was rejected', v_id USING ERRCODE = 'LP004';
        END IF;
        -- The caps: one upsert, rows in member order so that two awards lock usage rows in the same order and
        -- never deadlock.
        WITH charge AS (
            SELECT l.community_id, l.member_id, p.period, sum(l.points)::integer AS points
              FROM new_lines l
             CROSS JOIN (VALUES (to_char(v_award.award_on, 'YYYY-MM-DD')), (to_char(v_award.award_on, 'YYYY-MM')))
                   p (period)
             WHERE l.award_id = v_id AND l.points > 0
             GROUP BY l.community_id, l.member_id, p.period),
        charged AS (
            INSERT INTO points.cap_usage AS u (community_id, member_id, type_id, period, points)
            SELECT c.community_id, c.member_id, v_award.type_id, c.period, c.points FROM charge c
             ORDER BY c.member_id, c.period
            ON CONFLICT (member_id, type_id, period) DO UPDATE SET points = u.points + EXCLUDED.points
            RETURNING u.member_id, u.period, u.points)
        SELECT c.member_id, c.period, c.points INTO v_bad
          FROM charged c
         WHERE c.points > (CASE WHEN length(c.period) = 10 THEN v_award.cap_per_day ELSE v_award.cap_per_month END)
         ORDER BY c.member_id, c.period
         LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'member % would get % points of this type in %, above its cap', v_bad.member_id,
                v_bad.points, v_bad.period USING ERRCODE = 'LP001';
        END IF;
    END LOOP;
    RETURN NULL;
END $$;
"""


def _post_entry_0003() -> str:
    leaner = revision_module("2026_11_23_0003_leaner_posting_path.py")
    return sql_block(str(leaner.POST_ENTRY), "CREATE OR REPLACE FUNCTION ledger.post_entry(")


def _post_entry() -> str:
    text = _post_entry_0003()
    assert text.count(_CALL_BEFORE) == 1
    return text.replace(_CALL_BEFORE, _CALL_AFTER)


def _settings_0009() -> str:
    """CREATE OR REPLACE resets a function's settings to its own SET clauses: 0009's are put back after it."""
    return str(revision_module("2026_12_01_0009_awards_in_two_round_trips.py").POST_ENTRY)


def upgrade() -> None:
    execute_script(UNBALANCED)
    execute_script(_post_entry())
    execute_script(_settings_0009())
    execute_script(UNBALANCED_OLD)
    execute_script(LINE_CHECKS)


def downgrade() -> None:
    checks = revision_module("2026_12_01_0018_award_lines_checked_per_award.py")
    execute_script(str(checks._checks()))
    core = revision_module("2026_11_23_0001_ledger_core.py")
    execute_script(sql_block(str(core.FUNCTIONS), "CREATE FUNCTION ledger.raise_if_unbalanced("))
    execute_script("REVOKE ALL ON FUNCTION ledger.raise_if_unbalanced(bigint[], bigint[]) FROM PUBLIC;")
    execute_script(_post_entry_0003())
    execute_script(_settings_0009())
    execute_script("DROP FUNCTION ledger.raise_if_unbalanced(text[], bigint[]);")
