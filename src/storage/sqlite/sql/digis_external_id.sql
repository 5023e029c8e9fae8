-- The declared type of digis.external_id (NULL: no such column), one row while the table exists, from pragma_table_info; SQLite's affinity rules are applied in Rust (PostgreSQL gives the type's category).
SELECT (SELECT type FROM pragma_table_info('digis') WHERE name = 'external_id') AS declared,
       CAST(NULL AS TEXT) AS category
WHERE EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'digis')
