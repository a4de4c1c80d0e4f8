// Messages of each chat, merged by (chat, seq): the newest change of a message wins.

export class ChatMessages {
  /** @param {string} base the chat server (api-base): media URLs are resolved against it */
  constructor(changed, base = '') {
    this.changed = changed;
    this.base = base;
    this.byChat = new Map(); // chat id -> Map(seq -> message)
    this._sorted = new Map(); // chat id -> messages in seq order, kept in step with byChat
    this.loaded = new Set(); // chats whose latest page was fetched
    this.hasOlder = new Map();
  }

  list(chatId) {
    let list = this._sorted.get(chatId);
    if (!list) {
      const map = this.byChat.get(chatId);
      list = map ? [...map.values()].sort((a, b) => a.seq - b.seq) : [];
      this._sorted.set(chatId, list);
    }
    return list;
  }

  all(chatId) { return this.byChat.get(chatId)?.values() || []; }
  oldestSeq(chatId) { return this.list(chatId)[0]?.seq || null; }

  /** Insert or replace by (chat, seq); returns true when the message was not known before, null if stale. */
  upsert(m) {
    // "/webchat/media/2" is the chat server's, not the host page's (a widget on another origin)
    if (m.media_url && m.media_url.startsWith('/') && !m.media_url.startsWith('//')) m.media_url = this.base + m.media_url;
    let map = this.byChat.get(m.chat_id);
    if (!map) this.byChat.set(m.chat_id, (map = new Map()));
    const known = map.get(m.seq);
    if (known && (known.change_seq || 0) > (m.change_seq || 0)) return null;
    map.set(m.seq, m);
    // live messages arrive at the end: append, and re-sort only when one lands elsewhere
    const sorted = this._sorted.get(m.chat_id);
    if (sorted && !known && (!sorted.length || m.seq > sorted[sorted.length - 1].seq)) sorted.push(m);
    else if (sorted && known) sorted[sorted.indexOf(known)] = m;
    else this._sorted.delete(m.chat_id);
    this.changed();
    return !known;
  }

  page(chatId, messages, hasMore) {
    for (const m of messages) this.upsert(m);
    this.hasOlder.set(chatId, hasMore);
    this.loaded.add(chatId);
    this.changed();
  }

  drop(chatId) {
    this.byChat.delete(chatId);
    this._sorted.delete(chatId);
    this.loaded.delete(chatId);
    this.hasOlder.delete(chatId);
  }

  clear() {
    this.byChat.clear();
    this._sorted.clear();
    this.loaded.clear();
    this.hasOlder.clear();
  }
}
