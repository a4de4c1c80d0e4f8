-- Named queries, parsed once by webchat_server.db.queries(). One '-- name:' header each.

-- name: session_account
-- none when the session id was revoked (signed out, or signed in since) or the guest was merged
-- into a user (a copy of the guest's cookie must not follow the user)
SELECT id, kind, external_id, display_name, email, avatar_url, created_at, merged_into, share_read_receipts
  FROM webchat.accounts
 WHERE id = $1 AND merged_into IS NULL
   AND NOT EXISTS (SELECT 1 FROM webchat.revoked_sessions WHERE sid = $2);

-- name: session_revoke
WITH gone AS (DELETE FROM webchat.revoked_sessions WHERE expires_at < now())
INSERT INTO webchat.revoked_sessions (sid, expires_at) VALUES ($1, now() + make_interval(secs => $2))
ON CONFLICT (sid) DO NOTHING;

-- name: account_set_share_read_receipts
UPDATE webchat.accounts SET share_read_receipts = $2 WHERE id = $1
RETURNING id, kind, external_id, display_name, email, avatar_url, created_at, merged_into, share_read_receipts;

-- name: account_create_guest
INSERT INTO webchat.accounts (kind, display_name) VALUES ('guest', $1)
RETURNING id, kind, external_id, display_name, email, avatar_url, created_at, merged_into, share_read_receipts;

-- name: account_upsert_user
-- the token is signed by the embedding site, so its name/email/avatar are the truth each time
INSERT INTO webchat.accounts (kind, external_id, display_name, email, avatar_url) VALUES ('user', $1, $2, $3, $4)
ON CONFLICT (kind, external_id) WHERE external_id IS NOT NULL
DO UPDATE SET display_name = EXCLUDED.display_name, email = EXCLUDED.email, avatar_url = EXCLUDED.avatar_url
RETURNING id, kind, external_id, display_name, email, avatar_url, created_at, merged_into, share_read_receipts;

-- Guests older than the retention ($1 seconds) that have nothing to lose: no message sent, no
-- membership in a chat with messages (guests made in bulk by a flood, merged guests, visitors who
-- never wrote). Locked, so a guest writing right now is left for the next round.
-- name: guests_expired
SELECT g.id FROM webchat.accounts g
 WHERE g.kind = 'guest' AND g.created_at < now() - make_interval(secs => $1)
   AND NOT EXISTS (SELECT 1 FROM webchat.messages m WHERE m.sender_id = g.id)
   AND NOT EXISTS (SELECT 1 FROM webchat.chat_members cm JOIN webchat.chats c ON c.id = cm.chat_id
                    WHERE cm.account_id = g.id AND c.last_seq > 0)
 ORDER BY g.created_at
 LIMIT $2
   FOR UPDATE OF g SKIP LOCKED;

-- their empty chats ("New chat" never used) that no one else is in
-- name: guests_expired_chats
DELETE FROM webchat.chats c
 WHERE c.created_by = ANY($1::bigint[]) AND c.last_seq = 0
   AND NOT EXISTS (SELECT 1 FROM webchat.chat_members m WHERE m.chat_id = c.id AND NOT m.account_id = ANY($1::bigint[]));

-- name: guests_delete
DELETE FROM webchat.accounts WHERE id = ANY($1::bigint[]);

-- name: merge_memberships
INSERT INTO webchat.chat_members (chat_id, account_id, joined_at, last_read_seq)
SELECT chat_id, $2, joined_at, last_read_seq FROM webchat.chat_members WHERE account_id = $1
ON CONFLICT (chat_id, account_id)
DO UPDATE SET last_read_seq = greatest(webchat.chat_members.last_read_seq, EXCLUDED.last_read_seq);

-- name: merge_drop_guest_memberships
DELETE FROM webchat.chat_members WHERE account_id = $1;

-- name: merge_clear_clashing_client_ids
UPDATE webchat.messages SET client_id = NULL
 WHERE sender_id = $1 AND client_id IN (
       SELECT client_id FROM webchat.messages WHERE sender_id = $2 AND client_id IS NOT NULL);

-- name: merge_messages
UPDATE webchat.messages SET sender_id = $2 WHERE sender_id = $1;

-- name: merge_chats_created
UPDATE webchat.chats SET created_by = $2 WHERE created_by = $1;

-- A token is spent once; expired ones go in the same statement, so the table never grows past a
-- day of sign-ins. No row back: it was spent before.
-- name: identity_token_spend
WITH gone AS (DELETE FROM webchat.used_identity_tokens WHERE expires_at < now())
INSERT INTO webchat.used_identity_tokens (token_hash, expires_at) VALUES ($1, to_timestamp($2))
ON CONFLICT (token_hash) DO NOTHING
RETURNING 1;

-- The guest a sign-in merges, locked: two sign-ins of one guest at once take turns, and the
-- second finds it merged already (merged_into) and takes nothing of it.
-- name: guest_lock
SELECT kind, merged_into FROM webchat.accounts WHERE id = $1 FOR UPDATE;

-- name: session_revoked
SELECT EXISTS (SELECT 1 FROM webchat.revoked_sessions WHERE sid = $1);

-- name: merge_mark_guest
UPDATE webchat.accounts SET merged_into = $2 WHERE id = $1;

-- name: chat_create
INSERT INTO webchat.chats (title, created_by) VALUES ($1, $2) RETURNING id;

-- name: member_add
INSERT INTO webchat.chat_members (chat_id, account_id) VALUES ($1, $2)
ON CONFLICT DO NOTHING;

-- name: member_check
SELECT 1 FROM webchat.chat_members WHERE chat_id = $1 AND account_id = $2;

-- name: chat_lock_for_member
SELECT c.id, c.created_by FROM webchat.chats c
  JOIN webchat.chat_members m ON m.chat_id = c.id AND m.account_id = $2
 WHERE c.id = $1;

-- name: chats_for_account
-- internal notes (visibility 'agents') count and show only for agents
SELECT c.id, c.title, c.archived_at, c.last_seq, c.updated_at, c.created_at, c.created_by,
       m.last_read_seq,
       (SELECT count(*) FROM webchat.messages x
         WHERE x.chat_id = c.id AND x.seq > m.last_read_seq
           AND x.sender_id <> m.account_id AND x.deleted_at IS NULL
           AND (x.visibility = 'public' OR me.kind = 'agent')) AS unread_count,
       to_jsonb(lm) AS last_message,
       -- every member in the same query (one per page of chats, not one per chat); a member who
       -- does not share read receipts shows no position, except to itself
       (SELECT jsonb_agg(jsonb_build_object(
                   'account_id', a.id, 'display_name', a.display_name, 'kind', a.kind,
                   'avatar_url', a.avatar_url, 'last_seen_at', a.last_seen_at,
                   'last_read_seq', CASE WHEN a.share_read_receipts OR a.id = $1 THEN o.last_read_seq END)
                   ORDER BY o.joined_at, a.id)
          FROM webchat.chat_members o JOIN webchat.accounts a ON a.id = o.account_id
         WHERE o.chat_id = c.id) AS members
  FROM webchat.chat_members m
  JOIN webchat.accounts me ON me.id = m.account_id
  JOIN webchat.chats c ON c.id = m.chat_id
  LEFT JOIN LATERAL (
        SELECT v.* FROM webchat.message_view v
         WHERE v.chat_id = c.id AND (v.visibility = 'public' OR me.kind = 'agent')
         ORDER BY v.seq DESC LIMIT 1) lm ON true
 WHERE m.account_id = $1
   AND ($2::bigint IS NULL OR c.id = $2)
 ORDER BY c.updated_at DESC, c.id DESC;

-- name: chats_by_ids
-- what every member's chat_updated carries, the visitor's too: its preview is never a note
-- (visitor_id: whether agents' readers keep following it when an agent leaves, kinds/chats.py)
SELECT c.id, c.title, c.archived_at, c.last_seq, c.updated_at, c.created_at, c.created_by, c.visitor_id,
       to_jsonb(lm) AS last_message
  FROM webchat.chats c
  LEFT JOIN LATERAL (
        SELECT v.* FROM webchat.message_view v
         WHERE v.chat_id = c.id AND v.visibility = 'public'
         ORDER BY v.seq DESC LIMIT 1) lm ON true
 WHERE c.id = ANY($1::bigint[]);

-- name: chat_update
UPDATE webchat.chats
   SET title = coalesce($2, title),
       archived_at = CASE WHEN $3::boolean IS NULL THEN archived_at
                          WHEN $3 THEN coalesce(archived_at, now())
                          ELSE NULL END
 WHERE id = $1
RETURNING id;

-- name: chat_delete
DELETE FROM webchat.chats WHERE id = $1;

-- Who is in which chat, for the accounts a process has readers for (reconcile after a listener outage).
-- name: memberships_of_accounts
SELECT account_id, chat_id FROM webchat.chat_members WHERE account_id = ANY($1::bigint[]);

-- name: memberships_with_seq
SELECT m.chat_id, c.last_seq
  FROM webchat.chat_members m JOIN webchat.chats c ON c.id = m.chat_id
 WHERE m.account_id = $1;

-- A batch of sends, each judged on its own (sql/migrations/0006_send.sql, webchat_server/domain/sending.py).
-- name: send_messages
SELECT idx, outcome, (message).* FROM webchat.send_messages($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12);

-- One send into an existing chat, the common case (sql/migrations/0016_fewer_send_steps.sql).
-- name: send_one
SELECT idx, outcome, (message).* FROM webchat.send_one($1, $2, $3, $4, $5, $6, $7, $8);

-- name: message_get
SELECT v.* FROM webchat.message_view v WHERE v.id = $1;

-- name: messages_by_ids
SELECT v.* FROM webchat.message_view v WHERE v.id = ANY($1::bigint[]);

-- name: message_edit
UPDATE webchat.messages SET text = $2 WHERE id = $1;

-- name: message_delete
UPDATE webchat.messages SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL;

-- History pages: $n (the last parameter) true includes internal notes (agents only).
-- name: messages_latest
SELECT * FROM (
    SELECT v.* FROM webchat.message_view v
     WHERE v.chat_id = $1 AND (v.visibility = 'public' OR $3) ORDER BY v.seq DESC LIMIT $2
) t ORDER BY seq;

-- name: messages_before
SELECT * FROM (
    SELECT v.* FROM webchat.message_view v
     WHERE v.chat_id = $1 AND v.seq < $2 AND (v.visibility = 'public' OR $4) ORDER BY v.seq DESC LIMIT $3
) t ORDER BY seq;

-- name: messages_after
SELECT v.* FROM webchat.message_view v
 WHERE v.chat_id = $1 AND v.seq > $2 AND (v.visibility = 'public' OR $4) ORDER BY v.seq LIMIT $3;

-- Everything that changed after a per-chat position: inserts (seq > pos) and edits/deletes
-- (change_seq > pos). change_seq >= seq, so one condition covers both.
-- Rows changed after each chat's position, in (chat, change) order, at most $3. One index range
-- scan per chat (LATERAL), so the cost follows the rows returned, not the table: a join of the
-- positions against the whole index read every entry of it (issue 18). The positions come in
-- chat order, so the page stops once $3 rows are out.
-- name: catch_up
SELECT r.* FROM (SELECT * FROM unnest($1::bigint[], $2::bigint[]) AS u(chat_id, pos)
                  ORDER BY u.chat_id) p
 CROSS JOIN LATERAL (
       SELECT v.* FROM webchat.message_view v
        WHERE v.chat_id = p.chat_id AND v.change_seq > p.pos
        ORDER BY v.change_seq LIMIT $3) r
 ORDER BY r.chat_id, r.change_seq
 LIMIT $3;

-- name: read_update
UPDATE webchat.chat_members m
   SET last_read_seq = greatest(m.last_read_seq, least($3, c.last_seq))
  FROM webchat.chats c
 WHERE c.id = m.chat_id AND m.chat_id = $1 AND m.account_id = $2
RETURNING m.last_read_seq;

-- a member of the media's chat, or an agent in a visitor conversation (agents read those without
-- joining, so the inbox shows the visitor's pictures before anyone claims the conversation)
-- name: media_get
SELECT md.content_type, md.bytes
  FROM webchat.media md JOIN webchat.chats c ON c.id = md.chat_id
 WHERE md.id = $1 AND md.deleted_at IS NULL
   AND (EXISTS (SELECT 1 FROM webchat.chat_members m WHERE m.chat_id = md.chat_id AND m.account_id = $2)
        OR (c.visitor_id IS NOT NULL
            AND EXISTS (SELECT 1 FROM webchat.accounts a WHERE a.id = $2 AND a.kind = 'agent')));

-- name: typing
SELECT webchat.typing($1, $2, $3);

-- The latest changes of chats a reader has no position in (joined while it was away).
-- name: recent_changes
SELECT r.* FROM unnest($1::bigint[]) AS c(chat_id)
 CROSS JOIN LATERAL (
       SELECT v.* FROM webchat.message_view v
        WHERE v.chat_id = c.chat_id ORDER BY v.change_seq DESC LIMIT $2) r
 ORDER BY r.chat_id, r.change_seq;

-- Lease rate-limit tokens to this process (webchat_server/domain/limits.py, sql/migrations/0006_send.sql):
-- all of the buckets' needs, or nothing.
-- name: rate_lease
SELECT key, granted, tokens, rate FROM webchat.rate_lease($1, $2, $3, $4, $5);

-- name: rate_return
SELECT webchat.rate_return($1, $2);

-- Buckets that have refilled completely are the same as no row at all.
-- name: rate_prune
DELETE FROM webchat.rate_limits
 WHERE updated_at + make_interval(secs => (burst - tokens) / rate) < clock_timestamp();

-- ---- The staff side (sql/migrations/0010_staff.sql, webchat_server/domain/staff.py) ----------

-- name: account_upsert_agent
-- an agent's token is signed by the embedding site, as a user's is; agents and users are separate
-- accounts even under one `sub`
INSERT INTO webchat.accounts (kind, external_id, display_name, email, avatar_url) VALUES ('agent', $1, $2, $3, $4)
ON CONFLICT (kind, external_id) WHERE external_id IS NOT NULL
DO UPDATE SET display_name = EXCLUDED.display_name, email = coalesce(EXCLUDED.email, webchat.accounts.email),
              avatar_url = coalesce(EXCLUDED.avatar_url, webchat.accounts.avatar_url)
RETURNING id, kind, external_id, display_name, email, avatar_url, created_at, merged_into;

-- name: agent_signin_create
INSERT INTO webchat.agent_signins (token_hash, account_id, expires_at)
VALUES ($1, $2, now() + make_interval(secs => $3));

-- used once: the row is marked in the same statement that reads it
-- name: agent_signin_use
UPDATE webchat.agent_signins s SET used_at = now()
  FROM webchat.accounts a
 WHERE s.token_hash = $1 AND s.used_at IS NULL AND s.expires_at > now()
   AND a.id = s.account_id AND a.kind = 'agent'
RETURNING a.id, a.kind, a.external_id, a.display_name, a.email, a.avatar_url, a.created_at, a.merged_into;

-- name: agent_signins_prune
DELETE FROM webchat.agent_signins WHERE expires_at < now() - interval '1 day';

-- The inbox, one query per assignee filter so each keeps its own index plan: $1 status,
-- ($2, $3) the page's start (updated_at, id; exclusive), $4 the page size, $5 the agent.
-- name: inbox_any
SELECT c.id FROM webchat.chats c
 WHERE c.visitor_id IS NOT NULL AND c.last_seq > 0 AND c.status = $1
   AND (c.updated_at, c.id) < ($2::timestamptz, $3::bigint)
 ORDER BY c.status, c.updated_at DESC, c.id DESC
 LIMIT $4;

-- name: inbox_mine
SELECT c.id FROM webchat.chats c
 WHERE c.visitor_id IS NOT NULL AND c.last_seq > 0 AND c.status = $1 AND c.assignee_id = $5
   AND (c.updated_at, c.id) < ($2::timestamptz, $3::bigint)
 ORDER BY c.assignee_id, c.status, c.updated_at DESC, c.id DESC
 LIMIT $4;

-- name: inbox_unassigned
SELECT c.id FROM webchat.chats c
 WHERE c.visitor_id IS NOT NULL AND c.last_seq > 0 AND c.status = $1 AND c.assignee_id IS NULL
   AND (c.updated_at, c.id) < ($2::timestamptz, $3::bigint)
 ORDER BY c.assignee_id, c.status, c.updated_at DESC, c.id DESC
 LIMIT $4;

-- The conversations' rows for the agent $1: the visitor, unread (the visitor's messages after the
-- agent's read position, all of them when the agent is not in the chat), the newest message
-- (notes included), and the context the visitor's first message brought along.
-- name: inbox_rows
SELECT c.id, c.title, c.archived_at, c.last_seq, c.updated_at, c.created_at, c.created_by, c.metadata,
       c.status, c.assignee_id, c.visitor_id,
       va.display_name AS visitor_name, va.kind AS visitor_kind, va.email AS visitor_email,
       va.created_at AS visitor_since, coalesce(m.last_read_seq, 0) AS last_read_seq,
       (SELECT count(*) FROM webchat.messages x
         WHERE x.chat_id = c.id AND x.sender_id = c.visitor_id AND x.deleted_at IS NULL
           AND x.seq > coalesce(m.last_read_seq, 0)) AS unread_count,
       to_jsonb(lm) AS last_message,
       ARRAY(SELECT o.id FROM webchat.chats o
              WHERE o.visitor_id = c.visitor_id AND o.id <> c.id AND o.last_seq > 0
              ORDER BY o.id DESC LIMIT 10) AS other_conversations
  FROM unnest($2::bigint[]) WITH ORDINALITY AS w(id, n)
  JOIN webchat.chats c ON c.id = w.id
  JOIN webchat.accounts va ON va.id = c.visitor_id
  LEFT JOIN webchat.chat_members m ON m.chat_id = c.id AND m.account_id = $1
  LEFT JOIN LATERAL (
        SELECT v.* FROM webchat.message_view v
         WHERE v.chat_id = c.id ORDER BY v.seq DESC LIMIT 1) lm ON true
 ORDER BY w.n;

-- A visitor conversation, locked for a change by an agent; null when there is none of that id.
-- name: conversation_lock
SELECT id, assignee_id, status, metadata FROM webchat.chats
 WHERE id = $1 AND visitor_id IS NOT NULL
   FOR NO KEY UPDATE;

-- name: agent_check
SELECT id FROM webchat.accounts WHERE id = $1 AND kind = 'agent';

-- Assign (claim, hand over) or unassign. An agent who takes a conversation joins it and it is
-- in human hands from then on (bots integrating by SQL read metadata.automation and stay quiet).
-- name: conversation_assign
UPDATE webchat.chats
   SET assignee_id = $2,
       metadata = CASE WHEN $2::bigint IS NULL THEN metadata
                       ELSE jsonb_set(metadata, '{automation}', '"human"') END
 WHERE id = $1;

-- name: conversation_status
UPDATE webchat.chats SET status = $2 WHERE id = $1;

-- name: conversation_automation
UPDATE webchat.chats SET metadata = jsonb_set(metadata, '{automation}', to_jsonb($2::text))
 WHERE id = $1 AND metadata->>'automation' IS DISTINCT FROM $2;

-- An internal note: written like any message (seq, NOTIFY), seen only by agents. Not ON CONFLICT
-- for its client_id: the insert trigger has taken a seq by then (a gap); note_client_lock and a
-- look-up come first, as in webchat.send_messages.
-- name: note_insert
INSERT INTO webchat.messages (chat_id, sender_id, text, client_id, reply_to_id, visibility)
SELECT $1, $2, $3, $4, (SELECT id FROM webchat.messages WHERE id = $5 AND chat_id = $1), 'agents'
RETURNING id;

-- the same lock webchat.send_messages takes for a (sender, client_id): one store at a time
-- name: note_client_lock
SELECT pg_advisory_xact_lock(1466130276, hashtext($1::bigint || ':' || $2::text));

-- name: message_by_client_id
SELECT v.* FROM webchat.message_view v WHERE v.sender_id = $1 AND v.client_id = $2;

-- name: conversation_exists
SELECT 1 FROM webchat.chats WHERE id = $1 AND visitor_id IS NOT NULL;

-- name: message_visibility
SELECT visibility FROM webchat.messages WHERE id = $1 AND chat_id = $2;

-- Availability (webchat_server/domain/availability.py).
-- name: agents_seen
UPDATE webchat.accounts SET agent_seen_at = now() WHERE id = ANY($1::bigint[]) AND kind = 'agent';

-- name: agents_online
SELECT count(*) FROM webchat.accounts
 WHERE kind = 'agent' AND agent_seen_at > now() - make_interval(secs => $1);

-- A visitor leaves an email for replies while nobody is online.
-- name: visitor_email
UPDATE webchat.accounts SET email = $2 WHERE id = $1 AND kind IN ('guest', 'user')
RETURNING id, kind, external_id, display_name, email, avatar_url, created_at, merged_into;

-- Offline email (webchat_server/domain/offline_mail.py): conversations whose first unsent reply
-- has waited $1 seconds, taken by one process (the others skip them).
-- name: offline_mail_due
WITH due AS (
    SELECT chat_id FROM webchat.offline_mail
     WHERE queued_at <= now() - make_interval(secs => $1)
     ORDER BY queued_at LIMIT $2
       FOR UPDATE SKIP LOCKED)
UPDATE webchat.offline_mail o SET queued_at = NULL
  FROM due WHERE o.chat_id = due.chat_id
RETURNING o.chat_id, o.emailed_seq;

-- What one email says: the visitor, and the agents' public replies the visitor has not read and
-- was not emailed yet.
-- name: offline_mail_content
SELECT v.id AS visitor_id, v.email, v.display_name AS visitor_name, c.title,
       coalesce(jsonb_agg(jsonb_build_object('seq', m.seq, 'sender_name', a.display_name, 'text', m.text,
                                             'media_type', m.media_type) ORDER BY m.seq)
                FILTER (WHERE m.id IS NOT NULL), '[]') AS replies
  FROM webchat.chats c
  JOIN webchat.accounts v ON v.id = c.visitor_id
  LEFT JOIN webchat.chat_members vm ON vm.chat_id = c.id AND vm.account_id = v.id
  LEFT JOIN (webchat.messages m JOIN webchat.accounts a ON a.id = m.sender_id AND a.kind = 'agent')
         ON m.chat_id = c.id AND m.visibility = 'public' AND m.deleted_at IS NULL
        AND m.seq > greatest($2, coalesce(vm.last_read_seq, 0))
 WHERE c.id = $1 AND v.email IS NOT NULL
 GROUP BY v.id, c.id;

-- name: offline_mail_sent
UPDATE webchat.offline_mail SET emailed_seq = greatest(emailed_seq, $2) WHERE chat_id = $1;

-- name: offline_mail_retry
UPDATE webchat.offline_mail SET queued_at = coalesce(queued_at, now()) WHERE chat_id = $1;

-- the link in an offline email still leads somewhere: the visitor (not merged since) and their chat
-- name: continue_check
SELECT a.kind FROM webchat.chat_members m JOIN webchat.accounts a ON a.id = m.account_id
 WHERE m.account_id = $1 AND m.chat_id = $2 AND a.merged_into IS NULL;

-- where a visitor's conversation started (the first send's page, language, browser); set once
-- name: conversation_context
UPDATE webchat.chats SET metadata = jsonb_set(metadata, '{context}', $2::jsonb)
 WHERE id = $1 AND visitor_id IS NOT NULL AND NOT metadata ? 'context';

-- Agents' readers (webchat_server/realtime/agents.py) follow every visitor conversation without
-- being members: at attach, their memberships, every open conversation (empty ones too: their
-- position 0 goes into the cursor, as a member's does), the resolved ones of the last day and
-- those their cursor names; any other conversation from its next message on.
-- name: agent_follows_with_seq
SELECT m.chat_id, c.last_seq FROM webchat.chat_members m JOIN webchat.chats c ON c.id = m.chat_id
 WHERE m.account_id = $1
UNION
SELECT c.id, c.last_seq FROM webchat.chats c
 WHERE c.visitor_id IS NOT NULL AND c.status = 'open'
UNION
SELECT c.id, c.last_seq FROM webchat.chats c
 WHERE c.visitor_id IS NOT NULL AND c.last_seq > 0 AND c.status = 'resolved'
   AND c.updated_at > now() - interval '1 day'
UNION
SELECT c.id, c.last_seq FROM webchat.chats c
 WHERE c.id = ANY($2::bigint[]) AND c.visitor_id IS NOT NULL;

-- name: conversations_followed
SELECT c.id FROM webchat.chats c
 WHERE c.visitor_id IS NOT NULL AND c.status = 'open'
UNION
SELECT c.id FROM webchat.chats c
 WHERE c.visitor_id IS NOT NULL AND c.last_seq > 0 AND c.status = 'resolved'
   AND c.updated_at > now() - interval '1 day';

-- name: conversations_among
SELECT id FROM webchat.chats WHERE id = ANY($1::bigint[]) AND visitor_id IS NOT NULL;

-- The site's agents by name, for "hand over to" (a handful; capped all the same).
-- name: agents_list
SELECT id, kind, external_id, display_name, email, avatar_url FROM webchat.accounts
 WHERE kind = 'agent' AND merged_into IS NULL
 ORDER BY lower(display_name), id
 LIMIT $1;
-- Reactions (webchat_server/domain/reactions.py): the member check (or an agent in a visitor
-- conversation), the message's state, the cap
-- on distinct emoji ($4) and the write, in one statement. `existed` is read before the insert.
-- name: reaction_add
WITH me AS (SELECT kind = 'agent' AS agent FROM webchat.accounts WHERE id = $2),
msg AS (
    SELECT m.id, m.deleted_at FROM webchat.messages m JOIN webchat.chats c ON c.id = m.chat_id
     WHERE m.id = $1
       -- a member, or an agent in a visitor conversation (agents answer those without joining)
       AND (EXISTS (SELECT 1 FROM webchat.chat_members cm WHERE cm.chat_id = m.chat_id AND cm.account_id = $2)
            OR (c.visitor_id IS NOT NULL AND (SELECT agent FROM me)))
       -- an internal note is not there for a visitor (its answer would carry the note)
       AND (m.visibility = 'public' OR (SELECT agent FROM me))),
existed AS (
    SELECT 1 FROM webchat.reactions WHERE message_id = $1 AND account_id = $2 AND emoji = $3),
ins AS (
    INSERT INTO webchat.reactions (message_id, account_id, emoji)
    SELECT id, $2, $3 FROM msg
     WHERE deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM existed)
       AND (EXISTS (SELECT 1 FROM webchat.reactions WHERE message_id = $1 AND emoji = $3)
            OR (SELECT count(DISTINCT emoji) FROM webchat.reactions WHERE message_id = $1) < $4)
    ON CONFLICT DO NOTHING
    RETURNING 1)
SELECT EXISTS (SELECT 1 FROM msg) AS found,
       coalesce((SELECT deleted_at IS NOT NULL FROM msg), false) AS deleted,
       EXISTS (SELECT 1 FROM existed) AS existed,
       EXISTS (SELECT 1 FROM ins) AS added;

-- true when the caller may react in the message's chat (whether or not there was a reaction)
-- name: reaction_remove
WITH me AS (SELECT kind = 'agent' AS agent FROM webchat.accounts WHERE id = $2),
msg AS (
    SELECT m.id FROM webchat.messages m JOIN webchat.chats c ON c.id = m.chat_id
     WHERE m.id = $1
       AND (EXISTS (SELECT 1 FROM webchat.chat_members cm WHERE cm.chat_id = m.chat_id AND cm.account_id = $2)
            OR (c.visitor_id IS NOT NULL AND (SELECT agent FROM me)))
       -- an internal note is not there for a visitor (its answer would carry the note)
       AND (m.visibility = 'public' OR (SELECT agent FROM me))),
del AS (
    DELETE FROM webchat.reactions r USING msg
     WHERE r.message_id = msg.id AND r.account_id = $2 AND r.emoji = $3
    RETURNING 1)
SELECT EXISTS (SELECT 1 FROM msg) AS found, (SELECT count(*) FROM del) AS removed;

-- A guest's reactions follow it into the user it signs in as (one each where both reacted alike).
-- name: merge_reactions
WITH moved AS (DELETE FROM webchat.reactions WHERE account_id = $1 RETURNING message_id, emoji, created_at)
INSERT INTO webchat.reactions (message_id, account_id, emoji, created_at)
SELECT message_id, $2, emoji, created_at FROM moved
ON CONFLICT DO NOTHING;
-- Presence: in which of the chats that have readers here ($2) each account of $1 is a member.
-- name: presence_partners
SELECT account_id, chat_id FROM webchat.chat_members
 WHERE account_id = ANY($1::bigint[]) AND chat_id = ANY($2::bigint[]);

-- Presence: last-seen times (epoch seconds), one statement for many accounts; never moves back.
-- name: presence_last_seen
UPDATE webchat.accounts a SET last_seen_at = to_timestamp(v.t)
  FROM unnest($1::bigint[], $2::float8[]) AS v(id, t)
 WHERE a.id = v.id AND (a.last_seen_at IS NULL OR a.last_seen_at < to_timestamp(v.t));

-- Read receipts: of these readers, the ones that do not share them (their read events stay private).
-- name: readers_not_sharing
SELECT id FROM webchat.accounts WHERE id = ANY($1::bigint[]) AND NOT share_read_receipts;

-- what the server read from a voice note or audio file, stored in the send's own transaction
-- name: media_set_audio
UPDATE webchat.media SET voice = $2, duration_ms = $3, client_duration_ms = $4, waveform = $5
 WHERE id = $1
RETURNING webchat.media_info(media);
