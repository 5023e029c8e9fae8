-- Delivered means delivered (DESIGN §6): a pair with a `sent` outbox row is delivered even when
-- the host lost its `digis` row (a TRUNCATE, a restore from an older backup), so a save must not
-- queue it again.
--
-- The rule lives in one relay-owned function, digis_enqueue(subscription, person). The host's
-- side (which pairs a save concerns, what ACTIVE means) is the host adapter's trigger functions
-- (assets/host-adapter.postgres.sql), which only call it, so the relay can change how it queues
-- without operators rewriting their adapter. SQLite has no stored functions: its entry point is
-- the view digis_enqueue_request (migration 0010).
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
