-- After person_select.sql. Candidates whose trimmed, lower-cased address is ?1, or whose address holds anything outside printable ASCII (SQLite's lower() folds ASCII only; Rust compares those); as PostgreSQL's with GLOB for its regex. Whole-number ids only, after ?2 in id order, at most ?3.
WHERE typeof(p.id) = 'integer' AND p.id > ?2
  AND (lower(trim(CAST(p.email AS TEXT))) = ?1 OR CAST(p.email AS TEXT) GLOB '*[^ -~]*')
ORDER BY p.id
LIMIT ?3
