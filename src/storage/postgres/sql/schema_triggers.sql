-- User triggers from pg_trigger in the search path; SQLite reads sqlite_master.
SELECT t.tgname::text AS name FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE NOT t.tgisinternal AND c.relnamespace = ANY (current_schemas(false)::regnamespace[])
