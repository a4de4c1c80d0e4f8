-- Media of a deleted message is gone: its bytes are erased and the row is kept as a tombstone
-- (content type, size and times stay for audit; GET /webchat/media/<id> answers 404).
-- A trigger does it, so a delete through SQL (UPDATE ... SET deleted_at = now(), or DELETE)
-- erases the media exactly like DELETE /webchat/messages/<id>/ does. Erasing is final: clearing
-- deleted_at again brings the text back, never the media.
ALTER TABLE webchat.media ADD COLUMN deleted_at timestamptz;

CREATE FUNCTION webchat.media_tombstone() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- the row is kept, not deleted: deleting it would SET NULL messages.media_id, an UPDATE of
    -- the message that takes another chat sequence value and sends a second change event
    UPDATE webchat.media SET bytes = '\x'::bytea, deleted_at = now()
     WHERE id = OLD.media_id AND deleted_at IS NULL;
    RETURN NULL;
END $$;

CREATE TRIGGER messages_media_tombstone_on_delete AFTER UPDATE OF deleted_at ON webchat.messages
    FOR EACH ROW WHEN (OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL AND OLD.media_id IS NOT NULL)
    EXECUTE FUNCTION webchat.media_tombstone();

CREATE TRIGGER messages_media_tombstone_on_remove AFTER DELETE ON webchat.messages
    FOR EACH ROW WHEN (OLD.media_id IS NOT NULL)
    EXECUTE FUNCTION webchat.media_tombstone();

-- messages deleted before this migration
UPDATE webchat.media md SET bytes = '\x'::bytea, deleted_at = now()
  FROM webchat.messages m
 WHERE m.media_id = md.id AND m.deleted_at IS NOT NULL AND md.deleted_at IS NULL;
