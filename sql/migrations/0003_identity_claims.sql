-- Signed identities carry more than a name (optional JWT claims `email`, `avatar`), and a
-- session that signs out or signs in must not be usable again from a copied cookie.
ALTER TABLE webchat.accounts
    ADD COLUMN email      text CHECK (length(email) <= 320),
    ADD COLUMN avatar_url text CHECK (length(avatar_url) <= 2000);

-- Session cookies are encrypted and stateless; a session id listed here is refused. A row is only
-- needed until the cookie would have expired anyway.
CREATE TABLE webchat.revoked_sessions (
    sid        text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX revoked_sessions_expires ON webchat.revoked_sessions (expires_at);
