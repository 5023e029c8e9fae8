-- same as sqlite/sql/pause.sql, placeholders aside
UPDATE digis_control SET paused = $1, pause_reason = $2, paused_by = $3, paused_at = $4 WHERE id = 1
