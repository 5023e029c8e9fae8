-- Functions in the search path with their bodies, from pg_proc, to follow a trigger function's calls; SQLite has no stored functions.
SELECT p.proname::text AS name, COALESCE(p.prosrc, '') AS body
FROM pg_proc p
WHERE p.pronamespace = ANY (current_schemas(false)::regnamespace[])
ORDER BY 1
