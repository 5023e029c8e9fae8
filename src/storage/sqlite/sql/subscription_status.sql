-- same as postgres/sql/subscription_status.sql, placeholders aside
SELECT status FROM subscription WHERE id = ?1
