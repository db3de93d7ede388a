"""An award posted at once is written once: its entry first, then the award row already posted.

Until now ``points.make_award`` inserted every award pending, wrote its lines, and then (no second organizer
needed, no 公示 window) ``points.post_award`` read the award and its lines back, posted the entry and updated the
award to posted. The update wrote the award's row a second time (a new version in all eight of its indexes: the
state is indexed) and, because the row was inserted by the same transaction, PostgreSQL checked all six of its
foreign keys again; the award's row trigger ran its checks; and three statements read back what make_award had in
its hands. For an award of 10 that was about a sixth of its time in the database (bench/ledger.py figure 8).

- ``points.post_award_entry`` posts an award's one entry from its lines given as arrays (one posting from the
  budget, one from hours:served, one to each paid wallet and each hours account), as ``post_award`` did from the
  lines it read. Both paths use it, so the entry is built one way.
- ``points.make_award``: an award that posts at once takes its id first, posts its entry, then inserts the award
  posted (with its entry) and its lines; the lines' trigger checks and charges the caps as before, the award's
  CHECKs hold as before (posted ⇔ an entry, unless it pays nothing), and the budget's deferred check finds the
  posted award of its entry at commit. The approval threshold is checked again here, as ``post_award`` checks it
  for an award posted with no checker. An award that waits (pending, or published in its window) is written as
  before. The app role may now draw award ids from the awards' sequence (it inserts the id it drew).
- ``points.post_award`` (approvals, the window's settling) reads the lines once and posts through
  ``post_award_entry``.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from migrations.script import execute_script, revision_module

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SETTINGS = """LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET jit = off
SET search_path = pg_catalog, pg_temp"""

ENTRY = f"""
-- An award's one entry, from its lines as arrays (member order): the budget pays the points, hours:served the
-- minutes, to each paid wallet and each hours account. NULL when the award pays nothing (every line capped to 0,
-- no minutes). Run as the caller, under row-level security.
CREATE FUNCTION points.post_award_entry(
    p_community_id bigint, p_award_id bigint, p_kind text, p_type_id bigint, p_reason text, p_maker bigint,
    p_budget_id bigint, p_member_ids bigint[], p_points integer[], p_minutes integer[])
RETURNS bigint
{_SETTINGS} AS $$
DECLARE
    v_points bigint;
    v_minutes bigint;
    v_budget_account bigint;
    v_type_name text;
    v_ids bigint[];
    v_amounts bigint[];
    v_entry_id bigint;
BEGIN
    SELECT coalesce(sum(u.points), 0), coalesce(sum(u.minutes), 0) INTO v_points, v_minutes
      FROM unnest(p_points, p_minutes) u (points, minutes);
    IF v_points = 0 AND v_minutes = 0 THEN
        RETURN NULL;
    END IF;
    SELECT b.account_id INTO v_budget_account FROM points.budgets b WHERE b.id = p_budget_id;
    SELECT t.name INTO v_type_name FROM points.activity_types t WHERE t.id = p_type_id;
    -- The hours accounts' codes as a column (see award_plan: an index lookup under row-level security).
    WITH lines AS MATERIALIZED (
        SELECT u.member_id, u.points, u.minutes, 'hours:' || u.member_id::text AS code
          FROM unnest(p_member_ids, p_points, p_minutes) u (member_id, points, minutes))
    SELECT array_agg(x.account_id ORDER BY x.account_id), array_agg(x.amount ORDER BY x.account_id)
      INTO v_ids, v_amounts
      FROM (SELECT m.wallet_account_id AS account_id, l.points::bigint AS amount
              FROM lines l JOIN points.members m ON m.id = l.member_id
             WHERE l.points > 0
            UNION ALL
            SELECT h.id, l.minutes::bigint
              FROM lines l JOIN ledger.accounts h ON h.community_id = p_community_id AND h.code = l.code
             WHERE l.minutes > 0
            UNION ALL
            SELECT v_budget_account, -v_points WHERE v_points > 0
            UNION ALL
            SELECT s.id, -v_minutes FROM ledger.accounts s
             WHERE s.community_id = p_community_id AND s.code = 'hours:served' AND v_minutes > 0) x;
    SELECT p.entry_id INTO v_entry_id
      FROM ledger.post_entry(
          p_community_id, 'award',
          left(v_type_name || CASE WHEN p_reason = '' THEN '' ELSE ' · ' || p_reason END, 500),
          jsonb_build_object('award_id', p_award_id, 'kind', p_kind),
          'member:' || p_maker, NULL, 'award:' || p_award_id, v_ids, v_amounts) p
     LIMIT 1;
    RETURN v_entry_id;
END $$;
REVOKE ALL ON FUNCTION points.post_award_entry(bigint, bigint, text, bigint, text, bigint, bigint, bigint[],
                                               integer[], integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION points.post_award_entry(bigint, bigint, text, bigint, text, bigint, bigint, bigint[],
                                                  integer[], integer[]) TO linli_app;
GRANT USAGE ON SEQUENCE points.awards_id_seq TO linli_app;
"""

POST_AWARD = f"""
CREATE OR REPLACE FUNCTION points.post_award(p_award_id bigint, p_approved_by bigint) RETURNS bigint
{_SETTINGS} AS $$
DECLARE
    v_award record;
    v_members bigint[];
    v_points integer[];
    v_minutes integer[];
    v_entry_id bigint;
BEGIN
    SELECT w.id, w.community_id, w.kind, w.activity_id, w.type_id, w.budget_id, w.reason, w.made_by_member_id,
           w.state INTO v_award
      FROM points.awards w
     WHERE w.id = p_award_id AND w.state IN ('pending_approval', 'published');
    IF NOT FOUND THEN
        RAISE EXCEPTION 'award % is not pending', p_award_id USING ERRCODE = 'LP004';
    END IF;
    -- The approval threshold, the second time (the service decides pending first): posted with no checker, no
    -- line may pay more than it.
    IF p_approved_by IS NULL AND v_award.state = 'pending_approval' AND EXISTS (
        SELECT 1 FROM points.award_lines l JOIN points.earning_settings s ON s.community_id = v_award.community_id
         WHERE l.award_id = p_award_id AND s.approval_threshold IS NOT NULL AND l.points > s.approval_threshold) THEN
        RAISE EXCEPTION 'award % pays more than the approval threshold: a second organizer approves it', p_award_id
            USING ERRCODE = 'LP004';
    END IF;
    SELECT array_agg(l.member_id ORDER BY l.member_id), array_agg(l.points ORDER BY l.member_id),
           array_agg(l.minutes ORDER BY l.member_id)
      INTO v_members, v_points, v_minutes
      FROM points.award_lines l WHERE l.award_id = p_award_id;
    v_entry_id := points.post_award_entry(v_award.community_id, p_award_id, v_award.kind, v_award.type_id,
                                          v_award.reason, v_award.made_by_member_id, v_award.budget_id,
                                          coalesce(v_members, '{{}}'), coalesce(v_points, '{{}}'),
                                          coalesce(v_minutes, '{{}}'));
    IF v_award.state = 'published' THEN
        UPDATE points.awards SET state = 'posted', entry_id = v_entry_id WHERE id = p_award_id;
        RETURN v_entry_id;
    END IF;
    UPDATE points.awards SET state = 'posted', entry_id = v_entry_id, approved_by_member_id = p_approved_by,
           decided_at = CASE WHEN p_approved_by IS NULL THEN NULL ELSE now() END
     WHERE id = p_award_id;
    IF v_award.activity_id IS NOT NULL THEN
        UPDATE points.activities SET state = 'awarded' WHERE id = v_award.activity_id;
    END IF;
    RETURN v_entry_id;
END $$;
"""

MAKE_AWARD = f"""
CREATE OR REPLACE FUNCTION points.make_award(
    p_community_id bigint, p_kind text, p_activity_id bigint, p_report_id bigint, p_type_id bigint, p_reason text,
    p_award_on date, p_budget_id bigint, p_maker bigint, p_pending boolean, p_idempotency_key text,
    p_member_ids bigint[], p_requested integer[], p_points integer[], p_minutes integer[])
RETURNS TABLE (new_award_id bigint, new_entry_id bigint, new_created_at timestamptz, new_state text,
               new_window_ends_at timestamptz)
{_SETTINGS} AS $$
DECLARE
    v_award_id bigint;
    v_created timestamptz;
    v_entry_id bigint;
    v_state text := 'pending_approval';
BEGIN
    -- Posted at once (no second organizer, no 公示 window): the entry first, then the award written posted.
    IF NOT p_pending AND NOT EXISTS (
        SELECT 1 FROM points.publication_settings s
         WHERE s.community_id = p_community_id AND s.window_days IS NOT NULL) THEN
        -- The approval threshold, the second time (the service decides pending first), as post_award checks it.
        IF EXISTS (SELECT 1 FROM unnest(p_points) u (points)
                     JOIN points.earning_settings s ON s.community_id = p_community_id
                    WHERE s.approval_threshold IS NOT NULL AND u.points > s.approval_threshold) THEN
            RAISE EXCEPTION 'this award pays more than the approval threshold: a second organizer approves it'
                USING ERRCODE = 'LP004';
        END IF;
        v_award_id := nextval('points.awards_id_seq');
        v_entry_id := points.post_award_entry(p_community_id, v_award_id, p_kind, p_type_id, p_reason, p_maker,
                                              p_budget_id, p_member_ids, p_points, p_minutes);
        v_state := 'posted';
    END IF;
    INSERT INTO points.awards (id, community_id, kind, activity_id, report_id, type_id, reason, award_on,
                               budget_id, made_by_member_id, state, entry_id, total_points, total_minutes,
                               idempotency_key)
    OVERRIDING SYSTEM VALUE
    SELECT coalesce(v_award_id, nextval('points.awards_id_seq')), p_community_id, p_kind, p_activity_id,
           p_report_id, p_type_id, p_reason, p_award_on, p_budget_id, p_maker, v_state, v_entry_id,
           coalesce(sum(u.points), 0), coalesce(sum(u.minutes), 0), p_idempotency_key
      FROM unnest(p_points, p_minutes) u (points, minutes)
    RETURNING id, created_at INTO v_award_id, v_created;
    INSERT INTO points.award_lines (community_id, award_id, member_id, requested_points, points, minutes)
    SELECT p_community_id, v_award_id, u.member_id, u.requested, u.points, u.minutes
      FROM unnest(p_member_ids, p_requested, p_points, p_minutes) u (member_id, requested, points, minutes)
     ORDER BY u.member_id;
    IF v_state = 'posted' THEN
        IF p_activity_id IS NOT NULL THEN
            UPDATE points.activities SET state = 'awarded' WHERE id = p_activity_id;
        END IF;
        RETURN QUERY SELECT v_award_id, v_entry_id, v_created, v_state, NULL::timestamptz;
        RETURN;
    END IF;
    IF NOT p_pending THEN
        v_entry_id := points.publish_award(v_award_id, NULL);
    END IF;
    RETURN QUERY SELECT v_award_id, v_entry_id, v_created, w.state, w.window_ends_at
                   FROM points.awards w WHERE w.id = v_award_id;
END $$;
"""

DOWNGRADE = """
REVOKE USAGE ON SEQUENCE points.awards_id_seq FROM linli_app;
DROP FUNCTION points.post_award_entry(bigint, bigint, text, bigint, text, bigint, bigint, bigint[], integer[],
                                      integer[]);
"""


def upgrade() -> None:
    execute_script(ENTRY)
    execute_script(POST_AWARD)
    execute_script(MAKE_AWARD)


def downgrade() -> None:
    window = revision_module("2026_12_01_0016_publication_window.py")
    execute_script(window._make_award_publishes())
    execute_script(window._post_award_settles())
    execute_script(DOWNGRADE)
