-- Same as postgres/sql/failed_rows.sql, placeholders aside, except the NULL-safe comparison (IS here, IS NOT DISTINCT FROM there).
-- A page of failed rows of every cause in id order after ?1, at most ?2 (`report failures`).
-- ?3 true: every unit, else only unit ?4 (NULL: rows without one, as digis_member shows them).
SELECT o.id, o.subscription_id, o.person_id, o.updated_at, o.last_error, o.last_http_status,
       o.fail_field, o.fail_rule
FROM digis_outbox o
WHERE o.state = 'failed' AND o.id > ?1
  AND (?3 OR (SELECT m.unit_id FROM digis_member m
               WHERE m.subscription_id = o.subscription_id AND m.person_id = o.person_id) IS ?4)
ORDER BY o.id
LIMIT ?2
