-- same as postgres/sql/lift_self_pause.sql, placeholders aside. ?2 is the relays' `paused_by` pattern: an operator's pause stays;
-- ?3 the reason pattern of a pause for an unconfirmed answer, which only `resume` lifts.
UPDATE digis_control SET paused = ?1, pause_reason = NULL, paused_by = NULL, paused_at = NULL WHERE id = 1 AND paused = 1 AND paused_by LIKE ?2 AND COALESCE(pause_reason, '') NOT LIKE ?3
