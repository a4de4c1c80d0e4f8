-- A send in one round trip, many sends in one transaction (group commit), and rate-limit tokens
-- taken outside the write (webchat_server/domain/sending.py, webchat_server/domain/limits.py).

-- webchat.send_messages: the one place that decides what becomes of a send. Each argument is an
-- array with one element per send (a batch); each send gets one row back, in the same order:
--   outcome     created | duplicate | not_found | conflict | bad_reply | rate_limited | busy | no_session
--   message     the stored message (created), or the first one with this client_id (duplicate)
-- Sends are judged one by one and a refused one never fails the others: every check runs before
-- the writes, and the accepted sends are written with one multi-row INSERT (one NOTIFY, one commit).
--   p_chat        null: a new chat titled p_title, the sender its first member
--   p_title       the title a new chat, or a "New chat" receiving its first message, takes
--   p_limited     not null: the rate limit refused this send (seconds to wait); reported only if it
--                 is not a retry of a stored message (a retry is not a new message)
--   p_session     not null: the session id the sender's cookie names, checked here as
--                 webchat_server/http/auth.py checks it (not signed out, the account not merged), so
--                 the send needs no query of its own for it
--   p_wait        false (batches): a send whose chat row or client_id another transaction holds
--                 right now is answered `busy` instead of waiting for it, so one slow chat never
--                 holds up strangers in the same batch; the caller sends it again on its own with
--                 p_wait = true, which waits like any write
CREATE FUNCTION webchat.send_messages(
    p_sender       bigint[],
    p_chat         bigint[],
    p_text         text[],
    p_client_id    text[],
    p_reply_to     bigint[],
    p_title        text[],
    p_limited      double precision[],
    p_media_type   text[],
    p_content_type text[],
    p_media        bytea[],
    p_session      text[],
    p_wait         boolean DEFAULT false)
RETURNS TABLE (idx integer, outcome text, message webchat.message_view)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    n        integer := coalesce(cardinality(p_sender), 0);
    result   text[] := array_fill(NULL::text, ARRAY[n]);
    msg      bigint[] := array_fill(NULL::bigint, ARRAY[n]);
    chat     bigint[] := p_chat;
    media    bigint[] := array_fill(NULL::bigint, ARRAY[n]);
    wanted   bigint[];
    locked   bigint[];
    new_chats boolean := false;
    one      bigint;
    firsts   bigint[];
    r        record;
    i        integer;
BEGIN
    -- 1. one send per (sender, client_id) at a time, across processes: a second one in this batch,
    -- or one another transaction is storing right now, waits its turn (busy)
    IF n > 1 THEN
        FOR r IN SELECT s.i FROM (
                     SELECT u.i, row_number() OVER (PARTITION BY u.sender, u.cid ORDER BY u.i) AS nth
                       FROM unnest(p_sender, p_client_id) WITH ORDINALITY AS u(sender, cid, i)
                      WHERE u.cid IS NOT NULL) s
                  WHERE s.nth > 1 LOOP
            result[r.i] := 'busy';
        END LOOP;
    END IF;
    FOR i IN 1 .. n LOOP
        CONTINUE WHEN p_client_id[i] IS NULL OR result[i] IS NOT NULL;
        IF p_wait THEN
            PERFORM pg_advisory_xact_lock(1466130276, hashtext(p_sender[i] || ':' || p_client_id[i]));
        ELSIF NOT pg_try_advisory_xact_lock(1466130276, hashtext(p_sender[i] || ':' || p_client_id[i])) THEN
            result[i] := 'busy';
        END IF;
    END LOOP;

    -- 2. everything a send is judged by, read at once (a new statement, so a new snapshot: whatever a
    -- lock holder stored is visible now), judged in this order: the session (when the caller left
    -- it here: not signed out, the account not merged), a retry of a stored send (without chat_id,
    -- the retry of a send that created a chat is that send, whichever chat), the rate limit
    -- (decided by the caller outside this transaction), membership (a chat you are not in does not
    -- exist for you), the replied-to message (in this chat; a new chat has none)
    FOR r IN SELECT s.i,
                    s.sid IS NOT NULL
                    AND (EXISTS (SELECT 1 FROM webchat.revoked_sessions x WHERE x.sid = s.sid)
                         OR NOT EXISTS (SELECT 1 FROM webchat.accounts a
                                         WHERE a.id = s.sender AND a.merged_into IS NULL)) AS signed_out,
                    m.id AS stored_id, m.chat_id AS stored_chat,
                    s.chat IS NULL OR EXISTS (SELECT 1 FROM webchat.chat_members cm
                                               WHERE cm.chat_id = s.chat AND cm.account_id = s.sender) AS member,
                    s.reply IS NULL OR EXISTS (SELECT 1 FROM webchat.messages x
                                                WHERE x.id = s.reply AND x.chat_id = s.chat) AS reply_ok
               FROM unnest(p_sender, p_chat, p_client_id, p_reply_to, p_session)
                    WITH ORDINALITY AS s(sender, chat, cid, reply, sid, i)
               LEFT JOIN webchat.messages m ON s.cid IS NOT NULL AND m.sender_id = s.sender AND m.client_id = s.cid
    LOOP
        CONTINUE WHEN result[r.i] IS NOT NULL;
        IF r.signed_out THEN
            result[r.i] := 'no_session';
        ELSIF r.stored_id IS NOT NULL THEN
            msg[r.i] := r.stored_id;
            result[r.i] := CASE WHEN p_chat[r.i] IS NULL OR p_chat[r.i] = r.stored_chat THEN 'duplicate' ELSE 'conflict' END;
        ELSIF p_limited[r.i] IS NOT NULL THEN
            result[r.i] := 'rate_limited';
        ELSIF NOT r.member THEN
            result[r.i] := 'not_found';
        ELSIF NOT r.reply_ok THEN
            result[r.i] := 'bad_reply';
        END IF;
    END LOOP;

    -- 3. the chats' rows, locked in id order (no deadlock between batches); their lock orders the
    -- chat's seq, and holding it from here on means no chat disappears before the insert. In a batch
    -- a chat that another transaction holds is skipped: its sends are busy (sent again alone)
    wanted := '{}';
    FOR i IN 1 .. n LOOP
        IF result[i] IS NULL AND chat[i] IS NOT NULL AND NOT chat[i] = ANY (wanted) THEN
            wanted := wanted || chat[i];
        END IF;
    END LOOP;
    IF cardinality(wanted) > 0 THEN
        IF p_wait THEN
            SELECT array_agg(c.id) INTO locked FROM (
                SELECT id FROM webchat.chats WHERE id = ANY (wanted) ORDER BY id FOR NO KEY UPDATE) c;
        ELSE
            SELECT array_agg(c.id) INTO locked FROM (
                SELECT id FROM webchat.chats WHERE id = ANY (wanted) ORDER BY id FOR NO KEY UPDATE SKIP LOCKED) c;
        END IF;
        locked := coalesce(locked, '{}');
        IF cardinality(locked) < cardinality(wanted) THEN
            FOR i IN 1 .. n LOOP
                IF result[i] IS NULL AND chat[i] IS NOT NULL AND NOT chat[i] = ANY (locked) THEN
                    -- waiting, it was deleted meanwhile; in a batch, someone holds it
                    result[i] := CASE WHEN p_wait THEN 'not_found' ELSE 'busy' END;
                END IF;
            END LOOP;
        END IF;
    END IF;

    -- 4. new chats (one INSERT each for chats and members: one NOTIFY each), then media
    FOR i IN 1 .. n LOOP
        IF result[i] IS NULL AND chat[i] IS NULL THEN
            chat[i] := nextval('webchat.chats_id_seq');  -- the identity column's own sequence
            new_chats := true;
        END IF;
    END LOOP;
    IF new_chats THEN
        INSERT INTO webchat.chats (id, title, created_by) OVERRIDING SYSTEM VALUE
        SELECT chat[j], p_title[j], p_sender[j] FROM generate_subscripts(p_sender, 1) j
         WHERE result[j] IS NULL AND p_chat[j] IS NULL ORDER BY j;
        INSERT INTO webchat.chat_members (chat_id, account_id)
        SELECT chat[j], p_sender[j] FROM generate_subscripts(p_sender, 1) j
         WHERE result[j] IS NULL AND p_chat[j] IS NULL ORDER BY j;
    END IF;
    FOR i IN 1 .. n LOOP
        IF result[i] IS NULL AND p_media[i] IS NOT NULL THEN
            INSERT INTO webchat.media (chat_id, uploader_id, content_type, size, bytes)
            VALUES (chat[i], p_sender[i], p_content_type[i], length(p_media[i]), p_media[i])
            RETURNING id INTO STRICT one;
            media[i] := one;
        END IF;
    END LOOP;

    -- 5. the messages: one statement, per chat in arrival order (their seq order)
    FOR i IN 1 .. n LOOP
        IF result[i] IS NULL THEN
            msg[i] := nextval('webchat.messages_id_seq');
            result[i] := 'created';
        END IF;
    END LOOP;
    IF 'created' = ANY (result) THEN
        WITH ins AS (
            INSERT INTO webchat.messages (id, chat_id, sender_id, text, client_id, media_id, media_type, reply_to_id)
            OVERRIDING SYSTEM VALUE
            SELECT msg[j], chat[j], p_sender[j], coalesce(p_text[j], ''), p_client_id[j], media[j],
                   CASE WHEN p_media[j] IS NOT NULL THEN p_media_type[j] END, p_reply_to[j]
              FROM generate_subscripts(p_sender, 1) j
             WHERE result[j] = 'created'
             ORDER BY chat[j], j
            RETURNING id, seq)
        SELECT array_agg(id) INTO firsts FROM ins WHERE seq = 1;
        -- a chat made with "New chat" takes its title from its first message, as one started by sending does
        IF firsts IS NOT NULL THEN
            UPDATE webchat.chats c SET title = p_title[j]
              FROM generate_subscripts(p_sender, 1) j
             WHERE msg[j] = ANY (firsts) AND c.id = chat[j] AND c.title = 'New chat';
        END IF;
    END IF;

    RETURN QUERY
    SELECT s.i::integer, s.outcome, v
      FROM unnest(result, msg) WITH ORDINALITY AS s(outcome, mid, i)
      LEFT JOIN webchat.message_view v ON v.id = s.mid
     ORDER BY s.i;
END $$;

-- Rate-limit tokens leased to a server process (webchat_server/domain/limits.py). Each bucket is
-- refilled by the time since it was last touched, capped at its burst; if every bucket holds at
-- least its `need`, each grants up to its `want`, else none grants anything (the caller is refused
-- and told how long until `need` is there). Runs as a statement of its own: the buckets' rows are
-- locked for microseconds, never for the length of a write.
CREATE FUNCTION webchat.rate_lease(p_keys text[], p_rates double precision[], p_bursts double precision[],
                                   p_wants double precision[], p_needs double precision[])
RETURNS TABLE (key text, granted double precision, tokens double precision, rate double precision)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    have double precision[];
    ok   boolean;
BEGIN
    -- refill and lock, in key order so concurrent leases never deadlock
    WITH w AS (
        SELECT k, p, b FROM unnest(p_keys, p_rates, p_bursts) AS w(k, p, b) ORDER BY k),
    refilled AS (
        INSERT INTO webchat.rate_limits AS r (key, tokens, rate, burst, updated_at)
        SELECT k, b, p, b, clock_timestamp() FROM w ORDER BY k
        ON CONFLICT (key) DO UPDATE
           SET tokens = least(EXCLUDED.burst,
                              r.tokens + EXCLUDED.rate * greatest(0, extract(epoch FROM EXCLUDED.updated_at - r.updated_at))),
               rate = EXCLUDED.rate, burst = EXCLUDED.burst, updated_at = EXCLUDED.updated_at
        RETURNING r.key, r.tokens)
    SELECT array_agg(f.tokens ORDER BY s.i) INTO have
      FROM unnest(p_keys) WITH ORDINALITY AS s(k, i) JOIN refilled f ON f.key = s.k;
    SELECT bool_and(have[i] >= p_needs[i]) INTO ok FROM generate_subscripts(p_keys, 1) i;
    IF ok THEN
        UPDATE webchat.rate_limits r SET tokens = r.tokens - least(p_wants[i], have[i])
          FROM generate_subscripts(p_keys, 1) i WHERE r.key = p_keys[i];
    END IF;
    RETURN QUERY
    SELECT p_keys[i], CASE WHEN ok THEN least(p_wants[i], have[i]) ELSE 0 END,
           CASE WHEN ok THEN have[i] - least(p_wants[i], have[i]) ELSE have[i] END, p_rates[i]
      FROM generate_subscripts(p_keys, 1) i ORDER BY i;
END $$;

-- Leased tokens a process did not use, back into their buckets (never past the burst).
CREATE FUNCTION webchat.rate_return(p_keys text[], p_amounts double precision[]) RETURNS void
LANGUAGE sql AS $$
    UPDATE webchat.rate_limits r SET tokens = least(r.burst, r.tokens + a.amount)
      FROM (SELECT k, sum(x) AS amount FROM unnest(p_keys, p_amounts) AS u(k, x) GROUP BY k ORDER BY k) a
     WHERE r.key = a.k;
$$;

-- Guest retention (webchat_server/domain/accounts.py): old guests with nothing to lose are deleted.
CREATE INDEX accounts_guests_created ON webchat.accounts (created_at) WHERE kind = 'guest';
