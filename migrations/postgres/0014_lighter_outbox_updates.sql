-- Fewer index entries per claim and per completion (issue 28, docs/decisions/0044). A claim or
-- a completion changes `state`, which every partial index of digis_outbox names, so no update of
-- a row in the drain can be a HOT update: each writes a new entry into every index whose
-- predicate the new row version meets. Two of those entries bought nothing:
--
-- * digis_outbox_lease (locked_until, rows `sending`) served only the claim's look for expired
--   leases, and every claim wrote an entry into it. Rows `sending` are the few in flight, read
--   as well through digis_outbox_state_id (state, id), which every claim writes anyway.
-- * digis_outbox_sent_at held an entry for every row, NULL until it is sent, so every enqueue
--   and every claim wrote one. Its readers (the Stats view's sent count and delays) ask for a
--   range of sent_at, which implies NOT NULL, so a partial index of sent rows serves them.
--
-- Additive (docs/contracts.md, Schema and protocol handshake): no column, state or claim rule
-- changes, and an older relay beside this one claims and completes as before (its PostgreSQL
-- claim names no index). So compatible_from and claim_protocol stay. The new index is built
-- inside the migration's transaction, holding off writes to digis_outbox meanwhile (seconds on
-- millions of rows): run `migrate` when the host is quiet, as for any migration.
DROP INDEX digis_outbox_lease;
DROP INDEX digis_outbox_sent_at;
CREATE INDEX digis_outbox_sent_at ON digis_outbox (sent_at) WHERE sent_at IS NOT NULL;
