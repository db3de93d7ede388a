-- pgbench custom script: one single transfer between two distinct random
-- wallets, posted by ONE call of ledger.post_entry (one round trip), as the
-- application role (run with PGOPTIONS='-c role=linli_app').
--
-- Variables (pgbench -D): community, first (id of the first wallet), wallets,
-- tag (a number naming this run), n=0 (pgbench keeps it per client across
-- transactions, so client_id + n makes every idempotency key unique).
\set a :first + random(0, :wallets - 1)
\set b :first + (:a - :first + random(1, :wallets - 1)) % :wallets
\set n :n + 1
SELECT count(*) FROM ledger.post_entry(
    :community, 'transfer', '', '{}', NULL, NULL,
    concat_ws(':', 'spread', :tag::text, :client_id::text, :n::text),
    ARRAY[:a, :b]::bigint[], ARRAY[-1, 1]::bigint[]);
