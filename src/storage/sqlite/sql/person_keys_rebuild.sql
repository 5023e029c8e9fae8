-- Every person's keys from digis_person, after the adapter that keeps them was applied (the rule of migration 0018's digis_person_changed_insert, for all persons at once; its triggers on digis_person_key keep the name's grams). Run after person_keys_prune.sql, in the adapter's transaction: an upsert, so a person whose name is unchanged keeps their grams untouched.
INSERT INTO digis_person_key (person_id, phone, email, name)
SELECT id, CASE WHEN length(d) >= 7 THEN substr(d, -7) END, e, m
FROM (SELECT p.id AS id,
             trim(replace(replace(replace(replace(replace(replace(replace(replace(
                      CAST(p.mobile_number AS TEXT),
                      ' ', ''), '-', ''), '(', ''), ')', ''), '.', ''), '/', ''), char(160), ''), '+', ''),
                  char(9, 10, 11, 12, 13, 133, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198,
                       8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288)) AS d,
             CASE WHEN CAST(p.email AS TEXT) GLOB '*[^ -~]*' THEN '*'
                  ELSE lower(trim(CAST(p.email AS TEXT))) END AS e,
             CASE WHEN n GLOB '*[^ -~åäöøæéüÅÄÖØÆÉÜ]*' OR length(n) > 400 THEN '*'
                  ELSE lower(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(
                           n, '''', ''), '`', ''), 'å', 'a'), 'ä', 'a'), 'ö', 'o'), 'ø', 'o'), 'æ', 'ae'), 'é', 'e'), 'ü', 'u'), 'Å', 'A'), 'Ä', 'A'), 'Ö', 'O'), 'Ø', 'O'), 'Æ', 'AE'), 'É', 'E'), 'Ü', 'U')) END AS m
      FROM (SELECT p.*, coalesce(CAST(p.first_name AS TEXT), '') || ' ' || coalesce(CAST(p.last_name AS TEXT), '') AS n
            FROM digis_person p) p
      WHERE typeof(p.id) = 'integer')
WHERE true
ON CONFLICT (person_id) DO UPDATE SET phone = excluded.phone, email = excluded.email,
                                      name = excluded.name
