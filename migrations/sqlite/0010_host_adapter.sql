-- The host adapter (`[host] adapter`, ARCHITECTURE.md, Host adapter): the SQL file the operator
-- owns that maps the membership system's tables (digis_member, digis_person, digis_subscription
-- and the triggers). `migrate` applies it after the migrations and records here which file and
-- which content (SHA-384 of its text) it applied, so that an unchanged file is not applied again
-- and `doctor` can say when the configured file differs from what the database holds.
-- One row, like digis_control; none until `migrate` first applies an adapter.
CREATE TABLE digis_host_adapter (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    source     TEXT NOT NULL,
    checksum   TEXT NOT NULL,
    applied_at TEXT NOT NULL
);

-- The relay-owned enqueue entry point for the adapter's triggers. SQLite triggers cannot call a
-- function the host application lacks, so they insert the pairs a save concerns here instead:
--   INSERT INTO digis_enqueue_request (subscription_id, person_id) SELECT ...;
-- and this trigger queues each pair unless Digis has it (a `digis` row or a `sent` outbox row)
-- or a row of it is open: the rule PostgreSQL's digis_enqueue holds (migration 0006), kept here
-- so the relay can change how it queues without operators rewriting their adapter.
-- OR IGNORE: a save must never fail because of the relay. The view itself holds no rows.
CREATE VIEW digis_enqueue_request AS
SELECT subscription_id, person_id FROM digis_outbox WHERE 0;

CREATE TRIGGER digis_enqueue_request_insert INSTEAD OF INSERT ON digis_enqueue_request
BEGIN
    INSERT OR IGNORE INTO digis_outbox (subscription_id, person_id)
    SELECT NEW.subscription_id, NEW.person_id
    WHERE NOT EXISTS (SELECT 1 FROM digis d
                      WHERE d.subscription_id = NEW.subscription_id AND d.person_id = NEW.person_id)
      AND NOT EXISTS (SELECT 1 FROM digis_outbox o
                      WHERE o.subscription_id = NEW.subscription_id AND o.person_id = NEW.person_id
                        AND o.state IN ('pending', 'sending', 'sent'));
END;
