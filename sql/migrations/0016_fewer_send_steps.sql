-- The common send in fewer steps: one send into a chat that exists, no upload, as a batch of one
-- (webchat_server/domain/sending.py picks it). webchat.send_messages (0006_send.sql) stays the
-- general case (batches, new chats, uploads, the retry that waits); both judge a send by the same
-- rules in the same order, which tests/test_send.py holds them to case by case. Measured on a quiet
-- 2-core machine: 0.75-1.0 ms of Postgres time per call against 2.0-2.4 ms for send_messages with
-- one send (its array bookkeeping, loops and multi-row statements are what a lone send paid for).
--   p_limited  not null: the rate limit refused it (reported only if it is not a retry)
--   p_session  not null: the session id the cookie names (not signed out, account not merged)
-- A client_id another transaction is storing right now, or a chat row another transaction holds,
-- answers `busy`: the caller sends it again through send_messages with p_wait, which waits.
CREATE FUNCTION webchat.send_one(
    p_sender    bigint,
    p_chat      bigint,
    p_text      text,
    p_client_id text,
    p_reply_to  bigint,
    p_title     text,
    p_limited   double precision,
    p_session   text)
RETURNS TABLE (idx integer, outcome text, message webchat.message_view)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    verdict text;
    mid     bigint;
    mseq    bigint;
BEGIN
    IF p_client_id IS NOT NULL
       AND NOT pg_try_advisory_xact_lock(1466130276, hashtext(p_sender || ':' || p_client_id)) THEN
        verdict := 'busy';
    ELSE
        -- a new statement after the lock, so a new snapshot: what a lock holder stored is visible
        SELECT CASE
                 WHEN p_session IS NOT NULL
                      AND (EXISTS (SELECT 1 FROM webchat.revoked_sessions x WHERE x.sid = p_session)
                           OR NOT EXISTS (SELECT 1 FROM webchat.accounts a
                                           WHERE a.id = p_sender AND a.merged_into IS NULL))
                   THEN 'no_session'
                 WHEN m.id IS NOT NULL THEN CASE WHEN m.chat_id = p_chat THEN 'duplicate' ELSE 'conflict' END
                 WHEN p_limited IS NOT NULL THEN 'rate_limited'
                 WHEN NOT EXISTS (SELECT 1 FROM webchat.chat_members cm
                                   WHERE cm.chat_id = p_chat AND cm.account_id = p_sender)
                   THEN 'not_found'
                 WHEN p_reply_to IS NOT NULL
                      AND NOT EXISTS (SELECT 1 FROM webchat.messages x WHERE x.id = p_reply_to AND x.chat_id = p_chat)
                   THEN 'bad_reply'
               END,
               m.id
          INTO verdict, mid
          FROM (SELECT) one
          LEFT JOIN webchat.messages m
            ON p_client_id IS NOT NULL AND m.sender_id = p_sender AND m.client_id = p_client_id;
        IF verdict IS NULL THEN
            -- the chat row's lock orders the chat's seq; one that another transaction holds is
            -- skipped (busy), as in a batch, so this process's next sends never wait behind it
            WITH c AS (SELECT id FROM webchat.chats WHERE id = p_chat FOR NO KEY UPDATE SKIP LOCKED)
            INSERT INTO webchat.messages (chat_id, sender_id, text, client_id, reply_to_id)
            SELECT c.id, p_sender, coalesce(p_text, ''), p_client_id, p_reply_to FROM c
            RETURNING id, seq INTO mid, mseq;
            verdict := CASE WHEN mid IS NULL THEN 'busy' ELSE 'created' END;
            -- a chat made with "New chat" takes its title from its first message
            IF mseq = 1 THEN
                UPDATE webchat.chats SET title = p_title WHERE id = p_chat AND title = 'New chat';
            END IF;
        END IF;
    END IF;
    RETURN QUERY SELECT 1, verdict, v FROM (SELECT) one LEFT JOIN webchat.message_view v ON v.id = mid;
END $$;

-- Every insert into messages, by the API or by SQL, paid for two triggers that rarely do anything:
-- reopening a resolved conversation was an UPDATE of the chat row of its own (and a second run of
-- chats_after_update), and the check that a reply does not quote a note ran for every message.
-- The reopen is now part of the UPDATE that takes the chat's next seq; the check runs for replies.
CREATE OR REPLACE FUNCTION webchat.message_before_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE webchat.chats
       SET last_seq = last_seq + 1,
           updated_at = now(),
           last_message_id = NEW.id,
           -- a resolved conversation the visitor writes in again is open again
           status = CASE WHEN status = 'resolved' AND visitor_id = NEW.sender_id THEN 'open' ELSE status END
     WHERE id = NEW.chat_id
    RETURNING last_seq INTO NEW.seq;
    IF NEW.seq IS NULL THEN
        RAISE EXCEPTION 'chat % does not exist', NEW.chat_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    NEW.change_seq := NEW.seq;
    NEW.created_at := now();
    RETURN NEW;
END $$;

DROP TRIGGER messages_reopen ON webchat.messages;
DROP FUNCTION webchat.message_reopen();

DROP TRIGGER messages_reply_not_to_note ON webchat.messages;
CREATE TRIGGER messages_reply_not_to_note BEFORE INSERT OR UPDATE OF reply_to_id, visibility ON webchat.messages
    FOR EACH ROW WHEN (NEW.reply_to_id IS NOT NULL) EXECUTE FUNCTION webchat.message_reply_not_to_note();
