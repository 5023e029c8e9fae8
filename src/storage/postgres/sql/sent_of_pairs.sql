-- The sent outbox rows of claimed pairs (Digis accepted them even if `digis` lost its row); pairs as one JSON array read with json_to_recordset (SQLite: json_each), the state bound as $2. Each pair's rows are read through its own index in a LATERAL fenced by OFFSET 0, so the state test stays outside it: with the state inside, the planner took the partial index of finished rows (stale statistics say few are `sent`) and read every sent row on every claim (the 100,000-row drain fell to a crawl).
SELECT o.id, o.subscription_id, o.person_id, o.external_id, COALESCE(o.sent_at, o.updated_at) AS sent_at
FROM json_to_recordset($1::json) AS x(subscription_id bigint, person_id bigint)
CROSS JOIN LATERAL (
    SELECT * FROM digis_outbox p
    WHERE p.subscription_id = x.subscription_id AND p.person_id = x.person_id
    OFFSET 0) o
WHERE o.state = $2
