-- The host's saves made cheaper on SQLite (issue 28; docs/decisions/0048). Same rule as 0012:
-- a pair is queued unless Digis has it (a `digis` row or a `sent` outbox row) or a row of it is
-- open. Measured with callgrind on the bulk saves of benches/host_writes.rs, per queued row or
-- re-saved subscription:
--   - the CHECK on digis_outbox.state lists five states; SQLite builds a list of more than two
--     as a temporary b-tree, once per run of a trigger program, so every row a trigger queued
--     opened and closed a temporary database. The same CHECK as comparisons builds nothing.
--   - an adapter's INSERT INTO digis_enqueue_request SELECT ... copies its rows into a
--     temporary table first (SQLite does so for any INSERT ... SELECT into something with
--     triggers), once per saved subscription, even when none of its pairs is queued (the nightly
--     re-save). digis_pair_held below lets the adapter's WHEN skip that INSERT.
--   - the check of an open or sent row read the outbox row for its state: digis_outbox_pair
--     now holds the state, so the check reads the index alone.
--   - the outbox's three time columns default to strftime(... 'now'), formatted three times
--     per queued row, a large share of an import's cost; 'now' is one instant per statement, so the
--     entry point formats it once and hands it to digis_enqueue_at, which writes it thrice.

-- The CHECK is the table's text in sqlite_schema; rewriting a CHECK into an equivalent one is the
-- change SQLite documents as safe this way (every row already satisfies it), and it costs nothing
-- where rebuilding the table would copy every row and, through digis_attempt's ON DELETE CASCADE,
-- delete every attempt. The index below changes the schema version, so every connection reads
-- the new text.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(sql,
    'CHECK (state IN (''pending'', ''sending'', ''sent'', ''failed'', ''discarded''))',
    'CHECK (state = ''pending'' OR state = ''sending'' OR state = ''sent'' OR state = ''failed'' OR state = ''discarded'')')
WHERE type = 'table' AND name = 'digis_outbox';
PRAGMA writable_schema = OFF;

DROP INDEX digis_outbox_pair;
CREATE INDEX digis_outbox_pair ON digis_outbox (subscription_id, person_id, state);

-- The pairs the entry point does not queue: an open or sent outbox row (the outbox first: a
-- re-saved member's pair mostly has one), or a `digis` row (a sent row pruned, or a pair
-- delivered before the relay). The states are named by what they are not: `state <> ...` cannot
-- drive an index seek, so SQLite reads digis_outbox_pair by the pair alone and builds no list.
-- Adapters may read it in a trigger's WHEN to skip a save none of whose pairs is queued.
CREATE VIEW digis_pair_held AS
SELECT subscription_id, person_id FROM digis_outbox
WHERE state <> 'failed' AND state <> 'discarded'
UNION ALL
SELECT subscription_id, person_id FROM digis;

-- The entry point's second step, the relay's own (adapters insert into digis_enqueue_request):
-- a pair and the statement's time, written as the row's next_attempt_at, created_at and
-- updated_at, as the columns' defaults would have. OR IGNORE: a save must never fail because of
-- the relay. The view itself holds no rows.
CREATE VIEW digis_enqueue_at AS
SELECT subscription_id, person_id, created_at AS at FROM digis_outbox WHERE 0;

CREATE TRIGGER digis_enqueue_at_insert INSTEAD OF INSERT ON digis_enqueue_at
BEGIN
    INSERT OR IGNORE INTO digis_outbox
        (subscription_id, person_id, next_attempt_at, created_at, updated_at)
    VALUES (NEW.subscription_id, NEW.person_id, NEW.at, NEW.at, NEW.at);
END;

DROP TRIGGER digis_enqueue_request_insert;

CREATE TRIGGER digis_enqueue_request_insert INSTEAD OF INSERT ON digis_enqueue_request
WHEN NOT EXISTS (SELECT 1 FROM digis_pair_held h
                 WHERE h.subscription_id = NEW.subscription_id AND h.person_id = NEW.person_id)
BEGIN
    INSERT INTO digis_enqueue_at (subscription_id, person_id, at)
    VALUES (NEW.subscription_id, NEW.person_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
END;
