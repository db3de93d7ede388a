"""Points that expire: a community's expiry setting, the expired-points account, and the job's one function.

A community's points may expire N months after they were earned, or at a fixed date each year (a year-end
reset), first in first out across a member's earnings. What PostgreSQL guards here (SQLSTATE class LX):

- the setting is one of off, months (1 to 120) or yearly (a month and day that exist in every year) (CHECKs);
- what is left of a member's earnings is computed in one place, ``points.expiry_lots``: every credit of the
  wallet is a lot. An award's lot (an earning) expires; any other credit's (a supermarket return, a transfer)
  is new money that never expires. The lots are queued earnings first, in the order earned (the entry's
  effective time, then the posting), then the other credits in their order; everything ever taken from the
  wallet (spending, corrections, earlier expiries) is taken from the front of the queue, so what is left of a lot
  is ``least(amount, greatest(0, credits up to it - everything taken))``. Earnings expire in the order earned,
  so what is due is always the front of the queue and an expiry takes exactly it: a second run finds nothing.
  (Had returned points queued by date among the earnings, an expiry would have taken them instead of the due
  earning, which then stayed due: found by tests/test_expiry_model.py's hypothesis property);
- ``points.expire_points_at`` posts the expiry entries: per wallet, under the wallet's row lock, at most what is
  left of its lots that are due and never more than what is available (balance - held), by an entry of kind
  ``expiry`` from the wallet to the community's ``expired`` account (opened on first use), recorded in
  ``points.expiries``. Only that function writes ``points.expiries`` (the service has no grant), and at commit
  an ``expiry`` entry must have its ``points.expiries`` row and be exactly that wallet's debit into the expired
  account (LX001): so the kind is posted only by the function;
- nothing leaves the expired account, and nothing but an expiry goes in (LX002): an expiry is never reversed,
  expired points never come back. The trigger fires for postings on unbounded points accounts only (they carry
  no running balance), so a member's wallet pays nothing for it.

The service's role may call ``points.expire_due_points(community)`` (now, never a later time); the time-taking
``points.expire_points_at`` is the owner's, for tests that move the clock on.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from migrations.script import execute_script

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = """
CREATE TABLE points.expiry_settings (
    community_id bigint PRIMARY KEY REFERENCES ledger.communities (id),
    mode text NOT NULL DEFAULT 'off',
    months integer,
    reset_month integer,
    reset_day integer,
    -- Earnings from before expiry was switched on count as earned at this moment: switching it on never expires
    -- a member's old points at once.
    since timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT expiry_settings_mode CHECK (mode IN ('off', 'months', 'yearly')),
    CONSTRAINT expiry_settings_months CHECK ((mode = 'months') = (months IS NOT NULL) AND months BETWEEN 1 AND 120),
    CONSTRAINT expiry_settings_yearly CHECK (
        (mode = 'yearly') = (reset_month IS NOT NULL) AND (reset_month IS NULL) = (reset_day IS NULL)
        AND reset_month BETWEEN 1 AND 12 AND reset_day BETWEEN 1 AND 31
        -- a day every year has (2001 is no leap year: no 02-29)
        AND reset_day <= extract(day FROM make_date(2001, reset_month, 1) + interval '1 month - 1 day'))
);

-- One row per expiry entry, written only by points.expire_points_at.
CREATE TABLE points.expiries (
    entry_id bigint PRIMARY KEY,
    community_id bigint NOT NULL,
    member_id bigint NOT NULL,
    wallet_account_id bigint NOT NULL,
    expired_account_id bigint NOT NULL,
    points bigint NOT NULL,
    due_at timestamptz NOT NULL,  -- when the newest lot it took from fell due
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT expiries_entry_fkey FOREIGN KEY (entry_id, community_id) REFERENCES ledger.entries (id, community_id),
    CONSTRAINT expiries_member_fkey FOREIGN KEY (member_id, community_id) REFERENCES points.members (id, community_id),
    CONSTRAINT expiries_points CHECK (points >= 1)
);
CREATE INDEX expiries_by_member ON points.expiries (member_id, created_at);
"""

TENANT_TABLES = ("points.expiry_settings", "points.expiries")

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
-- When a lot earned at p_earned expires under a setting; NULL when it never does. Community time is Asia/Shanghai.
-- months: the same local time N months on (a 31st becomes the month's last day). yearly: the end (local midnight)
-- of the first reset day on or after the day it was earned.
CREATE FUNCTION points.lot_expires_at(p_earned timestamptz, p_mode text, p_months integer, p_reset_month integer,
                                      p_reset_day integer)
RETURNS timestamptz
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE p_mode
        WHEN 'months' THEN
            ((p_earned AT TIME ZONE 'Asia/Shanghai') + make_interval(months => p_months)) AT TIME ZONE 'Asia/Shanghai'
        WHEN 'yearly' THEN
            ((CASE WHEN (p_earned AT TIME ZONE 'Asia/Shanghai')::date
                        <= make_date(extract(year FROM p_earned AT TIME ZONE 'Asia/Shanghai')::integer,
                                     p_reset_month, p_reset_day)
                   THEN make_date(extract(year FROM p_earned AT TIME ZONE 'Asia/Shanghai')::integer,
                                  p_reset_month, p_reset_day)
                   ELSE make_date(extract(year FROM p_earned AT TIME ZONE 'Asia/Shanghai')::integer + 1,
                                  p_reset_month, p_reset_day) END) + 1)::timestamp AT TIME ZONE 'Asia/Shanghai'
    END
$$;

-- A wallet's lots: each credit, earnings first in the order earned, then the other credits, with what is left of it (first in, first out) and when it
-- expires (NULL: never; only an award's lot expires, and only while the community's expiry is on).
CREATE FUNCTION points.expiry_lots(p_wallet_account_id bigint)
RETURNS TABLE (posting_id bigint, earned_at timestamptz, kind text, amount bigint, left_points bigint,
               expires_at timestamptz)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH w AS (SELECT a.id, a.community_id, a.balance FROM ledger.accounts a WHERE a.id = p_wallet_account_id),
         s AS (SELECT x.* FROM points.expiry_settings x JOIN w ON x.community_id = w.community_id),
         credits AS (
            SELECT p.id, e.effective_at, e.kind, p.amount,
                   sum(p.amount) OVER (ORDER BY e.kind <> 'award', e.effective_at, p.id ROWS UNBOUNDED PRECEDING)
                       AS through
              FROM ledger.postings p JOIN ledger.entries e ON e.id = p.entry_id
             WHERE p.account_id = p_wallet_account_id AND p.amount > 0),
         taken AS (SELECT coalesce((SELECT sum(amount) FROM credits), 0) - (SELECT balance FROM w) AS points)
    SELECT c.id, c.effective_at, c.kind, c.amount,
           least(c.amount, greatest(0, c.through - (SELECT points FROM taken)))::bigint,
           CASE WHEN c.kind = 'award' THEN
               (SELECT points.lot_expires_at(greatest(c.effective_at, s.since), s.mode, s.months, s.reset_month,
                                             s.reset_day) FROM s)
           END
      FROM credits c
     ORDER BY c.kind <> 'award', c.effective_at, c.id
$$;

CREATE FUNCTION points.open_expired_account(p_community_id bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_id bigint;
BEGIN
    INSERT INTO ledger.accounts (community_id, unit, code, name, normal_side, lower_bound)
    VALUES (p_community_id, 'points', 'expired', '过期积分', 'credit', NULL)
    ON CONFLICT DO NOTHING;
    SELECT id INTO v_id FROM ledger.accounts WHERE community_id = p_community_id AND code = 'expired';
    RETURN v_id;
END $$;

-- Post what is due: per wallet with an award lot due by p_at, under the wallet's row lock, what is left of its
-- due lots, never more than available. One run per community at a time (an advisory lock): a second worker's run
-- waits and then finds nothing left, so nothing expires twice.
CREATE FUNCTION points.expire_points_at(p_community_id bigint, p_at timestamptz)
RETURNS TABLE (member_id bigint, entry_id bigint, points bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_s points.expiry_settings;
    v_w record;
    v_acc record;
    v_due bigint;
    v_due_at timestamptz;
    v_amount bigint;
    v_taken bigint;
    v_expired bigint;
    v_entry bigint;
BEGIN
    IF p_community_id IS DISTINCT FROM ledger.current_community() THEN
        RAISE EXCEPTION 'points expire in the community the session is in' USING ERRCODE = 'LE013';
    END IF;
    SELECT * INTO v_s FROM points.expiry_settings s WHERE s.community_id = p_community_id;
    IF NOT FOUND OR v_s.mode = 'off' THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('points.expire_points'), p_community_id::integer);
    FOR v_w IN
        SELECT m.id AS member_id, m.wallet_account_id AS wallet
          FROM points.members m JOIN ledger.accounts a ON a.id = m.wallet_account_id
         WHERE m.community_id = p_community_id AND a.balance - a.held > 0
           AND EXISTS (SELECT 1 FROM ledger.postings p JOIN ledger.entries e ON e.id = p.entry_id
                        WHERE p.account_id = m.wallet_account_id AND p.amount > 0 AND e.kind = 'award'
                          AND points.lot_expires_at(greatest(e.effective_at, v_s.since), v_s.mode, v_s.months,
                                                    v_s.reset_month, v_s.reset_day) <= p_at)
         ORDER BY m.wallet_account_id
    LOOP
        -- The lock first, the reading after it: a redemption that committed while we waited is seen.
        SELECT a.balance, a.held INTO v_acc FROM ledger.accounts a WHERE a.id = v_w.wallet FOR NO KEY UPDATE;
        SELECT coalesce(sum(l.left_points), 0), max(l.expires_at) INTO v_due, v_due_at
          FROM points.expiry_lots(v_w.wallet) l WHERE l.expires_at <= p_at AND l.left_points > 0;
        v_amount := least(v_due, v_acc.balance - v_acc.held);
        CONTINUE WHEN v_amount <= 0;
        v_taken := (SELECT coalesce(sum(p.amount), 0) FROM ledger.postings p
                     WHERE p.account_id = v_w.wallet AND p.amount > 0) - v_acc.balance;
        v_expired := coalesce(v_expired, points.open_expired_account(p_community_id));
        SELECT x.entry_id INTO v_entry
          FROM ledger.post_entry(
              p_community_id, 'expiry', '积分到期', jsonb_build_object('member_id', v_w.member_id, 'due_at', v_due_at),
              'job:expire_points', p_at, 'expiry:' || v_w.wallet || ':' || v_taken,
              CASE WHEN v_w.wallet < v_expired THEN ARRAY[v_w.wallet, v_expired] ELSE ARRAY[v_expired, v_w.wallet] END,
              CASE WHEN v_w.wallet < v_expired THEN ARRAY[-v_amount, v_amount] ELSE ARRAY[v_amount, -v_amount] END) x
         LIMIT 1;
        INSERT INTO points.expiries (entry_id, community_id, member_id, wallet_account_id, expired_account_id, points,
                                     due_at)
        VALUES (v_entry, p_community_id, v_w.member_id, v_w.wallet, v_expired, v_amount, v_due_at);
        member_id := v_w.member_id;
        entry_id := v_entry;
        points := v_amount;
        RETURN NEXT;
    END LOOP;
END $$;

CREATE FUNCTION points.expire_due_points(p_community_id bigint)
RETURNS TABLE (member_id bigint, entry_id bigint, points bigint)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT * FROM points.expire_points_at(p_community_id, now())
$$;

-- The communities whose expiry is on (for the job: it enters each in turn).
CREATE FUNCTION points.communities_with_expiry() RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT community_id FROM points.expiry_settings WHERE mode <> 'off' ORDER BY community_id
$$;

-- At commit: an expiry entry is the job's, exactly one wallet's debit into the expired account.
CREATE FUNCTION points.expiry_entry_whole() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_x points.expiries;
BEGIN
    SELECT * INTO v_x FROM points.expiries WHERE entry_id = NEW.id;
    IF NOT FOUND OR NEW.posting_count <> 2
       OR NOT EXISTS (SELECT 1 FROM ledger.postings p WHERE p.entry_id = NEW.id
                         AND p.account_id = v_x.wallet_account_id AND p.amount = -v_x.points)
       OR NOT EXISTS (SELECT 1 FROM ledger.postings p JOIN ledger.accounts a ON a.id = p.account_id
                       WHERE p.entry_id = NEW.id AND a.code = 'expired' AND a.id = v_x.expired_account_id
                         AND p.amount = v_x.points)
       OR NOT EXISTS (SELECT 1 FROM points.members m WHERE m.id = v_x.member_id
                         AND m.wallet_account_id = v_x.wallet_account_id) THEN
        RAISE EXCEPTION 'entry % of kind expiry is posted only by the expiry job, from a wallet into expired', NEW.id
            USING ERRCODE = 'LX001';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER entries_expiry_whole AFTER INSERT ON ledger.entries DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.kind = 'expiry')
    EXECUTE FUNCTION points.expiry_entry_whole();

-- Expired points never come back: nothing is taken from the expired account (no reversal either), and only an
-- expiry puts anything in. Unbounded accounts' postings carry no running balance: the WHEN clause leaves wallets
-- (bounded) alone.
CREATE FUNCTION points.expired_account_moves() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM ledger.accounts a WHERE a.id = NEW.account_id AND a.code = 'expired')
       AND (NEW.amount < 0 OR NOT EXISTS (SELECT 1 FROM ledger.entries e WHERE e.id = NEW.entry_id
                                                                         AND e.kind = 'expiry')) THEN
        RAISE EXCEPTION 'the expired account % takes points only from an expiry and gives none back',
            NEW.account_id USING ERRCODE = 'LX002';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER postings_expired_account AFTER INSERT ON ledger.postings
    FOR EACH ROW WHEN (NEW.unit = 'points' AND NEW.balance_after IS NULL)
    EXECUTE FUNCTION points.expired_account_moves();

CREATE TRIGGER expiries_append_only BEFORE UPDATE OR DELETE ON points.expiries
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change();
"""

GRANTS = """
GRANT SELECT ON points.expiry_settings, points.expiries TO linli_app;
GRANT INSERT (community_id, mode, months, reset_month, reset_day, since) ON points.expiry_settings TO linli_app;
GRANT UPDATE (mode, months, reset_month, reset_day, since, updated_at) ON points.expiry_settings TO linli_app;
REVOKE ALL ON FUNCTION points.expire_points_at(bigint, timestamptz), points.expire_due_points(bigint),
    points.open_expired_account(bigint), points.communities_with_expiry() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION points.expire_due_points(bigint), points.communities_with_expiry() TO linli_app;
"""

DOWNGRADE = """
DROP TRIGGER postings_expired_account ON ledger.postings;
DROP TRIGGER entries_expiry_whole ON ledger.entries;
DROP TABLE points.expiries, points.expiry_settings;
DROP FUNCTION points.expired_account_moves();
DROP FUNCTION points.expiry_entry_whole();
DROP FUNCTION points.communities_with_expiry();
DROP FUNCTION points.expire_due_points(bigint);
DROP FUNCTION points.expire_points_at(bigint, timestamptz);
DROP FUNCTION points.open_expired_account(bigint);
DROP FUNCTION points.expiry_lots(bigint);
DROP FUNCTION points.lot_expires_at(timestamptz, text, integer, integer, integer);
"""
# The expired accounts and their entries stay: the ledger is append-only, even across a downgrade.


def upgrade() -> None:
    execute_script(TABLES)
    execute_script(RLS)
    execute_script(FUNCTIONS)
    execute_script(GRANTS)


def downgrade() -> None:
    execute_script(DOWNGRADE)
