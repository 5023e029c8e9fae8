-- digis_attempt's foreign key to digis_outbox gives way to two statement-level triggers
-- (issue 28; docs/decisions/0059). pg_stat_statements over a 100,000-row db-ceiling showed the
-- group's attempt INSERT as the second dearest statement of the drain, and EXPLAIN (ANALYZE) put
-- a third of it in the key's check: a trigger a row, each an SPI query that locks the outbox row
-- FOR KEY SHARE again, after record_attempts.sql has already joined and locked it FOR KEY SHARE
-- (only rows that still exist get an attempt). The key's two promises stay:
-- * no attempt without its row: the relay's INSERT is the only writer, and it joins the outbox
--   row under that lock, so a row whose DELETE committed first is skipped by the join, and a
--   DELETE that comes later waits for the relay's commit;
-- * an outbox row's attempts go with it (docs/contracts.md): digis_outbox_attempts_gone deletes
--   them in one statement a DELETE, from the deleted rows' transition table, where the key
--   deleted them one by one (a prune of a day's rows). Under READ COMMITTED its statement takes
--   a snapshot of its own, after the DELETE waited, so it sees an attempt the relay committed
--   meanwhile (REPEATABLE READ does not: decision 0059). TRUNCATE fires no delete trigger:
--   digis_outbox_attempts_truncated truncates digis_attempt with it, snapshots aside.
-- Nothing a relay does changes: older binaries run beside it, so compatible_from and
-- claim_protocol stay.
DO $$
DECLARE
    fk record;
BEGIN
    -- By what it is, not by its name: a database made by hand may name it otherwise, or lack
    -- it (nothing to drop then).
    FOR fk IN
        SELECT conname FROM pg_constraint
        WHERE conrelid = 'digis_attempt'::regclass AND confrelid = 'digis_outbox'::regclass
          AND contype = 'f'
    LOOP
        EXECUTE format('ALTER TABLE digis_attempt DROP CONSTRAINT %I', fk.conname);
    END LOOP;
END;
$$;

CREATE FUNCTION digis_outbox_attempts_gone() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- EXECUTE: planned for each statement's rows. A static statement would keep the plan made
    -- for the session's first DELETE, and a plan for a prune's thousands of rows (a scan of
    -- digis_attempt) would then serve every single-row DELETE after it.
    EXECUTE 'DELETE FROM digis_attempt a USING digis_outbox_attempts_gone g
             WHERE a.outbox_id = g.id';
    RETURN NULL;
END;
$$;

CREATE TRIGGER digis_outbox_attempts_gone AFTER DELETE ON digis_outbox
REFERENCING OLD TABLE AS digis_outbox_attempts_gone
FOR EACH STATEMENT EXECUTE FUNCTION digis_outbox_attempts_gone();

CREATE FUNCTION digis_outbox_attempts_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE digis_attempt;
    RETURN NULL;
END;
$$;

CREATE TRIGGER digis_outbox_attempts_truncated AFTER TRUNCATE ON digis_outbox
FOR EACH STATEMENT EXECUTE FUNCTION digis_outbox_attempts_truncated();
