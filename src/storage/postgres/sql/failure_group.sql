-- Start of count_failure_group.sql and retry_failure_group.sql, so the dry run counts exactly the rows the retry moves. SQLite compares with IS and reads JSON arrays.
-- The failed rows of one group that a retry puts back: unit $1 (NULL: rows without one) and
-- cause $2 / $3 (NULL-safe), only the newest failed row of each member, and none whose member
-- already has an open row (the open states come as an array in $4).
WITH grp AS (
    SELECT o.id FROM digis_outbox AS o
    WHERE o.state = 'failed'
      AND o.fail_rule IS NOT DISTINCT FROM $3::text
      AND o.fail_field IS NOT DISTINCT FROM $2::text
      AND (SELECT m.unit_id FROM digis_member m
           WHERE m.subscription_id = o.subscription_id AND m.person_id = o.person_id)
          IS NOT DISTINCT FROM $1::bigint
      AND NOT EXISTS (SELECT 1 FROM digis_outbox x
                      WHERE x.subscription_id = o.subscription_id AND x.person_id = o.person_id
                        AND x.state = ANY($4))
      AND o.id = (SELECT MAX(y.id) FROM digis_outbox y
                  WHERE y.subscription_id = o.subscription_id AND y.person_id = o.person_id
                    AND y.state = 'failed')
)
