-- Same as postgres/sql/failure_groups.sql, placeholders aside; PostgreSQL joins the view and reads the unit name as bytes.
-- Failed rows by business unit (as digis_member shows the member now; NULL when no longer a
-- user) and stored cause, largest groups first. ?1: one unit, or NULL for every unit; ?2: at
-- most this many groups. The view is read with correlated lookups, which SQLite turns into
-- index seeks (a LEFT JOIN to a view that joins is not flattened).
SELECT g.unit_id AS unit_id, MIN(g.unit_name) AS unit_name, g.fail_field AS fail_field,
       g.fail_rule AS fail_rule, COUNT(*) AS n, MIN(g.updated_at) AS oldest,
       MAX(g.updated_at) AS newest
FROM (SELECT o.fail_field, o.fail_rule, o.updated_at,
             (SELECT m.unit_id FROM digis_member m
               WHERE m.subscription_id = o.subscription_id AND m.person_id = o.person_id) AS unit_id,
             (SELECT m.unit_name FROM digis_member m
               WHERE m.subscription_id = o.subscription_id AND m.person_id = o.person_id) AS unit_name
      FROM digis_outbox o
      WHERE o.state = 'failed') g
WHERE ?1 IS NULL OR g.unit_id = ?1
GROUP BY g.unit_id, g.fail_field, g.fail_rule
ORDER BY n DESC, g.unit_id, g.fail_field, g.fail_rule
LIMIT ?2
