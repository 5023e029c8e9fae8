-- Start of every outbox read: the member's card as stored (SQLite keeps any value; decode types it). PostgreSQL reads the card as bytes.
SELECT o.id, o.subscription_id, o.person_id, o.state, o.attempts, o.next_attempt_at,
       o.locked_by, o.locked_until, o.claim_token, o.last_error, o.last_http_status,
       o.external_id, o.created_at, o.sent_at, o.reason, o.resend,
       (SELECT m.card_number FROM digis_member m
         WHERE m.subscription_id = o.subscription_id AND m.person_id = o.person_id) AS card_number
FROM digis_outbox o
