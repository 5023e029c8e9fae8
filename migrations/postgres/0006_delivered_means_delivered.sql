-- Delivered means delivered (DESIGN §6): a pair with a `sent` outbox row is delivered even when
-- the host lost its `digis` row (a TRUNCATE, a restore from an older backup), so a save must not
-- queue it again. 0001's trigger functions checked `digis` only; they are replaced here (0001
-- itself is never edited: sqlx checksums it).
--
-- The rule lives in one relay-owned function, digis_enqueue(subscription, person): the host's
-- side (which pairs a save concerns, what ACTIVE means) stays in the trigger functions, which
-- only call it. SQLite has no stored functions: its triggers spell the same rule inline.
-- No new index: digis_outbox_pair (subscription_id, person_id) finds a pair's few rows and the
-- state is read from them; a partial index of sent rows would cost every completion a write.

-- Queues the pair unless Digis has it (a `digis` row or a `sent` outbox row) or a row of it is
-- open. ON CONFLICT: two concurrent saves must never fail the membership system's transaction.
-- True when a row was queued.
CREATE FUNCTION digis_enqueue(sub_id BIGINT, per_id BIGINT) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO digis_outbox (subscription_id, person_id)
    SELECT sub_id, per_id
    WHERE NOT EXISTS (SELECT 1 FROM digis d
                      WHERE d.subscription_id = sub_id AND d.person_id = per_id)
      AND NOT EXISTS (SELECT 1 FROM digis_outbox o
                      WHERE o.subscription_id = sub_id AND o.person_id = per_id
                        AND o.state IN ('pending', 'sending', 'sent'))
    ON CONFLICT (subscription_id, person_id) WHERE state IN ('pending', 'sending') DO NOTHING;
    RETURN FOUND;
END;
$$;

CREATE OR REPLACE FUNCTION digis_queue_subscription(sub_id BIGINT) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM digis_enqueue(su.subscription_id, su.person_id)
    FROM subscription_user su
    WHERE su.subscription_id = sub_id;
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
