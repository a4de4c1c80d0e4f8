-- Reactions and reply quotes.
--
-- A reaction is a row: one per (message, account, emoji). Adding or removing one moves the
-- message's change_seq (a trigger bumps messages.reactions_rev, which message_before_update
-- treats as a change), so it is delivered as message_updated by the same NOTIFY 'u' path as an
-- edit and replayed on resume like one. A bot reacts with a plain
--   INSERT INTO webchat.reactions (message_id, account_id, emoji) VALUES (...);
CREATE TABLE webchat.reactions (
    message_id  bigint NOT NULL REFERENCES webchat.messages (id) ON DELETE CASCADE,
    account_id  bigint NOT NULL REFERENCES webchat.accounts (id) ON DELETE CASCADE,
    -- the API accepts one emoji sequence only; the bound keeps SQL writers from storing essays
    emoji       text NOT NULL CHECK (length(emoji) BETWEEN 1 AND 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, account_id, emoji)
);
-- deleting an account (guest retention) cascades here
CREATE INDEX reactions_account ON webchat.reactions (account_id);

ALTER TABLE webchat.messages ADD COLUMN reactions_rev integer NOT NULL DEFAULT 0;

CREATE OR REPLACE FUNCTION webchat.message_before_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.seq := OLD.seq;
    NEW.chat_id := OLD.chat_id;
    IF NEW.text IS DISTINCT FROM OLD.text
       OR NEW.deleted_at IS DISTINCT FROM OLD.deleted_at
       OR NEW.metadata IS DISTINCT FROM OLD.metadata
       OR NEW.media_id IS DISTINCT FROM OLD.media_id
       OR NEW.reactions_rev IS DISTINCT FROM OLD.reactions_rev THEN
        UPDATE webchat.chats SET last_seq = last_seq + 1
         WHERE id = NEW.chat_id
        RETURNING last_seq INTO NEW.change_seq;
        IF NEW.text IS DISTINCT FROM OLD.text AND NEW.deleted_at IS NULL THEN
            NEW.edited_at := now();
        END IF;
    ELSE
        NEW.change_seq := OLD.change_seq;
    END IF;
    RETURN NEW;
END $$;

-- One bump per message per statement, however many of its reactions the statement wrote: a
-- bot that inserts 50 reactions in one INSERT sends one message_updated per message. Messages
-- are updated in id order so two multi-message statements cannot deadlock on each other.
CREATE FUNCTION webchat.reactions_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT message_id) INTO ids FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT message_id) INTO ids FROM old_rows;
    ELSE
        SELECT array_agg(DISTINCT message_id) INTO ids
          FROM (SELECT message_id FROM new_rows UNION SELECT message_id FROM old_rows) x;
    END IF;
    IF ids IS NOT NULL THEN
        -- a message being deleted in this same statement (cascade) is simply not found
        PERFORM 1 FROM webchat.messages WHERE id = ANY (ids) ORDER BY id FOR NO KEY UPDATE;
        UPDATE webchat.messages SET reactions_rev = reactions_rev + 1 WHERE id = ANY (ids);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER reactions_after_insert AFTER INSERT ON webchat.reactions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webchat.reactions_changed();
CREATE TRIGGER reactions_after_delete AFTER DELETE ON webchat.reactions
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webchat.reactions_changed();
CREATE TRIGGER reactions_after_update AFTER UPDATE ON webchat.reactions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webchat.reactions_changed();

-- The message as clients see it gains its reactions and the quote of the message it answers,
-- read in the same query as the row (one query per page, no second round trip):
--   reactions: [{emoji, count, by: [first names, first 10], account_ids: [all]}], oldest emoji
--              first; account_ids lets each reader tell "mine" from a frame shared by everyone
--   quote:     {id, sender_name, text (first 140 characters), deleted}
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
         WHERE o.id = m.reply_to_id AND o.chat_id = m.chat_id) AS quote
  FROM webchat.messages m
  JOIN webchat.accounts a ON a.id = m.sender_id;
