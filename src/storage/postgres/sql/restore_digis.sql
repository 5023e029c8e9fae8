-- Writes `digis` back from each pair's newest sent outbox row (state bound as $1): Digis's id, synced_at = sent_at. The newest row by DISTINCT ON (SQLite: a correlated max(id)); DO NOTHING keeps any row written meanwhile.
INSERT INTO digis (subscription_id, person_id, external_id, synced_at)
SELECT DISTINCT ON (o.subscription_id, o.person_id)
       o.subscription_id, o.person_id, o.external_id, COALESCE(o.sent_at, o.updated_at)
FROM digis_outbox o
WHERE o.state = $1
  AND NOT EXISTS (SELECT 1 FROM digis d
                  WHERE d.subscription_id = o.subscription_id AND d.person_id = o.person_id)
ORDER BY o.subscription_id, o.person_id, o.id DESC
ON CONFLICT DO NOTHING
