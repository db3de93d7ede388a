"""Earning points: activity types, budgets, activities, sign-ups, attendance, awards (with caps and maker-checker),
reports (随手拍), photos, and service hours as a second unit.

What PostgreSQL guards here, beneath the service's own checks:

- caps per member per day and per month: every award line charges ``points.cap_usage`` (written only by the
  trigger, under the usage row's lock), and a charge above the type's cap fails (SQLSTATE LP001);
- nobody is awarded by themselves or by someone of their household (LP002), and the maker of an award never
  approves it (a CHECK), nor does anyone it pays;
- a budget's period never overlaps another's (LP003), so every award date has at most one budget;
- an activity's states move only forward (LP004); capacity is never exceeded (LP005);
- attendance: once per member and activity (the primary key), only while the activity takes check-ins (LP006),
  and nothing changes once the organizer confirmed the list (LP007);
- one live award per activity and per report (partial unique indexes).

Hours are minutes in the unit ``minutes``: every member gets an hours account ``hours:<member>`` beside the
wallet, filled from the community's ``hours:served``; the supermarket keeps points, so hours can never be spent
there (the ledger refuses an entry that moves minutes into a points account).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from migrations.script import execute_script, revision_module, sql_block

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = """
CREATE TABLE points.earning_settings (
    community_id bigint PRIMARY KEY REFERENCES ledger.communities (id),
    -- An award paying any one member more than this waits for a second organizer's approval; NULL: never.
    approval_threshold integer,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT earning_settings_threshold CHECK (approval_threshold IS NULL OR approval_threshold BETWEEN 1 AND 1000000)
);

CREATE TABLE points.activity_types (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    community_id bigint NOT NULL REFERENCES ledger.communities (id),
    code text NOT NULL,
    name text NOT NULL,
    default_points integer NOT NULL,
    points_per_hour integer,
    cap_per_day integer,
    cap_per_month integer,
    active boolean NOT NULL DEFAULT true,
    CONSTRAINT activity_types_id_community_key UNIQUE (id, community_id),
    CONSTRAINT activity_types_code_key UNIQUE (community_id, code),
    CONSTRAINT activity_types_code CHECK (code ~ '^[a-z][a-z0-9_]{0,31}$'),
    CONSTRAINT activity_types_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
    CONSTRAINT activity_types_default_points CHECK (default_points BETWEEN 0 AND 100000),
    CONSTRAINT activity_types_points_per_hour CHECK (points_per_hour IS NULL OR points_per_hour BETWEEN 1 AND 10000),
    CONSTRAINT activity_types_caps CHECK (
        (cap_per_day IS NULL OR cap_per_day BETWEEN 1 AND 1000000)
        AND (cap_per_month IS NULL OR cap_per_month BETWEEN 1 AND 1000000)
        AND (cap_per_day IS NULL OR cap_per_month IS NULL OR cap_per_day <= cap_per_month))
);

-- A period's budget: an account budget:<period> filled from issuance by budget entries; awards draw on it.
CREATE TABLE points.budgets (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    community_id bigint NOT NULL REFERENCES ledger.communities (id),
    period text NOT NULL,
    starts_on date NOT NULL,
    ends_on date NOT NULL,  -- the day after the last
    account_id bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT budgets_id_community_key UNIQUE (id, community_id),
    CONSTRAINT budgets_period_key UNIQUE (community_id, period),
    CONSTRAINT budgets_account_key UNIQUE (account_id),
    CONSTRAINT budgets_account_fkey FOREIGN KEY (account_id, community_id)
        REFERENCES ledger.accounts (id, community_id),
    CONSTRAINT budgets_period CHECK (period ~ '^[0-9]{4}(-(0[1-9]|1[0-2])|-Q[1-4])?$'),
    CONSTRAINT budgets_dates CHECK (starts_on < ends_on)
);

CREATE TABLE points.activities (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    community_id bigint NOT NULL REFERENCES ledger.communities (id),
    type_id bigint NOT NULL,
    title text NOT NULL,
    description text NOT NULL DEFAULT '',
    place_id bigint,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    capacity integer,
    reward_points integer NOT NULL,
    per_hour boolean NOT NULL DEFAULT false,
    organizer_member_id bigint NOT NULL,
    state text NOT NULL DEFAULT 'draft',
    checkin_secret bytea NOT NULL,
    attendance_confirmed_at timestamptz,
    confirmed_by_member_id bigint,
    cancel_reason text,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT activities_id_community_key UNIQUE (id, community_id),
    CONSTRAINT activities_type_fkey FOREIGN KEY (type_id, community_id)
        REFERENCES points.activity_types (id, community_id),
    CONSTRAINT activities_place_fkey FOREIGN KEY (place_id, community_id) REFERENCES points.places (id, community_id),
    CONSTRAINT activities_organizer_fkey FOREIGN KEY (organizer_member_id, community_id)
        REFERENCES points.members (id, community_id),
    CONSTRAINT activities_state CHECK (state IN ('draft', 'open', 'closed', 'awarded', 'cancelled')),
    CONSTRAINT activities_title_length CHECK (char_length(title) BETWEEN 1 AND 100),
    CONSTRAINT activities_description_length CHECK (char_length(description) <= 2000),
    CONSTRAINT activities_window CHECK (ends_at > starts_at AND ends_at - starts_at <= interval '24 hours'),
    CONSTRAINT activities_capacity CHECK (capacity IS NULL OR capacity BETWEEN 1 AND 10000),
    CONSTRAINT activities_reward CHECK (reward_points BETWEEN 0 AND 100000),
    CONSTRAINT activities_secret CHECK (octet_length(checkin_secret) = 32),
    CONSTRAINT activities_awarded_confirmed CHECK (state <> 'awarded' OR attendance_confirmed_at IS NOT NULL),
    CONSTRAINT activities_cancel_reason CHECK ((state = 'cancelled') = (cancel_reason IS NOT NULL))
);
CREATE INDEX activities_by_start ON points.activities (community_id, starts_at);

CREATE TABLE points.signups (
    community_id bigint NOT NULL,
    activity_id bigint NOT NULL,
    member_id bigint NOT NULL,
    status text NOT NULL,
    signed_up_at timestamptz NOT NULL DEFAULT now(),
    cancelled_at timestamptz,
    PRIMARY KEY (activity_id, member_id),
    CONSTRAINT signups_activity_fkey FOREIGN KEY (activity_id, community_id)
        REFERENCES points.activities (id, community_id),
    CONSTRAINT signups_member_fkey FOREIGN KEY (member_id, community_id) REFERENCES points.members (id, community_id),
    CONSTRAINT signups_status CHECK (status IN ('registered', 'waitlisted', 'cancelled')),
    CONSTRAINT signups_cancelled CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))
);

CREATE TABLE points.attendance (
    community_id bigint NOT NULL,
    activity_id bigint NOT NULL,
    member_id bigint NOT NULL,
    checked_in_at timestamptz NOT NULL,
    checked_out_at timestamptz,
    method text NOT NULL,
    recorded_by_member_id bigint NOT NULL,
    note text NOT NULL DEFAULT '',
    confirmed boolean NOT NULL DEFAULT false,
    minutes integer,
    checkout_missing boolean NOT NULL DEFAULT false,
    PRIMARY KEY (activity_id, member_id),
    CONSTRAINT attendance_activity_fkey FOREIGN KEY (activity_id, community_id)
        REFERENCES points.activities (id, community_id),
    CONSTRAINT attendance_member_fkey FOREIGN KEY (member_id, community_id)
        REFERENCES points.members (id, community_id),
    CONSTRAINT attendance_recorder_fkey FOREIGN KEY (recorded_by_member_id, community_id)
        REFERENCES points.members (id, community_id),
    -- code: the member's own phone; proxy: 代办 by a member of the household; manual: marked by the organizer.
    CONSTRAINT attendance_method CHECK (method IN ('code', 'proxy', 'manual')),
    CONSTRAINT attendance_own_code CHECK (method <> 'code' OR recorded_by_member_id = member_id),
    CONSTRAINT attendance_manual_note CHECK (method <> 'manual' OR char_length(note) BETWEEN 1 AND 500),
    CONSTRAINT attendance_note_length CHECK (char_length(note) <= 500),
    CONSTRAINT attendance_checkout CHECK (checked_out_at IS NULL OR checked_out_at >= checked_in_at),
    CONSTRAINT attendance_minutes CHECK (minutes IS NULL OR minutes BETWEEN 0 AND 1440),
    CONSTRAINT attendance_confirmed_minutes CHECK (NOT confirmed OR minutes IS NOT NULL)
);

CREATE TABLE points.photos (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    community_id bigint NOT NULL REFERENCES ledger.communities (id),
    uploaded_by_member_id bigint NOT NULL,
    media_type text NOT NULL,
    width integer NOT NULL,
    height integer NOT NULL,
    data bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT photos_id_community_key UNIQUE (id, community_id),
    CONSTRAINT photos_uploader_fkey FOREIGN KEY (uploaded_by_member_id, community_id)
        REFERENCES points.members (id, community_id),
    CONSTRAINT photos_media_type CHECK (media_type IN ('image/jpeg', 'image/png', 'image/webp')),
    CONSTRAINT photos_size CHECK (octet_length(data) BETWEEN 1 AND 8388608
                                  AND width BETWEEN 1 AND 4096 AND height BETWEEN 1 AND 4096)
);

-- 随手拍: a hazard reported by a member (a resident, a delivery rider); verified and awarded, or rejected.
CREATE TABLE points.reports (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    community_id bigint NOT NULL REFERENCES ledger.communities (id),
    reporter_member_id bigint NOT NULL,
    type_id bigint NOT NULL,
    text text NOT NULL,
    place_id bigint,
    photo_id bigint,
    state text NOT NULL DEFAULT 'submitted',
    decided_by_member_id bigint,
    decided_at timestamptz,
    decision_reason text,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT reports_id_community_key UNIQUE (id, community_id),
    CONSTRAINT reports_reporter_fkey FOREIGN KEY (reporter_member_id, community_id)
        REFERENCES points.members (id, community_id),
    CONSTRAINT reports_type_fkey FOREIGN KEY (type_id, community_id)
        REFERENCES points.activity_types (id, community_id),
    CONSTRAINT reports_place_fkey FOREIGN KEY (place_id, community_id) REFERENCES points.places (id, community_id),
    CONSTRAINT reports_photo_fkey FOREIGN KEY (photo_id, community_id) REFERENCES points.photos (id, community_id),
    CONSTRAINT reports_state CHECK (state IN ('submitted', 'verified', 'rejected')),
    CONSTRAINT reports_text_length CHECK (char_length(text) BETWEEN 1 AND 2000),
    CONSTRAINT reports_decided CHECK ((state = 'submitted') = (decided_at IS NULL)
                                      AND (state = 'submitted') = (decided_by_member_id IS NULL)),
    CONSTRAINT reports_rejected_reason CHECK (state <> 'rejected' OR char_length(decision_reason) BETWEEN 1 AND 500),
    -- a reporter does not verify their own report
    CONSTRAINT reports_not_own CHECK (decided_by_member_id IS DISTINCT FROM reporter_member_id)
);
CREATE INDEX reports_by_state ON points.reports (community_id, state, id);

CREATE TABLE points.awards (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    community_id bigint NOT NULL REFERENCES ledger.communities (id),
    kind text NOT NULL,
    activity_id bigint,
    report_id bigint,
    type_id bigint NOT NULL,
    reason text NOT NULL DEFAULT '',
    award_on date NOT NULL,  -- the day that counts for the budget's period and the caps
    budget_id bigint NOT NULL,
    made_by_member_id bigint NOT NULL,
    state text NOT NULL,
    approved_by_member_id bigint,
    decided_at timestamptz,
    decision_reason text,
    entry_id bigint,
    total_points integer NOT NULL,
    total_minutes integer NOT NULL,
    idempotency_key text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT awards_id_community_key UNIQUE (id, community_id),
    CONSTRAINT awards_idempotency_key UNIQUE (community_id, idempotency_key),
    CONSTRAINT awards_activity_fkey FOREIGN KEY (activity_id, community_id)
        REFERENCES points.activities (id, community_id),
    CONSTRAINT awards_report_fkey FOREIGN KEY (report_id, community_id) REFERENCES points.reports (id, community_id),
    CONSTRAINT awards_type_fkey FOREIGN KEY (type_id, community_id) REFERENCES points.activity_types (id, community_id),
    CONSTRAINT awards_budget_fkey FOREIGN KEY (budget_id, community_id) REFERENCES points.budgets (id, community_id),
    CONSTRAINT awards_maker_fkey FOREIGN KEY (made_by_member_id, community_id)
        REFERENCES points.members (id, community_id),
    CONSTRAINT awards_approver_fkey FOREIGN KEY (approved_by_member_id, community_id)
        REFERENCES points.members (id, community_id),
    CONSTRAINT awards_entry_fkey FOREIGN KEY (entry_id, community_id) REFERENCES ledger.entries (id, community_id),
    CONSTRAINT awards_kind CHECK (kind IN ('activity', 'adhoc', 'report')
                                  AND (kind = 'activity') = (activity_id IS NOT NULL)
                                  AND (kind = 'report') = (report_id IS NOT NULL)),
    CONSTRAINT awards_state CHECK (state IN ('pending_approval', 'posted', 'rejected')),
    CONSTRAINT awards_reason CHECK (char_length(reason) <= 500 AND (kind <> 'adhoc' OR char_length(reason) >= 1)),
    CONSTRAINT awards_maker_checker CHECK (approved_by_member_id IS DISTINCT FROM made_by_member_id),
    CONSTRAINT awards_posted_entry CHECK ((state = 'posted' AND (total_points > 0 OR total_minutes > 0))
                                          = (entry_id IS NOT NULL)),
    CONSTRAINT awards_rejected_reason CHECK (state <> 'rejected' OR char_length(decision_reason) BETWEEN 1 AND 500),
    CONSTRAINT awards_totals CHECK (total_points >= 0 AND total_minutes >= 0)
);
CREATE UNIQUE INDEX awards_one_per_activity ON points.awards (activity_id) WHERE state <> 'rejected';
CREATE UNIQUE INDEX awards_one_per_report ON points.awards (report_id) WHERE state <> 'rejected';
CREATE INDEX awards_by_state ON points.awards (community_id, state, id);

CREATE TABLE points.award_lines (
    community_id bigint NOT NULL,
    award_id bigint NOT NULL,
    member_id bigint NOT NULL,
    requested_points integer NOT NULL,
    points integer NOT NULL,  -- after the caps
    minutes integer NOT NULL,
    PRIMARY KEY (award_id, member_id),
    CONSTRAINT award_lines_award_fkey FOREIGN KEY (award_id, community_id) REFERENCES points.awards (id, community_id),
    CONSTRAINT award_lines_member_fkey FOREIGN KEY (member_id, community_id)
        REFERENCES points.members (id, community_id),
    CONSTRAINT award_lines_points CHECK (points BETWEEN 0 AND requested_points AND requested_points <= 1000000),
    CONSTRAINT award_lines_minutes CHECK (minutes BETWEEN 0 AND 1440)
);
CREATE INDEX award_lines_by_member ON points.award_lines (member_id);

-- A correction is a reversal of the award's entry with a reason (never an edit); it gives the caps back.
CREATE TABLE points.award_corrections (
    award_id bigint PRIMARY KEY,
    community_id bigint NOT NULL,
    entry_id bigint NOT NULL,
    reason text NOT NULL,
    corrected_by_member_id bigint NOT NULL,
    corrected_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT award_corrections_entry_fkey FOREIGN KEY (entry_id, community_id)
        REFERENCES ledger.entries (id, community_id),
    CONSTRAINT award_corrections_award_fkey FOREIGN KEY (award_id, community_id)
        REFERENCES points.awards (id, community_id),
    CONSTRAINT award_corrections_by_fkey FOREIGN KEY (corrected_by_member_id, community_id)
        REFERENCES points.members (id, community_id),
    CONSTRAINT award_corrections_reason CHECK (char_length(reason) BETWEEN 1 AND 500)
);

-- What each member has been awarded of a type per day and per month; written only by the award triggers.
CREATE TABLE points.cap_usage (
    community_id bigint NOT NULL,
    member_id bigint NOT NULL,
    type_id bigint NOT NULL,
    period text NOT NULL,  -- 2026-12-01 (a day) or 2026-12 (a month)
    points integer NOT NULL,
    PRIMARY KEY (member_id, type_id, period),
    CONSTRAINT cap_usage_points CHECK (points >= 0)
);
"""

TENANT_TABLES = (
    "points.earning_settings",
    "points.activity_types",
    "points.budgets",
    "points.activities",
    "points.signups",
    "points.attendance",
    "points.photos",
    "points.reports",
    "points.awards",
    "points.award_lines",
    "points.award_corrections",
    "points.cap_usage",
)

RLS = "".join(
    f"""
ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON {table} TO linli_app
    USING (community_id = ledger.current_community())
    WITH CHECK (community_id = ledger.current_community());
"""
    for table in TENANT_TABLES
)

FUNCTIONS = """
-- Caps: each award line charges the member's usage of the award's type for its day and its month, under the
-- usage row's lock (the upsert takes it), and fails above the type's cap. A rejected or corrected award gives
-- its charge back. SECURITY DEFINER: the service cannot write cap_usage itself.
CREATE FUNCTION points.charge_caps(p_community_id bigint, p_member_id bigint, p_type_id bigint, p_on date,
                                   p_points integer)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_day_cap integer;
    v_month_cap integer;
    v_used integer;
    v_period text;
BEGIN
    IF p_points = 0 THEN
        RETURN;
    END IF;
    SELECT cap_per_day, cap_per_month INTO v_day_cap, v_month_cap FROM points.activity_types WHERE id = p_type_id;
    FOREACH v_period IN ARRAY ARRAY[to_char(p_on, 'YYYY-MM-DD'), to_char(p_on, 'YYYY-MM')] LOOP
        INSERT INTO points.cap_usage AS u (community_id, member_id, type_id, period, points)
        VALUES (p_community_id, p_member_id, p_type_id, v_period, greatest(p_points, 0))
        ON CONFLICT (member_id, type_id, period) DO UPDATE SET points = greatest(u.points + p_points, 0)
        RETURNING points INTO v_used;
        IF p_points > 0 AND v_used > (CASE WHEN length(v_period) = 10 THEN v_day_cap ELSE v_month_cap END) THEN
            RAISE EXCEPTION 'member % would get % points of this type in %, above its cap', p_member_id, v_used,
                v_period USING ERRCODE = 'LP001';
        END IF;
    END LOOP;
END $$;

CREATE FUNCTION points.award_line_checks() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_award points.awards;
BEGIN
    SELECT * INTO v_award FROM points.awards WHERE id = NEW.award_id;
    -- Nobody is awarded by themselves or by someone of their household.
    IF EXISTS (SELECT 1 FROM points.members m, points.members maker
                WHERE m.id = NEW.member_id AND maker.id = v_award.made_by_member_id
                  AND (m.id = maker.id OR m.household_id = maker.household_id)) THEN
        RAISE EXCEPTION 'member % cannot be awarded by member %: themselves or their household', NEW.member_id,
            v_award.made_by_member_id USING ERRCODE = 'LP002';
    END IF;
    IF v_award.state = 'rejected' THEN
        RAISE EXCEPTION 'award % was rejected', NEW.award_id USING ERRCODE = 'LP004';
    END IF;
    PERFORM points.charge_caps(NEW.community_id, NEW.member_id, v_award.type_id, v_award.award_on, NEW.points);
    RETURN NEW;
END $$;

CREATE TRIGGER award_lines_checked AFTER INSERT ON points.award_lines
    FOR EACH ROW EXECUTE FUNCTION points.award_line_checks();
CREATE TRIGGER award_lines_append_only BEFORE UPDATE OR DELETE ON points.award_lines
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change();

CREATE FUNCTION points.award_changes() RETURNS trigger
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
    IF OLD.state <> NEW.state AND NOT (OLD.state = 'pending_approval' AND NEW.state IN ('posted', 'rejected')) THEN
        RAISE EXCEPTION 'an award that is % cannot become %', OLD.state, NEW.state USING ERRCODE = 'LP004';
    END IF;
    IF OLD.state = NEW.state AND (OLD.approved_by_member_id, OLD.entry_id, OLD.decided_at)
                                 IS DISTINCT FROM (NEW.approved_by_member_id, NEW.entry_id, NEW.decided_at) THEN
        RAISE EXCEPTION 'an award is decided once' USING ERRCODE = 'LP004';
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
    IF NEW.state = 'rejected' AND OLD.state <> 'rejected' THEN
        FOR v_line IN SELECT member_id, points FROM points.award_lines WHERE award_id = NEW.id ORDER BY member_id LOOP
            PERFORM points.charge_caps(NEW.community_id, v_line.member_id, NEW.type_id, NEW.award_on, -v_line.points);
        END LOOP;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER awards_change BEFORE UPDATE ON points.awards
    FOR EACH ROW EXECUTE FUNCTION points.award_changes();
CREATE TRIGGER awards_not_deleted BEFORE DELETE ON points.awards
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change();

CREATE FUNCTION points.award_corrected() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_award points.awards;
    v_line record;
BEGIN
    SELECT * INTO v_award FROM points.awards WHERE id = NEW.award_id;
    IF v_award.state <> 'posted' OR v_award.entry_id IS NULL
       OR NOT EXISTS (SELECT 1 FROM ledger.entries WHERE id = NEW.entry_id AND reverses_entry_id = v_award.entry_id)
    THEN
        RAISE EXCEPTION 'a correction reverses the posted entry of its award' USING ERRCODE = 'LP004';
    END IF;
    FOR v_line IN SELECT member_id, points FROM points.award_lines WHERE award_id = NEW.award_id ORDER BY member_id
    LOOP
        PERFORM points.charge_caps(NEW.community_id, v_line.member_id, v_award.type_id, v_award.award_on,
                                   -v_line.points);
    END LOOP;
    RETURN NEW;
END $$;

CREATE TRIGGER award_corrections_give_caps_back AFTER INSERT ON points.award_corrections
    FOR EACH ROW EXECUTE FUNCTION points.award_corrected();

-- Budgets of one community never overlap: an award's day finds at most one.
CREATE FUNCTION points.budget_periods_apart() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('points.budgets'), NEW.community_id::integer);
    IF EXISTS (SELECT 1 FROM points.budgets b WHERE b.community_id = NEW.community_id AND b.id <> NEW.id
                AND b.starts_on < NEW.ends_on AND NEW.starts_on < b.ends_on) THEN
        RAISE EXCEPTION 'budget period % overlaps another budget''s period', NEW.period USING ERRCODE = 'LP003';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER budgets_apart BEFORE INSERT ON points.budgets
    FOR EACH ROW EXECUTE FUNCTION points.budget_periods_apart();
CREATE TRIGGER budgets_append_only BEFORE UPDATE OR DELETE ON points.budgets
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change();

-- An activity's state only moves forward: draft -> open -> closed -> awarded, or cancelled before awarded.
-- Its schedule and reward are fixed once sign-ups could rely on them (open), except by cancelling.
CREATE FUNCTION points.activity_changes() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF OLD.state <> NEW.state AND NOT (
        (OLD.state, NEW.state) IN (('draft', 'open'), ('open', 'closed'), ('closed', 'awarded'),
                                   ('draft', 'cancelled'), ('open', 'cancelled'), ('closed', 'cancelled'))) THEN
        RAISE EXCEPTION 'an activity that is % cannot become %', OLD.state, NEW.state USING ERRCODE = 'LP004';
    END IF;
    IF OLD.state IN ('closed', 'awarded', 'cancelled')
       AND (OLD.type_id, OLD.starts_at, OLD.ends_at, OLD.reward_points, OLD.per_hour, OLD.capacity)
           IS DISTINCT FROM (NEW.type_id, NEW.starts_at, NEW.ends_at, NEW.reward_points, NEW.per_hour, NEW.capacity)
    THEN
        RAISE EXCEPTION 'an activity that is % is not edited', OLD.state USING ERRCODE = 'LP004';
    END IF;
    IF OLD.attendance_confirmed_at IS NOT NULL
       AND NEW.attendance_confirmed_at IS DISTINCT FROM OLD.attendance_confirmed_at THEN
        RAISE EXCEPTION 'the attendance of activity % is already confirmed', OLD.id USING ERRCODE = 'LP007';
    END IF;
    IF NEW.state = 'awarded' AND OLD.state <> 'awarded' AND NOT EXISTS (
        SELECT 1 FROM points.awards WHERE activity_id = NEW.id AND state <> 'rejected') THEN
        RAISE EXCEPTION 'activity % has no award', NEW.id USING ERRCODE = 'LP004';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER activities_change BEFORE UPDATE ON points.activities
    FOR EACH ROW EXECUTE FUNCTION points.activity_changes();

-- Capacity: a registration beyond it fails (the service puts the member on the waiting list instead). The
-- activity row is locked first, so two last-place sign-ups at once cannot both get in.
CREATE FUNCTION points.signup_checks() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_activity record;
BEGIN
    SELECT state, capacity, starts_at INTO v_activity FROM points.activities WHERE id = NEW.activity_id FOR UPDATE;
    IF NEW.status <> 'cancelled' AND (v_activity.state <> 'open' OR v_activity.starts_at <= now()) THEN
        RAISE EXCEPTION 'activity % takes no sign-ups now', NEW.activity_id USING ERRCODE = 'LP006';
    END IF;
    IF NEW.status = 'cancelled' AND TG_OP = 'UPDATE' AND OLD.status <> 'cancelled'
       AND v_activity.starts_at <= now() THEN
        RAISE EXCEPTION 'a sign-up to activity % is cancelled before its start', NEW.activity_id
            USING ERRCODE = 'LP006';
    END IF;
    IF NEW.status = 'registered' AND (TG_OP = 'INSERT' OR OLD.status <> 'registered')
       AND v_activity.capacity IS NOT NULL
       AND (SELECT count(*) FROM points.signups
             WHERE activity_id = NEW.activity_id AND status = 'registered' AND member_id <> NEW.member_id)
           >= v_activity.capacity THEN
        RAISE EXCEPTION 'activity % is full', NEW.activity_id USING ERRCODE = 'LP005';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER signups_checked BEFORE INSERT OR UPDATE ON points.signups
    FOR EACH ROW EXECUTE FUNCTION points.signup_checks();

-- Attendance is taken while the activity is open (from 30 minutes before its start to its end, by code), or
-- marked by the organizer until the list is confirmed; after that the list is what was awarded.
CREATE FUNCTION points.attendance_checks() RETURNS trigger
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
    RETURN NEW;
END $$;

CREATE TRIGGER attendance_checked BEFORE INSERT OR UPDATE ON points.attendance
    FOR EACH ROW EXECUTE FUNCTION points.attendance_checks();
CREATE TRIGGER attendance_not_deleted BEFORE DELETE ON points.attendance
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change();

-- Every member keeps an hours account beside the wallet (unit minutes), opened with them.
CREATE OR REPLACE FUNCTION points.add_member(
    p_community_id bigint, p_display_name text, p_person_id bigint, p_household_id bigint, p_place_id bigint)
RETURNS points.members
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_member_id bigint := nextval(pg_get_serial_sequence('points.members', 'id'));
    v_wallet_id bigint;
    v_member points.members;
BEGIN
    IF p_community_id IS DISTINCT FROM ledger.current_community() THEN
        RAISE EXCEPTION 'members are added in the community the session is in' USING ERRCODE = 'LE011';
    END IF;
    INSERT INTO ledger.accounts (community_id, unit, code, name, normal_side, lower_bound)
    VALUES (p_community_id, 'points', 'volunteer:' || v_member_id, p_display_name, 'credit', 0)
    RETURNING id INTO v_wallet_id;
    PERFORM points.open_hours(p_community_id);
    INSERT INTO ledger.accounts (community_id, unit, code, name, normal_side, lower_bound)
    VALUES (p_community_id, 'minutes', 'hours:' || v_member_id, p_display_name, 'credit', 0);
    INSERT INTO points.members (id, community_id, person_id, display_name, household_id, place_id, wallet_account_id)
    OVERRIDING SYSTEM VALUE
    VALUES (v_member_id, p_community_id, p_person_id, p_display_name, p_household_id, p_place_id, v_wallet_id)
    RETURNING * INTO v_member;
    RETURN v_member;
END $$;
"""

OPEN_HOURS = """
-- The unit minutes and the account hours:served that every hours account is filled from (once per community).
CREATE FUNCTION points.open_hours(p_community_id bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO ledger.units (community_id, code, name) VALUES (p_community_id, 'minutes', '服务时长（分钟）')
    ON CONFLICT DO NOTHING;
    INSERT INTO ledger.accounts (community_id, unit, code, name, normal_side, lower_bound)
    VALUES (p_community_id, 'minutes', 'hours:served', '志愿服务时长', 'debit', NULL)
    ON CONFLICT DO NOTHING;
END $$;
"""

BACKFILL = """
SELECT points.open_hours(id) FROM ledger.communities;
INSERT INTO ledger.accounts (community_id, unit, code, name, normal_side, lower_bound)
SELECT community_id, 'minutes', 'hours:' || id, display_name, 'credit', 0 FROM points.members
ON CONFLICT DO NOTHING;
"""

GRANTS = """
GRANT SELECT ON points.earning_settings, points.activity_types, points.budgets, points.activities, points.signups,
    points.attendance, points.photos, points.reports, points.awards, points.award_lines, points.award_corrections,
    points.cap_usage TO linli_app;
GRANT INSERT ON points.earning_settings, points.activity_types, points.budgets, points.activities, points.signups,
    points.attendance, points.photos, points.reports, points.awards, points.award_lines, points.award_corrections
    TO linli_app;
GRANT UPDATE (approval_threshold, updated_at) ON points.earning_settings TO linli_app;
GRANT UPDATE (name, default_points, points_per_hour, cap_per_day, cap_per_month, active)
    ON points.activity_types TO linli_app;
GRANT UPDATE (title, description, place_id, starts_at, ends_at, capacity, reward_points, per_hour, type_id,
              organizer_member_id, state, attendance_confirmed_at, confirmed_by_member_id, cancel_reason)
    ON points.activities TO linli_app;
GRANT UPDATE (status, cancelled_at, signed_up_at) ON points.signups TO linli_app;
GRANT UPDATE (checked_out_at, confirmed, minutes, checkout_missing, note) ON points.attendance TO linli_app;
GRANT UPDATE (state, decided_by_member_id, decided_at, decision_reason) ON points.reports TO linli_app;
GRANT UPDATE (state, approved_by_member_id, decided_at, decision_reason, entry_id) ON points.awards TO linli_app;
REVOKE ALL ON FUNCTION points.charge_caps(bigint, bigint, bigint, date, integer), points.open_hours(bigint)
    FROM PUBLIC;
"""

DOWNGRADE = (
    """
DROP TRIGGER attendance_not_deleted ON points.attendance;
DROP TRIGGER attendance_checked ON points.attendance;
DROP TRIGGER signups_checked ON points.signups;
DROP TRIGGER activities_change ON points.activities;
DROP TRIGGER budgets_append_only ON points.budgets;
DROP TRIGGER budgets_apart ON points.budgets;
DROP TRIGGER award_corrections_give_caps_back ON points.award_corrections;
DROP TRIGGER awards_not_deleted ON points.awards;
DROP TRIGGER awards_change ON points.awards;
DROP TRIGGER award_lines_append_only ON points.award_lines;
DROP TRIGGER award_lines_checked ON points.award_lines;
DROP TABLE points.cap_usage, points.award_corrections, points.award_lines, points.awards, points.reports,
    points.photos, points.attendance, points.signups, points.activities, points.budgets, points.activity_types,
    points.earning_settings;
DROP FUNCTION points.attendance_checks();
DROP FUNCTION points.signup_checks();
DROP FUNCTION points.activity_changes();
DROP FUNCTION points.budget_periods_apart();
DROP FUNCTION points.award_corrected();
DROP FUNCTION points.award_changes();
DROP FUNCTION points.award_line_checks();
DROP FUNCTION points.charge_caps(bigint, bigint, bigint, date, integer);
"""
    # Hours accounts and their postings stay: the ledger is append-only, even across a downgrade.
)


def upgrade() -> None:
    execute_script(TABLES)
    execute_script(RLS)
    execute_script(OPEN_HOURS)
    execute_script(FUNCTIONS)
    execute_script(BACKFILL)
    execute_script(GRANTS)


def downgrade() -> None:
    execute_script(DOWNGRADE)
    people = revision_module("2026_11_23_0002_people_and_access.py")
    execute_script(
        sql_block(people.FUNCTIONS, "CREATE FUNCTION points.add_member(").replace(
            "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1
        )
    )
    execute_script("DROP FUNCTION points.open_hours(bigint);")
