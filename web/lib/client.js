// The client every public element uses: start-up (identify, connect), actions, and server events,
// delegating state to small units (chat list, messages, pending sends, typing, unread).
// Components subscribe through ClientController (controller.js); changes come as one 'change' event.

import {Api, ApiError} from './api.js';
import {Transport} from './transport.js';
import {notifyOnce} from './notify.js';
import {ChatList} from './chat-list.js';
import {ChatMessages} from './messages.js';
import {PendingSends, newClientId} from './pending.js';
import {Typing} from './typing.js';
import {Unread} from './unread.js';
import {Activity, applyPresence} from './presence.js';

const PAGE = 50;
// opening a chat loads history back to its first unread message, up to this many messages
const UNREAD_REACH = 1000;
export const OFFLINE = "Can't reach the chat server — retrying…";
// what a visitor sees when the embedding is misconfigured; the site owner gets the details in the console
export const UNAVAILABLE = "Chat isn't available on this page right now.";
const ERROR_SHOWN_MS = 8000;

/** Words for people: a network failure says so plainly, server errors keep their message. */
export function plainError(err) {
  if (!(err instanceof ApiError)) return OFFLINE;
  if (err.status >= 500) return 'The chat server had a problem — please try again.';
  return err.message;
}

/** The user id a JWT names (read, not verified: the server verifies), to skip signing in twice. */
function tokenSubject(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part.padEnd(part.length + (4 - part.length % 4) % 4, '='))).sub;
  } catch {
    return undefined;
  }
}

export class ChatClient extends EventTarget {
  /** @param {{base?: string, token?: string}} options token: a user token (JWT) from the embedding site */
  constructor({base = '', token = ''} = {}) {
    super();
    this.token = token;
    this.api = new Api(base);
    this.transport = new Transport(this.api);
    this.me = null;
    this.limits = {max_text_chars: 10000, max_media_bytes: 5 * 1024 * 1024, max_voice_seconds: 300};
    this.status = 'connecting';
    this.error = '';
    this.unavailable = '';
    const changed = () => this.changed();
    this.chats = new ChatList(changed);
    this.messages = new ChatMessages(changed, this.api.base);
    this.pending = new PendingSends(changed, `webchat-unsent:${this.api.base}`);
    this.typing = new Typing(changed, (chatId, on) => this._sendTyping(chatId, on));
    this.unread = new Unread(changed, this.chats, this.messages, (chatId, seq) => this.api.read(chatId, seq),
      () => this.refreshChats().catch(() => {}));
    // whether this page is in use, for the others' "online" / "away"; over long-poll it is not sent
    // (a polling page is visible, so it counts as in use)
    this.activity = new Activity((state) => this.transport.send({type: 'activity', state}));
    this._changeQueued = false;
    this.transport.addEventListener('event', (e) => this._onEvent(e.detail));
    this.transport.addEventListener('status', (e) => this._onStatus(e.detail));
    // the host page's Content-Security-Policy blocks the chat server: the site owner must hear of it
    this._onCsp = async (e) => {
      const url = String(e.blockedURI);
      const ws = url.startsWith(this.api.origin.replace(/^http/, 'ws'));
      if (!url.startsWith(this.api.origin) && !ws) return;
      if (ws) this.transport.socketBlocked(); // the API is allowed: the chat works by long-polling
      const fix = (await import('./diagnose.js')).cspFix(this.api, e.effectiveDirective, url);
      if (!this.me) this._unavailable(fix);
      else if (!this._cspSaid) console.error(`webchat: ${fix}`);
      this._cspSaid = true;
    };
    document.addEventListener('securitypolicyviolation', this._onCsp);
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
    if (this.stopped || this.unavailable) return;
    try {
      const me = await this.api.me();
      let account = me.account;
      this.limits = me.limits || this.limits;
      const signedIn = (a) => a.kind === 'user' && a.external_id === tokenSubject(this.token);
      if (this.token && !signedIn(account)) {
        // before connecting: the socket then belongs to the signed-in user, with the guest's chats merged
        try {
          account = (await this.api.identify(this.token)).account;
        } catch (err) {
          // tokens are single-use: another tab of this browser may have just signed the shared
          // session in with this very token; then the session is already who the page says
          if (!(err instanceof ApiError) || !['token_used', 'session_ended'].includes(err.code)) throw err;
          account = (await this.api.me()).account;
          if (!signedIn(account)) throw err;
        }
      }
      // from another origin the session cookie must come back; across sites browsers do not send it
      if (this.api.crossOrigin) await this.api.chats();
      this.me = account;
      this.unread.me = account;
      this.pending.restore(account.id);
    } catch (err) {
      const why = await this._misconfigured(err);
      if (why) {
        this._unavailable(why);
        return;
      }
      this.fail(err);
      if (!(err instanceof ApiError)) {
        this._onStatus(navigator.onLine ? 'reconnecting' : 'offline');
        this._startTimer = setTimeout(() => this.start(), 3000);
      }
      return;
    }
    // removed from the page while it was starting (stop() came before the transport existed): stay stopped
    if (this.stopped) return;
    // connect first: the first `connection` event loads state, so nothing falls in between
    this.transport.start();
  }

  /** Why the chat cannot work on this page (a sentence for the site owner), or '' if it may pass. */
  async _misconfigured(err) {
    try {
      return await (await import('./diagnose.js')).misconfigured(this.api, err);
    } catch {
      return ''; // the server is down: the words could not be loaded either
    }
  }

  /** A misconfigured embedding: the visitor gets one short, true sentence, the site owner the details. */
  _unavailable(why) {
    if (this.unavailable) return;
    console.error(`webchat: ${why}`);
    clearTimeout(this._startTimer);
    this.transport.stop();
    this.unavailable = UNAVAILABLE;
    this.error = '';
    this.status = 'unavailable';
    this.changed();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this._startTimer);
    document.removeEventListener('securitypolicyviolation', this._onCsp);
    this.transport.stop();
    this.typing.stop();
    this.unread.stop();
    this.activity.stop();
    clearTimeout(this._errorTimer);
  }

  // -- reading ---------------------------------------------------------------------------------
  get openChatId() { return this.chats.openChatId; }
  get active() { return this.unread.active; }
  set active(value) { this.unread.setActive(value); }
  setActive(value) { this.unread.setActive(value); }

  messageList(chatId) { return this.messages.list(chatId).concat(this.pending.forChat(chatId)); }
  typingNames(chatId) { return this.typing.names(chatId); }

  /** Show an error in words people understand; it clears itself. */
  fail(err) {
    this.error = typeof err === 'string' ? err : plainError(err);
    clearTimeout(this._errorTimer);
    // "can't reach" clears when the connection is back; anything else after a while
    if (this.error !== OFFLINE) this._errorTimer = setTimeout(() => this.clearError(), ERROR_SHOWN_MS);
    this.changed();
  }

  clearError() {
    clearTimeout(this._errorTimer);
    if (this.error) { this.error = ''; this.changed(); }
  }

  // -- actions ---------------------------------------------------------------------------------
  async openChat(chatId) {
    if (chatId !== this.chats.openChatId) this.unread.opening(chatId);
    this.chats.setOpen(chatId);
    if (chatId && !this.messages.loaded.has(chatId)) await this.loadLatest(chatId);
    this.unread.read(chatId);
  }

  async loadLatest(chatId) {
    try {
      let data = await this.api.messages(chatId, {limit: PAGE});
      const got = data.messages;
      // a chat with many unread opens on the first of them: load back to it (one render, no gap)
      const firstUnread = (this.unread.dividerAfter.get(chatId) ?? Infinity) + 1;
      while (data.has_more && got[0].seq > firstUnread && got.length < UNREAD_REACH) {
        data = await this.api.messages(chatId, {limit: 200, before: got[0].seq});
        got.unshift(...data.messages);
      }
      this.messages.page(chatId, got, data.has_more);
      for (const m of got) this.chats.sawMessage(m, false);
    } catch (err) {
      if (err.status === 404) this._dropChat(chatId);
      else this.fail(err);
    }
  }

  async loadOlder(chatId) {
    const oldest = this.messages.oldestSeq(chatId);
    if (!oldest || !this.messages.hasOlder.get(chatId)) return 0;
    try {
      const data = await this.api.messages(chatId, {limit: PAGE, before: oldest});
      this.messages.page(chatId, data.messages, data.has_more);
      return data.messages.length;
    } catch (err) {
      this.fail(err);
      return 0;
    }
  }

  /** Shown at once as "Sending…"; without a chat (a first message) it makes one. `replyTo`: the
   * message this one answers (its quote shows at once, as the server will store it). */
  async send(chatId, text, file = null, clientId = newClientId(), replyTo = null) {
    chatId = chatId || null;
    if (!this.pending.get(clientId)) {
      this.pending.add({
        id: null, seq: null, chat_id: chatId, client_id: clientId, text, sender_id: this.me.id,
        sender_name: this.me.display_name, sender_kind: this.me.kind, timestamp: new Date().toISOString(),
        media_type: file ? (file.type.startsWith('audio/') ? 'audio' : 'image') : null,
        media_url: file ? URL.createObjectURL(file) : null, status: 'sending', file,
        media: file?.voice ? {type: 'voice', content_type: file.type, size: file.size, ...file.voice} : null,
        reply_to: replyTo ? replyTo.id : null, quote: replyTo ? quoteOf(replyTo) : null, reactions: [],
      });
    } else {
      this.pending.mark(clientId, 'sending');
    }
    this.typing.done(chatId);
    return chatId ? this._post(chatId, clientId) : this._newChat();
  }

  async _post(chatId, clientId) {
    const {text, file, reply_to: replyTo} = this.pending.get(clientId);
    try {
      const data = file?.voice ? await this.api.request('POST', '/webchat/send/', {form: voiceForm(chatId, clientId, file, replyTo)})
        : await this.api.send({chatId, text, clientId, file, replyTo});
      this._upsertMessage(data.message);
      return data;
    } catch (err) {
      // a refusal (too long, not a member) would fail again: only those go again by themselves
      const retryable = !(err instanceof ApiError) || err.status >= 500 || err.status === 429;
      this.pending.mark(clientId, 'failed', plainError(err), retryable);
      this.fail(err);
      throw err;
    }
  }

  /** Messages written before there is a chat: the first one makes it, once (its client_id makes a
   * retry find the chat the lost answer had made), and the ones written meanwhile follow into it. */
  _newChat() {
    this._creating ||= (async () => {
      const [first] = this.pending.forChat(null);
      if (!first) return;
      for (const m of this.pending.forChat(null)) if (m.status !== 'sending') this.pending.mark(m.client_id, 'sending');
      let data;
      try {
        data = await this._post(null, first.client_id);
      } catch {
        const {error, retryable} = this.pending.get(first.client_id) || {};
        for (const m of this.pending.forChat(null)) this.pending.mark(m.client_id, 'failed', error, retryable);
        return;
      }
      const chatId = data.chat_id;
      // from here on the composer sends into this chat; what was written meanwhile goes there too
      if (!this.chats.openChatId) this.chats.setOpen(chatId);
      const rest = this.pending.forChat(null);
      for (const m of rest) this.pending.move(m.client_id, chatId);
      await this.refreshChats().catch(() => {});
      if (this.chats.openChatId === chatId) await this.openChat(chatId);
      for (const m of rest) this._post(chatId, m.client_id).catch(() => {});
    })().finally(() => { this._creating = null; });
    return this._creating;
  }

  retry(clientId) {
    const m = this.pending.get(clientId);
    if (!m) return undefined;
    return this.send(m.chat_id, m.text, m.file, clientId, m.reply_to ? {id: m.reply_to, ...m.quote} : null)
      .catch(() => {});
  }

  /** Failed sends go again once the connection is back (same client_id: never twice). */
  retryFailed() {
    for (const m of this.pending.retryable()) this.retry(m.client_id);
  }

  /** Messages not stored yet, failed or on their way (the launcher marks them on its closed button). */
  get unsent() { return this.pending.byClientId.size; }

  discard(clientId) { this.pending.confirm(clientId); }

  /** "+ New chat": an empty chat is opened again rather than another one made. */
  async createChat(title = 'New chat') {
    // a chat with a message on its way is not empty
    const empty = this.chats.emptyChat((id) => this.pending.forChat(id).length > 0);
    if (empty) {
      await this.openChat(empty.id);
      return empty;
    }
    const {chat} = await this.api.createChat(title);
    this.chats.upsert(chat);
    await this.openChat(chat.id);
    return chat;
  }

  async renameChat(id, title) { this.chats.upsert((await this.api.updateChat(id, {title})).chat); }
  async archiveChat(id, archived = true) {
    this.chats.upsert((await this.api.updateChat(id, {is_archived: archived})).chat);
  }
  async deleteChat(id) {
    await this.api.deleteChat(id, true);
    this._dropChat(id);
  }
  async editMessage(id, text) { this._upsertMessage((await this.api.editMessage(id, text)).message); }
  async deleteMessage(id) { this._upsertMessage((await this.api.deleteMessage(id)).message); }

  /** Add my `emoji` to message `m`, or take it back if it is mine already. Shown at once; the
   * server's answer (or its message_updated event) then replaces the guess. */
  async toggleReaction(m, emoji) {
    const mine = (m.reactions || []).some((r) => r.emoji === emoji && r.account_ids.includes(this.me.id));
    this.messages.upsert(withReaction(m, emoji, this.me, !mine));
    try {
      if (mine) await this.api.unreact(m.id, emoji);
      else this._upsertMessage((await this.api.react(m.id, emoji)).message);
    } catch (err) {
      this.messages.upsert(m); // undo the guess
      this.fail(err);
    }
  }

  /** The message with id `id` of chat `chatId`, loading older history until it is there (a quote's
   * original); null when it is not in the chat's history. */
  async findMessage(chatId, id) {
    for (;;) {
      const found = this.messages.list(chatId).find((m) => m.id === id);
      if (found) return found;
      if (!this.messages.hasOlder.get(chatId) || !(await this.loadOlder(chatId))) return null;
    }
  }

  markRead(chatId) { this.unread.read(chatId); }
  typingNow(chatId) { this.typing.now(chatId); }
  stopTyping(chatId) { this.typing.done(chatId); }

  _sendTyping(chatId, isTyping) {
    if (!this.transport.send({type: 'typing', chat_id: chatId, is_typing: isTyping})) {
      this.api.typing(chatId, isTyping).catch(() => {});
    }
  }

  async refreshChats() {
    const {chats} = await this.api.chats();
    const ids = new Set(chats.map((c) => c.id));
    for (const id of this.chats.ids()) if (!ids.has(id)) this._dropChat(id);
    for (const c of chats) this.chats.upsert(c);
  }

  // -- events ----------------------------------------------------------------------------------
  _onStatus(status) {
    this.status = status;
    if (status === 'live' || status === 'polling') {
      if (this.error === OFFLINE) this.clearError();
      this.retryFailed();
    } else if (status === 'offline') {
      this.fail(OFFLINE);
    }
    this.changed();
  }

  async _onEvent(ev) {
    switch (ev.type) {
      case 'connection':
        this.activity.report(true);
        try {
          if (ev.fresh) await this._reloadAll();
          else await this.refreshChats();
        } catch (err) {
          this.fail(err);
        }
        break;
      case 'new_message':
      case 'message_updated':
        this._onMessage(ev);
        break;
      case 'chat_updated':
        if (ev.chat.deleted) {
          this._dropChat(ev.chat.id);
        } else {
          const isNew = !this.chats.has(ev.chat.id);
          this.chats.upsert(ev.chat);
          // made in another tab (or by an agent) while this one shows "New conversation": open it,
          // unless a first message of this tab is about to make its own
          if (isNew && !this.chats.openChatId && !ev.chat.is_archived && !this.pending.forChat(null).length) {
            this.openChat(ev.chat.id);
          }
        }
        break;
      case 'typing':
        this.typing.seen(ev);
        break;
      case 'read':
        this.unread.readEvent(ev);
        break;
      case 'presence':
        // someone no chat here lists yet (they just joined one): the chat list brings them
        if (applyPresence(this.chats.chats.values(), ev)) this.changed();
        else this.refreshChats().catch(() => {});
        break;
      case 'resync':
        // the server could not prove we missed nothing: start over from "now" and reload
        this.transport.resetCursor();
        this.transport.reconnectNow();
        break;
      default:
    }
  }

  async _reloadAll() {
    this.messages.clear();
    await this.refreshChats();
    let open = this.chats.openChatId;
    if (open && !this.chats.has(open)) open = null;
    if (!open) open = this.chats.firstActive()?.id || null;
    this.chats.setOpen(null);
    if (open) await this.openChat(open);
  }

  _onMessage(ev) {
    const m = ev.message;
    const isNew = this._upsertMessage(m);
    if (m.sender_id === this.me.id || !isNew || ev.type !== 'new_message') return;
    this.typing.ended(m.chat_id, m.sender_id);
    this.unread.incoming(m);
    if (document.visibilityState !== 'visible' || m.chat_id !== this.chats.openChatId) {
      const chat = this.chats.get(m.chat_id);
      notifyOnce(m, chat ? chat.title : 'New message', () => this.openChat(m.chat_id));
    }
  }

  /** Returns true when the message was not known before. */
  _upsertMessage(m) {
    const isNew = this.messages.upsert(m);
    if (isNew === null) return false;
    if (m.client_id && m.sender_id === this.me.id) this.pending.confirm(m.client_id);
    this.chats.sawMessage(m, isNew);
    return isNew;
  }

  _dropChat(id) {
    this.chats.drop(id);
    this.messages.drop(id);
    this.pending.dropChat(id);
    if (this.chats.openChatId === id) this.openChat(this.chats.firstActive()?.id || null);
  }
}

/** A voice note's upload with the duration and waveform the recorder measured (README "Voice
 * notes"); built here, not in lib/api.js, which the launcher's first bytes carry. */
function voiceForm(chatId, clientId, file, replyTo) {
  const form = new FormData();
  if (chatId) form.append('chat_id', String(chatId));
  if (replyTo) form.append('reply_to', String(replyTo));
  form.append('client_id', clientId);
  form.append('duration_ms', String(file.voice.duration_ms));
  form.append('waveform', JSON.stringify(file.voice.waveform));
  form.append('media', file, file.name);
  return form;
}

/** What a reply shows of the message it answers (the server's `quote`, for a message not sent yet). */
export function quoteOf(m) {
  return {id: m.id, sender_name: m.sender_name, text: m.deleted ? '' : (m.text || '').slice(0, 140),
    deleted: Boolean(m.deleted), media_type: m.deleted ? null : m.media_type || null};
}

/** `m` with my reaction `emoji` added (on) or removed: a new object, as the server would send it. */
export function withReaction(m, emoji, me, on) {
  const first = (me.display_name || '').trim().split(' ')[0];
  let reactions = (m.reactions || []).map((r) => {
    if (r.emoji !== emoji || r.account_ids.includes(me.id) === on) return r;
    const ids = on ? [...r.account_ids, me.id] : r.account_ids.filter((x) => x !== me.id);
    const by = on ? (r.by.length < 10 ? [...r.by, first] : r.by) : r.by.filter((n, i) => r.account_ids[i] !== me.id);
    return {...r, count: ids.length, account_ids: ids, by, mine: on};
  }).filter((r) => r.count > 0);
  if (on && !reactions.some((r) => r.emoji === emoji)) {
    reactions = [...reactions, {emoji, count: 1, mine: true, by: [first], account_ids: [me.id]}];
  }
  return {...m, reactions};
}

/** The one way public elements get a client: `api-base` and `user-token` from their attributes. */
export function createClient({base = '', token = ''} = {}) {
  const client = new ChatClient({base, token});
  client.start();
  return client;
}
