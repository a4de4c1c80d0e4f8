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
SELECT c.id, c.title, c.archived_at, c.last_seq, c.updated_at, c.created_at, c.created_by,
       m.last_read_seq,
       (SELECT count(*) FROM webchat.messages x
         WHERE x.chat_id = c.id AND x.seq > m.last_read_seq
           AND x.sender_id <> m.account_id AND x.deleted_at IS NULL) AS unread_count,
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
  JOIN webchat.chats c ON c.id = m.chat_id
  LEFT JOIN LATERAL (
        SELECT v.* FROM webchat.message_view v
         WHERE v.chat_id = c.id
         ORDER BY v.seq DESC LIMIT 1) lm ON true
 WHERE m.account_id = $1
   AND ($2::bigint IS NULL OR c.id = $2)
 ORDER BY c.updated_at DESC, c.id DESC;

-- name: chats_by_ids
SELECT c.id, c.title, c.archived_at, c.last_seq, c.updated_at, c.created_at, c.created_by,
       to_jsonb(lm) AS last_message
  FROM webchat.chats c
  LEFT JOIN LATERAL (
        SELECT v.* FROM webchat.message_view v
         WHERE v.chat_id = c.id
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

-- name: message_get
SELECT v.* FROM webchat.message_view v WHERE v.id = $1;

-- name: messages_by_ids
SELECT v.* FROM webchat.message_view v WHERE v.id = ANY($1::bigint[]);

-- name: message_edit
UPDATE webchat.messages SET text = $2 WHERE id = $1;

-- name: message_delete
UPDATE webchat.messages SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL;

-- name: messages_latest
SELECT * FROM (
    SELECT v.* FROM webchat.message_view v WHERE v.chat_id = $1 ORDER BY v.seq DESC LIMIT $2
) t ORDER BY seq;

-- name: messages_before
SELECT * FROM (
    SELECT v.* FROM webchat.message_view v
     WHERE v.chat_id = $1 AND v.seq < $2 ORDER BY v.seq DESC LIMIT $3
) t ORDER BY seq;

-- name: messages_after
SELECT v.* FROM webchat.message_view v
 WHERE v.chat_id = $1 AND v.seq > $2 ORDER BY v.seq LIMIT $3;

-- Everything that changed after a per-chat position: inserts (seq > pos) and edits/deletes
-- (change_seq > pos). change_seq >= seq, so one condition covers both.
-- name: catch_up
SELECT v.* FROM unnest($1::bigint[], $2::bigint[]) AS p(chat_id, pos)
  JOIN webchat.message_view v ON v.chat_id = p.chat_id AND v.change_seq > p.pos
 ORDER BY v.chat_id, v.change_seq
 LIMIT $3;

-- name: read_update
UPDATE webchat.chat_members m
   SET last_read_seq = greatest(m.last_read_seq, least($3, c.last_seq))
  FROM webchat.chats c
 WHERE c.id = m.chat_id AND m.chat_id = $1 AND m.account_id = $2
RETURNING m.last_read_seq;

-- name: media_get
SELECT md.content_type, md.bytes
  FROM webchat.media md
  JOIN webchat.chat_members m ON m.chat_id = md.chat_id AND m.account_id = $2
 WHERE md.id = $1 AND md.deleted_at IS NULL;

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
