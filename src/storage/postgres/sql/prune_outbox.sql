-- The prunable states come as an array (SQLite: a JSON array).
DELETE FROM digis_outbox WHERE state = ANY($1) AND updated_at < $2
