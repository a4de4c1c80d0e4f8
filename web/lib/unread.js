// Unread state: what the reader has read (and tells the server), and where the "New messages" divider goes when a chat with unread messages is opened.

export class Unread {
  /**
   * @param {import('./chat-list.js').ChatList} chats
   * @param {import('./messages.js').ChatMessages} messages
   * @param {(chatId: number, seq: number) => Promise<unknown>} sendRead
   * @param {() => void} refresh fetch the chat list again (exact unread counts from the server)
   */
  constructor(changed, chats, messages, sendRead, refresh) {
    this.changed = changed;
    this.chats = chats;
    this.messages = messages;
    this.sendRead = sendRead;
    this.refresh = refresh;
    this.me = null;
    // false while no one looks at the open chat (a closed launcher): nothing is marked read
    this.active = true;
    this.dividerAfter = new Map(); // chat id -> last read seq when it was opened with unread messages
    this._onVisible = () => { if (document.visibilityState === 'visible') this.read(this.chats.openChatId); };
    document.addEventListener('visibilitychange', this._onVisible);
  }

  stop() { document.removeEventListener('visibilitychange', this._onVisible); }

  get looking() { return this.active && document.visibilityState === 'visible'; }

  setActive(active) {
    if (this.active === active) return;
    this.active = active;
    if (active) {
      // the panel opens on what came while it was closed
      const id = this.chats.openChatId;
      if (this.count(id)) this.opening(id);
      this.read(id);
    }
    this.changed();
  }

  count(chatId) { return this.chats.get(chatId)?.unread_count || 0; }

  /** Remember where the unread part starts, before reading it clears the count. */
  opening(chatId) {
    const chat = this.chats.get(chatId);
    if (chat && chat.unread_count > 0) this.dividerAfter.set(chatId, chat.last_read_seq || 0);
    else this.dividerAfter.delete(chatId);
  }

  read(chatId) {
    if (!chatId || !this.looking) return;
    const chat = this.chats.get(chatId);
    if (!chat || !chat.last_seq || (chat.last_read_seq || 0) >= chat.last_seq) return;
    chat.last_read_seq = chat.last_seq;
    chat.unread_count = 0;
    this.changed();
    this.sendRead(chatId, chat.last_seq).catch(() => {});
  }

  /** A new message from someone else. */
  incoming(m) {
    const chat = this.chats.get(m.chat_id);
    if (m.chat_id === this.chats.openChatId && this.looking) {
      this.read(m.chat_id);
    } else if (chat && m.seq > (chat.last_read_seq || 0)) {
      // the first message that arrives while the chat is open but unseen starts the divider there
      if (m.chat_id === this.chats.openChatId && !chat.unread_count) this.dividerAfter.set(m.chat_id, chat.last_read_seq || 0);
      chat.unread_count = (chat.unread_count || 0) + 1;
      this.changed();
    }
  }

  /** A `read` event: ours moves our position (another tab read it), others' make "Seen". */
  readEvent(ev) {
    if (ev.account_id !== this.me.id) {
      // a member this tab does not know yet (just joined): the chat list brings them
      if (!this.chats.readBy(ev.chat_id, ev.account_id, ev.seq)) this.refresh();
      return;
    }
    const chat = this.chats.get(ev.chat_id);
    if (chat && ev.seq >= (chat.last_read_seq || 0)) {
      chat.last_read_seq = ev.seq;
      chat.unread_count = this._countUnread(chat);
      this.changed();
    }
  }

  _countUnread(chat) {
    const read = chat.last_read_seq || 0;
    let n = 0;
    for (const m of this.messages.all(chat.id)) {
      if (m.seq > read && m.sender_id !== this.me.id && !m.deleted) n += 1;
    }
    // a chat never opened here holds only the messages that arrived live: read to its newest
    // message (another tab read it) means none; read to somewhere before it, ask the server
    if (this.messages.loaded.has(chat.id) || read >= (chat.last_message?.seq || 0)) return n;
    this.refresh();
    return Math.max(n, chat.unread_count || 0);
  }
}
