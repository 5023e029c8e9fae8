-- Ids and discardable states come as arrays (SQLite: JSON arrays).
UPDATE digis_outbox SET state = 'discarded', reason = $1, updated_at = $2
WHERE id = ANY($3) AND state = ANY($4)
RETURNING id
