-- digis_attempt's foreign key to digis_outbox gives way to a statement-level trigger (issue 28;
-- docs/decisions/0059). pg_stat_statements over a 100,000-row drain showed the group's attempt
-- INSERT as the second dearest statement of the drain, and EXPLAIN (ANALYZE) put 40 % of it in
-- the key's check: a trigger a row, each an SPI query that locks the outbox row FOR KEY SHARE
-- again, after record_attempts.sql has already joined and locked it FOR KEY SHARE (only rows
-- that still exist get an attempt). The key's two promises stay:
-- * no attempt without its row: the relay's INSERT is the only writer, and it joins the outbox
--   row under that lock, so a DELETE either waits for the relay's commit or is seen and the row
--   skipped;
-- * an outbox row's attempts go with it (docs/contracts.md): one DELETE a statement, from the
--   deleted rows' transition table, where the key deleted them one by one (a prune of a day's
--   rows); TRUNCATE, which fires no delete trigger, empties digis_attempt too. Its statement
--   runs after the waiting DELETE's, so it sees an attempt the relay committed meanwhile.
-- Nothing a relay does changes: older binaries run beside it, so compatible_from and
-- claim_protocol stay.
DO $$
DECLARE
    fk record;
BEGIN
    -- By what it is, not by name: a database created by hand may name it otherwise.
    FOR fk IN
        SELECT conname FROM pg_constraint
        WHERE conrelid = 'digis_attempt'::regclass AND confrelid = 'digis_outbox'::regclass
          AND contype = 'f'
    LOOP
        EXECUTE format('ALTER TABLE digis_attempt DROP CONSTRAINT %I', fk.conname);
    END LOOP;
END;
$$;

-- Attempts of rows deleted before this migration without their key cannot exist (the key held
-- until now), so there is nothing to clean up.

CREATE FUNCTION digis_outbox_attempts_gone() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM digis_attempt a USING digis_outbox_attempts_gone g WHERE a.outbox_id = g.id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER digis_outbox_attempts_gone AFTER DELETE ON digis_outbox
REFERENCING OLD TABLE AS digis_outbox_attempts_gone
FOR EACH STATEMENT EXECUTE FUNCTION digis_outbox_attempts_gone();

CREATE FUNCTION digis_outbox_attempts_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM digis_attempt;
    RETURN NULL;
END;
$$;

CREATE TRIGGER digis_outbox_attempts_truncated AFTER TRUNCATE ON digis_outbox
FOR EACH STATEMENT EXECUTE FUNCTION digis_outbox_attempts_truncated();
