-- The accepted pairs of a group into digis, from one JSON array read with json_to_recordset (SQLite: json_each, and `WHERE true` before ON CONFLICT).
INSERT INTO digis (subscription_id, person_id, external_id, synced_at)
SELECT x.subscription_id, x.person_id, x.external_id, $1
FROM json_to_recordset($2::json) AS x(subscription_id bigint, person_id bigint, external_id text)
ON CONFLICT (subscription_id, person_id) DO UPDATE
SET external_id = excluded.external_id, synced_at = excluded.synced_at
