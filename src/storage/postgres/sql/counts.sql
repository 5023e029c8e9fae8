-- SQLite's triggers keep digis_outbox_count exact in place; PostgreSQL's append to digis_outbox_count_delta, added up here until a heartbeat folds it (migration 0015). Pending rows are counted live through the partial index digis_outbox_due (its predicate is spelled here so the planner can use it).
SELECT 'pending' AS state, COUNT(*) AS n FROM digis_outbox WHERE state = 'pending'
UNION ALL
SELECT state, SUM(n)::bigint AS n FROM (
    SELECT state, n FROM digis_outbox_count
    UNION ALL
    SELECT state, n FROM digis_outbox_count_delta
) AS c
GROUP BY state
