-- same as postgres/sql/resume.sql, placeholders aside
UPDATE digis_control SET paused = ?1, pause_reason = NULL, paused_by = NULL, paused_at = NULL WHERE id = 1
