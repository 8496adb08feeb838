-- Delivery bookkeeping for the notification outbox: a message that keeps failing is retried a
-- few times and then left with its last error instead of being retried forever.
ALTER TABLE notification_outbox
    ADD COLUMN attempts   integer NOT NULL DEFAULT 0,
    ADD COLUMN last_error text,
    ADD COLUMN channel    text;
CREATE INDEX notification_outbox_pending_idx ON notification_outbox (id)
    WHERE delivered_at IS NULL;
