"""A leaner posting path: fewer index entries, one set-based reference check, fewer statements per entry.

Every law of revision 0001 still holds; what changes is how much work each posting costs.

- Postings: the natural key (entry_id, account_id) is the primary key. The surrogate id
  stays (it orders an account's history and the cursors), but no longer has an index
  of its own: nothing looks a posting up by id alone.
- Entries: the primary key is (id, community_id), the key every reference to an entry
  uses (postings, reversals, holds), so a reference can never leave its community. The
  id alone is unique by construction (GENERATED ALWAYS; the service cannot insert
  entries at all), and it leads the key, so looking an entry up by id uses it.
- Postings no longer carry foreign keys. Two foreign keys ran two queries and took two
  row locks per posting; the lock on an unbounded account (issuance, supermarket) was
  taken by every concurrent writer, a MultiXact each time. The statement trigger that
  already kept postings out of committed entries now also checks, once per INSERT and
  for all its rows, that each posting names an entry and an account of its own
  community and the account's unit. What a foreign key also guaranteed afterwards
  (the referenced row stays) holds because entries are append-only and accounts can
  now be neither deleted nor re-keyed (id, community, unit), by anyone. post_entry's own
  inserts skip that trigger: its validation statement has checked the same rows already.
- Each stripe of an unbounded account gets a heap page of its own, so concurrent writers into
  one hot account no longer queue for one page's lock.
- post_entry validates, locks and checks bounds in one statement (was three), takes the
  accounts' units from that statement instead of joining again, and plans the reversal
  check only for reversals.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from migrations.script import execute_script, revision_module, sql_block

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS = """
ALTER TABLE ledger.postings DROP CONSTRAINT postings_entry_fkey, DROP CONSTRAINT postings_account_fkey;
ALTER TABLE ledger.postings DROP CONSTRAINT postings_pkey, DROP CONSTRAINT postings_one_per_account,
    ADD CONSTRAINT postings_pkey PRIMARY KEY (entry_id, account_id);

ALTER TABLE ledger.entries DROP CONSTRAINT entries_reverses_fkey;
ALTER TABLE ledger.holds DROP CONSTRAINT holds_entry_fkey;
ALTER TABLE ledger.entries DROP CONSTRAINT entries_id_community_key;
ALTER TABLE ledger.entries DROP CONSTRAINT entries_pkey;
ALTER TABLE ledger.entries ADD CONSTRAINT entries_pkey PRIMARY KEY (id, community_id);
ALTER TABLE ledger.entries ADD CONSTRAINT entries_reverses_fkey FOREIGN KEY (reverses_entry_id, community_id)
    REFERENCES ledger.entries (id, community_id);
ALTER TABLE ledger.holds ADD CONSTRAINT holds_entry_fkey FOREIGN KEY (entry_id, community_id)
    REFERENCES ledger.entries (id, community_id);

-- One heap page per stripe row. The 16 stripes of an unbounded account were small rows on one page, so every
-- concurrent transfer into it queued for that page's lock (hot transfers ran at 0.85 x spread). With
-- fillfactor 10 an insert may fill 819 bytes of a page, and a row with page_spacer is bigger: each stripe
-- row lands on a page of its own (updates stay on it: they are HOT). Measured here: 3,287-3,508 -> 3,959-4,042
-- TPS, against 3,921-4,055 spread. The cost: 16 pages per unbounded account, 8 kB each.
ALTER TABLE ledger.account_stripes SET (fillfactor = 10);
ALTER TABLE ledger.account_stripes ADD COLUMN page_spacer text NOT NULL DEFAULT repeat(' ', 820);
CLUSTER ledger.account_stripes USING account_stripes_pkey;  -- existing rows move to pages of their own
ALTER TABLE ledger.account_stripes SET WITHOUT CLUSTER;  -- a one-off rewrite, not a standing order
"""

TRIGGERS = """
-- Statement level with a transition table: one query per INSERT, however many postings it adds.
CREATE OR REPLACE FUNCTION ledger.postings_only_into_open_entries() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
-- Sessions keep their plans for a long time (a pool recycles them every 30 minutes). A plan made while the
-- community's tables were nearly empty would scan all of ledger.entries for every INSERT ever after, getting
-- slower with every entry (measured: 2,000 -> 470 TPS over 20 s on freshly seeded tables). Index lookups
-- are right at any size here.
SET enable_seqscan = off AS $$
DECLARE
    v_bad record;
BEGIN
    -- LATERAL ... LIMIT 1: one index lookup per posting, whatever the planner thinks the tables hold (a
    -- plain join, planned when ledger.entries had one row, read the whole table into memory every time).
    SELECT n.entry_id, n.account_id, n.community_id, n.unit,
           e.created_xid IS NULL AS no_entry, a.found IS NULL AS no_account
      INTO v_bad
      FROM new_postings n
      LEFT JOIN LATERAL (SELECT e.created_xid FROM ledger.entries e
                          WHERE e.id = n.entry_id AND e.community_id = n.community_id LIMIT 1) e ON true
      LEFT JOIN LATERAL (SELECT true AS found FROM ledger.accounts a
                          WHERE a.id = n.account_id AND a.community_id = n.community_id AND a.unit = n.unit
                          LIMIT 1) a ON true
     WHERE e.created_xid IS NULL OR a.found IS NULL OR e.created_xid <> pg_current_xact_id()
     LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    ELSIF v_bad.no_entry THEN
        RAISE EXCEPTION 'a posting names entry %, which is not an entry of community %', v_bad.entry_id,
            v_bad.community_id USING ERRCODE = 'foreign_key_violation';
    ELSIF v_bad.no_account THEN
        RAISE EXCEPTION 'a posting names account %, which is not an account of community % in unit %',
            v_bad.account_id, v_bad.community_id, v_bad.unit USING ERRCODE = 'foreign_key_violation';
    END IF;
    RAISE EXCEPTION 'entry % is already committed; postings cannot be added to it', v_bad.entry_id
        USING ERRCODE = 'LE020';
END $$;

-- ledger.post_entry has checked all of this already, in its validation statement, for the one entry it
-- has just created (it marks its own inserts with linli.inside_post_entry, a setting of its SET clause). The
-- trigger checks every other writer: SQL by hand, a script, a future function. Skipping it for post_entry's
-- own inserts saves 5-8 % of a transfer. The service's role cannot insert postings at all, marked or not.
DROP TRIGGER postings_into_open_entries ON ledger.postings;
CREATE TRIGGER postings_into_open_entries AFTER INSERT ON ledger.postings
    REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT
    WHEN (current_setting('linli.inside_post_entry', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION ledger.postings_only_into_open_entries();

-- Postings name accounts without a foreign key, so accounts must stay what postings say they are.
CREATE FUNCTION ledger.keep_accounts() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger.accounts: % is not allowed; an account is never deleted and its id, community and '
        'unit never change (postings refer to it)', TG_OP USING ERRCODE = 'LE020';
END $$;
CREATE TRIGGER accounts_never_deleted BEFORE DELETE ON ledger.accounts
    FOR EACH ROW EXECUTE FUNCTION ledger.keep_accounts();
CREATE TRIGGER accounts_never_truncated BEFORE TRUNCATE ON ledger.accounts
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.keep_accounts();
-- Only an UPDATE that names one of these columns fires it: balance updates do not pay for it.
CREATE TRIGGER accounts_keys_fixed BEFORE UPDATE OF id, community_id, unit ON ledger.accounts
    FOR EACH ROW EXECUTE FUNCTION ledger.keep_accounts();

-- The commit-time balance check looks postings up by entry: an index lookup at any table size (see above).
ALTER FUNCTION ledger.check_entry_balanced() SET enable_seqscan = off;
"""

POST_ENTRY = """
-- Post one entry in one round trip. Returns its postings (with the running
-- balance of bounded accounts). A retry with the same key and the same request
-- returns the original postings with replayed = true.
CREATE OR REPLACE FUNCTION ledger.post_entry(
    p_community_id bigint, p_kind text, p_memo text, p_metadata jsonb, p_actor text,
    p_effective_at timestamptz, p_idempotency_key text, p_account_ids bigint[], p_amounts bigint[],
    p_reverses_entry_id bigint DEFAULT NULL, p_reversal_reason text DEFAULT NULL)
RETURNS TABLE (entry_id bigint, replayed boolean, posted_at timestamptz, effective_at timestamptz,
               posting_id bigint, account_id bigint, amount bigint, balance_after bigint)
LANGUAGE plpgsql SECURITY DEFINER
-- The statements take arrays; a custom plan per call (planned for the real array length) costs more
-- than the work itself, and the generic plan is never picked on its own. Plan once per session.
SET plan_cache_mode = force_generic_plan
-- Those plans then live as long as the session: made on a young community's nearly empty tables, they must
-- not be sequential scans that grow with the ledger.
SET enable_seqscan = off
-- Its own postings are checked by its validation statement; the reference trigger checks everyone else's.
SET linli.inside_post_entry = 'on'
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
    v_unit_of text[];
    v_bounded bigint[];
    v_has_unbounded boolean;
    v_breaking integer;
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
              FROM ledger.entries e JOIN ledger.postings p ON p.entry_id = e.id AND p.community_id = e.community_id
             WHERE e.id = v_existing.id AND e.community_id = p_community_id ORDER BY p.id;
        RETURN;
    END IF;

    -- One statement: lock the bounded accounts (in id order, so writers never deadlock; the lock
    -- returns their latest balances), and in one pass over the postings check that every account is
    -- here, none repeats, no amount is zero, the common case (one unit) sums to zero, and count the
    -- postings that would take a bounded account past a bound.
    WITH locked AS MATERIALIZED (
        SELECT a.id, a.balance, a.held, a.lower_bound, a.upper_bound FROM ledger.accounts a
         WHERE a.id = ANY (p_account_ids) AND a.community_id = p_community_id
           AND (a.lower_bound IS NOT NULL OR a.upper_bound IS NOT NULL)
         ORDER BY a.id FOR NO KEY UPDATE)
    SELECT count(a.id), count(DISTINCT l.account_id), count(*) FILTER (WHERE l.amount IS NULL OR l.amount = 0),
           count(DISTINCT a.unit), sum(l.amount), array_agg(a.unit ORDER BY l.ord),
           array_agg(k.id ORDER BY k.id) FILTER (WHERE k.id IS NOT NULL),
           bool_or(a.id IS NOT NULL AND k.id IS NULL),
           count(*) FILTER (WHERE k.balance - k.held + l.amount < k.lower_bound
                               OR k.balance + l.amount > k.upper_bound)
      INTO v_found, v_distinct, v_bad_amounts, v_units, v_total, v_unit_of, v_bounded, v_has_unbounded, v_breaking
      FROM unnest(p_account_ids, p_amounts) WITH ORDINALITY AS l(account_id, amount, ord)
      -- An index lookup per posting at any table size (see the trigger above for why LATERAL ... LIMIT 1).
      LEFT JOIN LATERAL (SELECT a.id, a.unit FROM ledger.accounts a
                          WHERE a.id = l.account_id AND a.community_id = p_community_id LIMIT 1) a ON true
      LEFT JOIN locked k ON k.id = l.account_id;
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
    -- "reversal" that is not the exact mirror of the entry it names. (Nested, not AND-ed: the
    -- condition is a query whose plan would otherwise be started for every entry.)
    IF p_reverses_entry_id IS NOT NULL THEN
        IF (SELECT count(*) FROM ledger.postings p
             WHERE p.entry_id = p_reverses_entry_id AND p.community_id = p_community_id) <> v_n
           OR EXISTS (SELECT p.account_id, -p.amount FROM ledger.postings p
                       WHERE p.entry_id = p_reverses_entry_id AND p.community_id = p_community_id
                      EXCEPT SELECT * FROM unnest(p_account_ids, p_amounts)) THEN
            RAISE EXCEPTION 'a reversal must post the exact mirror of entry %', p_reverses_entry_id
                USING ERRCODE = 'LE011';
        END IF;
    END IF;

    -- The slow path: a bound would break. Lapsed holds may be what is in the way: sweep them (the
    -- rows are locked already) and look again; then name the first account still out of bounds.
    IF v_breaking > 0 THEN
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
    WITH l AS (SELECT * FROM unnest(p_account_ids, p_amounts, v_unit_of) WITH ORDINALITY
                                AS l(account_id, amount, unit, ord)),
         bumped AS (
            UPDATE ledger.accounts a SET balance = a.balance + l.amount
              FROM l WHERE a.id = l.account_id AND a.id = ANY (v_bounded)
            RETURNING a.id, a.balance),
         ins AS (
            INSERT INTO ledger.postings AS p (entry_id, community_id, account_id, unit, amount, balance_after)
            SELECT v_entry_id, p_community_id, l.account_id, l.unit, l.amount, b.balance
              FROM l LEFT JOIN bumped b ON b.id = l.account_id
             ORDER BY l.ord
            RETURNING p.id, p.account_id, p.amount, p.balance_after)
    SELECT v_entry_id, false, now(), coalesce(p_effective_at, now()), ins.id, ins.account_id, ins.amount,
           ins.balance_after
      FROM ins ORDER BY ins.id;
END $$;
"""


def upgrade() -> None:
    execute_script(KEYS)
    execute_script(TRIGGERS)
    execute_script(POST_ENTRY)


# ---- back to revision 0002 -----------------------------------------------------------------------

DOWNGRADE_KEYS = """
DROP TRIGGER postings_into_open_entries ON ledger.postings;
CREATE TRIGGER postings_into_open_entries AFTER INSERT ON ledger.postings
    REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.postings_only_into_open_entries();
ALTER TABLE ledger.account_stripes DROP COLUMN page_spacer;
ALTER TABLE ledger.account_stripes SET (fillfactor = 50);
ALTER FUNCTION ledger.check_entry_balanced() RESET enable_seqscan;
DROP TRIGGER accounts_keys_fixed ON ledger.accounts;
DROP TRIGGER accounts_never_truncated ON ledger.accounts;
DROP TRIGGER accounts_never_deleted ON ledger.accounts;
DROP FUNCTION ledger.keep_accounts();

ALTER TABLE ledger.entries DROP CONSTRAINT entries_reverses_fkey;
ALTER TABLE ledger.holds DROP CONSTRAINT holds_entry_fkey;
ALTER TABLE ledger.entries DROP CONSTRAINT entries_pkey;
ALTER TABLE ledger.entries ADD CONSTRAINT entries_pkey PRIMARY KEY (id);
ALTER TABLE ledger.entries ADD CONSTRAINT entries_id_community_key UNIQUE (id, community_id);
ALTER TABLE ledger.entries ADD CONSTRAINT entries_reverses_fkey FOREIGN KEY (reverses_entry_id, community_id)
    REFERENCES ledger.entries (id, community_id);
ALTER TABLE ledger.holds ADD CONSTRAINT holds_entry_fkey FOREIGN KEY (entry_id, community_id)
    REFERENCES ledger.entries (id, community_id);

ALTER TABLE ledger.postings DROP CONSTRAINT postings_pkey;
ALTER TABLE ledger.postings ADD CONSTRAINT postings_pkey PRIMARY KEY (id);
ALTER TABLE ledger.postings ADD CONSTRAINT postings_one_per_account UNIQUE (entry_id, account_id);
ALTER TABLE ledger.postings ADD CONSTRAINT postings_entry_fkey FOREIGN KEY (entry_id, community_id)
    REFERENCES ledger.entries (id, community_id);
ALTER TABLE ledger.postings ADD CONSTRAINT postings_account_fkey FOREIGN KEY (account_id, community_id, unit)
    REFERENCES ledger.accounts (id, community_id, unit);
"""


def downgrade() -> None:
    core = revision_module("2026_11_23_0001_ledger_core.py")
    execute_script(DOWNGRADE_KEYS)
    for script, start in (
        (core.TRIGGERS, "CREATE FUNCTION ledger.postings_only_into_open_entries()"),
        (core.FUNCTIONS, "CREATE FUNCTION ledger.post_entry("),
    ):
        execute_script(sql_block(script, start).replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
