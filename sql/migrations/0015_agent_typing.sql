-- An agent types in any visitor conversation, as it reads and answers them, without joining it
-- first: webchat.typing accepts a member of the chat, or an agent when the chat is a visitor's
-- conversation. Anyone else still gets false (the API's 404).
CREATE OR REPLACE FUNCTION webchat.typing(p_chat_id bigint, p_account_id bigint, p_is_typing boolean)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    name text;
BEGIN
    SELECT a.display_name INTO name
      FROM webchat.accounts a
     WHERE a.id = p_account_id
       AND (EXISTS (SELECT 1 FROM webchat.chat_members m
                     WHERE m.chat_id = p_chat_id AND m.account_id = p_account_id)
            OR (a.kind = 'agent'
                AND EXISTS (SELECT 1 FROM webchat.chats c WHERE c.id = p_chat_id AND c.visitor_id IS NOT NULL)));
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM pg_notify('webchat', jsonb_build_object(
        't', 'y', 'c', p_chat_id, 'a', p_account_id, 'n', left(name, 100), 'on', p_is_typing)::text);
    RETURN true;
END $$;
