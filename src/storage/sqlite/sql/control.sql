-- same as postgres/sql/control.sql, placeholders aside
SELECT paused, pause_reason, paused_by, paused_at, sync_requested_at FROM digis_control WHERE id = 1
