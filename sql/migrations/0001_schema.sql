-- The WebChat data model. Names here are the integration contract (DESIGN.md section 2).
CREATE SCHEMA IF NOT EXISTS webchat;

CREATE TABLE webchat.accounts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('guest', 'user', 'bot', 'agent')),
    external_id  text,
    display_name text NOT NULL DEFAULT '' CHECK (length(display_name) <= 200),
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- a guest merged into a signed-in user points at that user
    merged_into  bigint REFERENCES webchat.accounts (id) ON DELETE SET NULL
);
CREATE UNIQUE INDEX accounts_kind_external_id ON webchat.accounts (kind, external_id)
    WHERE external_id IS NOT NULL;

CREATE TABLE webchat.chats (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title           text NOT NULL DEFAULT '' CHECK (length(title) <= 200),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    archived_at     timestamptz,
    metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- the chat's change sequence: every message insert, edit and delete takes the next value
    last_seq        bigint NOT NULL DEFAULT 0,
    last_message_id bigint,
    created_by      bigint REFERENCES webchat.accounts (id) ON DELETE SET NULL
);

CREATE TABLE webchat.chat_members (
    chat_id       bigint NOT NULL REFERENCES webchat.chats (id) ON DELETE CASCADE,
    account_id    bigint NOT NULL REFERENCES webchat.accounts (id) ON DELETE CASCADE,
    joined_at     timestamptz NOT NULL DEFAULT now(),
    last_read_seq bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (chat_id, account_id)
);
CREATE INDEX chat_members_account ON webchat.chat_members (account_id);

CREATE TABLE webchat.media (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chat_id      bigint NOT NULL REFERENCES webchat.chats (id) ON DELETE CASCADE,
    uploader_id  bigint REFERENCES webchat.accounts (id) ON DELETE SET NULL,
    content_type text NOT NULL,
    size         integer NOT NULL,
    bytes        bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX media_chat ON webchat.media (chat_id);

CREATE TABLE webchat.messages (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chat_id     bigint NOT NULL REFERENCES webchat.chats (id) ON DELETE CASCADE,
    sender_id   bigint NOT NULL REFERENCES webchat.accounts (id),
    text        text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- position of the message in its chat (set by trigger, never changes)
    seq         bigint NOT NULL DEFAULT 0,
    -- chat sequence value of the latest change to this row (= seq until edited/deleted)
    change_seq  bigint NOT NULL DEFAULT 0,
    client_id   text CHECK (length(client_id) <= 100),
    media_id    bigint REFERENCES webchat.media (id) ON DELETE SET NULL,
    media_type  text CHECK (media_type IN ('image', 'audio')),
    edited_at   timestamptz,
    deleted_at  timestamptz,
    reply_to_id bigint REFERENCES webchat.messages (id) ON DELETE SET NULL,
    metadata    jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE UNIQUE INDEX messages_chat_seq ON webchat.messages (chat_id, seq);
CREATE INDEX messages_chat_change_seq ON webchat.messages (chat_id, change_seq);
CREATE UNIQUE INDEX messages_sender_client_id ON webchat.messages (sender_id, client_id)
    WHERE client_id IS NOT NULL;
CREATE INDEX messages_sender ON webchat.messages (sender_id);

ALTER TABLE webchat.chats ADD CONSTRAINT chats_last_message_fk
    FOREIGN KEY (last_message_id) REFERENCES webchat.messages (id) ON DELETE SET NULL
    DEFERRABLE INITIALLY DEFERRED;

-- Sequence assignment: the UPDATE takes the chat row's lock, which is held until commit, so
-- two writers into one chat commit in seq order and a rolled-back insert leaves no gap.
CREATE FUNCTION webchat.message_before_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE webchat.chats
       SET last_seq = last_seq + 1,
           updated_at = now(),
           last_message_id = NEW.id
     WHERE id = NEW.chat_id
    RETURNING last_seq INTO NEW.seq;
    IF NEW.seq IS NULL THEN
        RAISE EXCEPTION 'chat % does not exist', NEW.chat_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    NEW.change_seq := NEW.seq;
    NEW.created_at := now();
    RETURN NEW;
END $$;

CREATE TRIGGER message_before_insert BEFORE INSERT ON webchat.messages
    FOR EACH ROW EXECUTE FUNCTION webchat.message_before_insert();

-- Edits and deletes take the next chat sequence value too, so "everything after cursor N"
-- includes changes. seq and chat_id never change.
CREATE FUNCTION webchat.message_before_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.seq := OLD.seq;
    NEW.chat_id := OLD.chat_id;
    IF NEW.text IS DISTINCT FROM OLD.text
       OR NEW.deleted_at IS DISTINCT FROM OLD.deleted_at
       OR NEW.metadata IS DISTINCT FROM OLD.metadata
       OR NEW.media_id IS DISTINCT FROM OLD.media_id THEN
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

CREATE TRIGGER message_before_update BEFORE UPDATE ON webchat.messages
    FOR EACH ROW EXECUTE FUNCTION webchat.message_before_update();

-- What the API and the listener read for a message: the row plus its sender's name and kind.
CREATE VIEW webchat.message_view AS
SELECT m.id, m.chat_id, m.seq, m.change_seq, m.text, m.sender_id,
       a.display_name AS sender_name, a.kind AS sender_kind,
       m.created_at, m.media_id, m.media_type, m.client_id, m.edited_at, m.deleted_at,
       m.reply_to_id, m.metadata
  FROM webchat.messages m
  JOIN webchat.accounts a ON a.id = m.sender_id;
