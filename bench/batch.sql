-- pgbench custom script: one entry of :size postings — the issuance account
-- pays 1 point to each of (:size - 1) wallets (a batch award) — in one call of
-- ledger.post_entry. Each client awards its own block of wallets, as two
-- organisers awarding two different activities would, so two clients do not
-- queue behind each other's wallet locks (they do share the issuance account).
--
-- Variables (pgbench -D): community, first, issuance, size, tag, n=0.
\set lo :first + :client_id * (:size - 1)
\set hi :lo + :size - 2
\set n :n + 1
SELECT count(*) FROM ledger.post_entry(
    :community, 'award', '', '{}', NULL, NULL,
    concat_ws(':', 'batch', :tag::text, :client_id::text, :n::text),
    :issuance::bigint || ARRAY(SELECT generate_series(:lo::bigint, :hi::bigint)),
    (1 - :size)::bigint || array_fill(1::bigint, ARRAY[:size - 1]));
