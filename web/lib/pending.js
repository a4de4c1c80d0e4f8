// Sends not yet confirmed by the server: shown at once, retried with the same client_id (the
// server stores a client_id once, so a retry after a lost answer never duplicates).
//
// A visitor's first message has no chat yet (chat_id null): the send that succeeds makes the chat,
// and a retry with the same client_id finds that chat instead of making another.
//
// Unsent text is also kept in localStorage (per chat server and account), so a message written
// while the server is down survives a reload or the visitor moving to another page of the site:
// the next page shows it again and sends it once the connection is back. Attachments are not
// kept (a File cannot be stored there).

export function newClientId() {
  return (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`);
}

export class PendingSends {
  /** @param {() => void} changed @param {string} storeKey localStorage key ('' = keep nothing) */
  constructor(changed, storeKey = '') {
    this.changed = changed;
    this.byClientId = new Map();
    this.storeKey = storeKey;
    this.account = null;
    this._gone = new Set(); // sent or discarded here: dropped from storage, where other tabs' stay
  }

  forChat(chatId) { return [...this.byClientId.values()].filter((m) => m.chat_id === chatId); }
  get(clientId) { return this.byClientId.get(clientId); }
  failed() { return [...this.byClientId.values()].filter((m) => m.status === 'failed'); }
  /** Failed for a reason that may pass by (the network, the server busy): worth sending again. */
  retryable() { return this.failed().filter((m) => m.retryable); }

  add(message) { this._set(message); }

  /** A new object, not a mutation: the message element re-renders on identity change. */
  mark(clientId, status, error = '', retryable = false) {
    const m = this.byClientId.get(clientId);
    if (m) this._set({...m, status, error, retryable});
  }

  /** The first message made a chat: the ones written after it (no chat yet) go there too. */
  move(clientId, chatId) {
    const m = this.byClientId.get(clientId);
    if (m) this._set({...m, chat_id: chatId});
  }

  /** The stored message arrived (by answer or event): the optimistic copy goes. */
  confirm(clientId) {
    const m = this.byClientId.get(clientId);
    if (!m) return;
    if (m.media_url && m.media_url.startsWith('blob:')) URL.revokeObjectURL(m.media_url);
    this._drop(clientId);
    this._save();
    this.changed();
  }

  dropChat(chatId) {
    for (const [id, m] of this.byClientId) if (m.chat_id === chatId) this._drop(id);
    this._save();
  }

  _drop(clientId) {
    this.byClientId.delete(clientId);
    this._gone.add(clientId);
  }

  /** Unsent text from an earlier page of this account: shown as not sent, retried when connected. */
  restore(account) {
    this.account = account;
    for (const m of this._stored()) {
      if (m.account === account && !this.byClientId.has(m.client_id)) {
        this.byClientId.set(m.client_id, {...m, status: 'failed', retryable: true, error: ''});
      }
    }
    this.changed();
  }

  _set(m) {
    this.byClientId.set(m.client_id, m);
    this._save();
    this.changed();
  }

  _stored() {
    try {
      return JSON.parse(localStorage.getItem(this.storeKey) || '[]');
    } catch {
      return [];
    }
  }

  _save() {
    if (!this.storeKey || this.account === null) return;
    // other accounts' entries (a sign-in on another page) and other tabs' unsent ones stay
    const keep = this._stored().filter((m) => m.account !== this.account
      || !(this.byClientId.has(m.client_id) || this._gone.has(m.client_id)));
    for (const m of this.byClientId.values()) {
      if (!m.file) {
        const {client_id, chat_id, text, timestamp, sender_id, sender_name, sender_kind, reply_to, quote} = m;
        keep.push({client_id, chat_id, text, timestamp, sender_id, sender_name, sender_kind, reply_to, quote,
          account: this.account});
      }
    }
    try {
      if (keep.length) localStorage.setItem(this.storeKey, JSON.stringify(keep));
      else localStorage.removeItem(this.storeKey);
    } catch {
      // storage blocked or full: the message still stays on this page
    }
  }
}
