-- The prunable states come as a JSON array (PostgreSQL: an array).
DELETE FROM digis_outbox
WHERE state IN (SELECT value FROM json_each(?1)) AND updated_at < ?2
