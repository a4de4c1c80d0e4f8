// The agents' client: the ordinary chat client (session, socket, messages, sends, typing, unread)
// whose chat list is the inbox of visitor conversations (GET /webchat/inbox/) rather than the
// agent's own chats, with the inbox's actions (claim, hand over, resolve, reopen, notes).
//
// The list follows live events: a message in a conversation the list does not hold yet (a new
// visitor), or a change of a conversation's status or assignee, refetches the current page. A
// server whose agent sockets do not carry every visitor conversation (its `connection` event
// without `inbox: true`) is asked again every few seconds instead, so nothing waits for a reload.

import {ChatClient} from './client.js';
import {ApiError} from './api.js';
import {PendingSends, newClientId} from './pending.js';
import {chime} from './chime.js';
import {notificationPermission} from './notify.js';

export const STATUSES = ['open', 'resolved'];
export const ASSIGNEES = ['me', 'none', 'any'];
const REFETCH_DEBOUNCE_MS = 150;
const POLL_INBOX_MS = 4000;
const FILTER_KEY = 'webchat-inbox-filter';

function loadFilter() {
  try {
    const f = JSON.parse(localStorage.getItem(FILTER_KEY) || '{}') || {};
    return {status: STATUSES.includes(f.status) ? f.status : 'open',
      assignee: ASSIGNEES.includes(f.assignee) ? f.assignee : 'any'};
  } catch {
    return {status: 'open', assignee: 'any'};
  }
}

/** Does a conversation belong in the list under this filter (for the agent `meId`)? */
export function matches(conv, filter, meId) {
  if (conv.status !== filter.status) return false;
  if (filter.assignee === 'me') return conv.assignee_id === meId;
  if (filter.assignee === 'none') return conv.assignee_id === null || conv.assignee_id === undefined;
  return true;
}

/** The secret of a sign-in link (/inbox/#signin=…), taken out of the address so a reload or a
 * bookmark does not carry a spent link. */
function takeSigninSecret() {
  const match = /^#signin=([^&]+)/.exec(location.hash);
  if (!match) return '';
  history.replaceState(null, '', location.pathname + location.search);
  return decodeURIComponent(match[1]);
}

export class InboxClient extends ChatClient {
  constructor(options) {
    super(options);
    // an agent's unsent text is never kept for a later page: a note restored there must not go
    // out as a reply, and an agent works from one page anyway
    this.pending = new PendingSends(() => this.changed(), '');
    this.conversations = new Map(); // chat id -> {visitor, assignee_id, status, automation, context}
    this.filter = loadFilter();
    this.hasMore = false;
    this.nextBefore = null;
    this.notAgent = false;
    this.sound = localStorage.getItem('webchat-inbox-sound') !== 'off';
    this._notes = new Set(); // client ids of notes on their way
    this._known = new Set(); // conversations seen since the page loaded: a new one chimes
    this._firstLoad = true;
  }

  async start() {
    const link = takeSigninSecret();
    try {
      let me = await this.api.me();
      if (link) {
        // a one-time sign-in link (`webchat-server agent add`): spent here, whatever the session was
        me = await this.api.request('POST', '/webchat/agent/signin', {json: {token: link}});
        this.api.csrf = me.csrf_token;
      } else if (this.token && me.account.kind !== 'agent') {
        me = await this.api.identify(this.token); // a site's backend signed an agent token
      }
      if (me.account.kind !== 'agent') {
        // signed out, a visitor or a site's user: the page says how to sign in and shows no data
        this.notAgent = true;
        this.me = me.account;
        this.changed();
        return;
      }
      this.token = ''; // signed in: the ordinary start must not identify again
    } catch (err) {
      if (link && err instanceof ApiError) {
        this.notAgent = true;
        this.signinError = err.message;
        this.changed();
        return;
      }
      // the server is down: the ordinary start retries and says so
    }
    await super.start();
  }

  stop() {
    super.stop();
    clearTimeout(this._refetchTimer);
    clearInterval(this._pollTimer);
  }

  /** The conversations the list shows, newest activity first. */
  listed() {
    const meId = this.me && this.me.id;
    return this.chats.sorted().filter((chat) => {
      const conv = this.conversations.get(chat.id);
      return conv && matches(conv, this.filter, meId);
    });
  }

  conversation(chatId) { return chatId ? this.conversations.get(chatId) : undefined; }

  /** Open a conversation the list may not hold (another filter, another page): fetched first. */
  async openConversation(chatId) {
    if (!this.conversations.has(chatId)) {
      const data = await this.api.request('GET', `/webchat/inbox/${chatId}/`);
      this._take([data.conversation]);
    }
    await this.openChat(chatId);
  }

  setFilter(changes) {
    this.filter = {...this.filter, ...changes};
    try { localStorage.setItem(FILTER_KEY, JSON.stringify(this.filter)); } catch { /* storage blocked */ }
    this.changed();
    return this.refreshChats().catch((err) => this.fail(err));
  }

  setSound(on) {
    this.sound = on;
    try { localStorage.setItem('webchat-inbox-sound', on ? 'on' : 'off'); } catch { /* storage blocked */ }
    if (on) chime();
    this.changed();
  }

  /** The first page of the current filter; replaces what the list holds. */
  async refreshChats() {
    const data = await this.api.request('GET', '/webchat/inbox/', {params: this.filter});
    const ids = new Set(data.conversations.map((c) => c.chat.id));
    // conversations that left this filter (resolved, taken by someone else) leave the list; the
    // open one stays open, with its state as it is now
    const open = this.chats.openChatId;
    for (const [id, conv] of this.conversations) {
      if (!ids.has(id) && id !== open && matches(conv, this.filter, this.me.id)) this.conversations.delete(id);
    }
    if (open && !ids.has(open) && this.conversations.has(open)) {
      const one = await this.api.request('GET', `/webchat/inbox/${open}/`).catch(() => null);
      if (one) data.conversations.push(one.conversation);
    }
    this._take(data.conversations);
    this.hasMore = data.has_more;
    this.nextBefore = data.next_before || null;
    this.changed();
  }

  async loadMore() {
    if (!this.hasMore || !this.nextBefore) return;
    const data = await this.api.request('GET', '/webchat/inbox/', {params: {...this.filter, before: this.nextBefore}});
    this._take(data.conversations);
    this.hasMore = data.has_more;
    this.nextBefore = data.next_before || null;
    this.changed();
  }

  _take(conversations) {
    const fresh = [];
    for (const conv of conversations) {
      const {chat} = conv;
      this.conversations.set(chat.id, conv);
      // the list's count is the server's (the visitor's messages after what this agent read),
      // except for the conversation the agent is reading now, which it may not have joined
      const reading = chat.id === this.chats.openChatId && this.unread.looking;
      this.chats.upsert({...chat, unread_count: reading ? 0 : conv.unread_count,
        last_read_seq: chat.last_read_seq ?? Math.max(0, (chat.last_seq || 0) - (conv.unread_count || 0))});
      if (!this._known.has(chat.id)) {
        this._known.add(chat.id);
        if (!this._firstLoad && conv.status === 'open') fresh.push(conv);
      }
    }
    this._firstLoad = false;
    for (const conv of fresh) this._announce(conv);
    this._catchUp(this.chats.openChatId);
  }

  /** The open conversation has messages the page has not had (no live events for a conversation
   * this agent has not joined, until the server sends agents every conversation's): fetch them. */
  async _catchUp(chatId) {
    const conv = this.conversations.get(chatId);
    const newest = conv && conv.chat.last_message ? conv.chat.last_message.seq : 0;
    const known = this.messages.list(chatId).at(-1)?.seq || 0;
    if (!this.messages.loaded.has(chatId) || newest <= known || this._catchingUp) return;
    this._catchingUp = true;
    try {
      const data = await this.api.messages(chatId, {after: known, limit: 200});
      for (const m of data.messages) this._onMessage({type: 'new_message', message: m});
    } catch {
      // the next refetch tries again
    } finally {
      this._catchingUp = false;
    }
  }

  /** A new visitor conversation: a chime (if on) and a browser notification (if allowed). */
  _announce(conv) {
    if (this.sound) chime();
    this.dispatchEvent(new CustomEvent('new-conversation', {detail: conv}));
    if (notificationPermission() !== 'granted' || !conv.last_message) return;
    const n = new Notification(`New conversation: ${conv.visitor.display_name}`, {
      // the tag of the ordinary per-message notification: the browser shows this one in its place
      body: (conv.last_message.text || 'Attachment').slice(0, 200), tag: `webchat-chat-${conv.chat.id}`});
    n.onclick = () => { window.focus(); this.openChat(conv.chat.id); n.close(); };
  }

  /** Fetch the list again soon: many events in a burst cause one request. */
  refetchSoon() {
    clearTimeout(this._refetchTimer);
    this._refetchTimer = setTimeout(() => this.refreshChats().catch(() => {}), REFETCH_DEBOUNCE_MS);
  }

  async _onEvent(ev) {
    if (ev.type === 'connection') {
      // without the agents' subscription only the agent's own chats have events: ask regularly
      clearInterval(this._pollTimer);
      if (!ev.inbox) this._pollTimer = setInterval(() => this.refreshChats().catch(() => {}), POLL_INBOX_MS);
    }
    if (ev.type === 'chat_updated') {
      // not the base client's: that opens a chat it has not seen (another tab made it), and an
      // agent opens what it chooses; status and assignee come with the refetch
      if (ev.chat.deleted) this._dropChat(ev.chat.id);
      else this.chats.upsert(ev.chat);
    } else {
      await super._onEvent(ev);
    }
    const chatId = ev.chat_id ?? ev.message?.chat_id ?? ev.chat?.id;
    if (ev.type === 'chat_updated' || ((ev.type === 'new_message') && !this.conversations.has(chatId))) {
      this.refetchSoon();
    }
  }

  _onMessage(ev) {
    // a conversation the list does not hold yet: the refetch it causes announces it (one
    // notification, "New conversation"), not the ordinary per-message one
    if (!this.conversations.has(ev.message.chat_id)) this._upsertMessage(ev.message);
    else super._onMessage(ev);
  }

  // the base client opens a chat that another tab made; an agent opens what it chooses
  async _reloadAll() {
    this.messages.clear();
    await this.refreshChats();
    const open = this.chats.openChatId;
    if (open && this.conversations.has(open)) {
      this.messages.loaded.delete(open);
      await this.openChat(open);
    }
  }

  _dropChat(id) {
    this.chats.drop(id);
    this.messages.drop(id);
    this.pending.dropChat(id);
    this.conversations.delete(id);
    if (this.chats.openChatId === id) this.chats.setOpen(null);
  }

  // -- the inbox's actions -------------------------------------------------------------------

  async _act(chatId, path, body) {
    const data = await this.api.request('POST', `/webchat/inbox/${chatId}/${path}`, {json: body});
    const conv = data.conversation;
    if (conv) this._take([conv]);
    // claimed: the agent is a member now, so what it has read can be told to the server
    if (chatId === this.chats.openChatId) this.unread.read(chatId);
    this.changed();
    return conv;
  }

  claim(chatId) { return this._act(chatId, 'assign', {agent_id: 'me'}); }
  handOver(chatId, agentId) { return this._act(chatId, 'assign', {agent_id: agentId}); }
  unassign(chatId) { return this._act(chatId, 'assign', {agent_id: null}); }
  resolve(chatId) { return this._act(chatId, 'status', {status: 'resolved'}); }
  reopen(chatId) { return this._act(chatId, 'status', {status: 'open'}); }

  /** The site's agents, for "hand over" (an empty list when the server does not list them). */
  async agents() {
    try {
      return (await this.api.request('GET', '/webchat/agents/')).agents || [];
    } catch {
      return [];
    }
  }

  /** An internal note: shown at once (as a note), seen by agents only. */
  sendNote(chatId, text, replyTo = null) {
    const clientId = newClientId();
    this._notes.add(clientId);
    return this.send(chatId, text, null, clientId, replyTo);
  }

  async _post(chatId, clientId) {
    if (!this._notes.has(clientId)) {
      const data = await super._post(chatId, clientId);
      this.refetchSoon(); // a reply claims an unassigned conversation: the list shows it
      return data;
    }
    const note = this.pending.get(clientId);
    note.internal = true;
    try {
      const data = await this.api.request('POST', '/webchat/send/',
        {json: {chat_id: chatId, text: note.text, client_id: clientId, internal: true,
          ...(note.reply_to ? {reply_to: note.reply_to} : {})}});
      this._upsertMessage(data.message);
      this._notes.delete(clientId);
      return data;
    } catch (err) {
      this.pending.mark(clientId, 'failed', err.message, false);
      this.pending.get(clientId).internal = true;
      this.fail(err);
      throw err;
    }
  }
}

export function createInboxClient({base = '', token = ''} = {}) {
  const client = new InboxClient({base, token});
  client.start();
  return client;
}
