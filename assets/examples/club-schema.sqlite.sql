-- An example membership schema whose names all differ from the reference schema's
-- (assets/examples/README.md); club-adapter.sqlite.sql maps it. For tests and as an example.
CREATE TABLE IF NOT EXISTS club (
    club_no   INTEGER PRIMARY KEY,
    club_name TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS member (
    member_no   INTEGER PRIMARY KEY,
    home_club   INTEGER NOT NULL REFERENCES club (club_no),
    given_name  TEXT,
    family_name TEXT,
    born        TEXT,                    -- 'YYYY-MM-DD'
    gender      TEXT,                    -- 'M' | 'F' | NULL
    mail        TEXT,
    mail_ok     INTEGER NOT NULL DEFAULT 0,
    sms_ok      INTEGER NOT NULL DEFAULT 0,
    phone_cc    TEXT,
    phone       TEXT,
    card        TEXT
);
CREATE INDEX IF NOT EXISTS member_card ON member (card);

CREATE TABLE IF NOT EXISTS member_address (
    member_no INTEGER PRIMARY KEY REFERENCES member (member_no),
    street    TEXT,
    zip       TEXT,
    town      TEXT,
    country   TEXT
);

CREATE TABLE IF NOT EXISTS membership (
    membership_no INTEGER PRIMARY KEY,
    state         TEXT NOT NULL,         -- 'active' | 'paused' | 'ended'
    valid_from    TEXT NOT NULL,
    valid_to      TEXT,
    note          TEXT
);

CREATE TABLE IF NOT EXISTS membership_holder (
    membership_no INTEGER NOT NULL REFERENCES membership (membership_no),
    member_no     INTEGER NOT NULL REFERENCES member (member_no),
    PRIMARY KEY (membership_no, member_no)
);
CREATE INDEX IF NOT EXISTS membership_holder_member ON membership_holder (member_no);
