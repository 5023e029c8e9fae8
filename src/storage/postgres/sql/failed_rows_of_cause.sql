-- Same as sqlite/sql/failed_rows_of_cause.sql, placeholders aside, except the NULL-safe comparisons (IS NOT DISTINCT FROM here, IS there).
-- A page of one cause's failed rows (fail_rule $5, fail_field $6; NULL: the "other" group) in
-- id order after $1, at most $2. $3 true: every unit, else only unit $4 (NULL: rows without one).
SELECT o.id, o.subscription_id, o.person_id, o.updated_at, o.last_error, o.last_http_status,
       o.fail_field, o.fail_rule
FROM digis_outbox o
WHERE o.state = 'failed' AND o.fail_rule IS NOT DISTINCT FROM $5::text
  AND o.fail_field IS NOT DISTINCT FROM $6::text AND o.id > $1
  AND ($3 OR (SELECT m.unit_id FROM digis_member m
               WHERE m.subscription_id = o.subscription_id AND m.person_id = o.person_id)
             IS NOT DISTINCT FROM $4::bigint)
ORDER BY o.id
LIMIT $2
