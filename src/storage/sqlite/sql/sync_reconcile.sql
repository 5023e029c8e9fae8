-- INSERT OR IGNORE against the open-row index; open states as a JSON array. PostgreSQL names the partial index instead.
INSERT OR IGNORE INTO digis_outbox (subscription_id, person_id, reason, next_attempt_at, created_at, updated_at)
SELECT m.subscription_id, m.person_id, ?2, ?1, ?1, ?1 FROM digis_member m
WHERE m.subscription_status = 'ACTIVE'
  AND NOT EXISTS (SELECT 1 FROM digis d
                  WHERE d.subscription_id = m.subscription_id AND d.person_id = m.person_id)
  AND NOT EXISTS (SELECT 1 FROM digis_outbox o
                  WHERE o.subscription_id = m.subscription_id AND o.person_id = m.person_id
                    AND o.state IN (SELECT value FROM json_each(?3)))
