-- Start of count_failure_group.sql and retry_failure_group.sql, so the dry run counts exactly the rows the retry moves. PostgreSQL compares with IS NOT DISTINCT FROM and binds arrays.
-- The failed rows of one group that a retry puts back: unit ?1 (NULL: rows without one) and
-- cause ?2 / ?3 (NULL-safe), only the newest failed row of each member, and none whose member
-- already has an open row (the open states come as a JSON array in ?4). The cause first: it
-- is read through the (fail_rule, fail_field, id) index of failed rows.
WITH grp AS (
    SELECT o.id FROM digis_outbox AS o
    WHERE o.state = 'failed' AND o.fail_rule IS ?3 AND o.fail_field IS ?2
      AND (SELECT m.unit_id FROM digis_member m
           WHERE m.subscription_id = o.subscription_id AND m.person_id = o.person_id) IS ?1
      AND NOT EXISTS (SELECT 1 FROM digis_outbox x
                      WHERE x.subscription_id = o.subscription_id AND x.person_id = o.person_id
                        AND x.state IN (SELECT value FROM json_each(?4)))
      AND o.id = (SELECT MAX(y.id) FROM digis_outbox y
                  WHERE y.subscription_id = o.subscription_id AND y.person_id = o.person_id
                    AND y.state = 'failed')
)
