-- Ids and discardable states come as JSON arrays (PostgreSQL: arrays).
UPDATE digis_outbox SET state = 'discarded', reason = ?1, updated_at = ?2
WHERE id IN (SELECT value FROM json_each(?3)) AND state IN (SELECT value FROM json_each(?4))
RETURNING id
