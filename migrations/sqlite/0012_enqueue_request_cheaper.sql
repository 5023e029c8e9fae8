-- The enqueue entry point made cheaper (issue 28; docs/decisions/0042), same rule as migration
-- 0010: a pair is queued unless Digis has it (a `digis` row or a `sent` outbox row) or a row of
-- it is open. Measured on a bulk save of 100,000 subscriptions, the old body cost per row:
--   - INSERT INTO digis_outbox ... SELECT ... WHERE NOT EXISTS (... FROM digis_outbox ...)
--     reads the table it writes, so SQLite first copies the SELECT's row into a temporary
--     table, every row;
--   - `state IN (...)` builds its list as a temporary index once per trigger run, every row.
-- Both are temporary b-trees, in files where temp_store is FILE (the default): most of the
-- cost was the system time of those files. The checks now sit in the WHEN clause (a pair Digis
-- has or that is open does not even start the trigger's body, which the nightly re-save of
-- every member mostly is), and the states are compared one by one. OR IGNORE stays: a save must
-- never fail because of the relay.
DROP TRIGGER digis_enqueue_request_insert;

CREATE TRIGGER digis_enqueue_request_insert INSTEAD OF INSERT ON digis_enqueue_request
WHEN NOT EXISTS (SELECT 1 FROM digis d
                 WHERE d.subscription_id = NEW.subscription_id AND d.person_id = NEW.person_id)
 AND NOT EXISTS (SELECT 1 FROM digis_outbox o
                 WHERE o.subscription_id = NEW.subscription_id AND o.person_id = NEW.person_id
                   AND (o.state = 'pending' OR o.state = 'sending' OR o.state = 'sent'))
BEGIN
    INSERT OR IGNORE INTO digis_outbox (subscription_id, person_id)
    VALUES (NEW.subscription_id, NEW.person_id);
END;
