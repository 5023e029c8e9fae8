-- The same on both databases: the rows of sqlx's default table (the relay's from older releases, and any host application's), {legacy} filled in by storage::bookkeeping::statement.
SELECT version, description, checksum FROM {legacy} ORDER BY version
