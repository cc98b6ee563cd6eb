-- 004: notifications for users (REST and live updates).
CREATE TABLE IF NOT EXISTS notifications (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    recipient_id      uuid NOT NULL,
    notification_type text NOT NULL
                      CHECK (notification_type IN ('conversation', 'lead', 'agent', 'workflow', 'system')),
    severity          text NOT NULL DEFAULT 'info'
                      CHECK (severity IN ('info', 'success', 'warning', 'error')),
    title             text NOT NULL,
    message           text NOT NULL,
    action_url        text,
    metadata          jsonb NOT NULL DEFAULT '{}'::jsonb,
    read_at           timestamptz,
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at        timestamptz,
    deleted_at        timestamptz
);
-- a user's list, newest first (deleted ones never listed)
CREATE INDEX IF NOT EXISTS notifications_recipient_newest
    ON notifications (recipient_id, created_at DESC) WHERE deleted_at IS NULL;
-- unread counts and mark-all-read
CREATE INDEX IF NOT EXISTS notifications_recipient_unread
    ON notifications (recipient_id) WHERE read_at IS NULL AND deleted_at IS NULL;
