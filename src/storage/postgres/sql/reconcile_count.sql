-- After reconcile_pairs.sql; same as sqlite/sql/reconcile_count.sql. What sync_reconcile.sql would queue now.
SELECT COUNT(*) AS n FROM pairs
