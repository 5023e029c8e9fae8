-- The type of digis.external_id in the search path and its category ('S': a string type; both NULL: no such column), one row while the table exists, from pg_attribute (SQLite: pragma_table_info, its declared type judged in Rust).
SELECT format_type(a.atttypid, a.atttypmod) AS declared, t.typcategory::text AS category
FROM (SELECT to_regclass('digis') AS rel) r
LEFT JOIN pg_attribute a
       ON a.attrelid = r.rel AND a.attname = 'external_id' AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_type t ON t.oid = a.atttypid
WHERE r.rel IS NOT NULL
