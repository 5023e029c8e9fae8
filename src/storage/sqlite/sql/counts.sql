-- same as postgres/sql/counts.sql, placeholders aside
SELECT state, COUNT(*) AS n FROM digis_outbox GROUP BY state
