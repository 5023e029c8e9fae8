-- Unlike postgres/sql/migrations_lock.sql, no lock is taken: the carry-over's write transaction (BEGIN IMMEDIATE) already excludes every other writer; ?1 is the key PostgreSQL locks.
SELECT ?1 IS NOT NULL
