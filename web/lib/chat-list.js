// The chat list: chats by id, their order by latest activity, and which one is open.

import {applyRead, mergeMembers} from './receipts.js';

const OPEN_CHAT_KEY = 'webchat-open-chat';

export class ChatList {
  /** @param {() => void} changed called after every change */
  constructor(changed) {
    this.changed = changed;
    this.chats = new Map();
    this.openChatId = Number(localStorage.getItem(OPEN_CHAT_KEY)) || null;
  }

  get(id) { return id ? this.chats.get(id) : undefined; }
  has(id) { return this.chats.has(id); }
  ids() { return [...this.chats.keys()]; }

  sorted() {
    return [...this.chats.values()].sort((a, b) => (b.updated_at || '').localeCompare(a.updated_at || '') || b.id - a.id);
  }

  /** The first chat worth opening when none is: the most recent active one. */
  firstActive() { return this.sorted().find((c) => !c.is_archived) || null; }

  /** An active chat without a single message: "+ New chat" opens it instead of making another. */
  emptyChat(busy = () => false) {
    return this.sorted().find((c) => !c.is_archived && !c.last_seq && !c.last_message && !busy(c.id)) || null;
  }

  setOpen(id) {
    this.openChatId = id || null;
    if (id) localStorage.setItem(OPEN_CHAT_KEY, String(id));
    else localStorage.removeItem(OPEN_CHAT_KEY);
    this.changed();
  }

  /** Merge a chat from the server; unread state and a newer last message known here survive. */
  upsert(chat) {
    const known = this.chats.get(chat.id);
    const merged = {...known, ...chat};
    if (known && chat.unread_count === undefined) {
      merged.unread_count = known.unread_count;
      merged.last_read_seq = known.last_read_seq;
    }
    // a chat_updated event carries no members: keep those the list had
    if (known) merged.members = mergeMembers(known.members, chat.members);
    if (known && known.last_message && (!chat.last_message || chat.last_message.seq < known.last_message.seq)) {
      merged.last_message = known.last_message;
    }
    this.chats.set(chat.id, merged);
    this.changed();
  }

  /** The chat list's preview and ordering follow the newest message (an edit or delete of it too). */
  sawMessage(m, isNew) {
    const chat = this.chats.get(m.chat_id);
    if (!chat) return;
    if (!chat.last_message || m.seq >= chat.last_message.seq) {
      chat.last_message = m;
      if (isNew) chat.updated_at = m.timestamp;
    }
    chat.last_seq = Math.max(chat.last_seq || 0, m.change_seq || m.seq);
  }

  /** Another member read up to `seq`; false when that member is not known here yet. */
  readBy(chatId, accountId, seq) {
    const known = applyRead(this.chats.get(chatId), accountId, seq);
    if (known) this.changed();
    return known;
  }

  drop(id) {
    this.chats.delete(id);
    this.changed();
  }
}
