-- The database's clock, which on SQLite is the host's own (the database is embedded in this process); PostgreSQL asks the server's clock_timestamp().
SELECT strftime('%Y-%m-%d %H:%M:%f', 'now') AS now
