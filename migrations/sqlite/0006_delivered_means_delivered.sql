-- Delivered means delivered (DESIGN §6): a pair with a `sent` outbox row is delivered even when
-- the host lost its `digis` row (a TRUNCATE, a restore from an older backup), so a save must not
-- queue it again. 0001's triggers checked `digis` only; they are replaced here with the same
-- names and bodies plus that check (0001 itself is never edited: sqlx checksums it).
-- PostgreSQL moves the check into a relay-owned function, digis_enqueue; SQLite has no stored
-- functions, so its triggers keep it inline.
-- No new index: digis_outbox_pair (subscription_id, person_id) finds a pair's few rows and the
-- state is read from them; a partial index of sent rows would cost every completion a write.

DROP TRIGGER IF EXISTS digis_subscription_inserted;
DROP TRIGGER IF EXISTS digis_subscription_updated;
DROP TRIGGER IF EXISTS digis_subscription_user_added;

CREATE TRIGGER digis_subscription_inserted AFTER INSERT ON subscription
WHEN NEW.status = 'ACTIVE'
BEGIN
    INSERT OR IGNORE INTO digis_outbox (subscription_id, person_id)
    SELECT su.subscription_id, su.person_id
    FROM subscription_user su
    WHERE su.subscription_id = NEW.id
      AND NOT EXISTS (SELECT 1 FROM digis d
                      WHERE d.subscription_id = su.subscription_id AND d.person_id = su.person_id)
      AND NOT EXISTS (SELECT 1 FROM digis_outbox o
                      WHERE o.subscription_id = su.subscription_id AND o.person_id = su.person_id
                        AND o.state IN ('pending', 'sending', 'sent'));
END;

CREATE TRIGGER digis_subscription_updated AFTER UPDATE ON subscription
WHEN NEW.status = 'ACTIVE'
BEGIN
    INSERT OR IGNORE INTO digis_outbox (subscription_id, person_id)
    SELECT su.subscription_id, su.person_id
    FROM subscription_user su
    WHERE su.subscription_id = NEW.id
      AND NOT EXISTS (SELECT 1 FROM digis d
                      WHERE d.subscription_id = su.subscription_id AND d.person_id = su.person_id)
      AND NOT EXISTS (SELECT 1 FROM digis_outbox o
                      WHERE o.subscription_id = su.subscription_id AND o.person_id = su.person_id
                        AND o.state IN ('pending', 'sending', 'sent'));
END;

CREATE TRIGGER digis_subscription_user_added AFTER INSERT ON subscription_user
WHEN (SELECT status FROM subscription WHERE id = NEW.subscription_id) = 'ACTIVE'
BEGIN
    INSERT OR IGNORE INTO digis_outbox (subscription_id, person_id)
    SELECT NEW.subscription_id, NEW.person_id
    WHERE NOT EXISTS (SELECT 1 FROM digis d
                      WHERE d.subscription_id = NEW.subscription_id AND d.person_id = NEW.person_id)
      AND NOT EXISTS (SELECT 1 FROM digis_outbox o
                      WHERE o.subscription_id = NEW.subscription_id AND o.person_id = NEW.person_id
                        AND o.state IN ('pending', 'sending', 'sent'));
END;
