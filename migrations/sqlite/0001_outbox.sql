-- Relay-owned objects (ARCHITECTURE.md, Relay-owned schema), SQLite flavour. Times are UTC text
-- with milliseconds, 'YYYY-MM-DDTHH:MM:SS.sssZ', so that text order is time order. Nothing here
-- names a membership table: the digis_member view and the triggers on the host's tables are the
-- host adapter's (assets/host-adapter.sqlite.sql, `[host] adapter`), which `migrate` applies after
-- the migrations.

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
