-- Triggers from sqlite_master; PostgreSQL reads pg_trigger in the search path.
SELECT name FROM sqlite_master WHERE type = 'trigger'
