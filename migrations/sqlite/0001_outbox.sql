-- Relay-owned objects (DESIGN §3), SQLite flavour. Times are UTC text with milliseconds,
-- 'YYYY-MM-DDTHH:MM:SS.sssZ', so that text order is time order.

CREATE TABLE IF NOT EXISTS digis (
    subscription_id INTEGER NOT NULL,
    person_id       INTEGER NOT NULL,
    external_id     TEXT,
    synced_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (subscription_id, person_id)
);

CREATE TABLE digis_outbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription_id  INTEGER NOT NULL,
    person_id        INTEGER NOT NULL,
    state            TEXT NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'discarded')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    locked_by        TEXT,
    locked_until     TEXT,
    claim_token      TEXT,
    last_error       TEXT,
    last_http_status INTEGER,
    external_id      TEXT,
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    sent_at          TEXT,
    reason           TEXT,
    resend           INTEGER NOT NULL DEFAULT 0,
    updated_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE UNIQUE INDEX digis_outbox_one_open ON digis_outbox (subscription_id, person_id)
    WHERE state IN ('pending', 'sending');
CREATE INDEX digis_outbox_due ON digis_outbox (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX digis_outbox_lease ON digis_outbox (locked_until) WHERE state = 'sending';
CREATE INDEX digis_outbox_state_id ON digis_outbox (state, id);
CREATE INDEX digis_outbox_pair ON digis_outbox (subscription_id, person_id);
CREATE INDEX digis_outbox_person ON digis_outbox (person_id);
CREATE INDEX digis_outbox_finished ON digis_outbox (updated_at) WHERE state IN ('sent', 'discarded');

CREATE TABLE digis_attempt (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    outbox_id   INTEGER NOT NULL REFERENCES digis_outbox (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    started_at  TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    relay_id    TEXT NOT NULL,
    http_status INTEGER,
    outcome     TEXT NOT NULL,
    error       TEXT
);
CREATE INDEX digis_attempt_outbox ON digis_attempt (outbox_id, id);

CREATE TABLE digis_relay (
    relay_id     TEXT PRIMARY KEY,
    hostname     TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    version      TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    state        TEXT NOT NULL,
    detail       TEXT
);

CREATE TABLE digis_control (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    paused            INTEGER NOT NULL DEFAULT 0,
    pause_reason      TEXT,
    paused_by         TEXT,
    paused_at         TEXT,
    sync_requested_at TEXT
);
INSERT INTO digis_control (id) VALUES (1);

-- The payload builder reads only this view: adapting to another host schema means editing
-- this view and the triggers below, nothing else.
CREATE VIEW digis_member AS
SELECT su.subscription_id    AS subscription_id,
       su.person_id          AS person_id,
       s.status              AS subscription_status,
       s.start_date          AS start_date,
       s.max_end             AS max_end,
       p.first_name          AS first_name,
       p.last_name           AS last_name,
       p.birth_date          AS birth_date,
       p.sex                 AS sex,
       p.email               AS email,
       p.allow_email         AS allow_email,
       p.allow_sms           AS allow_sms,
       p.mobile_country_code AS mobile_country_code,
       p.mobile_number       AS mobile_number,
       p.card_number         AS card_number,
       p.unit_id             AS unit_id,
       u.name                AS unit_name,
       a.street_address      AS street_address,
       a.postal_code         AS postal_code,
       a.postal_city         AS postal_city,
       a.country_alpha2      AS country_alpha2
FROM subscription s
JOIN subscription_user su ON su.subscription_id = s.id
JOIN person p ON p.id = su.person_id
LEFT JOIN business_unit u ON u.id = p.unit_id
LEFT JOIN address a ON a.person_id = p.id;

-- Queue every user of an ACTIVE subscription that Digis does not have yet and that has no open
-- row. OR IGNORE: a save must never fail because of the relay.
CREATE TRIGGER digis_subscription_inserted AFTER INSERT ON subscription
WHEN NEW.status = 'ACTIVE'
BEGIN
    INSERT OR IGNORE INTO digis_outbox (subscription_id, person_id)
    SELECT su.subscription_id, su.person_id
    FROM subscription_user su
    WHERE su.subscription_id = NEW.id
      AND NOT EXISTS (SELECT 1 FROM digis d
                      WHERE d.subscription_id = su.subscription_id AND d.person_id = su.person_id)
      AND NOT EXISTS (SELECT 1 FROM digis_outbox o
                      WHERE o.subscription_id = su.subscription_id AND o.person_id = su.person_id
                        AND o.state IN ('pending', 'sending'));
END;

CREATE TRIGGER digis_subscription_updated AFTER UPDATE ON subscription
WHEN NEW.status = 'ACTIVE'
BEGIN
    INSERT OR IGNORE INTO digis_outbox (subscription_id, person_id)
    SELECT su.subscription_id, su.person_id
    FROM subscription_user su
    WHERE su.subscription_id = NEW.id
      AND NOT EXISTS (SELECT 1 FROM digis d
                      WHERE d.subscription_id = su.subscription_id AND d.person_id = su.person_id)
      AND NOT EXISTS (SELECT 1 FROM digis_outbox o
                      WHERE o.subscription_id = su.subscription_id AND o.person_id = su.person_id
                        AND o.state IN ('pending', 'sending'));
END;

CREATE TRIGGER digis_subscription_user_added AFTER INSERT ON subscription_user
WHEN (SELECT status FROM subscription WHERE id = NEW.subscription_id) = 'ACTIVE'
BEGIN
    INSERT OR IGNORE INTO digis_outbox (subscription_id, person_id)
    SELECT NEW.subscription_id, NEW.person_id
    WHERE NOT EXISTS (SELECT 1 FROM digis d
                      WHERE d.subscription_id = NEW.subscription_id AND d.person_id = NEW.person_id)
      AND NOT EXISTS (SELECT 1 FROM digis_outbox o
                      WHERE o.subscription_id = NEW.subscription_id AND o.person_id = NEW.person_id
                        AND o.state IN ('pending', 'sending'));
END;
