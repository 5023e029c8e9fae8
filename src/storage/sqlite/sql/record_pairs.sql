-- The accepted pairs of a group into digis, from one JSON array read with json_each (PostgreSQL: json_to_recordset); `WHERE true` lets SQLite parse ON CONFLICT after a SELECT.
INSERT INTO digis (subscription_id, person_id, external_id, synced_at)
SELECT value ->> 'subscription_id', value ->> 'person_id', value ->> 'external_id', ?1
FROM json_each(?2) WHERE true
ON CONFLICT (subscription_id, person_id) DO UPDATE
SET external_id = excluded.external_id, synced_at = excluded.synced_at
