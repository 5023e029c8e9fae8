-- The reference host adapter, SQLite (`[host] adapter`; ARCHITECTURE.md, Host adapter): maps the
-- reference membership schema (assets/host-schema.sqlite.sql) onto what digis-relay reads.
-- `migrate` applies it when `[host] adapter` is empty. For a membership schema with other table or
-- column names, copy this file, edit it, and point `[host] adapter` at the copy (an example:
-- assets/examples/).
--
-- What an adapter must define (the names are fixed; the relay reads nothing else of the host):
--   digis_member        one row per (subscription, user) with everything the payload needs; the
--                       columns below, in any order (dates as 'YYYY-MM-DD', booleans 0/1)
--   digis_person        one row per person: id, first_name, last_name, email,
--                       mobile_country_code, mobile_number, card_number, country_alpha2 (search)
--   digis_subscription  one row per subscription: id, status (search, the dashboard)
--   triggers            after a save that makes a subscription ACTIVE, or adds a user to an ACTIVE
--                       one, insert each pair the save concerns into the relay-owned view
--                       digis_enqueue_request (subscription_id, person_id); its trigger decides
--                       whether a row is queued
--
-- Rules: it may be applied again at any time, so every statement must be repeatable (DROP ... IF
-- EXISTS before CREATE); no BEGIN/COMMIT outside trigger bodies: `migrate` runs the whole file in
-- one transaction of its own and records its SHA-384, so an unchanged file is not applied again
-- and an edited one is.

DROP VIEW IF EXISTS digis_member;
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

-- Search reads persons here, whether or not they use a subscription.
DROP VIEW IF EXISTS digis_person;
CREATE VIEW digis_person AS
SELECT p.id                  AS id,
       p.first_name          AS first_name,
       p.last_name           AS last_name,
       p.email               AS email,
       p.mobile_country_code AS mobile_country_code,
       p.mobile_number       AS mobile_number,
       p.card_number         AS card_number,
       a.country_alpha2      AS country_alpha2
FROM person p
LEFT JOIN address a ON a.person_id = p.id;

DROP VIEW IF EXISTS digis_subscription;
CREATE VIEW digis_subscription AS
SELECT s.id     AS id,
       s.status AS status
FROM subscription s;

-- The triggers decide which pairs a save concerns and what ACTIVE means; digis_enqueue_request
-- decides whether each is queued (not in digis, no sent and no open row).
--
-- The subscription triggers first ask whether any user's pair is not held (the relay's view
-- digis_pair_held, the entry point's own rule), and stop there when none is: the nightly re-save
-- of an unchanged subscription, or an INSERT of a subscription before its users. SQLite copies
-- the rows of an INSERT ... SELECT into something with triggers into a temporary table first,
-- one per saved subscription, also when the SELECT finds nothing to queue; the WHEN saves that
-- (docs/decisions/0056). It only skips: whatever it lets through, the entry point decides pair
-- by pair as before, so a custom adapter may copy it or leave it out.
DROP TRIGGER IF EXISTS digis_subscription_inserted;
CREATE TRIGGER digis_subscription_inserted AFTER INSERT ON subscription
WHEN NEW.status = 'ACTIVE'
 AND EXISTS (SELECT 1 FROM subscription_user su
             WHERE su.subscription_id = NEW.id
               AND NOT EXISTS (SELECT 1 FROM digis_pair_held h
                               WHERE h.subscription_id = su.subscription_id
                                 AND h.person_id = su.person_id))
BEGIN
    INSERT INTO digis_enqueue_request (subscription_id, person_id)
    SELECT su.subscription_id, su.person_id
    FROM subscription_user su
    WHERE su.subscription_id = NEW.id;
END;

DROP TRIGGER IF EXISTS digis_subscription_updated;
CREATE TRIGGER digis_subscription_updated AFTER UPDATE ON subscription
WHEN NEW.status = 'ACTIVE'
 AND EXISTS (SELECT 1 FROM subscription_user su
             WHERE su.subscription_id = NEW.id
               AND NOT EXISTS (SELECT 1 FROM digis_pair_held h
                               WHERE h.subscription_id = su.subscription_id
                                 AND h.person_id = su.person_id))
BEGIN
    INSERT INTO digis_enqueue_request (subscription_id, person_id)
    SELECT su.subscription_id, su.person_id
    FROM subscription_user su
    WHERE su.subscription_id = NEW.id;
END;

DROP TRIGGER IF EXISTS digis_subscription_user_added;
CREATE TRIGGER digis_subscription_user_added AFTER INSERT ON subscription_user
WHEN (SELECT status FROM subscription WHERE id = NEW.subscription_id) = 'ACTIVE'
BEGIN
    INSERT INTO digis_enqueue_request (subscription_id, person_id)
    VALUES (NEW.subscription_id, NEW.person_id);
END;

-- Member search finds persons by phone, e-mail and name through the relay's own keys
-- (digis_person_key, migration 0018): each save of a person hands its id to the relay-owned
-- digis_person_changed, which reads the person back from digis_person. `migrate` sees this
-- adapter names digis_person_changed and builds the keys of the persons already there; an
-- adapter without these triggers leaves search filtering every person.
DROP TRIGGER IF EXISTS digis_person_inserted;
CREATE TRIGGER digis_person_inserted AFTER INSERT ON person
BEGIN
    INSERT INTO digis_person_changed (person_id) VALUES (NEW.id);
END;

DROP TRIGGER IF EXISTS digis_person_updated;
CREATE TRIGGER digis_person_updated AFTER UPDATE OF id, first_name, last_name, email, mobile_number
    ON person
BEGIN
    INSERT INTO digis_person_changed (person_id) SELECT OLD.id WHERE OLD.id IS NOT NEW.id;
    INSERT INTO digis_person_changed (person_id) VALUES (NEW.id);
END;

DROP TRIGGER IF EXISTS digis_person_deleted;
CREATE TRIGGER digis_person_deleted AFTER DELETE ON person
BEGIN
    INSERT INTO digis_person_changed (person_id) VALUES (OLD.id);
END;
