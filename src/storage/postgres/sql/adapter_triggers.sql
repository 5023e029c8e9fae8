-- User triggers in the search path with the function each runs and its body, from pg_trigger and pg_proc; SQLite reads the trigger statements from sqlite_master.
SELECT c.relname::text AS table_name, t.tgname::text AS name, p.proname::text AS function_name,
       COALESCE(p.prosrc, '') AS body
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_proc p ON p.oid = t.tgfoid
WHERE NOT t.tgisinternal AND c.relnamespace = ANY (current_schemas(false)::regnamespace[])
ORDER BY 1, 2
