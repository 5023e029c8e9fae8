-- The sent outbox rows of claimed pairs (Digis accepted them even if `digis` lost its row); pairs as one JSON array read with json_each (PostgreSQL: json_to_recordset), the state bound as ?2.
SELECT o.id, o.subscription_id, o.person_id, o.external_id, COALESCE(o.sent_at, o.updated_at) AS sent_at
FROM digis_outbox o
WHERE o.state = ?2
  AND (o.subscription_id, o.person_id) IN
      (SELECT value ->> 'subscription_id', value ->> 'person_id' FROM json_each(?1))
