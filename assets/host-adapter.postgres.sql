-- The reference host adapter, PostgreSQL (`[host] adapter`; ARCHITECTURE.md, Host adapter): maps
-- the reference membership schema (assets/host-schema.postgres.sql) onto what digis-relay reads.
-- `migrate` applies it when `[host] adapter` is empty. For a membership schema with other table or
-- column names, copy this file, edit it, and point `[host] adapter` at the copy (an example:
-- assets/examples/).
--
-- What an adapter must define (the names are fixed; the relay reads nothing else of the host):
--   digis_member        one row per (subscription, user) with everything the payload needs; the
--                       columns below, in any order, of the types shown by the reference schema
--   digis_person        one row per person: id, first_name, last_name, email,
--                       mobile_country_code, mobile_number, card_number, country_alpha2 (search)
--   digis_subscription  one row per subscription: id, status (search, the dashboard)
--   triggers            after a save that makes a subscription ACTIVE, or adds a user to an ACTIVE
--                       one, call the relay-owned digis_enqueue(subscription_id, person_id) for
--                       each pair the save concerns; it decides whether a row is queued
--
-- Rules: it may be applied again at any time, so every statement must be repeatable (DROP ... IF
-- EXISTS before CREATE, CREATE OR REPLACE FUNCTION); no BEGIN/COMMIT: `migrate` runs the whole
-- file in one transaction of its own and records its SHA-384, so an unchanged file is not applied
-- again and an edited one is. Views are dropped and created, not replaced, so a column whose type
-- changed does not stop it; grant them again here if other roles read them.

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

-- The triggers decide which pairs a save concerns and what ACTIVE means; digis_enqueue decides
-- whether each is queued (not in digis, no sent and no open row).
CREATE OR REPLACE FUNCTION digis_queue_subscription(sub_id BIGINT) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM digis_enqueue(su.subscription_id, su.person_id)
    FROM subscription_user su
    WHERE su.subscription_id = sub_id;
END;
$$;

CREATE OR REPLACE FUNCTION digis_subscription_saved() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'ACTIVE' THEN
        PERFORM digis_queue_subscription(NEW.id);
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION digis_subscription_user_added() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM subscription s WHERE s.id = NEW.subscription_id AND s.status = 'ACTIVE') THEN
        PERFORM digis_enqueue(NEW.subscription_id, NEW.person_id);
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS digis_subscription_saved ON subscription;
CREATE TRIGGER digis_subscription_saved
    AFTER INSERT OR UPDATE ON subscription
    FOR EACH ROW EXECUTE FUNCTION digis_subscription_saved();

DROP TRIGGER IF EXISTS digis_subscription_user_added ON subscription_user;
CREATE TRIGGER digis_subscription_user_added
    AFTER INSERT ON subscription_user
    FOR EACH ROW EXECUTE FUNCTION digis_subscription_user_added();
