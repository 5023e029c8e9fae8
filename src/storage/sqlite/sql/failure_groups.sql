-- Same as postgres/sql/failure_groups.sql in what it answers; PostgreSQL joins the view and reads the unit name as bytes.
-- Failed rows by business unit (as digis_member shows the member now; NULL when no longer a
-- user) and stored cause: the ?2 largest, in the order of their keys (unit, field, rule; NULL
-- first), which a refresh does not change as groups grow. ?1: one unit, or NULL for every unit. Each failed row's unit is looked up once (MATERIALIZED: a correlated
-- lookup named twice would run twice), as index seeks (a LEFT JOIN to a view that joins is not
-- flattened by SQLite); the unit's name once per group, through the group's first row.
WITH f AS MATERIALIZED (
    SELECT o.id, o.fail_field, o.fail_rule, o.updated_at,
           (SELECT m.unit_id FROM digis_member m
             WHERE m.subscription_id = o.subscription_id AND m.person_id = o.person_id) AS unit_id
    FROM digis_outbox o
    WHERE o.state = 'failed'
),
g AS (
    SELECT unit_id, fail_field, fail_rule, COUNT(*) AS n, MIN(updated_at) AS oldest,
           MAX(updated_at) AS newest, MIN(id) AS first_id
    FROM f
    WHERE ?1 IS NULL OR unit_id = ?1
    GROUP BY unit_id, fail_field, fail_rule
    ORDER BY n DESC, unit_id, fail_field, fail_rule
    LIMIT ?2
)
SELECT g.unit_id, g.fail_field, g.fail_rule, g.n, g.oldest, g.newest,
       (SELECT m.unit_name FROM digis_outbox x
          JOIN digis_member m ON m.subscription_id = x.subscription_id AND m.person_id = x.person_id
         WHERE x.id = g.first_id) AS unit_name
FROM g
ORDER BY g.unit_id NULLS FIRST, g.fail_field NULLS FIRST, g.fail_rule NULLS FIRST
