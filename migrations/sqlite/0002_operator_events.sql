-- Who did what by hand (retry, discard, resend, pause, resume, sync), so support can prove it.
CREATE TABLE digis_event (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    at              TEXT NOT NULL,
    actor           TEXT NOT NULL,
    action          TEXT NOT NULL,
    outbox_id       INTEGER,
    subscription_id INTEGER,
    person_id       INTEGER,
    detail          TEXT
);
CREATE INDEX digis_event_outbox ON digis_event (outbox_id);
CREATE INDEX digis_event_pair ON digis_event (subscription_id, person_id);
