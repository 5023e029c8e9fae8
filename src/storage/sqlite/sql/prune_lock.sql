-- Unlike postgres/sql/prune_lock.sql, no lock is taken: SQLite has one writer, and the prune's write transaction (BEGIN IMMEDIATE) already excludes every other relay's; it only says yes (?1 is the key PostgreSQL locks).
SELECT ?1 IS NOT NULL
