-- Folds the deltas the triggers appended into digis_outbox_count in one statement; SQLite has none. Readers see the deltas or their sum, never both or neither (one commit). A second fold at once waits for the first's row locks, then skips the deltas it deleted.
WITH gone AS (DELETE FROM digis_outbox_count_delta RETURNING state, n),
     total AS (SELECT state, SUM(n) AS n FROM gone GROUP BY state)
UPDATE digis_outbox_count AS c SET n = c.n + total.n FROM total WHERE c.state = total.state
