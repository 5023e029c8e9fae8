-- same as postgres/sql/prune_events.sql, placeholders aside
DELETE FROM digis_event WHERE at < ?1
