-- The reference host adapter, PostgreSQL (`[host] adapter`; docs/contracts.md, Host adapter): maps
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
--                       one, hand the pairs the save concerns to the relay-owned digis_enqueue:
--                       digis_enqueue(subscription_ids[], person_ids[]) for a statement's pairs
--                       at once, or digis_enqueue(subscription_id, person_id) for one; it
--                       decides whether a row is queued
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
-- whether each is queued (not in digis, no sent and no open row). Statement-level, with the
-- statement's rows as a transition table, handing all its pairs to digis_enqueue(subscription
-- ids[], person ids[]) at once: a bulk save of 100,000 subscriptions costs one lookup of its
-- users and one INSERT, not 100,000 function calls (docs/decisions/0042). A row-level trigger
-- calling digis_enqueue(subscription_id, person_id) for each pair queues the same rows, more
-- slowly.
--
-- A transition table serves one event only, so a subscription has two triggers on the same
-- function: one AFTER INSERT, one AFTER UPDATE. With the reference schema's foreign key a new
-- subscription has no users yet and the INSERT one finds nobody; it is there for a schema whose
-- users can come first (no key, or a DEFERRABLE one): the contract queues after an insert too
-- (docs/delivery-path.md, step 1).

-- Queues every user of the ACTIVE subscriptions among sub_ids. `= ANY (sub_ids)`, not a join
-- with unnest(sub_ids): without column statistics (tables just bulk-loaded, before autovacuum
-- analyses them) the planner guessed that join at 100 million rows, enough to JIT-compile the
-- statement on every save; a scan of subscription_user filtered by the array (hashed from
-- PostgreSQL 14 on) is estimated at most at the table's rows (docs/decisions/0058).
DROP FUNCTION IF EXISTS digis_queue_subscription(BIGINT);
CREATE OR REPLACE FUNCTION digis_queue_subscription(sub_ids BIGINT[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM digis_enqueue(array_agg(su.subscription_id), array_agg(su.person_id))
    FROM subscription_user su
    WHERE su.subscription_id = ANY (sub_ids);
END;
$$;

CREATE OR REPLACE FUNCTION digis_subscription_saved() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM digis_queue_subscription(array_agg(saved.id))
    FROM saved
    WHERE saved.status = 'ACTIVE';
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION digis_subscription_user_added() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM digis_enqueue(array_agg(added.subscription_id), array_agg(added.person_id))
    FROM added
    WHERE EXISTS (SELECT 1 FROM subscription s
                  WHERE s.id = added.subscription_id AND s.status = 'ACTIVE');
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS digis_subscription_saved ON subscription;
CREATE TRIGGER digis_subscription_saved
    AFTER UPDATE ON subscription
    REFERENCING NEW TABLE AS saved
    FOR EACH STATEMENT EXECUTE FUNCTION digis_subscription_saved();

DROP TRIGGER IF EXISTS digis_subscription_inserted ON subscription;
CREATE TRIGGER digis_subscription_inserted
    AFTER INSERT ON subscription
    REFERENCING NEW TABLE AS saved
    FOR EACH STATEMENT EXECUTE FUNCTION digis_subscription_saved();

DROP TRIGGER IF EXISTS digis_subscription_user_added ON subscription_user;
CREATE TRIGGER digis_subscription_user_added
    AFTER INSERT ON subscription_user
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION digis_subscription_user_added();

-- Member search finds persons by phone, e-mail and name through the relay's own keys
-- (digis_person_key, migration 0018): each statement that saves persons hands their ids to the
-- relay-owned digis_person_changed(ids), which reads them back from digis_person. `migrate`
-- sees this adapter names digis_person_changed and builds the keys of the persons already
-- there; an adapter without these triggers leaves search filtering every person.
-- Statement-level (one call a statement); an update hands over only the persons whose name,
-- number, address or id changed.
CREATE OR REPLACE FUNCTION digis_person_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM digis_person_changed(array_agg(saved.id)) FROM saved;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION digis_person_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM digis_person_changed(array_agg(c.id))
    FROM (SELECT o.id FROM before o
          WHERE NOT EXISTS (SELECT 1 FROM saved n
                            WHERE n.id = o.id AND n.email IS NOT DISTINCT FROM o.email
                              AND n.mobile_number IS NOT DISTINCT FROM o.mobile_number
                              AND n.first_name IS NOT DISTINCT FROM o.first_name
                              AND n.last_name IS NOT DISTINCT FROM o.last_name)
          UNION
          SELECT n.id FROM saved n
          WHERE NOT EXISTS (SELECT 1 FROM before o
                            WHERE o.id = n.id AND o.email IS NOT DISTINCT FROM n.email
                              AND o.mobile_number IS NOT DISTINCT FROM n.mobile_number
                              AND o.first_name IS NOT DISTINCT FROM n.first_name
                              AND o.last_name IS NOT DISTINCT FROM n.last_name)) c;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION digis_person_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM digis_person_changed(array_agg(gone.id)) FROM gone;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS digis_person_inserted ON person;
CREATE TRIGGER digis_person_inserted
    AFTER INSERT ON person
    REFERENCING NEW TABLE AS saved
    FOR EACH STATEMENT EXECUTE FUNCTION digis_person_inserted();

DROP TRIGGER IF EXISTS digis_person_updated ON person;
CREATE TRIGGER digis_person_updated
    AFTER UPDATE ON person
    REFERENCING OLD TABLE AS before NEW TABLE AS saved
    FOR EACH STATEMENT EXECUTE FUNCTION digis_person_updated();

DROP TRIGGER IF EXISTS digis_person_deleted ON person;
CREATE TRIGGER digis_person_deleted
    AFTER DELETE ON person
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION digis_person_deleted();
