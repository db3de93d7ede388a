"""Earning guards beneath the service: hours never spent, budgets moved only by awards, an award's entry
reversed only as a correction of the award, attendance minutes within the schedule, 代办 within a household.

An audit found rules the service kept in Python alone:

- a member's hours account (``hours:<member>``, unit minutes) could be debited by any entry: hours are a record
  of service, never spent, so a posting that takes minutes from one fails unless its entry reverses another
  (a correction by reversal gives back what an award gave) (SQLSTATE LP008). ``hours:served``, the source every
  award debits, is not a member's account and stays unbounded;
- a budget account could be debited by an entry the service's award path never made (the admin's generic
  entries): a debit of a budget account must, at commit, be the entry of a posted award drawn on that very
  budget, or a reversal (LP009). Credits to a budget are not checked here: an allotment is an entry of kind
  ``budget`` from issuance, which nothing in the database tells from any other such entry; the service refuses
  budget accounts in the generic API;
- an award's entry could be reversed without the award knowing (caps not given back, the award shown
  uncorrected): at commit, a reversal of an award's entry must have the award's ``award_corrections`` row naming
  it, written in the same transaction (LP010);
- attendance minutes above the scheduled length of the activity (LP011), and a ``proxy`` (代办) row whose
  recorder is not of the member's household (LP012): ``points.attendance_checks`` (migration 0008; 0009 leaves
  it alone) is replaced with both checks added.

The two commit-time checks are row constraint triggers with a WHEN clause, so they queue an event only for a
posting that debits points (or an entry that reverses one): an award adds one (its budget posting), a
redemption one (the wallet's). Each looks its award up by the entry (a partial index on ``awards.entry_id``).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from migrations.script import execute_script, revision_module, sql_block

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GUARDS = """
CREATE INDEX awards_by_entry ON points.awards (entry_id) WHERE entry_id IS NOT NULL;

-- Hours are never spent: a member's hours account is only ever credited, except by a reversal.
CREATE FUNCTION points.hours_never_debited() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM ledger.accounts a WHERE a.id = NEW.account_id AND a.code ~ '^hours:[0-9]+$')
       AND NOT EXISTS (SELECT 1 FROM ledger.entries e WHERE e.id = NEW.entry_id AND e.reverses_entry_id IS NOT NULL)
    THEN
        RAISE EXCEPTION 'service hours are never spent: account % is not debited', NEW.account_id
            USING ERRCODE = 'LP008';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER postings_hours_never_debited AFTER INSERT ON ledger.postings
    FOR EACH ROW WHEN (NEW.unit = 'minutes' AND NEW.amount < 0)
    EXECUTE FUNCTION points.hours_never_debited();

-- A budget is drawn on only by its awards: checked at commit, once the award names its entry.
CREATE FUNCTION points.budget_drawn_by_awards() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM points.budgets b WHERE b.account_id = NEW.account_id)
       AND NOT EXISTS (SELECT 1 FROM ledger.entries e WHERE e.id = NEW.entry_id AND e.reverses_entry_id IS NOT NULL)
       AND NOT EXISTS (SELECT 1 FROM points.awards w JOIN points.budgets b ON b.id = w.budget_id
                        WHERE w.entry_id = NEW.entry_id AND w.state = 'posted' AND b.account_id = NEW.account_id)
    THEN
        RAISE EXCEPTION 'budget account % is drawn on only by an award of that budget', NEW.account_id
            USING ERRCODE = 'LP009';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER postings_budget_drawn_by_awards AFTER INSERT ON ledger.postings
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.unit = 'points' AND NEW.amount < 0)
    EXECUTE FUNCTION points.budget_drawn_by_awards();

-- An award's entry is reversed only as the award's correction (which gives the caps back).
CREATE FUNCTION points.award_reversed_by_correction() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_award_id bigint;
BEGIN
    SELECT w.id INTO v_award_id FROM points.awards w WHERE w.entry_id = NEW.reverses_entry_id;
    IF FOUND AND NOT EXISTS (SELECT 1 FROM points.award_corrections c
                              WHERE c.award_id = v_award_id AND c.entry_id = NEW.id) THEN
        RAISE EXCEPTION 'entry % is award %''s: it is reversed by correcting the award', NEW.reverses_entry_id,
            v_award_id USING ERRCODE = 'LP010';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER entries_award_reversed_by_correction AFTER INSERT ON ledger.entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.reverses_entry_id IS NOT NULL)
    EXECUTE FUNCTION points.award_reversed_by_correction();
"""

# Migration 0008's attendance_checks with two checks added (minutes within the schedule, 代办 in the household).
ATTENDANCE = """
CREATE OR REPLACE FUNCTION points.attendance_checks() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_activity record;
BEGIN
    SELECT state, starts_at, ends_at, attendance_confirmed_at INTO v_activity
      FROM points.activities WHERE id = NEW.activity_id FOR UPDATE;
    IF v_activity.attendance_confirmed_at IS NOT NULL THEN
        RAISE EXCEPTION 'the attendance of activity % is already confirmed', NEW.activity_id USING ERRCODE = 'LP007';
    END IF;
    IF v_activity.state NOT IN ('open', 'closed') THEN
        RAISE EXCEPTION 'activity % takes no attendance now', NEW.activity_id USING ERRCODE = 'LP006';
    END IF;
    IF TG_OP = 'INSERT' AND NEW.method <> 'manual'
       AND NOT (now() BETWEEN v_activity.starts_at - interval '30 minutes' AND v_activity.ends_at
                AND v_activity.state = 'open') THEN
        RAISE EXCEPTION 'activity % takes no check-ins now', NEW.activity_id USING ERRCODE = 'LP006';
    END IF;
    IF TG_OP = 'UPDATE' AND (OLD.member_id, OLD.checked_in_at, OLD.method, OLD.recorded_by_member_id)
                            IS DISTINCT FROM (NEW.member_id, NEW.checked_in_at, NEW.method, NEW.recorded_by_member_id)
    THEN
        RAISE EXCEPTION 'a check-in is not rewritten' USING ERRCODE = 'LE020';
    END IF;
    -- Minutes are served within the scheduled window: a forgotten check-out is never worth more than the schedule.
    IF NEW.minutes > floor(extract(epoch FROM v_activity.ends_at - v_activity.starts_at) / 60) THEN
        RAISE EXCEPTION '% minutes are more than activity % is scheduled for', NEW.minutes, NEW.activity_id
            USING ERRCODE = 'LP011';
    END IF;
    -- 代办 is for someone of the recorder's own household.
    IF NEW.method = 'proxy' AND NOT EXISTS (
        SELECT 1 FROM points.members m JOIN points.members r ON r.household_id = m.household_id
         WHERE m.id = NEW.member_id AND r.id = NEW.recorded_by_member_id) THEN
        RAISE EXCEPTION 'member % is not of the household of member %, who checked them in', NEW.member_id,
            NEW.recorded_by_member_id USING ERRCODE = 'LP012';
    END IF;
    RETURN NEW;
END $$;
"""

DOWNGRADE = """
DROP TRIGGER entries_award_reversed_by_correction ON ledger.entries;
DROP TRIGGER postings_budget_drawn_by_awards ON ledger.postings;
DROP TRIGGER postings_hours_never_debited ON ledger.postings;
DROP FUNCTION points.award_reversed_by_correction();
DROP FUNCTION points.budget_drawn_by_awards();
DROP FUNCTION points.hours_never_debited();
DROP INDEX points.awards_by_entry;
"""


def upgrade() -> None:
    execute_script(GUARDS)
    execute_script(ATTENDANCE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
    earning = revision_module("2026_12_01_0008_earning_points.py")
    execute_script(
        sql_block(earning.FUNCTIONS, "CREATE FUNCTION points.attendance_checks()").replace(
            "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1
        )
    )
