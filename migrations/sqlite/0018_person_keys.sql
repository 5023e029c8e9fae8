-- Member search by phone and e-mail through an index (issue 28; docs/decisions/0050): one row
-- per person with the two keys search narrows by, kept by the host adapter's triggers on its
-- person table through the entry point below, rebuilt from digis_person by `migrate` each time
-- it applies an adapter that calls that entry point (persons saved before are found too).
-- Until then (an adapter that does not call it) digis_person_key_state.ready is 0 and search
-- filters every person as before.
--   phone: the last seven characters of the stored number with payload::phone::SEPARATORS and
--          '+' removed and white space trimmed (for every number search can match: its last
--          seven digits, which are the national number's); NULL when shorter.
--   email: the address trimmed and lower-cased; '*' when it holds anything outside printable
--          ASCII (SQLite lower-cases ASCII only: Rust compares those, as before).
CREATE TABLE digis_person_key (
    person_id INTEGER PRIMARY KEY,
    phone     TEXT,
    email     TEXT
);
CREATE INDEX digis_person_key_phone ON digis_person_key (phone) WHERE phone IS NOT NULL;
CREATE INDEX digis_person_key_email ON digis_person_key (email) WHERE email IS NOT NULL;

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

CREATE TRIGGER digis_person_changed_insert INSTEAD OF INSERT ON digis_person_changed
BEGIN
    DELETE FROM digis_person_key WHERE person_id = NEW.person_id;
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
          WHERE p.id = NEW.person_id AND typeof(p.id) = 'integer');
END;
