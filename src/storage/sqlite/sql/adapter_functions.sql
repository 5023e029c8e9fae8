-- SQLite has no stored functions: no rows, with the columns of postgres/sql/adapter_functions.sql.
SELECT '' AS name, '' AS body WHERE 0
