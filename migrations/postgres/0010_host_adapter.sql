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
    applied_at TIMESTAMPTZ NOT NULL
);
