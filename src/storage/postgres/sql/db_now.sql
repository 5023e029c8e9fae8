-- The database server's clock (clock_timestamp(): the time now, not the transaction's start); SQLite's is the host's own, since it is embedded.
SELECT clock_timestamp() AS now
