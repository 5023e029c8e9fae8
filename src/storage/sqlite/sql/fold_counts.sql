-- SQLite's triggers keep digis_outbox_count exact in place (one writer): there is nothing to fold, PostgreSQL folds digis_outbox_count_delta here.
SELECT 0
