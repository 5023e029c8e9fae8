-- The columns of the view (or table) $1 in the search path with their types, from information_schema; SQLite reads pragma_table_info.
SELECT c.column_name::text AS column_name, c.data_type::text AS data_type
FROM information_schema.columns c
WHERE c.table_schema = ANY (current_schemas(false)) AND c.table_name = $1
ORDER BY c.ordinal_position
