-- Every person's keys from digis_person, after the adapter that keeps them was applied (the rule of migration 0018's digis_person_changed_insert, for all persons at once). Run after person_keys_clear.sql, in the adapter's transaction.
INSERT OR REPLACE INTO digis_person_key (person_id, phone, email)
SELECT id, CASE WHEN length(d) >= 7 THEN substr(d, -7) END, e
FROM (SELECT p.id AS id,
             trim(replace(replace(replace(replace(replace(replace(replace(replace(
                      CAST(p.mobile_number AS TEXT),
                      ' ', ''), '-', ''), '(', ''), ')', ''), '.', ''), '/', ''), char(160), ''), '+', ''),
                  char(9, 10, 11, 12, 13, 133, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198,
                       8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288)) AS d,
             CASE WHEN CAST(p.email AS TEXT) GLOB '*[^ -~]*' THEN '*'
                  ELSE lower(trim(CAST(p.email AS TEXT))) END AS e
      FROM digis_person p
      WHERE typeof(p.id) = 'integer')
