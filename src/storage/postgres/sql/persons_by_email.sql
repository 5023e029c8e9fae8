-- After person_select.sql. Candidates whose trimmed, lower-cased address is $1, or whose address holds anything outside printable ASCII (Rust compares those); as SQLite's with a regex for its GLOB. After $2 in id order, at most $3.
WHERE p.id > $2
  AND (lower(btrim(p.email::text)) = $1 OR p.email::text ~ '[^ -~]')
ORDER BY p.id
LIMIT $3
