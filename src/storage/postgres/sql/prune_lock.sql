-- Unlike sqlite/sql/prune_lock.sql, takes a lock: one relay prunes at a time. The advisory lock $1 is held until the prune's transaction ends; a relay that cannot take it leaves the pruning to the one that holds it.
SELECT pg_try_advisory_xact_lock($1)
