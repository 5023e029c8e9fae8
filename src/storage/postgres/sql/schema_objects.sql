-- Tables (plain and partitioned) and views from pg_class in the search path; SQLite reads sqlite_master.
SELECT c.relname::text AS name, CASE WHEN c.relkind = 'v' THEN 'view' ELSE 'table' END AS kind
FROM pg_class c
WHERE c.relnamespace = ANY (current_schemas(false)::regnamespace[]) AND c.relkind IN ('r', 'v', 'p')
