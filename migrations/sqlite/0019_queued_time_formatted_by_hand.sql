-- The time a queued row holds, formatted more cheaply on SQLite 3.42 and later (issue 28;
-- docs/decisions/0058). Same text as before: 'YYYY-MM-DDTHH:MM:SS.sssZ', the statement's 'now'.
--
-- strftime() formats through SQLite's printf, one call per field and a floating-point
-- conversion for the seconds: about a tenth of the instructions an import of subscriptions and
-- their users spends in the relay's triggers (callgrind, 10,000 subscriptions). datetime() with
-- the 'subsec' modifier writes the same digits by hand; 'T' and 'Z' are put in by replace() and
-- ||. The trigger runs in the host's SQLite, which may be older than 3.42: there the modifier is
-- unknown, datetime() is NULL and coalesce() falls back to strftime(), as before. Never NULL:
-- under OR IGNORE a NULL time would drop the row, not fail it.
--
-- Additive (docs/contracts.md): compatible_from and claim_protocol stay.
DROP TRIGGER digis_enqueue_request_insert;

CREATE TRIGGER digis_enqueue_request_insert INSTEAD OF INSERT ON digis_enqueue_request
WHEN NOT EXISTS (SELECT 1 FROM digis_pair_held h
                 WHERE h.subscription_id = NEW.subscription_id AND h.person_id = NEW.person_id)
BEGIN
    INSERT INTO digis_enqueue_at (subscription_id, person_id, at)
    VALUES (NEW.subscription_id, NEW.person_id,
            coalesce(replace(datetime('now', 'subsec'), ' ', 'T') || 'Z',
                     strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));
END;
