-- same as sqlite/sql/record_event.sql, placeholders aside
INSERT INTO digis_event (at, actor, action, detail) VALUES ($1, $2, $3, $4)
