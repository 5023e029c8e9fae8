-- Member search through an index (issue 28; docs/decisions/0050 and 0054): one row per person
-- with the keys search narrows by, kept by the host adapter's triggers on its person table
-- through the entry point below, rebuilt from digis_person by `migrate` each time it applies an
-- adapter that calls that entry point (persons saved before are found too). Until then (an
-- adapter that does not call it) digis_person_key_state.ready is 0 and search filters every
-- person as before.
--   phone: the last seven characters of the stored number with payload::phone::SEPARATORS and
--          '+' removed and white space trimmed (for every number search can match: its last
--          seven digits, which are the national number's); NULL when shorter.
--   email: the address trimmed and lower-cased; '*' when it holds anything outside printable
--          ASCII (SQLite lower-cases ASCII only: Rust compares those, as before).
--   name:  "first last" as the name narrowing folds it (apostrophes removed, the letters of
--          search::member::SQL_FOLDS replaced as deunicode does, lower case); '*' when it holds
--          any other character outside printable ASCII, or is longer than 400 characters
--          (every search hands those to Rust, as the scan did). Its trigrams of letters and
--          digits are digis_person_gram's rows (kept by the triggers on this table).
CREATE TABLE digis_person_key (
    person_id INTEGER PRIMARY KEY,
    phone     TEXT,
    email     TEXT,
    name      TEXT
);
CREATE INDEX digis_person_key_phone ON digis_person_key (phone) WHERE phone IS NOT NULL;
CREATE INDEX digis_person_key_email ON digis_person_key (email) WHERE email IS NOT NULL;

-- Name search's index: a partial match is found through the three-letter pieces of the typed
-- word, which every name holding it holds too (a B-tree cannot serve LIKE '%word%'). Plain
-- tables, no FTS module: the host's own SQLite runs these triggers and may lack one. Each
-- gram's rows are in person order, so the rarest gram drives a search in id order.
CREATE TABLE digis_person_gram (
    gram      TEXT NOT NULL,
    person_id INTEGER NOT NULL,
    PRIMARY KEY (gram, person_id)
) WITHOUT ROWID;

-- Positions 1..1000 in a name key (a folded name of at most 400 characters, each replaced
-- letter at most two): triggers cannot use a recursive WITH.
CREATE TABLE digis_gram_position (n INTEGER PRIMARY KEY);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
INSERT INTO digis_gram_position (n) SELECT i FROM n;

-- No insert here may meet a row already there: a host statement's conflict clause (INSERT OR
-- ABORT, UPDATE OR FAIL: Android Room's default) overrides OR IGNORE inside the triggers it
-- fires, and the host's save would fail. So each piece once (UNION: "Johan Johansson" holds
-- "joh" twice) and none already kept.
CREATE TRIGGER digis_person_key_named AFTER INSERT ON digis_person_key
BEGIN
    INSERT OR IGNORE INTO digis_person_gram (gram, person_id)
    SELECT g.gram, NEW.person_id
    FROM (SELECT substr(NEW.name, n, 3) AS gram FROM digis_gram_position
          WHERE n <= length(NEW.name) - 2 AND NEW.name <> '*'
            AND substr(NEW.name, n, 3) NOT GLOB '*[^a-z0-9]*'
          UNION
          SELECT '*' WHERE NEW.name = '*') g
    WHERE NOT EXISTS (SELECT 1 FROM digis_person_gram o
                      WHERE o.gram = g.gram AND o.person_id = NEW.person_id);
END;

CREATE TRIGGER digis_person_key_renamed AFTER UPDATE OF name ON digis_person_key
WHEN OLD.name IS NOT NEW.name
BEGIN
    DELETE FROM digis_person_gram
    WHERE person_id = OLD.person_id
      AND gram IN (SELECT substr(OLD.name, n, 3) FROM digis_gram_position
                   WHERE n <= length(OLD.name) - 2
                   UNION ALL SELECT '*');
    INSERT OR IGNORE INTO digis_person_gram (gram, person_id)
    SELECT g.gram, NEW.person_id
    FROM (SELECT substr(NEW.name, n, 3) AS gram FROM digis_gram_position
          WHERE n <= length(NEW.name) - 2 AND NEW.name <> '*'
            AND substr(NEW.name, n, 3) NOT GLOB '*[^a-z0-9]*'
          UNION
          SELECT '*' WHERE NEW.name = '*') g
    WHERE NOT EXISTS (SELECT 1 FROM digis_person_gram o
                      WHERE o.gram = g.gram AND o.person_id = NEW.person_id);
END;

CREATE TRIGGER digis_person_key_gone AFTER DELETE ON digis_person_key
BEGIN
    DELETE FROM digis_person_gram
    WHERE person_id = OLD.person_id
      AND gram IN (SELECT substr(OLD.name, n, 3) FROM digis_gram_position
                   WHERE n <= length(OLD.name) - 2
                   UNION ALL SELECT '*');
END;

-- One row: whether digis_person_key holds every person (set by `migrate` after a rebuild).
CREATE TABLE digis_person_key_state (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    ready INTEGER NOT NULL
);
INSERT INTO digis_person_key_state (id, ready) VALUES (1, 0);

-- The entry point for the adapter's triggers on its person table, as digis_enqueue_request is
-- for the pairs: INSERT INTO digis_person_changed (person_id) VALUES (NEW.id) after an insert,
-- an update of the number or address, and (OLD.id) after a delete. The keys are read back from
-- digis_person, so the adapter names no column of ours. The view itself holds no rows.
CREATE VIEW digis_person_changed AS
SELECT person_id FROM digis_person_key WHERE 0;

-- A person no longer in digis_person loses its keys; one still there has them replaced by an
-- upsert (not INSERT OR REPLACE, whose delete would fire no trigger: its grams would stay).
CREATE TRIGGER digis_person_changed_insert INSTEAD OF INSERT ON digis_person_changed
BEGIN
    DELETE FROM digis_person_key
    WHERE person_id = NEW.person_id
      AND NOT EXISTS (SELECT 1 FROM digis_person p
                      WHERE p.id = NEW.person_id AND typeof(p.id) = 'integer');
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
          WHERE p.id = NEW.person_id AND typeof(p.id) = 'integer')
    WHERE true
    ON CONFLICT (person_id) DO UPDATE SET phone = excluded.phone, email = excluded.email,
                                          name = excluded.name;
END;
