-- The staff side (README "Answer your visitors"): agents, an inbox of visitor conversations,
-- internal notes, handoff between a bot and a human.

-- Internal notes: a message only agents ever see. 'public' is what every message was until now.
ALTER TABLE webchat.messages
    ADD COLUMN visibility text NOT NULL DEFAULT 'public' CHECK (visibility IN ('public', 'agents'));

-- the view gains the column at its end (CREATE OR REPLACE VIEW may only append): the view of
-- 0009_reactions.sql, then visibility
CREATE OR REPLACE VIEW webchat.message_view AS
SELECT m.id, m.chat_id, m.seq, m.change_seq, m.text, m.sender_id,
       a.display_name AS sender_name, a.kind AS sender_kind,
       m.created_at, m.media_id, m.media_type, m.client_id, m.edited_at, m.deleted_at,
       m.reply_to_id, m.metadata,
       (SELECT jsonb_agg(jsonb_build_object('emoji', g.emoji, 'count', g.n, 'by', to_jsonb(g.names[1:10]),
                                            'account_ids', to_jsonb(g.ids))
                         ORDER BY g.first, g.emoji)
          FROM (SELECT r.emoji, count(*) AS n, min(r.created_at) AS first,
                       array_agg(split_part(btrim(ra.display_name), ' ', 1) ORDER BY r.created_at, r.account_id) AS names,
                       array_agg(r.account_id ORDER BY r.created_at, r.account_id) AS ids
                  FROM webchat.reactions r
                  JOIN webchat.accounts ra ON ra.id = r.account_id
                 WHERE r.message_id = m.id
                 GROUP BY r.emoji) g) AS reactions,
       (SELECT jsonb_build_object('id', o.id, 'sender_name', oa.display_name,
                                  'text', CASE WHEN o.deleted_at IS NULL THEN left(o.text, 140) ELSE '' END,
                                  'deleted', o.deleted_at IS NOT NULL,
                                  'media_type', CASE WHEN o.deleted_at IS NULL THEN o.media_type END)
          FROM webchat.messages o
          JOIN webchat.accounts oa ON oa.id = o.sender_id
         -- a reply made by SQL across chats must not show another chat's text
         WHERE o.id = m.reply_to_id AND o.chat_id = m.chat_id) AS quote,
       m.visibility
  FROM webchat.messages m
  JOIN webchat.accounts a ON a.id = m.sender_id;

-- A public message never quotes a note, whoever writes it (the API refuses it; an INSERT by SQL
-- loses the reference): the quote would show the note's words to the visitor.
CREATE FUNCTION webchat.message_reply_not_to_note() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.reply_to_id IS NOT NULL AND NEW.visibility = 'public' AND EXISTS (
           SELECT 1 FROM webchat.messages WHERE id = NEW.reply_to_id AND visibility = 'agents') THEN
        NEW.reply_to_id := NULL;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER messages_reply_not_to_note BEFORE INSERT OR UPDATE OF reply_to_id, visibility ON webchat.messages
    FOR EACH ROW EXECUTE FUNCTION webchat.message_reply_not_to_note();

-- Conversations of the inbox: chats a visitor (guest or signed-in user) started.
--   visitor_id   the visitor; kept by trigger from created_by, so chats made by SQL count too
--   status       open | resolved (a visitor writing again reopens it)
--   assignee_id  the agent handling it, or null (unassigned)
ALTER TABLE webchat.chats
    ADD COLUMN visitor_id  bigint REFERENCES webchat.accounts (id) ON DELETE SET NULL,
    ADD COLUMN status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    ADD COLUMN assignee_id bigint REFERENCES webchat.accounts (id) ON DELETE SET NULL;

CREATE FUNCTION webchat.chat_visitor() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.visitor_id := (SELECT id FROM webchat.accounts
                        WHERE id = NEW.created_by AND kind IN ('guest', 'user'));
    RETURN NEW;
END $$;

CREATE TRIGGER chats_visitor BEFORE INSERT OR UPDATE OF created_by ON webchat.chats
    FOR EACH ROW EXECUTE FUNCTION webchat.chat_visitor();

UPDATE webchat.chats c SET visitor_id = a.id
  FROM webchat.accounts a WHERE a.id = c.created_by AND a.kind IN ('guest', 'user');

-- The inbox list, newest activity first, per status and per assignee: an index range scan that
-- stops after one page whatever the number of conversations (bench/inbox.py).
CREATE INDEX chats_inbox ON webchat.chats (status, updated_at DESC, id DESC)
    WHERE visitor_id IS NOT NULL AND last_seq > 0;
CREATE INDEX chats_inbox_assignee ON webchat.chats (assignee_id, status, updated_at DESC, id DESC)
    WHERE visitor_id IS NOT NULL AND last_seq > 0;

-- A visitor's other conversations (the inbox shows them beside one).
CREATE INDEX chats_visitor ON webchat.chats (visitor_id, id DESC) WHERE visitor_id IS NOT NULL;

-- What an agent's reader follows at attach: every open conversation, empty ones too
-- (realtime/agents.py). Only visitor_id and status decide membership, both rarely changed.
CREATE INDEX chats_open_conversations ON webchat.chats (id) WHERE visitor_id IS NOT NULL AND status = 'open';

-- A resolved conversation the visitor writes in again is open again.
CREATE FUNCTION webchat.message_reopen() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE webchat.chats SET status = 'open'
     WHERE id = NEW.chat_id AND status = 'resolved' AND visitor_id = NEW.sender_id;
    RETURN NULL;
END $$;

CREATE TRIGGER messages_reopen AFTER INSERT ON webchat.messages
    FOR EACH ROW EXECUTE FUNCTION webchat.message_reopen();

-- Inbox changes (status, assignee) are chat changes: 'c' as for a rename. The transition tables
-- have no statistics, so the planner joined them with a nested loop: an UPDATE of 100,000 chats by
-- SQL (bench/inbox.py) ran for half an hour; a hash join takes a second.
CREATE OR REPLACE FUNCTION webchat.chats_after_update() RETURNS trigger
LANGUAGE plpgsql SET enable_nestloop = off AS $$
BEGIN
    PERFORM webchat.notify_rows('c', (
        SELECT jsonb_agg(jsonb_build_array(n.id) ORDER BY n.id)
          FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE n.title IS DISTINCT FROM o.title
            OR n.archived_at IS DISTINCT FROM o.archived_at
            OR n.metadata IS DISTINCT FROM o.metadata
            OR n.status IS DISTINCT FROM o.status
            OR n.assignee_id IS DISTINCT FROM o.assignee_id));
    RETURN NULL;
END $$;

-- The same for the other statement triggers that join their old and new rows: a bulk UPDATE of
-- messages or read positions by SQL is a hash join, not rows x rows.
ALTER FUNCTION webchat.messages_after_update() SET enable_nestloop = off;
ALTER FUNCTION webchat.members_after_update() SET enable_nestloop = off;

-- One-time sign-in links for agents made with `webchat-server agent add` (sites with no backend to
-- sign identity tokens). Only the SHA-256 of the secret is stored; a link works once, until expires_at.
CREATE TABLE webchat.agent_signins (
    token_hash bytea PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES webchat.accounts (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);

-- Availability: every server process stamps the agents it has connected (webchat_server/domain/
-- availability.py); an agent stamped within the last minute or so is online.
ALTER TABLE webchat.accounts ADD COLUMN agent_seen_at timestamptz;
CREATE INDEX accounts_agents_seen ON webchat.accounts (agent_seen_at) WHERE kind = 'agent';

-- Email when offline: an agent's public reply in a conversation whose visitor left an email queues
-- the conversation here (one row per conversation, so a burst of replies is one email). A server
-- process sends it once the reply has waited WEBCHAT_SMTP_BATCH_SECONDS and is still unread.
CREATE TABLE webchat.offline_mail (
    chat_id     bigint PRIMARY KEY REFERENCES webchat.chats (id) ON DELETE CASCADE,
    -- the first reply not emailed yet; null = nothing waiting
    queued_at   timestamptz,
    -- replies up to this seq were emailed already
    emailed_seq bigint NOT NULL DEFAULT 0
);
CREATE INDEX offline_mail_queued ON webchat.offline_mail (queued_at) WHERE queued_at IS NOT NULL;

CREATE FUNCTION webchat.messages_offline_mail() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webchat.offline_mail AS o (chat_id, queued_at)
    SELECT DISTINCT n.chat_id, now()
      FROM new_rows n
      JOIN webchat.accounts a ON a.id = n.sender_id AND a.kind = 'agent'
      JOIN webchat.chats c ON c.id = n.chat_id
      JOIN webchat.accounts v ON v.id = c.visitor_id AND v.email IS NOT NULL
     WHERE n.visibility = 'public'
    ON CONFLICT (chat_id) DO UPDATE SET queued_at = coalesce(o.queued_at, EXCLUDED.queued_at);
    RETURN NULL;
END $$;

CREATE TRIGGER messages_offline_mail AFTER INSERT ON webchat.messages
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webchat.messages_offline_mail();
