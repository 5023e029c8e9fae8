-- The digis rows of claimed pairs, given as two arrays and unnest (SQLite: two JSON arrays zipped by position).
SELECT subscription_id, person_id, external_id, synced_at FROM digis
WHERE (subscription_id, person_id) IN (SELECT * FROM unnest($1::bigint[], $2::bigint[]))
