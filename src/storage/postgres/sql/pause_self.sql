-- same as sqlite/sql/pause_self.sql, placeholders aside. $5 is the relays' `paused_by` pattern: an operator's pause is never taken over; $6 the reason
-- pattern of a pause for an unconfirmed answer, which only `resume` lifts, so no relay takes it over.
UPDATE digis_control SET paused = $1, pause_reason = $2, paused_by = $3, paused_at = $4 WHERE id = 1
  AND (NOT paused OR (paused_by LIKE $5 AND COALESCE(pause_reason, '') NOT LIKE $6))
