-- An example membership schema whose names all differ from the reference schema's
-- (assets/examples/README.md); club-adapter.postgres.sql maps it. For tests and as an example.
CREATE TABLE IF NOT EXISTS club (
    club_no   BIGINT PRIMARY KEY,
    club_name TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS member (
    member_no   BIGINT PRIMARY KEY,
    home_club   BIGINT NOT NULL REFERENCES club (club_no),
    given_name  TEXT,
    family_name TEXT,
    born        DATE,
    gender      CHAR(1),                 -- 'M' | 'F' | NULL
    mail        TEXT,
    mail_ok     BOOLEAN NOT NULL DEFAULT false,
    sms_ok      BOOLEAN NOT NULL DEFAULT false,
    phone_cc    TEXT,
    phone       TEXT,
    card        TEXT
);
CREATE INDEX IF NOT EXISTS member_card ON member (card);

CREATE TABLE IF NOT EXISTS member_address (
    member_no BIGINT PRIMARY KEY REFERENCES member (member_no),
    street    TEXT,
    zip       TEXT,
    town      TEXT,
    country   TEXT
);

CREATE TABLE IF NOT EXISTS membership (
    membership_no BIGINT PRIMARY KEY,
    state         TEXT NOT NULL,         -- 'active' | 'paused' | 'ended'
    valid_from    DATE NOT NULL,
    valid_to      DATE,
    note          TEXT
);

CREATE TABLE IF NOT EXISTS membership_holder (
    membership_no BIGINT NOT NULL REFERENCES membership (membership_no),
    member_no     BIGINT NOT NULL REFERENCES member (member_no),
    PRIMARY KEY (membership_no, member_no)
);
CREATE INDEX IF NOT EXISTS membership_holder_member ON membership_holder (member_no);
