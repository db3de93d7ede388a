"""The 公示 window: an award is published before it counts, its points held on the budget, and neighbours may
object before it settles.

- ``points.publication_settings``: per community, the window's length in days (1 to 14; no row or NULL: off).
- An award gains the states ``published`` (in its window) and ``voided`` (an objection upheld), and the window it
  was published with (``published_at``, ``window_days``, ``window_ends_at``), kept whatever the setting becomes.
  States: pending_approval → posted | rejected | published; published → posted | voided.
- ``points.publish_award`` is where an award goes once it is decided (made below the approval threshold, or
  approved): with the window off it posts (``points.post_award``); with it on it places one ledger hold per paid
  line, from the budget to the member's wallet (``points.award_holds``), and publishes the award. The holds keep
  the budget from being spent twice; the wallet does not have the points until the award settles.
- ``points.objections``: once per member per award, while the award is published and its window open. An admin
  upholds one (the award is voided: its holds voided, its caps given back, nothing posted, the other open
  objections closed) or dismisses it.
- ``points.settle_awards_at`` (the owner's; the service's role calls ``points.settle_due_awards``, which runs at
  now()) settles every published award whose window has ended and that has no open objection: under the award's
  row lock it voids the holds and posts the award's one entry (``points.post_award``). Awards locked by someone
  else (an admin deciding an objection) are skipped and come round at the next run. Holds that would lapse before
  their award settles (an objection left open long) are renewed, voided and placed again in one transaction.

What PostgreSQL refuses (SQLSTATE class LG):
- LG001 an objection to an award that is not published or whose window has ended, or by someone outside it;
- LG002 settling an award before its window ends (except as the owner, whose settle function takes its own time)
  or while an objection to it is open;
- LG003 at commit, a published award whose every paid line does not have exactly one active hold of its points
  from its budget to the member's wallet, or a settled or voided award with a hold still active;
- LG004 an award voided with no upheld objection, or an objection upheld whose award is not voided at commit;
- LG005 an objection decided by the member who made it, or by someone the award pays or of their household.

``points.award_plan`` now reads a budget's *available* points (balance − held), so the service refuses an award
that would need points already held for awards in their window.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from migrations.script import execute_script, revision_module, sql_block

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A hold lasts at most 30 days (ledger.place_hold); the settle job renews one that would lapse within this many.
RENEW_WITHIN = "3 days"

TABLES = """
CREATE TABLE points.publication_settings (
    community_id bigint PRIMARY KEY REFERENCES ledger.communities (id),
    window_days integer,  -- NULL: no window, awards post at once
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT publication_settings_days CHECK (window_days BETWEEN 1 AND 14)
);

ALTER TABLE points.awards
    ADD COLUMN published_at timestamptz,
    ADD COLUMN window_days integer,
    ADD COLUMN window_ends_at timestamptz,
    DROP CONSTRAINT awards_state,
    ADD CONSTRAINT awards_state CHECK (state IN ('pending_approval', 'posted', 'rejected', 'published', 'voided')),
    DROP CONSTRAINT awards_rejected_reason,
    ADD CONSTRAINT awards_rejected_reason CHECK (state NOT IN ('rejected', 'voided')
                                                 OR char_length(decision_reason) BETWEEN 1 AND 500),
    ADD CONSTRAINT awards_window CHECK (
        (published_at IS NULL) = (window_days IS NULL) AND (window_days IS NULL) = (window_ends_at IS NULL)
        AND window_days BETWEEN 1 AND 14
        AND (state NOT IN ('published', 'voided') OR window_ends_at IS NOT NULL));
CREATE INDEX awards_published_by_end ON points.awards (window_ends_at) WHERE state = 'published';

-- The holds of a published award: one per paid line (renewed: a new one, the old one voided).
CREATE TABLE points.award_holds (
    hold_id bigint PRIMARY KEY REFERENCES ledger.holds (id),
    community_id bigint NOT NULL,
    award_id bigint NOT NULL,
    member_id bigint NOT NULL,
    CONSTRAINT award_holds_award_fkey FOREIGN KEY (award_id, community_id) REFERENCES points.awards (id, community_id),
    CONSTRAINT award_holds_line_fkey FOREIGN KEY (award_id, member_id) REFERENCES points.award_lines (award_id, member_id)
);
CREATE INDEX award_holds_by_award ON points.award_holds (award_id);

CREATE TABLE points.objections (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    community_id bigint NOT NULL,
    award_id bigint NOT NULL,
    member_id bigint NOT NULL,
    reason text NOT NULL,
    state text NOT NULL DEFAULT 'open',
    created_at timestamptz NOT NULL DEFAULT now(),
    decided_by_member_id bigint,
    decided_at timestamptz,
    decision_reason text,
    CONSTRAINT objections_once UNIQUE (award_id, member_id),
    CONSTRAINT objections_award_fkey FOREIGN KEY (award_id, community_id) REFERENCES points.awards (id, community_id),
    CONSTRAINT objections_member_fkey FOREIGN KEY (member_id, community_id)
        REFERENCES points.members (id, community_id),
    CONSTRAINT objections_decider_fkey FOREIGN KEY (decided_by_member_id, community_id)
        REFERENCES points.members (id, community_id),
    CONSTRAINT objections_state CHECK (state IN ('open', 'upheld', 'dismissed', 'closed')),
    CONSTRAINT objections_reason CHECK (char_length(reason) BETWEEN 1 AND 500),
    CONSTRAINT objections_decided CHECK ((state = 'open') = (decided_at IS NULL)
        AND (state NOT IN ('upheld', 'dismissed')
             OR (decided_by_member_id IS NOT NULL AND char_length(decision_reason) BETWEEN 1 AND 500))
        AND (state <> 'closed' OR decided_by_member_id IS NULL)),
    CONSTRAINT objections_not_own CHECK (decided_by_member_id IS DISTINCT FROM member_id)
);
CREATE INDEX objections_open ON points.objections (community_id, id) WHERE state = 'open';
CREATE INDEX objections_by_award ON points.objections (award_id);
"""

TENANT_TABLES = ("points.publication_settings", "points.award_holds", "points.objections")

RLS = "".join(
    f"""
ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON {table} TO linli_app
    USING (community_id = ledger.current_community())
    WITH CHECK (community_id = ledger.current_community());
"""
    for table in TENANT_TABLES
)

AWARD_CHANGES = """
CREATE OR REPLACE FUNCTION points.award_changes() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_line record;
BEGIN
    IF (OLD.kind, OLD.activity_id, OLD.report_id, OLD.type_id, OLD.award_on, OLD.budget_id, OLD.made_by_member_id,
        OLD.total_points, OLD.total_minutes, OLD.idempotency_key, OLD.reason)
       IS DISTINCT FROM
       (NEW.kind, NEW.activity_id, NEW.report_id, NEW.type_id, NEW.award_on, NEW.budget_id, NEW.made_by_member_id,
        NEW.total_points, NEW.total_minutes, NEW.idempotency_key, NEW.reason) THEN
        RAISE EXCEPTION 'an award is not edited: correct it by a reversal' USING ERRCODE = 'LE020';
    END IF;
    IF OLD.state <> NEW.state AND NOT (
           (OLD.state = 'pending_approval' AND NEW.state IN ('posted', 'rejected', 'published'))
        OR (OLD.state = 'published' AND NEW.state IN ('posted', 'voided'))) THEN
        RAISE EXCEPTION 'an award that is % cannot become %', OLD.state, NEW.state USING ERRCODE = 'LP004';
    END IF;
    IF OLD.state = NEW.state AND (OLD.approved_by_member_id, OLD.entry_id, OLD.decided_at)
                                 IS DISTINCT FROM (NEW.approved_by_member_id, NEW.entry_id, NEW.decided_at) THEN
        RAISE EXCEPTION 'an award is decided once' USING ERRCODE = 'LP004';
    END IF;
    -- The window is the one it was published with: set once, when it is published, and kept.
    IF (OLD.published_at, OLD.window_days, OLD.window_ends_at)
       IS DISTINCT FROM (NEW.published_at, NEW.window_days, NEW.window_ends_at)
       AND NOT (OLD.state = 'pending_approval' AND NEW.state = 'published' AND OLD.window_days IS NULL) THEN
        RAISE EXCEPTION 'an award keeps the window it was published with' USING ERRCODE = 'LP004';
    END IF;
    -- Published, it was decided already: settling or voiding it keeps who approved it and when.
    IF OLD.state = 'published' AND (OLD.approved_by_member_id, OLD.decided_at)
                                   IS DISTINCT FROM (NEW.approved_by_member_id, NEW.decided_at) THEN
        RAISE EXCEPTION 'an award is decided once' USING ERRCODE = 'LP004';
    END IF;
    IF NEW.state = 'voided' AND OLD.state <> 'voided' AND NOT EXISTS (
        SELECT 1 FROM points.objections o WHERE o.award_id = NEW.id AND o.state = 'upheld') THEN
        RAISE EXCEPTION 'award % is voided only by an upheld objection', NEW.id USING ERRCODE = 'LG004';
    END IF;
    IF NEW.state = 'posted' AND OLD.state = 'published' AND EXISTS (
        SELECT 1 FROM points.objections o WHERE o.award_id = NEW.id AND o.state = 'open') THEN
        RAISE EXCEPTION 'award % has an objection waiting for the admin: it settles once that is decided', NEW.id
            USING ERRCODE = 'LG002';
    END IF;
    -- The approver is not paid by the award, nor is anyone of their household.
    IF NEW.approved_by_member_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM points.award_lines l JOIN points.members m ON m.id = l.member_id,
               points.members approver
         WHERE l.award_id = NEW.id AND approver.id = NEW.approved_by_member_id
           AND (m.id = approver.id OR m.household_id = approver.household_id)) THEN
        RAISE EXCEPTION 'member % cannot approve an award to themselves or their household',
            NEW.approved_by_member_id USING ERRCODE = 'LP002';
    END IF;
    IF NEW.state IN ('rejected', 'voided') AND OLD.state NOT IN ('rejected', 'voided') THEN
        FOR v_line IN SELECT member_id, points FROM points.award_lines WHERE award_id = NEW.id ORDER BY member_id LOOP
            PERFORM points.charge_caps(NEW.community_id, v_line.member_id, NEW.type_id, NEW.award_on, -v_line.points);
        END LOOP;
    END IF;
    RETURN NEW;
END $$;
"""

FUNCTIONS = f"""
-- Run as the caller: the service's role settles an award only once its window has ended; the settle function
-- (the owner's, which takes the time it settles at) has already checked its own time.
CREATE FUNCTION points.award_settles_on_time() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF OLD.window_ends_at > now()
       AND NOT has_function_privilege('points.settle_awards_at(bigint, timestamptz)', 'EXECUTE') THEN
        RAISE EXCEPTION 'award % is in its 公示 window until %', OLD.id, OLD.window_ends_at USING ERRCODE = 'LG002';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER awards_settle_on_time BEFORE UPDATE ON points.awards
    FOR EACH ROW WHEN (OLD.state = 'published' AND NEW.state = 'posted')
    EXECUTE FUNCTION points.award_settles_on_time();

-- At commit: a published award's paid lines each have exactly one active hold of their points, from its budget to
-- the member's wallet; an award no longer published has none left active. Checked for all its lines when the award
-- changes state, and for the one member's line when one of its holds is voided (so voiding an award's thousand
-- holds costs a thousand small checks, not a thousand whole ones). A lapsed hold is time's doing, and the settle
-- job renews holds before they lapse.
CREATE FUNCTION points.check_award_holds(p_award_id bigint, p_member_id bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_award points.awards;
BEGIN
    SELECT * INTO v_award FROM points.awards WHERE id = p_award_id;
    IF v_award.state = 'published' THEN
        IF EXISTS (
            SELECT 1 FROM points.award_lines l
              JOIN points.members m ON m.id = l.member_id
              JOIN points.budgets b ON b.id = v_award.budget_id
             WHERE l.award_id = v_award.id AND l.points > 0 AND (p_member_id IS NULL OR l.member_id = p_member_id)
               AND (SELECT count(*) FROM points.award_holds ah JOIN ledger.holds h ON h.id = ah.hold_id
                     WHERE ah.award_id = l.award_id AND ah.member_id = l.member_id AND h.status = 'active'
                       AND h.account_id = b.account_id AND h.counter_account_id = m.wallet_account_id
                       AND h.amount = l.points AND h.unit = 'points') <> 1)
           OR EXISTS (
            SELECT 1 FROM points.award_holds ah JOIN points.award_lines l
                ON l.award_id = ah.award_id AND l.member_id = ah.member_id
             WHERE ah.award_id = v_award.id AND l.points = 0 AND (p_member_id IS NULL OR l.member_id = p_member_id))
        THEN
            RAISE EXCEPTION 'published award % does not hold exactly its points on its budget', v_award.id
                USING ERRCODE = 'LG003';
        END IF;
    ELSIF EXISTS (SELECT 1 FROM points.award_holds ah JOIN ledger.holds h ON h.id = ah.hold_id
                   WHERE ah.award_id = v_award.id AND (p_member_id IS NULL OR ah.member_id = p_member_id)
                     AND h.status = 'active') THEN
        RAISE EXCEPTION 'award % is %, and still holds points on its budget', v_award.id, v_award.state
            USING ERRCODE = 'LG003';
    END IF;
END $$;

CREATE FUNCTION points.award_holds_agree() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM points.check_award_holds(NEW.id, NULL);
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER awards_holds_agree AFTER UPDATE ON points.awards DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.state = 'published' OR NEW.state = 'published')
    EXECUTE FUNCTION points.award_holds_agree();

CREATE FUNCTION points.award_hold_voided() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_line record;
BEGIN
    SELECT ah.award_id, ah.member_id INTO v_line FROM points.award_holds ah WHERE ah.hold_id = NEW.id;
    IF FOUND THEN
        PERFORM points.check_award_holds(v_line.award_id, v_line.member_id);
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER holds_of_awards_agree AFTER UPDATE ON ledger.holds DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.status = 'active' AND NEW.status = 'voided')
    EXECUTE FUNCTION points.award_hold_voided();

CREATE TRIGGER award_holds_append_only BEFORE UPDATE OR DELETE ON points.award_holds
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change();

-- An objection: to a published award of the community, while its window is open. The award's row is share-locked
-- so that an objection and the award's settling never cross: whichever comes second sees the other.
CREATE FUNCTION points.objection_checks() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_award points.awards;
BEGIN
    SELECT * INTO v_award FROM points.awards WHERE id = NEW.award_id AND community_id = NEW.community_id FOR SHARE;
    IF NOT FOUND OR v_award.state <> 'published' OR v_award.window_ends_at <= now() THEN
        RAISE EXCEPTION 'award % is not in its 公示 window: it takes no objection', NEW.award_id
            USING ERRCODE = 'LG001';
    END IF;
    IF NEW.state <> 'open' OR NEW.decided_at IS NOT NULL THEN
        RAISE EXCEPTION 'an objection starts open' USING ERRCODE = 'LG001';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER objections_checked BEFORE INSERT ON points.objections
    FOR EACH ROW EXECUTE FUNCTION points.objection_checks();

-- An objection is decided once: open → upheld | dismissed | closed, and nothing else of it changes. The decider
-- is neither its maker (a CHECK) nor paid by the award, nor of a payee's household.
CREATE FUNCTION points.objection_changes() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF (OLD.id, OLD.community_id, OLD.award_id, OLD.member_id, OLD.reason, OLD.created_at)
       IS DISTINCT FROM (NEW.id, NEW.community_id, NEW.award_id, NEW.member_id, NEW.reason, NEW.created_at)
       OR OLD.state <> 'open' OR NEW.state = 'open' THEN
        RAISE EXCEPTION 'an objection is decided once and never edited' USING ERRCODE = 'LP004';
    END IF;
    IF NEW.decided_by_member_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM points.award_lines l JOIN points.members m ON m.id = l.member_id, points.members d
         WHERE l.award_id = NEW.award_id AND d.id = NEW.decided_by_member_id
           AND (m.id = d.id OR m.household_id = d.household_id)) THEN
        RAISE EXCEPTION 'member % cannot decide an objection to an award paying them or their household',
            NEW.decided_by_member_id USING ERRCODE = 'LG005';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER objections_change BEFORE UPDATE ON points.objections
    FOR EACH ROW EXECUTE FUNCTION points.objection_changes();
CREATE TRIGGER objections_not_deleted BEFORE DELETE ON points.objections
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change();

-- At commit: an upheld objection's award is voided.
CREATE FUNCTION points.objection_upheld_voids() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM points.awards w WHERE w.id = NEW.award_id AND w.state = 'voided') THEN
        RAISE EXCEPTION 'objection % is upheld but award % is not voided', NEW.id, NEW.award_id
            USING ERRCODE = 'LG004';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER objections_upheld_voids AFTER UPDATE ON points.objections DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.state = 'upheld') EXECUTE FUNCTION points.objection_upheld_voids();

-- Hold an award's paid lines on its budget, one hold per line, until the award settles or is voided. A renewal
-- (p_renewal > 0) is a new set of holds with keys of their own.
CREATE FUNCTION points.hold_award_lines(p_award_id bigint, p_renewal integer) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_award record;
    v_line record;
    v_hold_id bigint;
BEGIN
    SELECT w.id, w.community_id, w.made_by_member_id, w.reason, b.account_id AS budget_account_id,
           t.name AS type_name INTO v_award
      FROM points.awards w JOIN points.budgets b ON b.id = w.budget_id JOIN points.activity_types t ON t.id = w.type_id
     WHERE w.id = p_award_id;
    FOR v_line IN
        SELECT l.member_id, l.points, m.wallet_account_id FROM points.award_lines l
          JOIN points.members m ON m.id = l.member_id
         WHERE l.award_id = p_award_id AND l.points > 0 ORDER BY l.member_id
    LOOP
        SELECT (r.hold).id INTO v_hold_id
          FROM ledger.place_hold(
              v_award.community_id, v_award.budget_account_id, v_line.wallet_account_id, v_line.points::bigint,
              'award',
              left('公示 · ' || v_award.type_name
                   || CASE WHEN v_award.reason = '' THEN '' ELSE ' · ' || v_award.reason END, 500),
              'member:' || v_award.made_by_member_id, 2592000,
              'award-hold:' || p_award_id || ':' || v_line.member_id
                  || CASE WHEN p_renewal = 0 THEN '' ELSE ':' || p_renewal END) r;
        INSERT INTO points.award_holds (hold_id, community_id, award_id, member_id)
        VALUES (v_hold_id, v_award.community_id, p_award_id, v_line.member_id);
    END LOOP;
END $$;

-- Release an award's active holds (it settles, or is voided).
CREATE FUNCTION points.release_award_holds(p_award_id bigint) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_hold record;
BEGIN
    FOR v_hold IN
        SELECT h.id, h.community_id FROM points.award_holds ah JOIN ledger.holds h ON h.id = ah.hold_id
         WHERE ah.award_id = p_award_id AND h.status = 'active' ORDER BY h.id
    LOOP
        PERFORM ledger.void_hold(v_hold.community_id, v_hold.id);
    END LOOP;
END $$;

-- Where a decided award goes (made below the threshold, or approved by p_approved_by): posted at once when its
-- community has no 公示 window, otherwise published with the window of the moment and its points held. Returns
-- the entry posted (NULL when published, or when it pays nothing).
CREATE FUNCTION points.publish_award(p_award_id bigint, p_approved_by bigint) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_award record;
    v_days integer;
BEGIN
    SELECT w.id, w.community_id, w.activity_id, w.state INTO v_award FROM points.awards w WHERE w.id = p_award_id;
    SELECT s.window_days INTO v_days FROM points.publication_settings s WHERE s.community_id = v_award.community_id;
    IF v_days IS NULL OR v_award.state <> 'pending_approval' THEN
        RETURN points.post_award(p_award_id, p_approved_by);
    END IF;
    IF p_approved_by IS NULL AND EXISTS (
        SELECT 1 FROM points.award_lines l JOIN points.earning_settings s ON s.community_id = v_award.community_id
         WHERE l.award_id = p_award_id AND s.approval_threshold IS NOT NULL AND l.points > s.approval_threshold) THEN
        RAISE EXCEPTION 'award % pays more than the approval threshold: a second organizer approves it', p_award_id
            USING ERRCODE = 'LP004';
    END IF;
    PERFORM points.hold_award_lines(p_award_id, 0);
    UPDATE points.awards SET state = 'published', approved_by_member_id = p_approved_by,
           decided_at = CASE WHEN p_approved_by IS NULL THEN NULL ELSE now() END,
           published_at = now(), window_days = v_days, window_ends_at = now() + make_interval(days => v_days)
     WHERE id = p_award_id;
    IF v_award.activity_id IS NOT NULL THEN
        UPDATE points.activities SET state = 'awarded' WHERE id = v_award.activity_id;
    END IF;
    RETURN NULL;
END $$;

-- Settle the community's published awards whose window ended by p_at and that wait for no decision: the holds
-- voided and the award's one entry posted, under the award's row lock (skipping awards someone else has locked:
-- they come round at the next run). Renews the holds of awards still waiting that would lapse soon. Returns the
-- awards settled.
CREATE FUNCTION points.settle_awards_at(p_community_id bigint, p_at timestamptz)
RETURNS TABLE (award_id bigint, entry_id bigint)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_award record;
    v_entry_id bigint;
    v_renewal integer;
BEGIN
    IF p_community_id IS DISTINCT FROM ledger.current_community() THEN
        RAISE EXCEPTION 'awards settle in the community the session is in' USING ERRCODE = 'LE013';
    END IF;
    FOR v_award IN
        SELECT w.id FROM points.awards w
         WHERE w.community_id = p_community_id AND w.state = 'published' AND w.window_ends_at <= p_at
           AND NOT EXISTS (SELECT 1 FROM points.objections o WHERE o.award_id = w.id AND o.state = 'open')
         ORDER BY w.id
           FOR UPDATE OF w SKIP LOCKED
    LOOP
        -- Locked, seen as it is now: still published, still no objection open (one may have come while the
        -- query waited for nothing: SKIP LOCKED never waits, so this is the row as committed).
        CONTINUE WHEN NOT EXISTS (SELECT 1 FROM points.awards w WHERE w.id = v_award.id AND w.state = 'published')
            OR EXISTS (SELECT 1 FROM points.objections o WHERE o.award_id = v_award.id AND o.state = 'open');
        PERFORM points.release_award_holds(v_award.id);
        v_entry_id := points.post_award(v_award.id, NULL);
        award_id := v_award.id;
        entry_id := v_entry_id;
        RETURN NEXT;
    END LOOP;
    FOR v_award IN
        SELECT DISTINCT w.id FROM points.awards w
          JOIN points.award_holds ah ON ah.award_id = w.id JOIN ledger.holds h ON h.id = ah.hold_id
         WHERE w.community_id = p_community_id AND w.state = 'published' AND h.status = 'active'
           AND h.expires_at <= p_at + interval '{RENEW_WITHIN}'
         ORDER BY w.id
    LOOP
        PERFORM 1 FROM points.awards w WHERE w.id = v_award.id AND w.state = 'published' FOR UPDATE SKIP LOCKED;
        CONTINUE WHEN NOT FOUND;
        SELECT count(*) INTO v_renewal FROM points.award_holds ah WHERE ah.award_id = v_award.id;
        PERFORM points.release_award_holds(v_award.id);
        PERFORM points.hold_award_lines(v_award.id, v_renewal);
    END LOOP;
END $$;

CREATE FUNCTION points.settle_due_awards(p_community_id bigint)
RETURNS TABLE (award_id bigint, entry_id bigint)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT * FROM points.settle_awards_at(p_community_id, now())
$$;

-- The communities with an award in its window (for the job: it enters each in turn).
CREATE FUNCTION points.communities_with_published_awards() RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT DISTINCT community_id FROM points.awards WHERE state = 'published' ORDER BY community_id
$$;
"""

GRANTS = """
GRANT SELECT ON points.publication_settings, points.award_holds, points.objections TO linli_app;
GRANT INSERT (community_id, window_days) ON points.publication_settings TO linli_app;
GRANT UPDATE (window_days, updated_at) ON points.publication_settings TO linli_app;
GRANT INSERT ON points.award_holds TO linli_app;
GRANT INSERT (community_id, award_id, member_id, reason) ON points.objections TO linli_app;
GRANT UPDATE (state, decided_by_member_id, decided_at, decision_reason) ON points.objections TO linli_app;
GRANT UPDATE (published_at, window_days, window_ends_at) ON points.awards TO linli_app;
REVOKE ALL ON FUNCTION points.check_award_holds(bigint, bigint), points.settle_awards_at(bigint, timestamptz), points.settle_due_awards(bigint),
    points.communities_with_published_awards(), points.publish_award(bigint, bigint),
    points.hold_award_lines(bigint, integer), points.release_award_holds(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION points.settle_due_awards(bigint), points.communities_with_published_awards(),
    points.publish_award(bigint, bigint), points.hold_award_lines(bigint, integer),
    points.release_award_holds(bigint) TO linli_app;
"""

DOWNGRADE = """
DROP TRIGGER holds_of_awards_agree ON ledger.holds;
DROP TRIGGER awards_holds_agree ON points.awards;
DROP TRIGGER awards_settle_on_time ON points.awards;
DROP FUNCTION points.communities_with_published_awards();
DROP FUNCTION points.settle_due_awards(bigint);
DROP FUNCTION points.settle_awards_at(bigint, timestamptz);
DROP FUNCTION points.publish_award(bigint, bigint);
DROP FUNCTION points.release_award_holds(bigint);
DROP FUNCTION points.hold_award_lines(bigint, integer);
DROP TABLE points.objections, points.award_holds, points.publication_settings;
DROP FUNCTION points.objection_upheld_voids();
DROP FUNCTION points.objection_changes();
DROP FUNCTION points.objection_checks();
DROP FUNCTION points.award_hold_voided();
DROP FUNCTION points.award_holds_agree();
DROP FUNCTION points.check_award_holds(bigint, bigint);
DROP FUNCTION points.award_settles_on_time();
DROP INDEX points.awards_published_by_end;
ALTER TABLE points.awards
    DROP CONSTRAINT awards_window,
    DROP COLUMN published_at, DROP COLUMN window_days, DROP COLUMN window_ends_at,
    DROP CONSTRAINT awards_state,
    ADD CONSTRAINT awards_state CHECK (state IN ('pending_approval', 'posted', 'rejected')),
    DROP CONSTRAINT awards_rejected_reason,
    ADD CONSTRAINT awards_rejected_reason CHECK (state <> 'rejected' OR char_length(decision_reason) BETWEEN 1 AND 500);
"""


MAKE_AWARD_SIGNATURE = """points.make_award(bigint, text, bigint, bigint, bigint, text, date, bigint, bigint, boolean,
    text, bigint[], integer[], integer[], integer[])"""


def _make_award_publishes() -> str:
    """make_award (migration 0009) with its posting step through publish_award, answering with the state the award
    is in and the end of its window (so the service knows whether it posted or was published)."""
    awards = revision_module("2026_12_01_0009_awards_in_two_round_trips.py")
    original = sql_block(awards.FUNCTIONS, "CREATE FUNCTION points.make_award(")
    replacements = [
        ("v_entry_id := points.post_award(v_award_id, NULL);", "v_entry_id := points.publish_award(v_award_id, NULL);"),
        ("RETURNS TABLE (new_award_id bigint, new_entry_id bigint, new_created_at timestamptz)",
         "RETURNS TABLE (new_award_id bigint, new_entry_id bigint, new_created_at timestamptz, new_state text,\n"
         "               new_window_ends_at timestamptz)"),
        ("RETURN QUERY SELECT v_award_id, v_entry_id, v_created;",
         "RETURN QUERY SELECT v_award_id, v_entry_id, v_created, w.state, w.window_ends_at\n"
         "                   FROM points.awards w WHERE w.id = v_award_id;"),
    ]  # fmt: skip
    for before, after in replacements:
        assert before in original, before
        original = original.replace(before, after, 1)
    return (
        f"DROP FUNCTION {MAKE_AWARD_SIGNATURE};\n{original}\n"
        f"REVOKE ALL ON FUNCTION {MAKE_AWARD_SIGNATURE} FROM PUBLIC;\n"
        f"GRANT EXECUTE ON FUNCTION {MAKE_AWARD_SIGNATURE} TO linli_app;\n"
    )


def _post_award_settles() -> str:
    """post_award (migration 0009) posting a published award too: it keeps who approved it (and when), and the
    threshold's second look is for an award posted with no checker at all."""
    awards = revision_module("2026_12_01_0009_awards_in_two_round_trips.py")
    original = sql_block(awards.FUNCTIONS, "CREATE FUNCTION points.post_award(")
    replacements = [
        ("w.made_by_member_id, b.account_id", "w.made_by_member_id, w.state, b.account_id"),
        ("WHERE w.id = p_award_id AND w.state = 'pending_approval';",
         "WHERE w.id = p_award_id AND w.state IN ('pending_approval', 'published');"),
        ("IF p_approved_by IS NULL AND EXISTS (", "IF p_approved_by IS NULL AND v_award.state = 'pending_approval' AND EXISTS ("),
        ("UPDATE points.awards SET state = 'posted', entry_id = v_entry_id, approved_by_member_id = p_approved_by,\n"
         "           decided_at = CASE WHEN p_approved_by IS NULL THEN NULL ELSE now() END\n"
         "     WHERE id = p_award_id;\n"
         "    IF v_award.activity_id IS NOT NULL THEN",
         "IF v_award.state = 'published' THEN\n"
         "        UPDATE points.awards SET state = 'posted', entry_id = v_entry_id WHERE id = p_award_id;\n"
         "        RETURN v_entry_id;\n"
         "    END IF;\n"
         "    UPDATE points.awards SET state = 'posted', entry_id = v_entry_id, approved_by_member_id = p_approved_by,\n"
         "           decided_at = CASE WHEN p_approved_by IS NULL THEN NULL ELSE now() END\n"
         "     WHERE id = p_award_id;\n"
         "    IF v_award.activity_id IS NOT NULL THEN"),
    ]  # fmt: skip
    text = original.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    for before, after in replacements:
        assert before in text, before
        text = text.replace(before, after, 1)
    return text


def _plan_reads_available() -> str:
    """award_plan (migration 0009) reading what a budget has available: its balance less what is held on it."""
    awards = revision_module("2026_12_01_0009_awards_in_two_round_trips.py")
    original = sql_block(awards.FUNCTIONS, "CREATE FUNCTION points.award_plan(")
    before = "SELECT b.id, b.period, a.balance\n"
    assert before in original
    return original.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1).replace(
        before, "SELECT b.id, b.period, a.balance - a.held AS balance\n", 1
    )


def upgrade() -> None:
    execute_script(TABLES)
    execute_script(RLS)
    execute_script(AWARD_CHANGES)
    execute_script(_post_award_settles())
    execute_script(FUNCTIONS)
    execute_script(_make_award_publishes())
    execute_script(_plan_reads_available())
    execute_script(GRANTS)


def downgrade() -> None:
    awards = revision_module("2026_12_01_0009_awards_in_two_round_trips.py")
    earning = revision_module("2026_12_01_0008_earning_points.py")
    execute_script(f"DROP FUNCTION {MAKE_AWARD_SIGNATURE};")
    execute_script(sql_block(awards.FUNCTIONS, "CREATE FUNCTION points.make_award("))
    execute_script(
        f"REVOKE ALL ON FUNCTION {MAKE_AWARD_SIGNATURE} FROM PUBLIC;"
        f" GRANT EXECUTE ON FUNCTION {MAKE_AWARD_SIGNATURE} TO linli_app;"
    )
    for start in ("CREATE FUNCTION points.post_award(", "CREATE FUNCTION points.award_plan("):
        execute_script(sql_block(awards.FUNCTIONS, start).replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    execute_script(
        sql_block(earning.FUNCTIONS, "CREATE FUNCTION points.award_changes()").replace(
            "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1
        )
    )
    execute_script(DOWNGRADE)
