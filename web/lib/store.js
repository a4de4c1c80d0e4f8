// The client-side model: chats, messages merged by (chat, seq), optimistic sends, typing, unread.
// Components read from it and re-render on its 'change' event.

import {Api} from './api.js';
import {Transport} from './transport.js';
import {notifyOnce} from './notify.js';

const PAGE = 50;
const OPEN_CHAT_KEY = 'webchat-open-chat';

function newClientId() {
  return (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`);
}

export class ChatClient extends EventTarget {
  /**
   * @param {{base?: string, token?: string}} options
   *   token: a user token (JWT) issued by the embedding site; the guest's chats move to that user
   */
  constructor({base = '', token = ''} = {}) {
    super();
    this.token = token;
    // false while no one looks at the open chat (a closed launcher): nothing is marked read
    this.active = true;
    this.api = new Api(base);
    this.transport = new Transport(this.api);
    this.me = null;
    this.limits = {max_text_chars: 10000, max_media_bytes: 5 * 1024 * 1024};
    this.chats = new Map();
    this.messages = new Map(); // chat id -> Map(seq -> message)
    this._sorted = new Map(); // chat id -> messages in seq order, kept in step with `messages`
    this.loaded = new Set(); // chats whose latest page was fetched
    this.hasOlder = new Map();
    this.pending = new Map(); // client_id -> optimistic message
    this.typing = new Map(); // chat id -> Map(account id -> {name, expires})
    this.openChatId = Number(localStorage.getItem(OPEN_CHAT_KEY)) || null;
    this.status = 'connecting';
    this.error = '';
    this._changeQueued = false;
    this.transport.addEventListener('event', (e) => this._onEvent(e.detail));
    this.transport.addEventListener('status', (e) => { this.status = e.detail; this.changed(); });
    this._typingTimer = setInterval(() => this._expireTyping(), 1000);
    this._onVisible = () => { if (document.visibilityState === 'visible') this.markRead(this.openChatId); };
    document.addEventListener('visibilitychange', this._onVisible);
  }

  /** Start or stop looking at the open chat; becoming active marks it read. */
  setActive(active) {
    if (this.active === active) return;
    this.active = active;
    if (active) this.markRead(this.openChatId);
    this.changed();
  }

  /** Coalesce change notifications: many events in one task cause one render. */
  changed() {
    if (this._changeQueued) return;
    this._changeQueued = true;
    queueMicrotask(() => {
      this._changeQueued = false;
      this.dispatchEvent(new Event('change'));
    });
  }

  async start() {
    const me = await this.api.me();
    this.me = me.account;
    this.limits = me.limits || this.limits;
    if (this.token) {
      // before connecting: the socket then belongs to the signed-in user, with the guest's chats merged
      this.me = (await this.api.identify(this.token)).account;
    }
    // connect first: the first `connection` event loads state, so nothing falls in between
    this.transport.start();
  }

  stop() {
    this.transport.stop();
    clearInterval(this._typingTimer);
    document.removeEventListener('visibilitychange', this._onVisible);
  }

  // -- reading ---------------------------------------------------------------------------------
  sortedChats() {
    return [...this.chats.values()].sort((a, b) => (b.updated_at || '').localeCompare(a.updated_at || '') || b.id - a.id);
  }

  messageList(chatId) {
    let list = this._sorted.get(chatId);
    if (!list) {
      const map = this.messages.get(chatId);
      list = map ? [...map.values()].sort((a, b) => a.seq - b.seq) : [];
      this._sorted.set(chatId, list);
    }
    const pending = [...this.pending.values()].filter((m) => m.chat_id === chatId);
    return list.concat(pending);
  }

  typingNames(chatId) {
    const now = Date.now();
    const who = this.typing.get(chatId);
    return who ? [...who.values()].filter((t) => t.expires > now).map((t) => t.name) : [];
  }

  // -- actions ---------------------------------------------------------------------------------
  async openChat(chatId) {
    this.openChatId = chatId;
    if (chatId) localStorage.setItem(OPEN_CHAT_KEY, String(chatId));
    else localStorage.removeItem(OPEN_CHAT_KEY);
    this.changed();
    if (chatId && !this.loaded.has(chatId)) await this.loadLatest(chatId);
    this.markRead(chatId);
  }

  async loadLatest(chatId) {
    try {
      const data = await this.api.messages(chatId, {limit: PAGE});
      this._merge(chatId, data.messages);
      this.hasOlder.set(chatId, data.has_more);
      this.loaded.add(chatId);
    } catch (err) {
      if (err.status === 404) this._dropChat(chatId);
      else this.error = err.message;
    }
    this.changed();
  }

  async loadOlder(chatId) {
    const list = this.messageList(chatId).filter((m) => m.seq);
    if (!list.length || !this.hasOlder.get(chatId)) return 0;
    const data = await this.api.messages(chatId, {limit: PAGE, before: list[0].seq});
    this._merge(chatId, data.messages);
    this.hasOlder.set(chatId, data.has_more);
    this.changed();
    return data.messages.length;
  }

  async send(chatId, text, file = null, clientId = newClientId()) {
    const optimistic = {
      id: null, seq: null, chat_id: chatId, client_id: clientId, text, sender_id: this.me.id,
      sender_name: this.me.display_name, sender_kind: this.me.kind, timestamp: new Date().toISOString(),
      media_type: file ? (file.type.startsWith('audio/') ? 'audio' : 'image') : null,
      media_url: file ? URL.createObjectURL(file) : null, status: 'sending', file,
    };
    if (chatId) { this.pending.set(clientId, optimistic); this.changed(); }
    this.stopTyping(chatId);
    try {
      const data = await this.api.send({chatId, text, clientId, file});
      this._reconcile(data.message);
      if (!chatId) {
        await this.refreshChats();
        await this.openChat(data.chat_id);
      }
      return data;
    } catch (err) {
      // a new object, not a mutation: the message element re-renders on identity change
      if (chatId && this.pending.has(clientId)) {
        this.pending.set(clientId, {...optimistic, status: 'failed', error: err.message});
      }
      this.error = err.message;
      this.changed();
      throw err;
    }
  }

  retry(clientId) {
    const m = this.pending.get(clientId);
    if (!m) return;
    return this.send(m.chat_id, m.text, m.file, clientId).catch(() => {});
  }

  discard(clientId) { this.pending.delete(clientId); this.changed(); }

  async createChat(title) {
    const {chat} = await this.api.createChat(title || 'New chat');
    this._upsertChat(chat);
    await this.openChat(chat.id);
    return chat;
  }

  async renameChat(id, title) { this._upsertChat((await this.api.updateChat(id, {title})).chat); }
  async archiveChat(id, archived = true) {
    this._upsertChat((await this.api.updateChat(id, {is_archived: archived})).chat);
  }
  async deleteChat(id) {
    await this.api.deleteChat(id, true);
    this._dropChat(id);
  }
  async editMessage(id, text) { this._upsertMessage((await this.api.editMessage(id, text)).message); }
  async deleteMessage(id) { this._upsertMessage((await this.api.deleteMessage(id)).message); }

  markRead(chatId) {
    if (!chatId || !this.active || document.visibilityState !== 'visible') return;
    const chat = this.chats.get(chatId);
    if (!chat || !chat.last_seq || (chat.last_read_seq || 0) >= chat.last_seq) return;
    chat.last_read_seq = chat.last_seq;
    chat.unread_count = 0;
    this.changed();
    this.api.read(chatId, chat.last_seq).catch(() => {});
  }

  typingNow(chatId) {
    if (!chatId) return;
    const now = Date.now();
    // refresh well inside the receivers' expiry, and not more often than the server accepts
    if (!this._typingSent || now - this._typingSent > 2500 || this._typingChat !== chatId) {
      this._typingSent = now;
      this._typingChat = chatId;
      this._sendTyping(chatId, true);
    }
    clearTimeout(this._typingIdle);
    this._typingIdle = setTimeout(() => this.stopTyping(chatId), 2000);
  }

  stopTyping(chatId) {
    clearTimeout(this._typingIdle);
    if (this._typingSent && chatId === this._typingChat) {
      this._typingSent = 0;
      this._sendTyping(chatId, false);
    }
  }

  _sendTyping(chatId, isTyping) {
    if (!this.transport.send({type: 'typing', chat_id: chatId, is_typing: isTyping})) {
      this.api.typing(chatId, isTyping).catch(() => {});
    }
  }

  async refreshChats() {
    const {chats} = await this.api.chats();
    const ids = new Set(chats.map((c) => c.id));
    for (const id of [...this.chats.keys()]) if (!ids.has(id)) this._dropChat(id);
    for (const c of chats) this._upsertChat(c);
    this.changed();
  }

  // -- events ----------------------------------------------------------------------------------
  async _onEvent(ev) {
    switch (ev.type) {
      case 'connection':
        if (ev.fresh) await this._reloadAll();
        else await this.refreshChats().catch(() => {});
        break;
      case 'new_message':
      case 'message_updated':
        this._onMessage(ev);
        break;
      case 'chat_updated':
        if (ev.chat.deleted) this._dropChat(ev.chat.id);
        else this._upsertChat(ev.chat);
        break;
      case 'typing':
        this._onTyping(ev);
        break;
      case 'read':
        if (ev.account_id === this.me.id) {
          const chat = this.chats.get(ev.chat_id);
          if (chat && ev.seq >= (chat.last_read_seq || 0)) {
            chat.last_read_seq = ev.seq;
            chat.unread_count = this._countUnread(chat);
          }
        }
        break;
      case 'resync':
        // the server could not prove we missed nothing: start over from "now" and reload
        this.transport.resetCursor();
        this.transport.reconnectNow();
        break;
      default:
        return;
    }
    this.changed();
  }

  async _reloadAll() {
    this.messages.clear();
    this._sorted.clear();
    this.loaded.clear();
    await this.refreshChats();
    if (this.openChatId && !this.chats.has(this.openChatId)) this.openChatId = null;
    if (!this.openChatId) {
      const first = this.sortedChats().find((c) => !c.is_archived);
      this.openChatId = first ? first.id : null;
    }
    if (this.openChatId) await this.openChat(this.openChatId);
  }

  _onMessage(ev) {
    const m = ev.message;
    const isNew = this._upsertMessage(m);
    const chat = this.chats.get(m.chat_id);
    const mine = m.sender_id === this.me.id;
    if (mine || !isNew || ev.type !== 'new_message') return;
    // a message ends its sender's typing indicator
    this.typing.get(m.chat_id)?.delete(m.sender_id);
    const visible = document.visibilityState === 'visible';
    if (m.chat_id === this.openChatId && visible && this.active) this.markRead(m.chat_id);
    else if (chat && m.seq > (chat.last_read_seq || 0)) chat.unread_count = (chat.unread_count || 0) + 1;
    if (!visible || m.chat_id !== this.openChatId) {
      notifyOnce(m, chat ? chat.title : 'New message', () => this.openChat(m.chat_id));
    }
  }

  _onTyping(ev) {
    let who = this.typing.get(ev.chat_id);
    if (!who) this.typing.set(ev.chat_id, (who = new Map()));
    if (ev.is_typing) who.set(ev.account_id, {name: ev.user_name, expires: Date.now() + (ev.ttl_ms || 6000)});
    else who.delete(ev.account_id);
  }

  _expireTyping() {
    const now = Date.now();
    let expired = false;
    for (const who of this.typing.values()) {
      for (const [id, t] of who) if (t.expires <= now) { who.delete(id); expired = true; }
    }
    if (expired) this.changed();
  }

  // -- merging ---------------------------------------------------------------------------------
  _merge(chatId, list) {
    for (const m of list) this._upsertMessage(m);
  }

  /** Insert or replace by (chat, seq); returns true when the message was not known before. */
  _upsertMessage(m) {
    let map = this.messages.get(m.chat_id);
    if (!map) this.messages.set(m.chat_id, (map = new Map()));
    const known = map.get(m.seq);
    if (known && (known.change_seq || 0) > (m.change_seq || 0)) return false;
    map.set(m.seq, m);
    // live messages arrive at the end: append, and re-sort only when one lands elsewhere
    const sorted = this._sorted.get(m.chat_id);
    if (sorted && !known && (!sorted.length || m.seq > sorted[sorted.length - 1].seq)) sorted.push(m);
    else this._sorted.delete(m.chat_id);
    if (m.client_id && m.sender_id === this.me.id) this.pending.delete(m.client_id);
    const chat = this.chats.get(m.chat_id);
    if (chat) {
      // the chat list's preview and ordering follow the newest message (an edit or delete of it too)
      if (!chat.last_message || m.seq >= chat.last_message.seq) {
        chat.last_message = m;
        if (!known) chat.updated_at = m.timestamp;
      }
      chat.last_seq = Math.max(chat.last_seq || 0, m.change_seq || m.seq);
    }
    this.changed();
    return !known;
  }

  _reconcile(m) {
    const pending = this.pending.get(m.client_id);
    if (pending && pending.media_url && pending.media_url.startsWith('blob:')) URL.revokeObjectURL(pending.media_url);
    this._upsertMessage(m);
  }

  _countUnread(chat) {
    const map = this.messages.get(chat.id);
    if (!map) return chat.unread_count || 0;
    let n = 0;
    for (const m of map.values()) {
      if (m.seq > (chat.last_read_seq || 0) && m.sender_id !== this.me.id && !m.deleted) n += 1;
    }
    return Math.max(n, this.loaded.has(chat.id) ? 0 : chat.unread_count || 0);
  }

  _upsertChat(chat) {
    const known = this.chats.get(chat.id);
    const merged = {...known, ...chat};
    if (known && chat.unread_count === undefined) {
      merged.unread_count = known.unread_count;
      merged.last_read_seq = known.last_read_seq;
    }
    if (known && known.last_message && (!chat.last_message || chat.last_message.seq < known.last_message.seq)) {
      merged.last_message = known.last_message;
    }
    this.chats.set(chat.id, merged);
    this.changed();
  }

  _dropChat(id) {
    this.chats.delete(id);
    this.messages.delete(id);
    this._sorted.delete(id);
    this.loaded.delete(id);
    for (const [cid, m] of this.pending) if (m.chat_id === id) this.pending.delete(cid);
    if (this.openChatId === id) {
      const next = this.sortedChats().find((c) => !c.is_archived);
      this.openChat(next ? next.id : null);
    }
    this.changed();
  }
}
