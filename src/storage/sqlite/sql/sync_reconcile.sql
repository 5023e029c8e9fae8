-- INSERT OR IGNORE against the open-row index; the states that need nothing queued (open or sent) as a JSON array ?3, the pairs to skip (the sync log says sent) as a JSON array of {subscription_id, person_id} ?4. PostgreSQL names the partial index instead.
INSERT OR IGNORE INTO digis_outbox (subscription_id, person_id, reason, next_attempt_at, created_at, updated_at)
SELECT m.subscription_id, m.person_id, ?2, ?1, ?1, ?1 FROM digis_member m
WHERE m.subscription_status = 'ACTIVE'
  AND NOT EXISTS (SELECT 1 FROM digis d
                  WHERE d.subscription_id = m.subscription_id AND d.person_id = m.person_id)
  AND NOT EXISTS (SELECT 1 FROM digis_outbox o
                  WHERE o.subscription_id = m.subscription_id AND o.person_id = m.person_id
                    AND o.state IN (SELECT value FROM json_each(?3)))
  AND (m.subscription_id, m.person_id) NOT IN
      (SELECT value ->> 'subscription_id', value ->> 'person_id' FROM json_each(?4))
