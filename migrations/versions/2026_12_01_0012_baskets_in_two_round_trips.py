"""Baskets in two round trips: one read that plans a basket, one write that redeems it.

Until now confirming a basket cost about sixteen round trips (the key, BEGIN, the tenant, the code, the people, the
goods, claiming the code, the supermarket account, the entry, the receipt, its lines and sales, its number, the
receipt read back in three statements, COMMIT), and every line and every sale movement ran a trigger of its own.

- ``points.basket_plan`` reads everything a basket is checked against, in one call: the receipt of the
  idempotency key, the payment code (and, for a code this community never issued, which community did), the
  member, the proxy (代办) and the clerk with their households and the member's available points, the goods by id
  or barcode, what the member and the household took of each limited good this period, and the supermarket
  account. The service checks every rule on it before it writes (catalog/counter.py), and names the good.
- ``points.redeem_basket`` writes it in one statement, atomic by itself: the code claimed (used once, unexpired),
  the ledger entry (wallet to supermarket, through ``ledger.post_entry``), the receipt with its number, its lines at
  the prices charged and one sale movement per good; it answers what the counter shows (number, entry, balance
  after), so nothing is read back.
- Underneath, nothing is checked less: the tables' triggers of migration 0011 (stock never below zero under the
  good's row lock, the limits under the usage rows' locks, goods on sale, the clerk's household, the code used
  once, the receipt whole at commit), the ledger's laws and every constraint run as they did. Statement triggers
  over transition tables (as the award lines have, migration 0009) were tried for the lines and the sales and
  were no faster for baskets of a few goods (docs/BENCHMARKS.md), so the row triggers stay.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from migrations.script import execute_script

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTIONS = """
-- The period a limit counts in: the community's day, ISO week or month (Asia/Shanghai).
CREATE FUNCTION points.limit_period_key(p_period text, p_at timestamptz) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE p_period WHEN 'day' THEN to_char(p_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD')
                         WHEN 'week' THEN to_char(p_at AT TIME ZONE 'Asia/Shanghai', 'IYYY-"W"IW')
                         ELSE to_char(p_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') END
$$;

-- Everything a basket is checked against, in one read (see the module's words). p_member names the member when
-- the card identified them; p_for_member the member a proxy's code pays for (代办).
CREATE FUNCTION points.basket_plan(
    p_community_id bigint, p_clerk bigint, p_code_hash bytea, p_member bigint, p_for_member bigint,
    p_good_ids bigint[], p_barcodes text[], p_idempotency_key text)
RETURNS jsonb
-- PL/pgSQL, not SQL: a SQL function's statement is planned again at every call (1.2 ms of this one's 1.7 here),
-- a PL/pgSQL function's once per session.
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
SET jit = off
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN (
    WITH code AS (
        SELECT c.id, c.member_id, c.used_at IS NOT NULL AS used,
               c.replaced_at IS NOT NULL OR c.expires_at <= now() AS expired
          FROM points.payment_codes c
         WHERE p_code_hash IS NOT NULL AND c.code_hash = p_code_hash AND c.community_id = p_community_id),
    who AS (
        SELECT coalesce(p_member, p_for_member, (SELECT member_id FROM code)) AS member_id,
               CASE WHEN p_for_member IS NOT NULL THEN (SELECT member_id FROM code) END AS proxy_id),
    people AS (
        SELECT m.id, m.display_name, m.household_id, h.label AS household, m.status, m.person_id,
               m.wallet_account_id, a.balance - a.held AS available
          FROM points.members m
          LEFT JOIN points.households h ON h.id = m.household_id
          LEFT JOIN ledger.accounts a ON a.id = m.wallet_account_id
         WHERE m.community_id = p_community_id
           AND m.id IN ((SELECT member_id FROM who), (SELECT proxy_id FROM who), p_clerk)),
    goods AS (
        SELECT g.id, g.name, g.unit, g.price, g.active, g.stock, g.barcode, g.limit_per_member,
               g.limit_per_household, g.limit_period
          FROM points.goods g
         WHERE g.community_id = p_community_id AND (g.id = ANY (p_good_ids) OR g.barcode = ANY (p_barcodes))),
    usage AS (
        SELECT u.good_id, split_part(u.subject, ':', 1) AS per, u.quantity
          FROM goods g
          JOIN points.redemption_usage u
            ON u.good_id = g.id AND u.period = points.limit_period_key(g.limit_period, now())
         WHERE g.limit_period IS NOT NULL
           AND u.subject IN ('member:' || (SELECT member_id FROM who),
                             'household:' || (SELECT p.household_id FROM people p
                                               WHERE p.id = (SELECT member_id FROM who))))
    SELECT jsonb_build_object(
        'replay', (SELECT jsonb_build_object('number', r.number, 'request_hash', r.request_hash)
                     FROM points.receipts r
                    WHERE r.community_id = p_community_id AND r.idempotency_key = p_idempotency_key),
        'code', (SELECT to_jsonb(code) FROM code),
        'issuer', CASE WHEN p_code_hash IS NOT NULL AND NOT EXISTS (SELECT 1 FROM code)
                       THEN points.payment_code_community(p_code_hash) END,
        'member_id', (SELECT member_id FROM who),
        'proxy_id', (SELECT proxy_id FROM who),
        'people', coalesce((SELECT jsonb_agg(to_jsonb(people)) FROM people), '[]'::jsonb),
        'goods', coalesce((SELECT jsonb_agg(to_jsonb(goods)) FROM goods), '[]'::jsonb),
        'usage', coalesce((SELECT jsonb_agg(to_jsonb(usage)) FROM usage), '[]'::jsonb),
        'supermarket', (SELECT a.id FROM ledger.accounts a
                         WHERE a.community_id = p_community_id AND a.code = 'supermarket')));
END $$;

-- The basket redeemed, in one statement (see the module's words). The lines come in good order, line_no 1, 2 ...;
-- every rule is checked again underneath by the tables' triggers and constraints and by ledger.post_entry.
CREATE FUNCTION points.redeem_basket(
    p_community_id bigint, p_clerk bigint, p_member bigint, p_household bigint, p_method text, p_code_id bigint,
    p_proxy bigint, p_wallet bigint, p_supermarket bigint, p_counter text, p_idempotency_key text,
    p_request_hash text, p_memo text, p_actor text, p_metadata jsonb,
    p_good_ids bigint[], p_names text[], p_quantities integer[], p_prices integer[])
RETURNS TABLE (r_id bigint, r_number integer, r_entry_id bigint, r_created_at timestamptz, r_balance_after bigint)
LANGUAGE plpgsql
SET jit = off
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_total integer;
    v_entry bigint;
    v_balance bigint;
    v_receipt bigint;
    v_number integer;
    v_created timestamptz;
BEGIN
    IF p_code_id IS NOT NULL THEN
        UPDATE points.payment_codes SET used_at = now()
         WHERE id = p_code_id AND community_id = p_community_id AND used_at IS NULL AND replaced_at IS NULL
           AND expires_at > now();
        IF NOT FOUND THEN
            IF EXISTS (SELECT 1 FROM points.payment_codes WHERE id = p_code_id AND used_at IS NOT NULL) THEN
                RAISE EXCEPTION 'payment code % was used already', p_code_id USING ERRCODE = 'LS002';
            END IF;
            RAISE EXCEPTION 'payment code % has expired', p_code_id USING ERRCODE = 'LS003';
        END IF;
    END IF;
    SELECT sum(u.q * u.p)::integer INTO v_total FROM unnest(p_quantities, p_prices) u (q, p);
    SELECT e.entry_id, e.balance_after INTO v_entry, v_balance
      FROM ledger.post_entry(p_community_id, 'redemption', p_memo, p_metadata, p_actor, NULL,
                             'receipt:' || p_idempotency_key,
                             CASE WHEN p_wallet < p_supermarket THEN ARRAY[p_wallet, p_supermarket]
                                  ELSE ARRAY[p_supermarket, p_wallet] END,
                             CASE WHEN p_wallet < p_supermarket THEN ARRAY[-v_total, v_total]::bigint[]
                                  ELSE ARRAY[v_total, -v_total]::bigint[] END) e
     WHERE e.account_id = p_wallet;
    INSERT INTO points.receipts (community_id, number, member_id, household_id, clerk_member_id, counter, method,
                                 payment_code_id, proxy_member_id, entry_id, total_points, idempotency_key,
                                 request_hash)
    VALUES (p_community_id, points.next_receipt_number(p_community_id), p_member, p_household, p_clerk, p_counter,
            p_method, p_code_id, p_proxy, v_entry, v_total, p_idempotency_key, p_request_hash)
    RETURNING id, number, created_at INTO v_receipt, v_number, v_created;
    -- Lines and sales in good order: every basket locks the usage rows and the goods' rows in the same order, so
    -- two baskets never deadlock.
    WITH l AS (
        INSERT INTO points.receipt_lines (community_id, receipt_id, line_no, good_id, name, quantity, unit_price,
                                          amount)
        SELECT p_community_id, v_receipt, u.n, u.good_id, u.name, u.quantity, u.price, u.quantity * u.price
          FROM unnest(p_good_ids, p_names, p_quantities, p_prices) WITH ORDINALITY u (good_id, name, quantity, price, n)
         ORDER BY u.good_id
        RETURNING good_id, quantity)
    INSERT INTO points.stock_movements (community_id, good_id, kind, quantity, member_id, receipt_id)
    SELECT p_community_id, l.good_id, 'sale', -l.quantity, p_clerk, v_receipt FROM l ORDER BY l.good_id;
    RETURN QUERY SELECT v_receipt, v_number, v_entry, v_created, v_balance;
END $$;
"""

GRANTS = """
REVOKE ALL ON FUNCTION points.limit_period_key(text, timestamptz),
    points.basket_plan(bigint, bigint, bytea, bigint, bigint, bigint[], text[], text),
    points.redeem_basket(bigint, bigint, bigint, bigint, text, bigint, bigint, bigint, bigint, text, text, text, text,
                         text, jsonb, bigint[], text[], integer[], integer[])
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION points.limit_period_key(text, timestamptz),
    points.basket_plan(bigint, bigint, bytea, bigint, bigint, bigint[], text[], text),
    points.redeem_basket(bigint, bigint, bigint, bigint, text, bigint, bigint, bigint, bigint, text, text, text, text,
                         text, jsonb, bigint[], text[], integer[], integer[])
    TO linli_app;
"""

DOWNGRADE = """
DROP FUNCTION points.redeem_basket(bigint, bigint, bigint, bigint, text, bigint, bigint, bigint, bigint, text, text,
                                   text, text, text, jsonb, bigint[], text[], integer[], integer[]);
DROP FUNCTION points.basket_plan(bigint, bigint, bytea, bigint, bigint, bigint[], text[], text);
DROP FUNCTION points.limit_period_key(text, timestamptz);
"""


def upgrade() -> None:
    execute_script(FUNCTIONS)
    execute_script(GRANTS)


def downgrade() -> None:
    execute_script(DOWNGRADE)
