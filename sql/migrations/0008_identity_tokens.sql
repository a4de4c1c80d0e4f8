-- Identity tokens are single-use (issue 18): a token replayed from another browser, or after
-- logout, signed that user in again until it expired. A token's SHA-256 is kept until the token
-- expires (at most 24 h ahead), so the table holds one row per sign-in of the last day at most.
CREATE TABLE webchat.used_identity_tokens (
    token_hash bytea PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX used_identity_tokens_expires ON webchat.used_identity_tokens (expires_at);

-- A session id ended by sign-in or sign-out is announced, so every server process closes the
-- sockets and parked polls that session opened (issue 18): before, a socket opened before logout,
-- or before signing in as someone else, kept the old account's messages for as long as it stayed
-- open. Kind 's': [sid]. The id is worthless once it is in this table (it is refused from now on).
CREATE FUNCTION webchat.revoked_sessions_after_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM webchat.notify_rows('s', (SELECT jsonb_agg(jsonb_build_array(sid) ORDER BY sid) FROM new_rows));
    RETURN NULL;
END $$;

CREATE TRIGGER revoked_sessions_after_insert AFTER INSERT ON webchat.revoked_sessions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webchat.revoked_sessions_after_insert();
