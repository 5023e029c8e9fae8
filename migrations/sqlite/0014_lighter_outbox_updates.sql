-- Fewer index entries per enqueue (issue 28, docs/decisions/0044): digis_outbox_sent_at held
-- an entry for every row, NULL until it is sent, so every row the host's triggers queue wrote
-- one. Its readers (the Stats view's sent count and delays) ask for a range of sent_at, which
-- implies NOT NULL, so a partial index of sent rows serves them (SQLite uses a partial index
-- `c IS NOT NULL` for a comparison on c).
--
-- digis_outbox_lease stays here, unlike on PostgreSQL: SQLite updates only the indexes whose
-- columns an UPDATE changes, and the claim reads it with INDEXED BY (also an older relay's).
--
-- Additive (docs/contracts.md, Schema and protocol handshake): compatible_from and
-- claim_protocol stay.
DROP INDEX digis_outbox_sent_at;
CREATE INDEX digis_outbox_sent_at ON digis_outbox (sent_at) WHERE sent_at IS NOT NULL;
