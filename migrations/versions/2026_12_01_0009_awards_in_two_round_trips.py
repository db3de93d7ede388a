"""Awards in two round trips: one read that plans an award, one write that makes and posts it, and award lines
checked once per statement instead of once per line.

Until now an award cost about a dozen round trips (the activity, its live award, the type, the attendees, the
maker's household, the payees, the budget, the caps, the threshold, the award, its lines, the award and its lines
again to post them, the entry, the award once more to answer) and each line ran its own trigger: five statements
per attendee, so an activity of 1,000 attendees spent most of its time there.

- ``points.award_plan`` reads everything an award is planned from, in one call: the activity (locked first, so
  everything after it is read with a snapshot taken under the lock, attendance confirmed or not), its live award
  or the award of an idempotency key, the type, the budget of the award's day and what it has left, the approval
  threshold, the maker, and per payee: status, hours account, whether they are the maker or of the maker's
  household, what they already have under the type's caps that day and month. The service checks every rule on
  it (the caps cut, the household ban, the budget, maker-checker) before it writes anything.
- ``points.make_award`` writes it: the award, its lines, and unless it waits for a second organizer
  ``points.post_award``: one ledger entry from the budget (and hours:served) to every line, the award posted,
  the activity awarded. ``approve`` posts through ``points.post_award`` too.
- Underneath, nothing is checked less: the lines' trigger is now a statement trigger over the inserted lines (a
  transition table) that refuses an award to its maker or the maker's household (LP002) and charges the caps in
  one upsert, in member order, refusing a charge above a cap (LP001); the budget's lower bound and lock, the
  award's own triggers and CHECKs (maker-checker), the one-live-award indexes and the idempotency key are as
  they were. Both functions run as the caller (the app role, under row-level security).
- ``ledger.post_entry`` no longer grows with the square of an entry's postings. Its validation statement joined
  the locked bounded accounts (a CTE, estimated at one row by the generic plan) in a nested loop: every posting
  scanned every locked account, 4 million comparisons and 300 ms for an award of 1,000 attendees (2,002 postings),
  50 ms for pgbench's 1,000-posting batch. With ``enable_nestloop = off`` on the function that join is hashed (the
  per-posting index lookups stay nested loops: they can be nothing else), and ``jit = off`` with it: the disabled
  plans' cost penalty would otherwise cross ``jit_above_cost`` and compile every statement (~100 ms a call). The
  statements the function fires (its triggers, the foreign-key checks) join nothing; the commit-time balance check
  runs after the function, under its own settings.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from migrations.script import execute_script, revision_module, sql_block

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LINE_CHECKS = """
DROP TRIGGER award_lines_checked ON points.award_lines;
DROP FUNCTION points.award_line_checks();

-- Once per INSERT, over all its lines: the household ban, then the caps (one upsert, rows in member order so
-- that two awards lock usage rows in the same order and never deadlock).
CREATE FUNCTION points.award_lines_checks() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_bad record;
BEGIN
    -- Nobody is awarded by themselves or by someone of their household.
    SELECT l.member_id, w.made_by_member_id INTO v_bad
      FROM new_lines l JOIN points.awards w ON w.id = l.award_id
      JOIN points.members m ON m.id = l.member_id JOIN points.members maker ON maker.id = w.made_by_member_id
     WHERE m.id = maker.id OR m.household_id = maker.household_id
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'member % cannot be awarded by member %: themselves or their household', v_bad.member_id,
            v_bad.made_by_member_id USING ERRCODE = 'LP002';
    END IF;
    SELECT l.award_id INTO v_bad FROM new_lines l JOIN points.awards w ON w.id = l.award_id
     WHERE w.state = 'rejected' LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'award % was rejected', v_bad.award_id USING ERRCODE = 'LP004';
    END IF;
    WITH charge AS (
        SELECT l.community_id, l.member_id, w.type_id, p.period, sum(l.points)::integer AS points
          FROM new_lines l JOIN points.awards w ON w.id = l.award_id
         CROSS JOIN LATERAL (VALUES (to_char(w.award_on, 'YYYY-MM-DD')), (to_char(w.award_on, 'YYYY-MM'))) p (period)
         WHERE l.points > 0
         GROUP BY l.community_id, l.member_id, w.type_id, p.period),
    charged AS (
        INSERT INTO points.cap_usage AS u (community_id, member_id, type_id, period, points)
        SELECT community_id, member_id, type_id, period, points FROM charge ORDER BY member_id, type_id, period
        ON CONFLICT (member_id, type_id, period) DO UPDATE SET points = u.points + EXCLUDED.points
        RETURNING u.member_id, u.type_id, u.period, u.points)
    SELECT c.member_id, c.period, c.points INTO v_bad
      FROM charged c JOIN points.activity_types t ON t.id = c.type_id
     WHERE c.points > (CASE WHEN length(c.period) = 10 THEN t.cap_per_day ELSE t.cap_per_month END)
     ORDER BY c.member_id, c.period
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'member % would get % points of this type in %, above its cap', v_bad.member_id,
            v_bad.points, v_bad.period USING ERRCODE = 'LP001';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER award_lines_checked AFTER INSERT ON points.award_lines
    REFERENCING NEW TABLE AS new_lines
    FOR EACH STATEMENT EXECUTE FUNCTION points.award_lines_checks();
"""

FUNCTIONS = """
-- Everything an award is planned from, in one call: a header (the activity if any, the live award of the
-- activity or the award of the idempotency key, the type, the day, the budget, the threshold, the maker) on
-- every row, and one row per payee (none when there is nobody: the header comes alone, member_id NULL).
-- An activity's payees are its confirmed attendees; otherwise p_member_ids.
CREATE FUNCTION points.award_plan(
    p_community_id bigint, p_maker bigint, p_activity_id bigint, p_type_id bigint, p_day date,
    p_member_ids bigint[], p_idempotency_key text, p_tz text)
RETURNS TABLE (activity_found boolean, activity_state text, attendance_confirmed boolean, activity_title text,
               reward_points integer, per_hour boolean, award_on date, existing_award_id bigint,
               type_id bigint, type_code text, type_name text, default_points integer, points_per_hour integer,
               cap_per_day integer, cap_per_month integer, type_active boolean,
               budget_id bigint, budget_period text, budget_left bigint, approval_threshold integer,
               maker_name text, member_id bigint, display_name text, status text, has_hours boolean,
               own_household boolean, used_day integer, used_month integer, minutes integer)
LANGUAGE plpgsql
-- The statements take arrays: plan once per session, and never as sequential scans (see migration 0003).
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET jit = off
SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_found boolean := false;
    v_state text;
    v_confirmed boolean;
    v_title text;
    v_reward integer;
    v_per_hour boolean;
    v_starts timestamptz;
    v_type_id bigint := p_type_id;
    v_day date := p_day;
    v_existing bigint;
    v_members bigint[] := p_member_ids;
BEGIN
    IF p_activity_id IS NOT NULL THEN
        -- Locked first: the statements below each read with a snapshot taken after the lock, so they see the
        -- attendance its confirmation left and any award made while this call waited.
        SELECT a.type_id, a.state, a.starts_at, a.reward_points, a.per_hour, a.attendance_confirmed_at IS NOT NULL,
               a.title INTO v_type_id, v_state, v_starts, v_reward, v_per_hour, v_confirmed, v_title
          FROM points.activities a WHERE a.id = p_activity_id AND a.community_id = p_community_id FOR UPDATE;
        v_found := FOUND;
        IF v_found THEN
            v_day := (v_starts AT TIME ZONE p_tz)::date;
            SELECT w.id INTO v_existing FROM points.awards w
             WHERE w.activity_id = p_activity_id AND w.state <> 'rejected';
            SELECT coalesce(array_agg(t.member_id ORDER BY t.member_id), '{}') INTO v_members
              FROM points.attendance t WHERE t.activity_id = p_activity_id AND t.confirmed;
        END IF;
    ELSIF p_idempotency_key IS NOT NULL THEN
        SELECT w.id INTO v_existing FROM points.awards w
         WHERE w.community_id = p_community_id AND w.idempotency_key = p_idempotency_key;
    END IF;
    RETURN QUERY
    WITH head AS (
        SELECT t.id AS type_id, t.code, t.name, t.default_points, t.points_per_hour, t.cap_per_day, t.cap_per_month,
               t.active
          FROM (SELECT 1) one LEFT JOIN points.activity_types t ON t.id = v_type_id AND t.community_id = p_community_id),
    budget AS (
        SELECT b.id, b.period, a.balance
          FROM (SELECT 1) one
          LEFT JOIN points.budgets b ON b.community_id = p_community_id AND b.starts_on <= v_day AND v_day < b.ends_on
          LEFT JOIN ledger.accounts a ON a.id = b.account_id),
    maker AS (
        SELECT m.display_name, m.household_id FROM (SELECT 1) one
          LEFT JOIN points.members m ON m.id = p_maker AND m.community_id = p_community_id),
    -- The hours account's code as a column of its own: under row-level security a join clause that computes it
    -- ('hours:' || id, not leakproof) is kept above the policy's filter, never an index condition, and every
    -- lookup would read all the community's accounts.
    wanted AS MATERIALIZED (SELECT w.id, 'hours:' || w.id::text AS hours_code FROM unnest(v_members) w (id)),
    payees AS (
        SELECT m.id, m.display_name, m.status, m.household_id,
               EXISTS (SELECT 1 FROM ledger.accounts h
                        WHERE h.community_id = p_community_id AND h.code = w.hours_code) AS has_hours,
               used.day AS used_day, used.month AS used_month,
               (SELECT t.minutes FROM points.attendance t
                 WHERE p_activity_id IS NOT NULL AND t.activity_id = p_activity_id AND t.member_id = m.id) AS minutes
          FROM wanted w
          JOIN points.members m ON m.id = w.id AND m.community_id = p_community_id
          CROSS JOIN LATERAL (
              SELECT (sum(u.points) FILTER (WHERE length(u.period) = 10))::integer AS day,
                     (sum(u.points) FILTER (WHERE length(u.period) = 7))::integer AS month
                FROM points.cap_usage u
               WHERE u.member_id = m.id AND u.type_id = v_type_id
                 AND u.period IN (to_char(v_day, 'YYYY-MM-DD'), to_char(v_day, 'YYYY-MM'))) used)
    SELECT v_found, v_state, v_confirmed, v_title, v_reward, v_per_hour, v_day, v_existing,
           head.type_id, head.code, head.name, head.default_points, head.points_per_hour, head.cap_per_day,
           head.cap_per_month, head.active,
           budget.id, budget.period, budget.balance,
           (SELECT s.approval_threshold FROM points.earning_settings s WHERE s.community_id = p_community_id),
           maker.display_name, p.id, p.display_name, p.status, p.has_hours,
           p.id = p_maker OR (maker.household_id IS NOT NULL AND p.household_id = maker.household_id),
           coalesce(p.used_day, 0), coalesce(p.used_month, 0), p.minutes
      FROM head, budget, maker LEFT JOIN payees p ON true
     ORDER BY p.id;
END $$;

-- Post a pending award: one entry from the budget (and hours:served) to every line, then the award is posted
-- (approved by p_approved_by, or at once when NULL) and its activity awarded. Returns the entry (NULL when the
-- award pays nothing).
CREATE FUNCTION points.post_award(p_award_id bigint, p_approved_by bigint) RETURNS bigint
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET jit = off
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_award record;
    v_ids bigint[];
    v_amounts bigint[];
    v_entry_id bigint;
BEGIN
    SELECT w.id, w.community_id, w.kind, w.activity_id, w.total_points, w.total_minutes, w.reason,
           w.made_by_member_id, b.account_id AS budget_account_id, t.name AS type_name INTO v_award
      FROM points.awards w JOIN points.budgets b ON b.id = w.budget_id JOIN points.activity_types t ON t.id = w.type_id
     WHERE w.id = p_award_id AND w.state = 'pending_approval';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'award % is not pending', p_award_id USING ERRCODE = 'LP004';
    END IF;
    -- The approval threshold, the second time (the service decides pending first): posted with no checker, no
    -- line may pay more than it.
    IF p_approved_by IS NULL AND EXISTS (
        SELECT 1 FROM points.award_lines l JOIN points.earning_settings s ON s.community_id = v_award.community_id
         WHERE l.award_id = p_award_id AND s.approval_threshold IS NOT NULL AND l.points > s.approval_threshold) THEN
        RAISE EXCEPTION 'award % pays more than the approval threshold: a second organizer approves it', p_award_id
            USING ERRCODE = 'LP004';
    END IF;
    IF v_award.total_points > 0 OR v_award.total_minutes > 0 THEN
        -- The hours accounts' codes as a column (see award_plan: an index lookup under row-level security).
        WITH hours AS MATERIALIZED (
            SELECT 'hours:' || l.member_id::text AS code, l.minutes FROM points.award_lines l
             WHERE l.award_id = p_award_id AND l.minutes > 0)
        SELECT array_agg(x.account_id ORDER BY x.account_id), array_agg(x.amount ORDER BY x.account_id)
          INTO v_ids, v_amounts
          FROM (SELECT m.wallet_account_id AS account_id, l.points::bigint AS amount
                  FROM points.award_lines l JOIN points.members m ON m.id = l.member_id
                 WHERE l.award_id = p_award_id AND l.points > 0
                UNION ALL
                SELECT h.id, x.minutes::bigint
                  FROM hours x JOIN ledger.accounts h ON h.community_id = v_award.community_id AND h.code = x.code
                UNION ALL
                SELECT v_award.budget_account_id, -v_award.total_points::bigint WHERE v_award.total_points > 0
                UNION ALL
                SELECT s.id, -v_award.total_minutes::bigint FROM ledger.accounts s
                 WHERE s.community_id = v_award.community_id AND s.code = 'hours:served'
                   AND v_award.total_minutes > 0) x;
        SELECT p.entry_id INTO v_entry_id
          FROM ledger.post_entry(
              v_award.community_id, 'award',
              left(v_award.type_name || CASE WHEN v_award.reason = '' THEN '' ELSE ' · ' || v_award.reason END, 500),
              jsonb_build_object('award_id', p_award_id, 'kind', v_award.kind),
              'member:' || v_award.made_by_member_id, NULL, 'award:' || p_award_id, v_ids, v_amounts) p
         LIMIT 1;
    END IF;
    UPDATE points.awards SET state = 'posted', entry_id = v_entry_id, approved_by_member_id = p_approved_by,
           decided_at = CASE WHEN p_approved_by IS NULL THEN NULL ELSE now() END
     WHERE id = p_award_id;
    IF v_award.activity_id IS NOT NULL THEN
        UPDATE points.activities SET state = 'awarded' WHERE id = v_award.activity_id;
    END IF;
    RETURN v_entry_id;
END $$;

-- Write a planned award: the award and its lines (the lines' trigger checks the household ban and charges the
-- caps), posted at once unless p_pending (it then waits for a second organizer).
CREATE FUNCTION points.make_award(
    p_community_id bigint, p_kind text, p_activity_id bigint, p_report_id bigint, p_type_id bigint, p_reason text,
    p_award_on date, p_budget_id bigint, p_maker bigint, p_pending boolean, p_idempotency_key text,
    p_member_ids bigint[], p_requested integer[], p_points integer[], p_minutes integer[])
RETURNS TABLE (new_award_id bigint, new_entry_id bigint, new_created_at timestamptz)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET jit = off
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_award_id bigint;
    v_created timestamptz;
    v_entry_id bigint;
BEGIN
    INSERT INTO points.awards (community_id, kind, activity_id, report_id, type_id, reason, award_on, budget_id,
                               made_by_member_id, state, total_points, total_minutes, idempotency_key)
    SELECT p_community_id, p_kind, p_activity_id, p_report_id, p_type_id, p_reason, p_award_on, p_budget_id,
           p_maker, 'pending_approval', coalesce(sum(u.points), 0), coalesce(sum(u.minutes), 0), p_idempotency_key
      FROM unnest(p_points, p_minutes) u (points, minutes)
    RETURNING id, created_at INTO v_award_id, v_created;
    INSERT INTO points.award_lines (community_id, award_id, member_id, requested_points, points, minutes)
    SELECT p_community_id, v_award_id, u.member_id, u.requested, u.points, u.minutes
      FROM unnest(p_member_ids, p_requested, p_points, p_minutes) u (member_id, requested, points, minutes)
     ORDER BY u.member_id;
    IF NOT p_pending THEN
        v_entry_id := points.post_award(v_award_id, NULL);
    END IF;
    RETURN QUERY SELECT v_award_id, v_entry_id, v_created;
END $$;
"""

POST_ENTRY = """
ALTER FUNCTION ledger.post_entry(bigint, text, text, jsonb, text, timestamptz, text, bigint[], bigint[], bigint, text)
    SET enable_nestloop = off;
ALTER FUNCTION ledger.post_entry(bigint, text, text, jsonb, text, timestamptz, text, bigint[], bigint[], bigint, text)
    SET jit = off;
"""

GRANTS = """
REVOKE ALL ON FUNCTION points.award_plan(bigint, bigint, bigint, bigint, date, bigint[], text, text),
    points.post_award(bigint, bigint),
    points.make_award(bigint, text, bigint, bigint, bigint, text, date, bigint, bigint, boolean, text, bigint[],
                      integer[], integer[], integer[])
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION points.award_plan(bigint, bigint, bigint, bigint, date, bigint[], text, text),
    points.post_award(bigint, bigint),
    points.make_award(bigint, text, bigint, bigint, bigint, text, date, bigint, bigint, boolean, text, bigint[],
                      integer[], integer[], integer[])
    TO linli_app;
"""

DOWNGRADE = """
ALTER FUNCTION ledger.post_entry(bigint, text, text, jsonb, text, timestamptz, text, bigint[], bigint[], bigint, text)
    RESET enable_nestloop;
ALTER FUNCTION ledger.post_entry(bigint, text, text, jsonb, text, timestamptz, text, bigint[], bigint[], bigint, text)
    RESET jit;
DROP FUNCTION points.make_award(bigint, text, bigint, bigint, bigint, text, date, bigint, bigint, boolean, text,
                                bigint[], integer[], integer[], integer[]);
DROP FUNCTION points.post_award(bigint, bigint);
DROP FUNCTION points.award_plan(bigint, bigint, bigint, bigint, date, bigint[], text, text);
DROP TRIGGER award_lines_checked ON points.award_lines;
DROP FUNCTION points.award_lines_checks();
"""


def upgrade() -> None:
    execute_script(LINE_CHECKS)
    execute_script(FUNCTIONS)
    execute_script(POST_ENTRY)
    execute_script(GRANTS)


def downgrade() -> None:
    execute_script(DOWNGRADE)
    earning = revision_module("2026_12_01_0008_earning_points.py")
    execute_script(sql_block(earning.FUNCTIONS, "CREATE FUNCTION points.award_line_checks()"))
    execute_script(
        "CREATE TRIGGER award_lines_checked AFTER INSERT ON points.award_lines"
        " FOR EACH ROW EXECUTE FUNCTION points.award_line_checks();"
    )
