-- Tables and views from sqlite_master; PostgreSQL reads pg_class in the search path.
SELECT name, type AS kind FROM sqlite_master WHERE type IN ('table', 'view')
