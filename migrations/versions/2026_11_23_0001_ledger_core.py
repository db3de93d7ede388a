"""Ledger core: communities, units, accounts, entries, postings, holds.

The rules that protect points live here, in PostgreSQL, so they hold even for
SQL typed by hand:

1. balanced entries: a deferred constraint trigger checks at commit that every
   entry has its declared number of postings (>= 2) and sums to zero per unit;
2. append-only: triggers reject UPDATE/DELETE/TRUNCATE on entries and postings,
   postings can only be added to an entry created in the same transaction, and
   the application role has no write grant on them at all;
3. bounds: CHECK constraints on the stored running balance (holds included);
4. idempotency: UNIQUE (community_id, idempotency_key);
5. stored balance = sum of postings: only the SECURITY DEFINER functions below
   write balances, in the same statement that inserts the postings.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

from migrations.script import execute_script

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = "('award','redemption','return','swap','transfer','expiry','reversal','budget','adjustment','opening')"

SCHEMA = f"""
CREATE SCHEMA ledger;

CREATE TABLE ledger.communities (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug text NOT NULL,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT communities_slug_key UNIQUE (slug),
    CONSTRAINT communities_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9-]{{1,62}}$'),
    CONSTRAINT communities_name_length CHECK (char_length(name) BETWEEN 1 AND 200)
);

CREATE TABLE ledger.units (
    community_id bigint NOT NULL REFERENCES ledger.communities (id),
    code text NOT NULL,
    name text NOT NULL,
    PRIMARY KEY (community_id, code),
    CONSTRAINT units_code_format CHECK (code ~ '^[a-z][a-z0-9_]{{0,31}}$'),
    CONSTRAINT units_name_length CHECK (char_length(name) BETWEEN 1 AND 100)
);

-- An account with a bound keeps its balance in the row (locked while posting,
-- so it can also store the running balance on each posting). An account with
-- no bound is "hot" (issuance, supermarket, escrow): its balance lives in
-- account_stripes so that concurrent writers do not queue behind one row.
CREATE TABLE ledger.accounts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    community_id bigint NOT NULL,
    unit text NOT NULL,
    code text NOT NULL,
    name text NOT NULL DEFAULT '',
    normal_side text NOT NULL,
    lower_bound bigint,
    upper_bound bigint,
    balance bigint NOT NULL DEFAULT 0,
    held bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT accounts_community_code_key UNIQUE (community_id, code),
    CONSTRAINT accounts_id_community_unit_key UNIQUE (id, community_id, unit),
    CONSTRAINT accounts_unit_fkey FOREIGN KEY (community_id, unit) REFERENCES ledger.units (community_id, code),
    CONSTRAINT accounts_code_format CHECK (code ~ '^[a-z][a-z0-9_-]*(:[A-Za-z0-9_.-]+)*$' AND char_length(code) <= 128),
    CONSTRAINT accounts_name_length CHECK (char_length(name) <= 200),
    CONSTRAINT accounts_normal_side CHECK (normal_side IN ('debit', 'credit')),
    CONSTRAINT accounts_bounds_ordered CHECK (lower_bound IS NULL OR upper_bound IS NULL OR lower_bound <= upper_bound),
    CONSTRAINT accounts_held_not_negative CHECK (held >= 0),
    CONSTRAINT accounts_within_lower_bound CHECK (lower_bound IS NULL OR balance - held >= lower_bound),
    CONSTRAINT accounts_within_upper_bound CHECK (upper_bound IS NULL OR balance <= upper_bound),
    CONSTRAINT accounts_unbounded_use_stripes CHECK (
        lower_bound IS NOT NULL OR upper_bound IS NOT NULL OR (balance = 0 AND held = 0))
) WITH (fillfactor = 70);  -- balances are updated in place all day: room on the page keeps updates HOT

CREATE TABLE ledger.account_stripes (
    account_id bigint NOT NULL REFERENCES ledger.accounts (id),
    stripe smallint NOT NULL,
    community_id bigint NOT NULL,
    balance bigint NOT NULL,
    PRIMARY KEY (account_id, stripe),
    CONSTRAINT account_stripes_stripe_range CHECK (stripe BETWEEN 0 AND 15)
) WITH (fillfactor = 50);  -- a few rows per hot account, each updated by almost every posting

CREATE TABLE ledger.entries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- No foreign key to communities: the postings' keys to accounts already pin the community, and a key
    -- here would share-lock the community row in every posting transaction (a MultiXact each).
    community_id bigint NOT NULL,
    kind text NOT NULL,
    memo text NOT NULL DEFAULT '',
    metadata jsonb NOT NULL DEFAULT '{{}}',
    actor text,
    effective_at timestamptz NOT NULL,
    posted_at timestamptz NOT NULL DEFAULT now(),
    idempotency_key text NOT NULL,
    request_hash text NOT NULL,
    reverses_entry_id bigint,
    reversal_reason text,
    posting_count integer NOT NULL,
    created_xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    CONSTRAINT entries_idempotency_key UNIQUE (community_id, idempotency_key),
    CONSTRAINT entries_id_community_key UNIQUE (id, community_id),
    CONSTRAINT entries_reverses_fkey FOREIGN KEY (reverses_entry_id, community_id)
        REFERENCES ledger.entries (id, community_id),
    CONSTRAINT entries_kind CHECK (kind IN {KINDS}),
    CONSTRAINT entries_memo_length CHECK (char_length(memo) <= 500),
    CONSTRAINT entries_metadata_object CHECK (jsonb_typeof(metadata) = 'object' AND octet_length(metadata::text) <= 8192),
    CONSTRAINT entries_actor_length CHECK (char_length(actor) <= 128),
    CONSTRAINT entries_key_length CHECK (char_length(idempotency_key) BETWEEN 1 AND 128),
    CONSTRAINT entries_reversal_has_reason CHECK ((reverses_entry_id IS NULL) = (reversal_reason IS NULL)),
    CONSTRAINT entries_reversal_kind CHECK ((reverses_entry_id IS NOT NULL) = (kind = 'reversal')),
    CONSTRAINT entries_reason_length CHECK (char_length(reversal_reason) BETWEEN 1 AND 500),
    CONSTRAINT entries_posting_count CHECK (posting_count BETWEEN 2 AND 5000)
);

-- One reversal per entry. Partial: most entries reverse nothing and need no index entry.
CREATE UNIQUE INDEX entries_reversed_once ON ledger.entries (reverses_entry_id) WHERE reverses_entry_id IS NOT NULL;

CREATE TABLE ledger.postings (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entry_id bigint NOT NULL,
    community_id bigint NOT NULL,
    account_id bigint NOT NULL,
    unit text NOT NULL,
    amount bigint NOT NULL,
    balance_after bigint,
    posted_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT postings_entry_fkey FOREIGN KEY (entry_id, community_id) REFERENCES ledger.entries (id, community_id),
    CONSTRAINT postings_account_fkey FOREIGN KEY (account_id, community_id, unit)
        REFERENCES ledger.accounts (id, community_id, unit),
    CONSTRAINT postings_one_per_account UNIQUE (entry_id, account_id),
    CONSTRAINT postings_amount_range CHECK (amount <> 0 AND amount BETWEEN -1000000000000 AND 1000000000000)
);
CREATE INDEX postings_account_history ON ledger.postings (account_id, id);
-- An entry has a handful of postings, so entry_id is nearly unique. Say so rather than let ANALYZE guess: a
-- sample taken early (one funding entry of 1,000 postings) makes the planner expect every posting to match an
-- entry_id, and the commit-time balance check then scans the whole table, in every transaction, for as long as
-- a session keeps that plan.
ALTER TABLE ledger.postings ALTER COLUMN entry_id SET (n_distinct = -0.5);

CREATE TABLE ledger.holds (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    community_id bigint NOT NULL,  -- pinned by the keys to accounts, like entries
    account_id bigint NOT NULL,
    counter_account_id bigint NOT NULL,
    unit text NOT NULL,
    amount bigint NOT NULL,
    kind text NOT NULL,
    memo text NOT NULL DEFAULT '',
    actor text,
    status text NOT NULL DEFAULT 'active',
    posted_amount bigint,
    entry_id bigint,
    idempotency_key text NOT NULL,
    request_hash text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    resolved_at timestamptz,
    CONSTRAINT holds_idempotency_key UNIQUE (community_id, idempotency_key),
    CONSTRAINT holds_account_fkey FOREIGN KEY (account_id, community_id, unit)
        REFERENCES ledger.accounts (id, community_id, unit),
    CONSTRAINT holds_counter_account_fkey FOREIGN KEY (counter_account_id, community_id, unit)
        REFERENCES ledger.accounts (id, community_id, unit),
    CONSTRAINT holds_entry_fkey FOREIGN KEY (entry_id, community_id) REFERENCES ledger.entries (id, community_id),
    CONSTRAINT holds_two_accounts CHECK (account_id <> counter_account_id),
    CONSTRAINT holds_amount_range CHECK (amount BETWEEN 1 AND 1000000000000),
    CONSTRAINT holds_kind CHECK (kind IN {KINDS}),
    CONSTRAINT holds_memo_length CHECK (char_length(memo) <= 500),
    CONSTRAINT holds_actor_length CHECK (char_length(actor) <= 128),
    CONSTRAINT holds_key_length CHECK (char_length(idempotency_key) BETWEEN 1 AND 128),
    CONSTRAINT holds_status CHECK (status IN ('active', 'posted', 'voided', 'expired')),
    CONSTRAINT holds_posted_has_entry CHECK ((status = 'posted') = (entry_id IS NOT NULL)),
    CONSTRAINT holds_posted_amount CHECK (
        (status = 'posted' AND posted_amount BETWEEN 1 AND amount) OR (status <> 'posted' AND posted_amount IS NULL)),
    CONSTRAINT holds_resolved_when_done CHECK ((status = 'active') = (resolved_at IS NULL)),
    CONSTRAINT holds_expiry_after_creation CHECK (expires_at > created_at)
);
CREATE INDEX holds_active_by_account ON ledger.holds (account_id) WHERE status = 'active';
"""

TRIGGERS = """
CREATE FUNCTION ledger.reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger.% is append-only: % is not allowed; post a reversing entry instead',
        TG_TABLE_NAME, TG_OP USING ERRCODE = 'LE020';
END $$;

CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON ledger.entries
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change();
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON ledger.entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.reject_change();
CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON ledger.postings
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change();
CREATE TRIGGER postings_no_truncate BEFORE TRUNCATE ON ledger.postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.reject_change();
CREATE TRIGGER holds_no_delete BEFORE DELETE ON ledger.holds
    FOR EACH ROW EXECUTE FUNCTION ledger.reject_change();
CREATE TRIGGER holds_no_truncate BEFORE TRUNCATE ON ledger.holds
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.reject_change();

-- Statement level with a transition table: one query per INSERT, not one per
-- posting, so a 1,000-posting batch pays for this check once.
CREATE FUNCTION ledger.postings_only_into_open_entries() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_entry_id bigint;
BEGIN
    SELECT n.entry_id INTO v_entry_id
      FROM new_postings n JOIN ledger.entries e ON e.id = n.entry_id
     WHERE e.created_xid <> pg_current_xact_id()
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'entry % is already committed; postings cannot be added to it', v_entry_id
            USING ERRCODE = 'LE020';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER postings_into_open_entries AFTER INSERT ON ledger.postings
    REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.postings_only_into_open_entries();

-- Checked at commit, once per entry: the declared number of postings is there
-- and every unit sums to zero.
-- SECURITY DEFINER: at commit it runs as whoever committed, and must see every posting of the entry
-- whatever community (row-level security tenant) their session is in.
CREATE FUNCTION ledger.check_entry_balanced() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_count bigint;
    v_unbalanced_units bigint;
BEGIN
    SELECT coalesce(sum(n), 0), count(*) FILTER (WHERE total <> 0)
      INTO v_count, v_unbalanced_units
      FROM (SELECT count(*) AS n, sum(p.amount) AS total
              FROM ledger.postings p WHERE p.entry_id = NEW.id GROUP BY p.unit) per_unit;
    IF v_count <> NEW.posting_count OR v_count < 2 THEN
        RAISE EXCEPTION 'entry % declares % postings but has %', NEW.id, NEW.posting_count, v_count
            USING ERRCODE = 'LE002';
    END IF;
    IF v_unbalanced_units > 0 THEN
        RAISE EXCEPTION 'entry % does not sum to zero in every unit', NEW.id USING ERRCODE = 'LE002';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER entries_balanced AFTER INSERT ON ledger.entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger.check_entry_balanced();

-- Holds change state exactly once: active -> posted | voided | expired.
CREATE FUNCTION ledger.guard_hold_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status <> 'active' THEN
        RAISE EXCEPTION 'hold % is already %', OLD.id, OLD.status USING ERRCODE = 'LE009';
    END IF;
    IF (NEW.id, NEW.community_id, NEW.account_id, NEW.counter_account_id, NEW.unit, NEW.amount, NEW.kind,
        NEW.memo, NEW.actor, NEW.idempotency_key, NEW.request_hash, NEW.created_at, NEW.expires_at)
       IS DISTINCT FROM
       (OLD.id, OLD.community_id, OLD.account_id, OLD.counter_account_id, OLD.unit, OLD.amount, OLD.kind,
        OLD.memo, OLD.actor, OLD.idempotency_key, OLD.request_hash, OLD.created_at, OLD.expires_at) THEN
        RAISE EXCEPTION 'only the status of hold % may change', OLD.id USING ERRCODE = 'LE020';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER holds_state_machine BEFORE UPDATE ON ledger.holds
    FOR EACH ROW EXECUTE FUNCTION ledger.guard_hold_update();

-- New accounts start empty; only the posting functions move balances.
CREATE FUNCTION ledger.start_empty() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.balance := 0;
    NEW.held := 0;
    RETURN NEW;
END $$;
CREATE TRIGGER accounts_start_empty BEFORE INSERT ON ledger.accounts
    FOR EACH ROW EXECUTE FUNCTION ledger.start_empty();
"""

# Error codes raised below (class "LE"); ledger/errors.py maps each to a Python
# exception, and the DETAIL of each is a JSON object with the data it names.
#   LE001 below lower bound   LE002 unbalanced        LE003 unknown account
#   LE004 unit mismatch       LE005 key reused        LE006 already reversed
#   LE007 entry not found     LE008 hold not found    LE009 hold not active
#   LE010 hold expired        LE011 invalid request   LE012 above upper bound
#   LE020 append-only violation
FUNCTIONS = """
-- Post one entry in one round trip. Returns its postings (with the running
-- balance of bounded accounts). A retry with the same key and the same request
-- returns the original postings with replayed = true.
CREATE FUNCTION ledger.post_entry(
    p_community_id bigint, p_kind text, p_memo text, p_metadata jsonb, p_actor text,
    p_effective_at timestamptz, p_idempotency_key text, p_account_ids bigint[], p_amounts bigint[],
    p_reverses_entry_id bigint DEFAULT NULL, p_reversal_reason text DEFAULT NULL)
RETURNS TABLE (entry_id bigint, replayed boolean, posted_at timestamptz, effective_at timestamptz,
               posting_id bigint, account_id bigint, amount bigint, balance_after bigint)
LANGUAGE plpgsql SECURITY DEFINER
-- The statements take arrays; a custom plan per call (planned for the real array length) costs more
-- than the work itself, and the generic plan is never picked on its own. Plan once per session.
SET plan_cache_mode = force_generic_plan
SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_n integer := coalesce(cardinality(p_account_ids), 0);
    v_hash text;
    v_entry_id bigint;
    v_existing record;
    v_found integer;
    v_distinct integer;
    v_bad_amounts integer;
    v_units integer;
    v_total numeric;
    v_bounded bigint[];
    v_has_unbounded boolean;
    v_acc record;
BEGIN
    IF v_n < 2 OR v_n <> coalesce(cardinality(p_amounts), 0) THEN
        RAISE EXCEPTION 'an entry needs at least two postings, each an account and an amount'
            USING ERRCODE = 'LE011';
    END IF;
    IF v_n > 5000 THEN
        RAISE EXCEPTION 'an entry may have at most 5000 postings, this one has %', v_n USING ERRCODE = 'LE011';
    END IF;
    -- %L quotes every value, so no two different requests can print the same text.
    v_hash := md5(format('%L %L %L %L %L %L %L %L %L', p_kind, p_memo, p_metadata, p_actor,
                         extract(epoch FROM p_effective_at), p_account_ids, p_amounts, p_reverses_entry_id,
                         p_reversal_reason));

    -- Claim the key first: a concurrent retry waits here for us, then replays.
    INSERT INTO ledger.entries AS e (community_id, kind, memo, metadata, actor, effective_at, idempotency_key,
                                     request_hash, reverses_entry_id, reversal_reason, posting_count)
    VALUES (p_community_id, p_kind, coalesce(p_memo, ''), coalesce(p_metadata, '{}'), p_actor,
            coalesce(p_effective_at, now()), p_idempotency_key, v_hash, p_reverses_entry_id, p_reversal_reason, v_n)
    ON CONFLICT ON CONSTRAINT entries_idempotency_key DO NOTHING
    RETURNING e.id INTO v_entry_id;

    IF v_entry_id IS NULL THEN
        SELECT e.id, e.request_hash INTO v_existing FROM ledger.entries e
         WHERE e.community_id = p_community_id AND e.idempotency_key = p_idempotency_key;
        IF v_existing.request_hash <> v_hash THEN
            RAISE EXCEPTION 'idempotency key % was already used for a different request', p_idempotency_key
                USING ERRCODE = 'LE005', DETAIL = jsonb_build_object('entry_id', v_existing.id)::text;
        END IF;
        RETURN QUERY
            SELECT e.id, true, e.posted_at, e.effective_at, p.id, p.account_id, p.amount, p.balance_after
              FROM ledger.entries e JOIN ledger.postings p ON p.entry_id = e.id
             WHERE e.id = v_existing.id ORDER BY p.id;
        RETURN;
    END IF;

    -- One pass over the postings: every account exists here, none repeats, no amount is zero,
    -- and (the common case: one unit) they sum to zero.
    SELECT count(a.id), count(DISTINCT l.account_id), count(*) FILTER (WHERE l.amount IS NULL OR l.amount = 0),
           count(DISTINCT a.unit), sum(l.amount),
           array_agg(a.id ORDER BY a.id) FILTER (WHERE a.lower_bound IS NOT NULL OR a.upper_bound IS NOT NULL),
           bool_or(a.lower_bound IS NULL AND a.upper_bound IS NULL)
      INTO v_found, v_distinct, v_bad_amounts, v_units, v_total, v_bounded, v_has_unbounded
      FROM unnest(p_account_ids, p_amounts) AS l(account_id, amount)
      LEFT JOIN ledger.accounts a ON a.id = l.account_id AND a.community_id = p_community_id;
    IF v_found < v_n THEN
        PERFORM ledger.raise_unknown_account(p_community_id, p_account_ids);
    END IF;
    IF v_distinct < v_n THEN
        RAISE EXCEPTION 'an account appears more than once in the entry' USING ERRCODE = 'LE011';
    END IF;
    IF v_bad_amounts > 0 THEN
        RAISE EXCEPTION 'every amount must be a whole number other than zero' USING ERRCODE = 'LE011';
    END IF;
    IF v_units > 1 OR v_total <> 0 THEN
        PERFORM ledger.raise_if_unbalanced(p_account_ids, p_amounts);
    END IF;
    v_bounded := coalesce(v_bounded, '{}');
    -- Only reverse_entry makes reversals, but the rule lives here so no caller can book a
    -- "reversal" that is not the exact mirror of the entry it names.
    IF p_reverses_entry_id IS NOT NULL AND (
        (SELECT count(*) FROM ledger.postings p
          WHERE p.entry_id = p_reverses_entry_id AND p.community_id = p_community_id) <> v_n
        OR EXISTS (SELECT p.account_id, -p.amount FROM ledger.postings p
                    WHERE p.entry_id = p_reverses_entry_id AND p.community_id = p_community_id
                   EXCEPT SELECT * FROM unnest(p_account_ids, p_amounts))) THEN
        RAISE EXCEPTION 'a reversal must post the exact mirror of entry %', p_reverses_entry_id
            USING ERRCODE = 'LE011';
    END IF;

    -- Lock only the bounded accounts, in id order so that writers never deadlock; then, on the locked
    -- rows, look for a bound the entry would break (sweeping lapsed holds first if one is involved).
    IF cardinality(v_bounded) > 0 THEN
        PERFORM 1 FROM ledger.accounts a WHERE a.id = ANY (v_bounded) ORDER BY a.id FOR NO KEY UPDATE;
        SELECT a.id, a.balance, a.held, a.lower_bound, a.upper_bound, l.amount INTO v_acc
          FROM ledger.accounts a JOIN unnest(p_account_ids, p_amounts) AS l(account_id, amount) ON l.account_id = a.id
         WHERE a.id = ANY (v_bounded)
           AND (a.balance - a.held + l.amount < a.lower_bound OR a.balance + l.amount > a.upper_bound)
         ORDER BY a.id LIMIT 1;
        IF FOUND AND v_acc.held > 0 THEN
            PERFORM ledger.expire_locked_holds(v_bounded);
            SELECT a.id, a.balance, a.held, a.lower_bound, a.upper_bound, l.amount INTO v_acc
              FROM ledger.accounts a JOIN unnest(p_account_ids, p_amounts) AS l(account_id, amount)
                ON l.account_id = a.id
             WHERE a.id = ANY (v_bounded)
               AND (a.balance - a.held + l.amount < a.lower_bound OR a.balance + l.amount > a.upper_bound)
             ORDER BY a.id LIMIT 1;
        END IF;
        IF FOUND THEN
            PERFORM ledger.raise_out_of_bounds(v_acc.id, v_acc.balance, v_acc.held, v_acc.lower_bound,
                                               v_acc.upper_bound, v_acc.amount);
        END IF;
    END IF;

    IF v_has_unbounded THEN
        INSERT INTO ledger.account_stripes AS s (account_id, stripe, community_id, balance)
        -- The stripe follows the transaction, not the session: two pooled sessions never share one for good.
        SELECT l.account_id, (pg_current_xact_id()::text::bigint % 16)::smallint, p_community_id, l.amount
          FROM unnest(p_account_ids, p_amounts) AS l(account_id, amount)
         WHERE NOT (l.account_id = ANY (v_bounded))
         ORDER BY l.account_id
        ON CONFLICT (account_id, stripe) DO UPDATE SET balance = s.balance + EXCLUDED.balance;
    END IF;

    RETURN QUERY
    WITH l AS (SELECT * FROM unnest(p_account_ids, p_amounts) WITH ORDINALITY AS l(account_id, amount, ord)),
         bumped AS (
            UPDATE ledger.accounts a SET balance = a.balance + l.amount
              FROM l WHERE a.id = l.account_id AND a.id = ANY (v_bounded)
            RETURNING a.id, a.unit, a.balance),
         ins AS (
            INSERT INTO ledger.postings AS p (entry_id, community_id, account_id, unit, amount, balance_after)
            SELECT v_entry_id, p_community_id, l.account_id, coalesce(b.unit, a.unit), l.amount, b.balance
              FROM l LEFT JOIN bumped b ON b.id = l.account_id
              LEFT JOIN ledger.accounts a ON a.id = l.account_id AND b.id IS NULL
             ORDER BY l.ord
            RETURNING p.id, p.account_id, p.amount, p.balance_after)
    SELECT v_entry_id, false, now(), coalesce(p_effective_at, now()), ins.id, ins.account_id, ins.amount,
           ins.balance_after
      FROM ins ORDER BY ins.id;
END $$;

-- The slow paths of post_entry, kept out of its body: they run only when something is wrong.
CREATE FUNCTION ledger.raise_unknown_account(p_community_id bigint, p_account_ids bigint[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_missing bigint;
BEGIN
    SELECT coalesce(l.account_id, 0) INTO v_missing FROM unnest(p_account_ids) AS l(account_id)
     WHERE NOT EXISTS (SELECT 1 FROM ledger.accounts a WHERE a.id = l.account_id AND a.community_id = p_community_id)
     LIMIT 1;
    RAISE EXCEPTION 'account % does not exist in this community', v_missing
        USING ERRCODE = 'LE003', DETAIL = jsonb_build_object('account_id', v_missing)::text;
END $$;

CREATE FUNCTION ledger.raise_if_unbalanced(p_account_ids bigint[], p_amounts bigint[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_unit text;
BEGIN
    SELECT a.unit INTO v_unit
      FROM unnest(p_account_ids, p_amounts) AS l(account_id, amount) JOIN ledger.accounts a ON a.id = l.account_id
     GROUP BY a.unit HAVING sum(l.amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'the postings in unit % do not sum to zero', v_unit
            USING ERRCODE = 'LE002', DETAIL = jsonb_build_object('unit', v_unit)::text;
    END IF;
END $$;

CREATE FUNCTION ledger.raise_out_of_bounds(
    p_account_id bigint, p_balance bigint, p_held bigint, p_lower bigint, p_upper bigint, p_amount bigint)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_lower IS NOT NULL AND p_balance - p_held + p_amount < p_lower THEN
        RAISE EXCEPTION 'account % has % available, the entry needs %', p_account_id,
            p_balance - p_held - p_lower, -p_amount
            USING ERRCODE = 'LE001', DETAIL = jsonb_build_object(
                'account_id', p_account_id, 'available', p_balance - p_held - p_lower, 'requested', -p_amount)::text;
    END IF;
    RAISE EXCEPTION 'account % would exceed its upper bound %', p_account_id, p_upper
        USING ERRCODE = 'LE012', DETAIL = jsonb_build_object(
            'account_id', p_account_id, 'upper_bound', p_upper, 'balance', p_balance, 'requested', p_amount)::text;
END $$;

-- Callers hold the row locks of these accounts already.
CREATE FUNCTION ledger.expire_locked_holds(p_account_ids bigint[]) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH expired AS (
        UPDATE ledger.holds h SET status = 'expired', resolved_at = now()
         WHERE h.account_id = ANY (p_account_ids) AND h.status = 'active' AND h.expires_at <= now()
        RETURNING h.account_id, h.amount),
    per_account AS (SELECT e.account_id, sum(e.amount) AS amount FROM expired e GROUP BY e.account_id)
    UPDATE ledger.accounts a SET held = a.held - per_account.amount
      FROM per_account
     WHERE a.id = per_account.account_id AND (a.lower_bound IS NOT NULL OR a.upper_bound IS NOT NULL);
$$;

CREATE FUNCTION ledger.reverse_entry(
    p_community_id bigint, p_entry_id bigint, p_reason text, p_actor text, p_idempotency_key text,
    p_memo text DEFAULT NULL)
RETURNS TABLE (entry_id bigint, replayed boolean, posted_at timestamptz, effective_at timestamptz,
               posting_id bigint, account_id bigint, amount bigint, balance_after bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_reversal_id bigint;
    v_accounts bigint[];
    v_amounts bigint[];
BEGIN
    IF NOT EXISTS (SELECT 1 FROM ledger.entries e WHERE e.id = p_entry_id AND e.community_id = p_community_id) THEN
        RAISE EXCEPTION 'entry % does not exist in this community', p_entry_id
            USING ERRCODE = 'LE007', DETAIL = jsonb_build_object('entry_id', p_entry_id)::text;
    END IF;
    -- A retry of this very reversal replays; any other second reversal is refused.
    IF NOT EXISTS (SELECT 1 FROM ledger.entries e
                    WHERE e.community_id = p_community_id AND e.idempotency_key = p_idempotency_key) THEN
        SELECT e.id INTO v_reversal_id FROM ledger.entries e WHERE e.reverses_entry_id = p_entry_id;
        IF FOUND THEN
            RAISE EXCEPTION 'entry % was already reversed by entry %', p_entry_id, v_reversal_id
                USING ERRCODE = 'LE006', DETAIL = jsonb_build_object(
                    'entry_id', p_entry_id, 'reversal_entry_id', v_reversal_id)::text;
        END IF;
    END IF;
    SELECT array_agg(p.account_id ORDER BY p.account_id), array_agg(-p.amount ORDER BY p.account_id)
      INTO v_accounts, v_amounts
      FROM ledger.postings p WHERE p.entry_id = p_entry_id;
    RETURN QUERY SELECT * FROM ledger.post_entry(
        p_community_id, 'reversal', coalesce(p_memo, 'reversal of entry ' || p_entry_id), '{}'::jsonb, p_actor,
        NULL, p_idempotency_key, v_accounts, v_amounts, p_entry_id, p_reason);
END $$;

CREATE FUNCTION ledger.place_hold(
    p_community_id bigint, p_account_id bigint, p_counter_account_id bigint, p_amount bigint, p_kind text,
    p_memo text, p_actor text, p_timeout_s integer, p_idempotency_key text)
RETURNS TABLE (replayed boolean, hold ledger.holds)
LANGUAGE plpgsql SECURITY DEFINER SET plan_cache_mode = force_generic_plan
SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_hash text := md5(jsonb_build_array(p_account_id, p_counter_account_id, p_amount, p_kind, p_memo, p_actor,
                                         p_timeout_s)::text);
    v_hold ledger.holds;
    v_debit ledger.accounts;
    v_credit ledger.accounts;
BEGIN
    IF p_amount IS NULL OR p_amount <= 0 THEN
        RAISE EXCEPTION 'a hold amount must be positive' USING ERRCODE = 'LE011';
    END IF;
    IF p_timeout_s IS NULL OR p_timeout_s NOT BETWEEN 1 AND 2592000 THEN
        RAISE EXCEPTION 'a hold timeout must be between 1 second and 30 days' USING ERRCODE = 'LE011';
    END IF;
    SELECT * INTO v_hold FROM ledger.holds h
     WHERE h.community_id = p_community_id AND h.idempotency_key = p_idempotency_key;
    IF FOUND THEN
        IF v_hold.request_hash <> v_hash THEN
            RAISE EXCEPTION 'idempotency key % was already used for a different request', p_idempotency_key
                USING ERRCODE = 'LE005', DETAIL = jsonb_build_object('hold_id', v_hold.id)::text;
        END IF;
        RETURN QUERY SELECT true, v_hold;
        RETURN;
    END IF;
    SELECT * INTO v_debit FROM ledger.accounts a WHERE a.id = p_account_id AND a.community_id = p_community_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % does not exist in this community', p_account_id
            USING ERRCODE = 'LE003', DETAIL = jsonb_build_object('account_id', p_account_id)::text;
    END IF;
    SELECT * INTO v_credit FROM ledger.accounts a
     WHERE a.id = p_counter_account_id AND a.community_id = p_community_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % does not exist in this community', p_counter_account_id
            USING ERRCODE = 'LE003', DETAIL = jsonb_build_object('account_id', p_counter_account_id)::text;
    END IF;
    IF v_debit.unit <> v_credit.unit THEN
        RAISE EXCEPTION 'accounts % and % keep different units', p_account_id, p_counter_account_id
            USING ERRCODE = 'LE004';
    END IF;
    IF p_account_id = p_counter_account_id THEN
        RAISE EXCEPTION 'a hold needs two different accounts' USING ERRCODE = 'LE011';
    END IF;

    INSERT INTO ledger.holds AS h (community_id, account_id, counter_account_id, unit, amount, kind, memo, actor,
                                   idempotency_key, request_hash, expires_at)
    VALUES (p_community_id, p_account_id, p_counter_account_id, v_debit.unit, p_amount, p_kind,
            coalesce(p_memo, ''), p_actor, p_idempotency_key, v_hash, now() + make_interval(secs => p_timeout_s))
    ON CONFLICT ON CONSTRAINT holds_idempotency_key DO NOTHING
    RETURNING * INTO v_hold;
    IF v_hold.id IS NULL THEN
        -- A concurrent request with this key won the race; replay what it did.
        RETURN QUERY SELECT * FROM ledger.place_hold(p_community_id, p_account_id, p_counter_account_id,
            p_amount, p_kind, p_memo, p_actor, p_timeout_s, p_idempotency_key);
        RETURN;
    END IF;

    IF v_debit.lower_bound IS NOT NULL OR v_debit.upper_bound IS NOT NULL THEN
        SELECT * INTO v_debit FROM ledger.accounts a WHERE a.id = p_account_id FOR NO KEY UPDATE;
        IF v_debit.held > 0 THEN
            PERFORM ledger.expire_locked_holds(ARRAY[p_account_id]);
            SELECT * INTO v_debit FROM ledger.accounts a WHERE a.id = p_account_id;
        END IF;
        IF v_debit.lower_bound IS NOT NULL AND v_debit.balance - v_debit.held - p_amount < v_debit.lower_bound THEN
            RAISE EXCEPTION 'account % has % available, the hold needs %', p_account_id,
                v_debit.balance - v_debit.held - v_debit.lower_bound, p_amount
                USING ERRCODE = 'LE001', DETAIL = jsonb_build_object(
                    'account_id', p_account_id, 'available', v_debit.balance - v_debit.held - v_debit.lower_bound,
                    'requested', p_amount)::text;
        END IF;
        UPDATE ledger.accounts a SET held = a.held + p_amount WHERE a.id = p_account_id;
    END IF;
    RETURN QUERY SELECT false, v_hold;
END $$;

-- Lock the hold's bounded accounts in id order, then the hold itself.
CREATE FUNCTION ledger.lock_hold(p_community_id bigint, p_hold_id bigint) RETURNS ledger.holds
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_hold ledger.holds;
BEGIN
    SELECT * INTO v_hold FROM ledger.holds h WHERE h.id = p_hold_id AND h.community_id = p_community_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'hold % does not exist in this community', p_hold_id
            USING ERRCODE = 'LE008', DETAIL = jsonb_build_object('hold_id', p_hold_id)::text;
    END IF;
    PERFORM 1 FROM ledger.accounts a
      WHERE a.id IN (v_hold.account_id, v_hold.counter_account_id)
        AND (a.lower_bound IS NOT NULL OR a.upper_bound IS NOT NULL)
      ORDER BY a.id FOR NO KEY UPDATE;
    SELECT * INTO v_hold FROM ledger.holds h WHERE h.id = p_hold_id FOR UPDATE;
    RETURN v_hold;
END $$;

-- Give back what a hold reserved; the caller holds the account's lock and sets the hold's new status.
CREATE FUNCTION ledger.release_held(v_hold ledger.holds) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    UPDATE ledger.accounts a SET held = a.held - v_hold.amount
     WHERE a.id = v_hold.account_id AND (a.lower_bound IS NOT NULL OR a.upper_bound IS NOT NULL);
$$;

CREATE FUNCTION ledger.post_hold(
    p_community_id bigint, p_hold_id bigint, p_amount bigint, p_memo text, p_actor text, p_idempotency_key text)
RETURNS TABLE (entry_id bigint, replayed boolean, posted_at timestamptz, effective_at timestamptz,
               posting_id bigint, account_id bigint, amount bigint, balance_after bigint)
LANGUAGE plpgsql SECURITY DEFINER SET plan_cache_mode = force_generic_plan
SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_hold ledger.holds;
    v_amount bigint;
    v_entry_id bigint;
    v_accounts bigint[];
    v_amounts bigint[];
BEGIN
    v_hold := ledger.lock_hold(p_community_id, p_hold_id);
    v_amount := coalesce(p_amount, v_hold.amount);
    IF v_hold.account_id < v_hold.counter_account_id THEN
        v_accounts := ARRAY[v_hold.account_id, v_hold.counter_account_id];
        v_amounts := ARRAY[-v_amount, v_amount];
    ELSE
        v_accounts := ARRAY[v_hold.counter_account_id, v_hold.account_id];
        v_amounts := ARRAY[v_amount, -v_amount];
    END IF;
    -- A retry of a post that already happened replays it (or is refused as a different request).
    IF EXISTS (SELECT 1 FROM ledger.entries e
                WHERE e.community_id = p_community_id AND e.idempotency_key = p_idempotency_key) THEN
        RETURN QUERY SELECT * FROM ledger.post_entry(p_community_id, v_hold.kind,
            coalesce(p_memo, v_hold.memo), jsonb_build_object('hold_id', v_hold.id), p_actor, NULL,
            p_idempotency_key, v_accounts, v_amounts);
        RETURN;
    END IF;
    IF v_hold.status <> 'active' THEN
        RAISE EXCEPTION 'hold % is %, not active', p_hold_id, v_hold.status
            USING ERRCODE = 'LE009', DETAIL = jsonb_build_object('hold_id', p_hold_id, 'status', v_hold.status)::text;
    END IF;
    IF v_hold.expires_at <= now() THEN
        RAISE EXCEPTION 'hold % expired at %', p_hold_id, v_hold.expires_at
            USING ERRCODE = 'LE010', DETAIL = jsonb_build_object('hold_id', p_hold_id)::text;
    END IF;
    IF v_amount <= 0 OR v_amount > v_hold.amount THEN
        RAISE EXCEPTION 'a hold of % can post between 1 and % points, not %', v_hold.amount, v_hold.amount, v_amount
            USING ERRCODE = 'LE011';
    END IF;
    PERFORM ledger.release_held(v_hold);
    SELECT r.entry_id INTO v_entry_id FROM ledger.post_entry(p_community_id, v_hold.kind,
        coalesce(p_memo, v_hold.memo), jsonb_build_object('hold_id', v_hold.id), p_actor, NULL,
        p_idempotency_key, v_accounts, v_amounts) r LIMIT 1;
    UPDATE ledger.holds h SET status = 'posted', posted_amount = v_amount, entry_id = v_entry_id, resolved_at = now()
     WHERE h.id = v_hold.id;
    RETURN QUERY
        SELECT e.id, false, e.posted_at, e.effective_at, p.id, p.account_id, p.amount, p.balance_after
          FROM ledger.entries e JOIN ledger.postings p ON p.entry_id = e.id
         WHERE e.id = v_entry_id ORDER BY p.id;
END $$;

CREATE FUNCTION ledger.void_hold(p_community_id bigint, p_hold_id bigint)
RETURNS TABLE (replayed boolean, hold ledger.holds)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_hold ledger.holds;
BEGIN
    v_hold := ledger.lock_hold(p_community_id, p_hold_id);
    IF v_hold.status IN ('voided', 'expired') THEN
        RETURN QUERY SELECT true, v_hold;   -- nothing is held any more: the void already happened
        RETURN;
    END IF;
    IF v_hold.status <> 'active' THEN
        RAISE EXCEPTION 'hold % is %, not active', p_hold_id, v_hold.status
            USING ERRCODE = 'LE009', DETAIL = jsonb_build_object('hold_id', p_hold_id, 'status', v_hold.status)::text;
    END IF;
    PERFORM ledger.release_held(v_hold);
    UPDATE ledger.holds h
       SET status = CASE WHEN v_hold.expires_at <= now() THEN 'expired' ELSE 'voided' END, resolved_at = now()
     WHERE h.id = p_hold_id;
    RETURN QUERY SELECT false, h FROM ledger.holds h WHERE h.id = p_hold_id;
END $$;

CREATE FUNCTION ledger.expire_holds(p_community_id bigint) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_accounts bigint[];
    v_count integer;
BEGIN
    SELECT array_agg(DISTINCT h.account_id) INTO v_accounts FROM ledger.holds h
     WHERE h.community_id = p_community_id AND h.status = 'active' AND h.expires_at <= now();
    IF v_accounts IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM 1 FROM ledger.accounts a
      WHERE a.id = ANY (v_accounts) AND (a.lower_bound IS NOT NULL OR a.upper_bound IS NOT NULL)
      ORDER BY a.id FOR NO KEY UPDATE;
    SELECT count(*) INTO v_count FROM ledger.holds h
     WHERE h.account_id = ANY (v_accounts) AND h.status = 'active' AND h.expires_at <= now();
    PERFORM ledger.expire_locked_holds(v_accounts);
    RETURN v_count;
END $$;
"""

# The service logs in as linli_app (see points/db.py), a role of its own rather
# than SET ROLE, which the session could undo with RESET ROLE. It reads the
# ledger, may open communities, units and accounts (never setting a balance),
# and changes balances only by calling the functions above, which run as the
# owner. It has no UPDATE, DELETE or TRUNCATE on any ledger table.
GRANTS = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'linli_app') THEN
        CREATE ROLE linli_app LOGIN;
    ELSE
        ALTER ROLE linli_app LOGIN;
    END IF;
END $$;
GRANT USAGE ON SCHEMA ledger TO linli_app;
GRANT SELECT ON ALL TABLES IN SCHEMA ledger TO linli_app;
GRANT INSERT (slug, name) ON ledger.communities TO linli_app;
GRANT INSERT (community_id, code, name) ON ledger.units TO linli_app;
GRANT INSERT (community_id, unit, code, name, normal_side, lower_bound, upper_bound) ON ledger.accounts TO linli_app;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA ledger FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    ledger.post_entry(bigint, text, text, jsonb, text, timestamptz, text, bigint[], bigint[], bigint, text),
    ledger.reverse_entry(bigint, bigint, text, text, text, text),
    ledger.place_hold(bigint, bigint, bigint, bigint, text, text, text, integer, text),
    ledger.post_hold(bigint, bigint, bigint, text, text, text),
    ledger.void_hold(bigint, bigint),
    ledger.expire_holds(bigint)
TO linli_app;
"""


def upgrade() -> None:
    execute_script(SCHEMA)
    execute_script(TRIGGERS)
    execute_script(FUNCTIONS)
    execute_script(GRANTS)


def downgrade() -> None:
    # The role is shared by every database in the cluster, so it stays.
    op.execute("DROP SCHEMA ledger CASCADE")
