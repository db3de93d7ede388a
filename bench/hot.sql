-- pgbench custom script: every transfer goes from a random wallet INTO one
-- unbounded account (like every redemption crediting the supermarket), so all
-- clients write to the same account at once. Compare with transfer.sql.
--
-- Variables (pgbench -D): community, first, wallets, hot (the unbounded
-- account's id), tag, n=0 — as in transfer.sql.
\set a :first + random(0, :wallets - 1)
\set n :n + 1
SELECT count(*) FROM ledger.post_entry(
    :community, 'redemption', '', '{}', NULL, NULL,
    concat_ws(':', 'hot', :tag::text, :client_id::text, :n::text),
    ARRAY[:a, :hot]::bigint[], ARRAY[-1, 1]::bigint[]);
