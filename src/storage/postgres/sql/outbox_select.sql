-- Start of every outbox read: the member's card as the bytes of its text (an SQL_ASCII database stores any bytes). SQLite reads it as stored.
SELECT o.id, o.subscription_id, o.person_id, o.state, o.attempts, o.next_attempt_at,
       o.locked_by, o.locked_until, o.claim_token, o.last_error, o.last_http_status,
       o.external_id, o.created_at, o.sent_at, o.reason, o.resend,
       (SELECT convert_to(m.card_number::text, CASE WHEN getdatabaseencoding() = 'SQL_ASCII'
                THEN 'SQL_ASCII' ELSE 'UTF8' END::name) FROM digis_member m
         WHERE m.subscription_id = o.subscription_id AND m.person_id = o.person_id LIMIT 1) AS card_number
FROM digis_outbox o
