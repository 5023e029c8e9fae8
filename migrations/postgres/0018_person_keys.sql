-- Member search through an index (issue 28; docs/decisions/0050 and 0054): one row per person
-- with the keys search narrows by, kept by the host adapter's triggers on its person table
-- through digis_person_changed below, rebuilt from digis_person by `migrate` each time it
-- applies an adapter that calls that function (persons saved before are found too). Until then
-- (an adapter that does not call it) digis_person_key_state.ready is false and search filters
-- every person as before.
--   phone: the last seven digits of the stored number with every non-digit removed (for every
--          number search can match: the national number's last seven); NULL when shorter.
--   email: the address trimmed and lower-cased; '*' when it holds anything outside printable
--          ASCII (compared in Rust, as before).
--   grams: the three-letter pieces (letters and digits) of "first last" as the name narrowing
--          folds it (digis_person_name_key); {'*'} when the name holds any other character
--          outside printable ASCII or is longer than 400 characters (every name search hands
--          those to Rust, as the scan did). A GIN index (core PostgreSQL, no extension) finds
--          the persons holding every piece of a typed word: a B-tree cannot serve ILIKE '%w%'.
CREATE TABLE digis_person_key (
    person_id BIGINT PRIMARY KEY,
    phone     TEXT,
    email     TEXT,
    grams     TEXT[]
);
CREATE INDEX digis_person_key_phone ON digis_person_key (phone) WHERE phone IS NOT NULL;
CREATE INDEX digis_person_key_email ON digis_person_key (email) WHERE email IS NOT NULL;

CREATE INDEX digis_person_key_grams ON digis_person_key USING gin (grams);

-- "first last" folded as the name narrowing folds it (persons_by_name.sql): apostrophes
-- removed, the letters of search::member::SQL_FOLDS replaced as deunicode does, ASCII lower
-- case (translate: lower() follows the database's locale); '*' for a name to fold in Rust.
CREATE FUNCTION digis_person_name_key(first_name TEXT, last_name TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN s.n ~ '[^ -~åäöøæéüÅÄÖØÆÉÜ]' OR length(s.n) > 400 THEN '*'
                ELSE translate(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(
                         s.n, '''', ''), '`', ''), 'å', 'a'), 'ä', 'a'), 'ö', 'o'), 'ø', 'o'), 'æ', 'ae'), 'é', 'e'), 'ü', 'u'), 'Å', 'A'), 'Ä', 'A'), 'Ö', 'O'), 'Ø', 'O'), 'Æ', 'AE'), 'É', 'E'), 'Ü', 'U'),
                         'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') END
    FROM (SELECT coalesce(first_name, '') || ' ' || coalesce(last_name, '') AS n) s
$$;

-- The pieces search looks a name up by: each three letters or digits in a row, once, in order
-- (so an unchanged name gives an equal array and its key is not written again).
CREATE FUNCTION digis_person_name_grams(folded TEXT) RETURNS TEXT[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN folded = '*' THEN ARRAY['*']
                ELSE ARRAY(SELECT DISTINCT substr(folded, i, 3)
                           FROM generate_series(1, length(folded) - 2) i
                           WHERE substr(folded, i, 3) ~ '^[a-z0-9]{3}$'
                           ORDER BY 1) END
$$;

-- One row: whether digis_person_key holds every person (set by `migrate` after a rebuild).
CREATE TABLE digis_person_key_state (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    ready BOOLEAN NOT NULL
);
INSERT INTO digis_person_key_state (id, ready) VALUES (1, false);

-- The entry point for the adapter's triggers on its person table, as digis_enqueue is for the
-- pairs: digis_person_changed(ids) after a statement inserted, updated (name, number, address,
-- id) or deleted persons. The keys are read back from digis_person, so the adapter names no
-- column of ours. PL/pgSQL: digis_person is the adapter's, created after this.
CREATE FUNCTION digis_person_changed(ids BIGINT[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF ids IS NULL THEN
        RETURN;
    END IF;
    -- A person no longer in digis_person loses its keys; the others are upserted, and a key
    -- that is already right (a save that changed no name, number or address) is not written.
    DELETE FROM digis_person_key k
    WHERE k.person_id = ANY (ids)
      AND NOT EXISTS (SELECT 1 FROM digis_person p WHERE p.id = k.person_id);
    -- DISTINCT ON: digis_person may list a person more than once (the reference view joins
    -- address, and a host may keep two); a second row of one id in this INSERT would fail the
    -- host's own save ("cannot affect row a second time"). The keys come from one row.
    INSERT INTO digis_person_key (person_id, phone, email, grams)
    SELECT DISTINCT ON (p.id) p.id,
           CASE WHEN length(n.d) >= 7 THEN right(n.d, 7) END,
           CASE WHEN p.email::text ~ '[^ -~]' THEN '*' ELSE lower(btrim(p.email::text)) END,
           digis_person_name_grams(digis_person_name_key(p.first_name::text, p.last_name::text))
    FROM digis_person p
    CROSS JOIN LATERAL (SELECT regexp_replace(p.mobile_number::text, '[^0-9]', '', 'g') AS d) n
    WHERE p.id = ANY (ids)
    ORDER BY p.id
    ON CONFLICT (person_id) DO UPDATE SET phone = EXCLUDED.phone, email = EXCLUDED.email,
                                          grams = EXCLUDED.grams
        WHERE (digis_person_key.phone, digis_person_key.email, digis_person_key.grams)
              IS DISTINCT FROM (EXCLUDED.phone, EXCLUDED.email, EXCLUDED.grams);
END;
$$;
