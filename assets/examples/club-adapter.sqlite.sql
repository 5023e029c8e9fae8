-- Host adapter for the example schema club-schema.sqlite.sql (assets/examples/README.md): the
-- reference adapter (assets/host-adapter.sqlite.sql) with every table and column renamed, and
-- the values that differ translated (state 'active' → 'ACTIVE', gender 'M'/'F' → 'MALE'/'FEMALE').
-- Point `[host] adapter` at this file and run `digis-relay migrate`.
-- Same rules as the reference: repeatable statements, no BEGIN/COMMIT outside trigger bodies.

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
-- queued is the relay's (the trigger on digis_enqueue_request).
DROP TRIGGER IF EXISTS digis_subscription_inserted;
CREATE TRIGGER digis_subscription_inserted AFTER INSERT ON membership
WHEN NEW.state = 'active'
BEGIN
    INSERT INTO digis_enqueue_request (subscription_id, person_id)
    SELECT h.membership_no, h.member_no
    FROM membership_holder h
    WHERE h.membership_no = NEW.membership_no;
END;

DROP TRIGGER IF EXISTS digis_subscription_updated;
CREATE TRIGGER digis_subscription_updated AFTER UPDATE ON membership
WHEN NEW.state = 'active'
BEGIN
    INSERT INTO digis_enqueue_request (subscription_id, person_id)
    SELECT h.membership_no, h.member_no
    FROM membership_holder h
    WHERE h.membership_no = NEW.membership_no;
END;

DROP TRIGGER IF EXISTS digis_subscription_user_added;
CREATE TRIGGER digis_subscription_user_added AFTER INSERT ON membership_holder
WHEN (SELECT state FROM membership WHERE membership_no = NEW.membership_no) = 'active'
BEGIN
    INSERT INTO digis_enqueue_request (subscription_id, person_id)
    VALUES (NEW.membership_no, NEW.member_no);
END;
