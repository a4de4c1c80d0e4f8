-- Live delivery: triggers NOTIFY small JSON payloads of ids on channel 'webchat'.
-- A payload never carries a row (NOTIFY payloads are capped at 8000 bytes); a statement that
-- writes many rows sends one NOTIFY per 200 rows, not one per row.
--
-- Payload: {"t": kind, "r": [row, ...]} with kind and row layout:
--   m  message inserted        [chat_id, message_id, seq, sender_id]
--   u  message edited/deleted  [chat_id, message_id, change_seq, sender_id]
--   c  chat created/updated    [chat_id]
--   d  chat deleted            [chat_id]
--   j  member joined           [chat_id, account_id]
--   l  member left             [chat_id, account_id]
--   r  read position moved     [chat_id, account_id, last_read_seq]
-- and two single-event kinds: {"t":"y","c":chat,"a":account,"n":name,"on":bool} (typing) and
-- {"t":"p","n":nonce} (the listener's health probe).

CREATE FUNCTION webchat.notify_rows(kind text, items jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    payload text;
BEGIN
    IF items IS NULL OR jsonb_array_length(items) = 0 THEN
        RETURN;
    END IF;
    FOR payload IN
        SELECT jsonb_build_object('t', kind, 'r', jsonb_agg(x.r ORDER BY x.n))::text
          FROM jsonb_array_elements(items) WITH ORDINALITY AS x(r, n)
         GROUP BY (x.n - 1) / 200
         ORDER BY (x.n - 1) / 200
    LOOP
        PERFORM pg_notify('webchat', payload);
    END LOOP;
END $$;

CREATE FUNCTION webchat.messages_after_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM webchat.notify_rows('m', (
        SELECT jsonb_agg(jsonb_build_array(chat_id, id, seq, sender_id) ORDER BY chat_id, seq)
          FROM new_rows));
    RETURN NULL;
END $$;

CREATE TRIGGER messages_after_insert AFTER INSERT ON webchat.messages
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webchat.messages_after_insert();

CREATE FUNCTION webchat.messages_after_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM webchat.notify_rows('u', (
        SELECT jsonb_agg(jsonb_build_array(n.chat_id, n.id, n.change_seq, n.sender_id)
                         ORDER BY n.chat_id, n.change_seq)
          FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE n.change_seq <> o.change_seq));
    RETURN NULL;
END $$;

CREATE TRIGGER messages_after_update AFTER UPDATE ON webchat.messages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webchat.messages_after_update();

CREATE FUNCTION webchat.chats_after_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM webchat.notify_rows('c', (
        SELECT jsonb_agg(jsonb_build_array(id) ORDER BY id) FROM new_rows));
    RETURN NULL;
END $$;

CREATE TRIGGER chats_after_insert AFTER INSERT ON webchat.chats
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webchat.chats_after_insert();

-- Only what a chat list shows; the per-message bump of last_seq/updated_at is not an event.
CREATE FUNCTION webchat.chats_after_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM webchat.notify_rows('c', (
        SELECT jsonb_agg(jsonb_build_array(n.id) ORDER BY n.id)
          FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE n.title IS DISTINCT FROM o.title
            OR n.archived_at IS DISTINCT FROM o.archived_at
            OR n.metadata IS DISTINCT FROM o.metadata));
    RETURN NULL;
END $$;

CREATE TRIGGER chats_after_update AFTER UPDATE ON webchat.chats
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webchat.chats_after_update();

CREATE FUNCTION webchat.chats_after_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM webchat.notify_rows('d', (
        SELECT jsonb_agg(jsonb_build_array(id) ORDER BY id) FROM old_rows));
    RETURN NULL;
END $$;

CREATE TRIGGER chats_after_delete AFTER DELETE ON webchat.chats
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webchat.chats_after_delete();

CREATE FUNCTION webchat.members_after_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM webchat.notify_rows('j', (
        SELECT jsonb_agg(jsonb_build_array(chat_id, account_id) ORDER BY chat_id, account_id)
          FROM new_rows));
    RETURN NULL;
END $$;

CREATE TRIGGER members_after_insert AFTER INSERT ON webchat.chat_members
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webchat.members_after_insert();

CREATE FUNCTION webchat.members_after_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM webchat.notify_rows('l', (
        SELECT jsonb_agg(jsonb_build_array(chat_id, account_id) ORDER BY chat_id, account_id)
          FROM old_rows));
    RETURN NULL;
END $$;

CREATE TRIGGER members_after_delete AFTER DELETE ON webchat.chat_members
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webchat.members_after_delete();

CREATE FUNCTION webchat.members_after_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM webchat.notify_rows('r', (
        SELECT jsonb_agg(jsonb_build_array(n.chat_id, n.account_id, n.last_read_seq)
                         ORDER BY n.chat_id, n.account_id)
          FROM new_rows n JOIN old_rows o
            ON o.chat_id = n.chat_id AND o.account_id = n.account_id
         WHERE n.last_read_seq <> o.last_read_seq));
    RETURN NULL;
END $$;

CREATE TRIGGER members_after_update AFTER UPDATE ON webchat.chat_members
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webchat.members_after_update();

-- Typing is ephemeral: a NOTIFY, never a row. Integrators call it too:
--   SELECT webchat.typing(chat_id, bot_account_id, true);
-- Returns false (and sends nothing) when the account is not a member of the chat.
CREATE FUNCTION webchat.typing(p_chat_id bigint, p_account_id bigint, p_is_typing boolean)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    name text;
BEGIN
    SELECT a.display_name INTO name
      FROM webchat.chat_members m JOIN webchat.accounts a ON a.id = m.account_id
     WHERE m.chat_id = p_chat_id AND m.account_id = p_account_id;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM pg_notify('webchat', jsonb_build_object(
        't', 'y', 'c', p_chat_id, 'a', p_account_id, 'n', left(name, 100), 'on', p_is_typing)::text);
    RETURN true;
END $$;
