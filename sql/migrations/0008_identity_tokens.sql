-- Identity tokens are single-use (issue 18): a token replayed from another browser, or after
-- logout, signed that user in again until it expired. A token's SHA-256 is kept until the token
-- expires (at most 24 h ahead), so the table holds one row per sign-in of the last day at most.
CREATE TABLE webchat.used_identity_tokens (
    token_hash bytea PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX used_identity_tokens_expires ON webchat.used_identity_tokens (expires_at);
