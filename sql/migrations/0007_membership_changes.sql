-- Every way a membership can change notifies, not only INSERT and DELETE (issue 18): an UPDATE
-- that moves a row to another chat or account is a leave plus a join, and TRUNCATE of members or
-- chats is a leave (or a delete) of every row. Before, removed members kept receiving, and after
-- TRUNCATE ... RESTART IDENTITY an open socket received a stranger's chat that reused the id.

CREATE OR REPLACE FUNCTION webchat.members_after_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- pairs that stopped existing left; pairs that started existing joined (set difference, so an
    -- UPDATE that swaps two rows' accounts sends what changed and nothing else)
    PERFORM webchat.notify_rows('l', (
        SELECT jsonb_agg(jsonb_build_array(chat_id, account_id) ORDER BY chat_id, account_id)
          FROM (SELECT chat_id, account_id FROM old_rows
                EXCEPT SELECT chat_id, account_id FROM new_rows) gone));
    PERFORM webchat.notify_rows('j', (
        SELECT jsonb_agg(jsonb_build_array(chat_id, account_id) ORDER BY chat_id, account_id)
          FROM (SELECT chat_id, account_id FROM new_rows
                EXCEPT SELECT chat_id, account_id FROM old_rows) came));
    PERFORM webchat.notify_rows('r', (
        SELECT jsonb_agg(jsonb_build_array(n.chat_id, n.account_id, n.last_read_seq)
                         ORDER BY n.chat_id, n.account_id)
          FROM new_rows n JOIN old_rows o
            ON o.chat_id = n.chat_id AND o.account_id = n.account_id
         WHERE n.last_read_seq <> o.last_read_seq));
    RETURN NULL;
END $$;

-- TRUNCATE has no transition tables, but a BEFORE TRUNCATE trigger still sees every row. The
-- NOTIFYs go out at commit, so a TRUNCATE that rolls back sends nothing.
CREATE FUNCTION webchat.members_before_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM webchat.notify_rows('l', (
        SELECT jsonb_agg(jsonb_build_array(chat_id, account_id) ORDER BY chat_id, account_id)
          FROM webchat.chat_members));
    RETURN NULL;
END $$;

CREATE TRIGGER members_before_truncate BEFORE TRUNCATE ON webchat.chat_members
    FOR EACH STATEMENT EXECUTE FUNCTION webchat.members_before_truncate();

CREATE FUNCTION webchat.chats_before_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM webchat.notify_rows('d', (
        SELECT jsonb_agg(jsonb_build_array(id) ORDER BY id) FROM webchat.chats));
    RETURN NULL;
END $$;

CREATE TRIGGER chats_before_truncate BEFORE TRUNCATE ON webchat.chats
    FOR EACH STATEMENT EXECUTE FUNCTION webchat.chats_before_truncate();
