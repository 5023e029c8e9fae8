-- PostgreSQL adds up digis_outbox_count and its deltas; SQLite's triggers keep digis_outbox_count exact in place (migration 0015). Pending rows are counted live through the partial index digis_outbox_due (its predicate is spelled here so the planner can use it).
SELECT 'pending' AS state, COUNT(*) AS n FROM digis_outbox WHERE state = 'pending'
UNION ALL
SELECT state, n FROM digis_outbox_count
