-- The columns of the view (or table) ?1 with their declared types, from pragma_table_info; PostgreSQL reads information_schema.
SELECT name AS column_name, type AS data_type FROM pragma_table_info(?1) ORDER BY cid
