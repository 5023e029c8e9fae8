-- Triggers with their CREATE TRIGGER statement (SQLite has no trigger functions: the statement is the body), from sqlite_master; PostgreSQL reads pg_trigger and pg_proc.
SELECT tbl_name AS table_name, name, name AS function_name, COALESCE(sql, '') AS body
FROM sqlite_master WHERE type = 'trigger'
ORDER BY 1, 2
