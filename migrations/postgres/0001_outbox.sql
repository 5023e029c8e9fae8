-- Relay-owned objects (ARCHITECTURE.md, Relay-owned schema). Nothing here names a membership
-- table: the digis_member view and the triggers on the host's tables are the host adapter's
-- (assets/host-adapter.postgres.sql, `[host] adapter`), which `migrate` applies after the migrations.

-- The seed's table: a pair is here once Digis accepted it. A membership system that already
-- has it keeps its rows.
CREATE TABLE IF NOT EXISTS digis (
    subscription_id BIGINT NOT NULL,
    person_id       BIGINT NOT NULL,
    external_id     TEXT,
    synced_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (subscription_id, person_id)
);

-- No foreign keys to host tables: the relay must never block a delete in the membership system.
CREATE TABLE digis_outbox (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id  BIGINT NOT NULL,
    person_id        BIGINT NOT NULL,
    state            TEXT NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'discarded')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    locked_by        TEXT,
    locked_until     TIMESTAMPTZ,
    claim_token      TEXT,
    last_error       TEXT,
    last_http_status INTEGER,
    external_id      TEXT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at          TIMESTAMPTZ,
    reason           TEXT,
    resend           BOOLEAN NOT NULL DEFAULT false,
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- At most one open row per pair: a second save while one waits queues nothing.
CREATE UNIQUE INDEX digis_outbox_one_open ON digis_outbox (subscription_id, person_id)
    WHERE state IN ('pending', 'sending');
CREATE INDEX digis_outbox_due ON digis_outbox (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX digis_outbox_lease ON digis_outbox (locked_until) WHERE state = 'sending';
CREATE INDEX digis_outbox_state_id ON digis_outbox (state, id);
CREATE INDEX digis_outbox_pair ON digis_outbox (subscription_id, person_id);
CREATE INDEX digis_outbox_person ON digis_outbox (person_id);
CREATE INDEX digis_outbox_finished ON digis_outbox (updated_at) WHERE state IN ('sent', 'discarded');

CREATE TABLE digis_attempt (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbox_id   BIGINT NOT NULL REFERENCES digis_outbox (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    duration_ms BIGINT NOT NULL,
    relay_id    TEXT NOT NULL,
    http_status INTEGER,
    outcome     TEXT NOT NULL,
    error       TEXT
);
CREATE INDEX digis_attempt_outbox ON digis_attempt (outbox_id, id);

CREATE TABLE digis_relay (
    relay_id     TEXT PRIMARY KEY,
    hostname     TEXT NOT NULL,
    pid          BIGINT NOT NULL,
    version      TEXT NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL,
    state        TEXT NOT NULL,
    detail       TEXT
);

-- One row: the pause flag every relay obeys, and the last "sync now".
CREATE TABLE digis_control (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    paused            BOOLEAN NOT NULL DEFAULT false,
    pause_reason      TEXT,
    paused_by         TEXT,
    paused_at         TIMESTAMPTZ,
    sync_requested_at TIMESTAMPTZ
);
INSERT INTO digis_control (id) VALUES (1);

CREATE FUNCTION digis_outbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('digis_outbox', '');
    RETURN NULL;
END;
$$;

-- Once per statement, not per row: a bulk save wakes the relays once.
CREATE TRIGGER digis_outbox_notify
    AFTER INSERT ON digis_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION digis_outbox_notify();
