-- same as postgres/sql/subscription_status.sql, placeholders aside
SELECT status FROM digis_subscription WHERE id = ?1
