-- Pairs with a sent outbox row (state bound as $1) but no `digis` row: what restore_digis.sql would write back. Same as sqlite/sql/lost_digis_count.sql, placeholders aside.
SELECT COUNT(*) AS n FROM (
    SELECT DISTINCT o.subscription_id, o.person_id FROM digis_outbox o
    WHERE o.state = $1
      AND NOT EXISTS (SELECT 1 FROM digis d
                      WHERE d.subscription_id = o.subscription_id AND d.person_id = o.person_id)
) AS lost
