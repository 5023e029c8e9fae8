-- INSERT OR IGNORE against the open-row index; open states as a JSON array. PostgreSQL names the partial index instead.
INSERT OR IGNORE INTO digis_outbox (subscription_id, person_id, resend, reason, next_attempt_at, created_at, updated_at)
SELECT m.subscription_id, m.person_id, ?4, ?5, ?1, ?1, ?1 FROM digis_member m
WHERE m.subscription_id = ?2 AND (?3 IS NULL OR m.person_id = ?3)
  AND NOT EXISTS (SELECT 1 FROM digis_outbox o
                  WHERE o.subscription_id = m.subscription_id AND o.person_id = m.person_id
                    AND o.state IN (SELECT value FROM json_each(?6)))
RETURNING id
