-- Unlike sqlite/sql/migrations_lock.sql, takes a lock: the advisory lock $1 (bookkeeping::CARRY_OVER_LOCK_KEY), held until the carry-over's transaction ends, so two processes starting at once carry over one after the other.
SELECT pg_advisory_xact_lock($1)
