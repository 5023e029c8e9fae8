-- Relay-owned objects (DESIGN §3). The membership system's tables must exist first.

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

-- Queues every user of an ACTIVE subscription that Digis does not have yet and that has no open
-- row. ON CONFLICT: two concurrent saves must never fail the membership system's transaction.
CREATE FUNCTION digis_queue_subscription(sub_id BIGINT) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO digis_outbox (subscription_id, person_id)
    SELECT su.subscription_id, su.person_id
    FROM subscription_user su
    WHERE su.subscription_id = sub_id
      AND NOT EXISTS (SELECT 1 FROM digis d
                      WHERE d.subscription_id = su.subscription_id AND d.person_id = su.person_id)
      AND NOT EXISTS (SELECT 1 FROM digis_outbox o
                      WHERE o.subscription_id = su.subscription_id AND o.person_id = su.person_id
                        AND o.state IN ('pending', 'sending'))
    ON CONFLICT (subscription_id, person_id) WHERE state IN ('pending', 'sending') DO NOTHING;
END;
$$;

CREATE FUNCTION digis_subscription_saved() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'ACTIVE' THEN
        PERFORM digis_queue_subscription(NEW.id);
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION digis_subscription_user_added() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM subscription s WHERE s.id = NEW.subscription_id AND s.status = 'ACTIVE')
       AND NOT EXISTS (SELECT 1 FROM digis d
                       WHERE d.subscription_id = NEW.subscription_id AND d.person_id = NEW.person_id) THEN
        INSERT INTO digis_outbox (subscription_id, person_id)
        VALUES (NEW.subscription_id, NEW.person_id)
        ON CONFLICT (subscription_id, person_id) WHERE state IN ('pending', 'sending') DO NOTHING;
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION digis_outbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('digis_outbox', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER digis_subscription_saved
    AFTER INSERT OR UPDATE ON subscription
    FOR EACH ROW EXECUTE FUNCTION digis_subscription_saved();

CREATE TRIGGER digis_subscription_user_added
    AFTER INSERT ON subscription_user
    FOR EACH ROW EXECUTE FUNCTION digis_subscription_user_added();

-- Once per statement, not per row: a bulk save wakes the relays once.
CREATE TRIGGER digis_outbox_notify
    AFTER INSERT ON digis_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION digis_outbox_notify();
