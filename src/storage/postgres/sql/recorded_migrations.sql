-- The same on both databases: the relay's bookkeeping rows (sqlx's columns), {migrations} filled in by storage::bookkeeping::statement.
SELECT version, description, checksum FROM {migrations} ORDER BY version
