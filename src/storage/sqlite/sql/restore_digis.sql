-- Writes `digis` back from each pair's newest sent outbox row (state bound as ?1): Digis's id, synced_at = sent_at. The newest row by a correlated max(id) (PostgreSQL: DISTINCT ON); OR IGNORE keeps any row written meanwhile.
INSERT OR IGNORE INTO digis (subscription_id, person_id, external_id, synced_at)
SELECT o.subscription_id, o.person_id, o.external_id, COALESCE(o.sent_at, o.updated_at)
FROM digis_outbox o
WHERE o.state = ?1
  AND o.id = (SELECT max(n.id) FROM digis_outbox n
              WHERE n.subscription_id = o.subscription_id AND n.person_id = o.person_id
                AND n.state = ?1)
  AND NOT EXISTS (SELECT 1 FROM digis d
                  WHERE d.subscription_id = o.subscription_id AND d.person_id = o.person_id)
