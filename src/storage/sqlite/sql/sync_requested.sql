-- same as postgres/sql/sync_requested.sql, placeholders aside
UPDATE digis_control SET sync_requested_at = ?1 WHERE id = 1
