-- What a digis-relay binary must understand to run against this database (ARCHITECTURE.md,
-- Schema and protocol handshake). Every command but `migrate` compares it, with the migrations
-- applied, to its own: a database one migration behind says to run `digis-relay migrate`; one
-- ahead is run beside when the newer migrations are additive.
--   claim_protocol:  the rules relays claim and complete rows by. A binary refuses to run when
--                    this is newer than the protocol it speaks, so an older relay never claims
--                    beside a newer one whose claim rules differ. 2: this round's claim.
--   compatible_from: the oldest migration a binary must know to run against this database. A
--                    migration an older binary cannot run beside (a changed column, another
--                    claim) raises it to its own number; an additive one leaves it.
-- One row, like digis_control.
CREATE TABLE digis_schema (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    claim_protocol  BIGINT NOT NULL,
    compatible_from BIGINT NOT NULL
);
INSERT INTO digis_schema (id, claim_protocol, compatible_from) VALUES (1, 2, 7);
