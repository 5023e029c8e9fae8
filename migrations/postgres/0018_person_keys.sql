-- Member search by phone and e-mail through an index (issue 28; docs/decisions/0050): one row
-- per person with the two keys search narrows by, kept by the host adapter's triggers on its
-- person table through digis_person_changed below, rebuilt from digis_person by `migrate` each
-- time it applies an adapter that calls that function (persons saved before are found too).
-- Until then (an adapter that does not call it) digis_person_key_state.ready is false and
-- search filters every person as before.
--   phone: the last seven digits of the stored number with every non-digit removed (for every
--          number search can match: the national number's last seven); NULL when shorter.
--   email: the address trimmed and lower-cased; '*' when it holds anything outside printable
--          ASCII (compared in Rust, as before).
CREATE TABLE digis_person_key (
    person_id BIGINT PRIMARY KEY,
    phone     TEXT,
    email     TEXT
);
CREATE INDEX digis_person_key_phone ON digis_person_key (phone) WHERE phone IS NOT NULL;
CREATE INDEX digis_person_key_email ON digis_person_key (email) WHERE email IS NOT NULL;

-- One row: whether digis_person_key holds every person (set by `migrate` after a rebuild).
CREATE TABLE digis_person_key_state (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    ready BOOLEAN NOT NULL
);
INSERT INTO digis_person_key_state (id, ready) VALUES (1, false);

-- The entry point for the adapter's triggers on its person table, as digis_enqueue is for the
-- pairs: digis_person_changed(ids) after a statement inserted, updated (number, address, id)
-- or deleted persons. The keys are read back from digis_person, so the adapter names no column
-- of ours. PL/pgSQL: digis_person is the adapter's, created after this.
CREATE FUNCTION digis_person_changed(ids BIGINT[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF ids IS NULL THEN
        RETURN;
    END IF;
    DELETE FROM digis_person_key WHERE person_id = ANY (ids);
    -- DISTINCT ON: digis_person may list a person more than once (the reference view joins
    -- address, and a host may keep two); a second row of one id in this INSERT would fail the
    -- host's own save ("cannot affect row a second time"). The keys come from one row.
    INSERT INTO digis_person_key (person_id, phone, email)
    SELECT DISTINCT ON (p.id) p.id,
           CASE WHEN length(n.d) >= 7 THEN right(n.d, 7) END,
           CASE WHEN p.email::text ~ '[^ -~]' THEN '*' ELSE lower(btrim(p.email::text)) END
    FROM digis_person p
    CROSS JOIN LATERAL (SELECT regexp_replace(p.mobile_number::text, '[^0-9]', '', 'g') AS d) n
    WHERE p.id = ANY (ids)
    ORDER BY p.id
    ON CONFLICT (person_id) DO UPDATE SET phone = EXCLUDED.phone, email = EXCLUDED.email;
END;
$$;
