-- Same as sqlite/sql/failure_groups.sql in what it answers, except that the view is joined (SQLite looks the unit up per row and the name per group) and the unit name is read as the bytes of its text.
-- Failed rows by business unit (as digis_member shows the member now; NULL when no longer a
-- user) and stored cause: the $2 largest, in the order of their keys (unit, field, rule; NULL
-- first), which a refresh does not change as groups grow. $1: one unit, or NULL for every unit.
SELECT * FROM (
SELECT g.unit_id AS unit_id,
       convert_to(MIN(g.unit_name::text), e.enc) AS unit_name,
       g.fail_field AS fail_field, g.fail_rule AS fail_rule, COUNT(*) AS n,
       MIN(g.updated_at) AS oldest, MAX(g.updated_at) AS newest
FROM (SELECT o.fail_field, o.fail_rule, o.updated_at, m.unit_id, m.unit_name
      FROM digis_outbox o
      LEFT JOIN digis_member m
        ON m.subscription_id = o.subscription_id AND m.person_id = o.person_id
      WHERE o.state = 'failed') g
CROSS JOIN (SELECT CASE WHEN getdatabaseencoding() = 'SQL_ASCII'
            THEN 'SQL_ASCII' ELSE 'UTF8' END::name AS enc) e
WHERE $1::bigint IS NULL OR g.unit_id = $1
GROUP BY g.unit_id, g.fail_field, g.fail_rule, e.enc
ORDER BY n DESC, g.unit_id, g.fail_field, g.fail_rule
LIMIT $2
) largest
ORDER BY unit_id NULLS FIRST, fail_field NULLS FIRST, fail_rule NULLS FIRST
