-- Voice notes: a recording from the widget's microphone button, sent as media with the duration
-- and waveform the recorder computed (webchat_server/domain/voice.py).
--   voice              true: sent as a voice note (played with a waveform), not as an audio file
--   duration_ms        read from the container by the server; null where no reader can (WebM
--                      from MediaRecorder carries none) or for media stored before this migration
--   client_duration_ms what the recorder said; checked against duration_ms when both are known
--   waveform           up to 128 levels 0-255 across the recording, for drawing it
ALTER TABLE webchat.media
    ADD COLUMN voice              boolean NOT NULL DEFAULT false,
    ADD COLUMN duration_ms        integer CHECK (duration_ms >= 0),
    ADD COLUMN client_duration_ms integer CHECK (client_duration_ms >= 0),
    ADD COLUMN waveform           smallint[] CHECK (cardinality(waveform) <= 128
                                                    AND 0 <= ALL (waveform) AND 255 >= ALL (waveform));

-- What a message shows of its media beyond the URL, one JSON object: the send path returns it for
-- the row it has just updated (a function that read the table would see it as the statement began)
-- and the view for every other read.
CREATE FUNCTION webchat.media_info(md webchat.media) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('content_type', md.content_type, 'size', md.size, 'voice', md.voice,
                              'duration_ms', coalesce(md.duration_ms, md.client_duration_ms),
                              'waveform', to_jsonb(md.waveform))
$$;

-- the view of 0010_staff.sql, then media_info at its end (CREATE OR REPLACE VIEW may only append)
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
       m.visibility,
       (SELECT webchat.media_info(md) FROM webchat.media md WHERE md.id = m.media_id) AS media_info
  FROM webchat.messages m
  JOIN webchat.accounts a ON a.id = m.sender_id;
