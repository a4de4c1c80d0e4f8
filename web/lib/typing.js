// Typing both ways: who types in each chat (with expiry), and telling others that we type.

import {TYPING_TTL_MS} from './protocol.js';

export class Typing {
  /** @param {(chatId: number, isTyping: boolean) => void} send */
  constructor(changed, send) {
    this.changed = changed;
    this.send = send;
    this.byChat = new Map(); // chat id -> Map(account id -> {name, expires})
    this._sent = 0;
    this._chat = null;
    this._timer = setInterval(() => this._expire(), 1000);
  }

  stop() { clearInterval(this._timer); clearTimeout(this._idle); }

  names(chatId) {
    const now = Date.now();
    const who = this.byChat.get(chatId);
    return who ? [...who.values()].filter((t) => t.expires > now).map((t) => t.name) : [];
  }

  /** A `typing` event from the server. */
  seen(ev) {
    let who = this.byChat.get(ev.chat_id);
    if (!who) this.byChat.set(ev.chat_id, (who = new Map()));
    if (ev.is_typing) who.set(ev.account_id, {name: ev.user_name, expires: Date.now() + (ev.ttl_ms || TYPING_TTL_MS)});
    else who.delete(ev.account_id);
    this.changed();
  }

  /** A message ends its sender's typing indicator. */
  ended(chatId, accountId) {
    if (this.byChat.get(chatId)?.delete(accountId)) this.changed();
  }

  /** The user typed a key in the composer. */
  now(chatId) {
    if (!chatId) return;
    const t = Date.now();
    // refresh well inside the receivers' expiry, and not more often than the server accepts
    if (!this._sent || t - this._sent > 2500 || this._chat !== chatId) {
      this._sent = t;
      this._chat = chatId;
      this.send(chatId, true);
    }
    clearTimeout(this._idle);
    this._idle = setTimeout(() => this.done(chatId), 2000);
  }

  /** The user sent or stopped typing. */
  done(chatId) {
    clearTimeout(this._idle);
    if (this._sent && chatId === this._chat) {
      this._sent = 0;
      this.send(chatId, false);
    }
  }

  _expire() {
    const now = Date.now();
    let expired = false;
    for (const who of this.byChat.values()) {
      for (const [id, t] of who) if (t.expires <= now) { who.delete(id); expired = true; }
    }
    if (expired) this.changed();
  }
}
