-- Reference copy of the membership system's (BRP's) tables that digis-relay reads (docs/contracts.md, Host schema),
-- SQLite flavour: INTEGER ids and booleans (0/1), TEXT 'YYYY-MM-DD' dates. A real installation
-- already has these: apply this only for the demo, tests and staging. Safe to run twice.
CREATE TABLE IF NOT EXISTS business_unit (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS person (
    id                  INTEGER PRIMARY KEY,
    unit_id             INTEGER NOT NULL REFERENCES business_unit (id),
    first_name          TEXT,
    last_name           TEXT,
    birth_date          TEXT,
    sex                 TEXT,
    email               TEXT,
    allow_email         INTEGER NOT NULL DEFAULT 0,
    allow_sms           INTEGER NOT NULL DEFAULT 0,
    mobile_country_code TEXT,
    mobile_number       TEXT,
    card_number         TEXT
);
CREATE INDEX IF NOT EXISTS person_card_number ON person (card_number);

CREATE TABLE IF NOT EXISTS address (
    person_id      INTEGER PRIMARY KEY REFERENCES person (id),
    street_address TEXT,
    postal_code    TEXT,
    postal_city    TEXT,
    country_alpha2 TEXT
);

CREATE TABLE IF NOT EXISTS subscription (
    id         INTEGER PRIMARY KEY,
    status     TEXT NOT NULL,
    start_date TEXT NOT NULL,
    max_end    TEXT,
    message    TEXT
);

CREATE TABLE IF NOT EXISTS subscription_user (
    subscription_id INTEGER NOT NULL REFERENCES subscription (id),
    person_id       INTEGER NOT NULL REFERENCES person (id),
    PRIMARY KEY (subscription_id, person_id)
);
CREATE INDEX IF NOT EXISTS subscription_user_person ON subscription_user (person_id);
