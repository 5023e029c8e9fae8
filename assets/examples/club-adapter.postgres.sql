-- Host adapter for the example schema club-schema.postgres.sql (assets/examples/README.md): the
-- reference adapter (assets/host-adapter.postgres.sql) with every table and column renamed, and
-- the values that differ translated (state 'active' → 'ACTIVE', gender 'M'/'F' → 'MALE'/'FEMALE').
-- Point `[host] adapter` at this file and run `digis-relay migrate`.
-- Same rules as the reference: repeatable statements, no BEGIN/COMMIT.

DROP VIEW IF EXISTS digis_member;
CREATE VIEW digis_member AS
SELECT h.membership_no      AS subscription_id,
       h.member_no          AS person_id,
       upper(ms.state)      AS subscription_status,
       ms.valid_from        AS start_date,
       ms.valid_to          AS max_end,
       m.given_name         AS first_name,
       m.family_name        AS last_name,
       m.born               AS birth_date,
       CASE m.gender WHEN 'M' THEN 'MALE' WHEN 'F' THEN 'FEMALE' END AS sex,
       m.mail               AS email,
       m.mail_ok            AS allow_email,
       m.sms_ok             AS allow_sms,
       m.phone_cc           AS mobile_country_code,
       m.phone              AS mobile_number,
       m.card               AS card_number,
       m.home_club          AS unit_id,
       c.club_name          AS unit_name,
       a.street             AS street_address,
       a.zip                AS postal_code,
       a.town               AS postal_city,
       a.country            AS country_alpha2
FROM membership ms
JOIN membership_holder h ON h.membership_no = ms.membership_no
JOIN member m ON m.member_no = h.member_no
LEFT JOIN club c ON c.club_no = m.home_club
LEFT JOIN member_address a ON a.member_no = m.member_no;

DROP VIEW IF EXISTS digis_person;
CREATE VIEW digis_person AS
SELECT m.member_no   AS id,
       m.given_name  AS first_name,
       m.family_name AS last_name,
       m.mail        AS email,
       m.phone_cc    AS mobile_country_code,
       m.phone       AS mobile_number,
       m.card        AS card_number,
       a.country     AS country_alpha2
FROM member m
LEFT JOIN member_address a ON a.member_no = m.member_no;

DROP VIEW IF EXISTS digis_subscription;
CREATE VIEW digis_subscription AS
SELECT ms.membership_no AS id,
       upper(ms.state)  AS status
FROM membership ms;

-- Which pairs a save concerns and what "active" means are this schema's; whether a pair is
-- queued is the relay's digis_enqueue. `= ANY (sub_ids)` rather than a join with unnest: see the
-- reference adapter (assets/host-adapter.postgres.sql).
DROP FUNCTION IF EXISTS digis_queue_subscription(BIGINT);
CREATE OR REPLACE FUNCTION digis_queue_subscription(sub_ids BIGINT[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM digis_enqueue(array_agg(h.membership_no), array_agg(h.member_no))
    FROM membership_holder h
    WHERE h.membership_no = ANY (sub_ids);
END;
$$;

CREATE OR REPLACE FUNCTION digis_subscription_saved() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM digis_queue_subscription(array_agg(saved.membership_no))
    FROM saved
    WHERE saved.state = 'active';
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION digis_subscription_user_added() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM digis_enqueue(array_agg(added.membership_no), array_agg(added.member_no))
    FROM added
    WHERE EXISTS (SELECT 1 FROM membership ms
                  WHERE ms.membership_no = added.membership_no AND ms.state = 'active');
    RETURN NULL;
END;
$$;

-- Statement-level, as the reference's: a transition table serves one event only, so INSERT and
-- UPDATE of membership each have a trigger on the same function (with membership_holder's
-- foreign key the INSERT one finds no holders; it keeps the contract for holders saved first).
DROP TRIGGER IF EXISTS digis_subscription_saved ON membership;
CREATE TRIGGER digis_subscription_saved
    AFTER UPDATE ON membership
    REFERENCING NEW TABLE AS saved
    FOR EACH STATEMENT EXECUTE FUNCTION digis_subscription_saved();

DROP TRIGGER IF EXISTS digis_subscription_inserted ON membership;
CREATE TRIGGER digis_subscription_inserted
    AFTER INSERT ON membership
    REFERENCING NEW TABLE AS saved
    FOR EACH STATEMENT EXECUTE FUNCTION digis_subscription_saved();

DROP TRIGGER IF EXISTS digis_subscription_user_added ON membership_holder;
CREATE TRIGGER digis_subscription_user_added
    AFTER INSERT ON membership_holder
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION digis_subscription_user_added();
