-- Read receipts and presence. An account may stop sharing its read position with the other
-- members of its chats; last_seen_at is when it was last connected, written by the server at
-- most once a minute per account (never per heartbeat), so "last seen" survives restarts.
ALTER TABLE webchat.accounts
    ADD COLUMN share_read_receipts boolean NOT NULL DEFAULT true,
    ADD COLUMN last_seen_at        timestamptz;
