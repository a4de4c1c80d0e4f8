// Presence both ways: the other side's status in words ("online", "last seen 5 min ago"), and
// telling the server whether this page is in use (active, idle or hidden).

const IDLE_AFTER_MS = 2 * 60 * 1000; // no input for this long: idle (the server's "away")
const ACTIVE_EVERY_MS = 60 * 1000; // while in use, "active" is repeated at most this often
const INPUT = ['pointerdown', 'keydown', 'wheel', 'touchstart', 'pointermove'];

/** The other member of a one-to-one chat, or null (a group, or alone). */
export function otherSide(chat, meId) {
  const others = (chat?.members || []).filter((m) => m.account_id !== meId);
  return others.length === 1 ? others[0] : null;
}

/** "online", "away", "last seen 5 min ago", or '' when nothing is known. */
export function presenceText(p, now = Date.now()) {
  if (!p) return '';
  if (p.status === 'online') return 'online';
  if (p.status === 'away') return 'away';
  if (!p.last_seen_at) return '';
  const ago = Math.max(0, now - Date.parse(p.last_seen_at)) / 1000;
  if (ago < 60) return 'last seen just now';
  if (ago < 3600) return `last seen ${Math.floor(ago / 60)} min ago`;
  if (ago < 86400) return `last seen ${Math.floor(ago / 3600)} h ago`;
  const days = Math.floor(ago / 86400);
  if (days === 1) return 'last seen yesterday';
  if (days < 7) return `last seen ${days} days ago`;
  return `last seen ${new Date(p.last_seen_at).toLocaleDateString()}`;
}

/** A `presence` event: the account's status in every chat that lists it. */
export function applyPresence(chats, ev) {
  let any = false;
  for (const chat of chats) {
    for (const m of chat.members || []) {
      if (m.account_id === ev.account_id) {
        m.presence = {status: ev.status, last_seen_at: ev.last_seen_at ?? m.presence?.last_seen_at ?? null};
        any = true;
      }
    }
  }
  return any;
}

/** Tells the server (through `send(state)`) when this page becomes active, idle or hidden. */
export class Activity {
  constructor(send) {
    this.send = send;
    this.state = '';
    this._sentAt = 0;
    this._onInput = () => this._input();
    this._onVisible = () => this.report();
    for (const type of INPUT) document.addEventListener(type, this._onInput, {passive: true, capture: true});
    document.addEventListener('visibilitychange', this._onVisible);
    this._last = Date.now();
    this._timer = setInterval(() => this.report(), 15 * 1000);
  }

  stop() {
    for (const type of INPUT) document.removeEventListener(type, this._onInput, {capture: true});
    document.removeEventListener('visibilitychange', this._onVisible);
    clearInterval(this._timer);
  }

  _input() {
    this._last = Date.now();
    // a page in use says so once a minute at most, never per keystroke
    if (this.state !== 'active' || Date.now() - this._sentAt > ACTIVE_EVERY_MS) this.report();
  }

  /** Send the current state if it changed (or, while active, once a minute); `force` after a reconnect. */
  report(force = false) {
    const now = Date.now();
    const state = document.visibilityState !== 'visible' ? 'hidden' : now - this._last > IDLE_AFTER_MS ? 'idle' : 'active';
    if (!force && state === this.state && !(state === 'active' && now - this._sentAt > ACTIVE_EVERY_MS && now - this._last < ACTIVE_EVERY_MS)) return;
    if (this.send(state)) {
      this.state = state;
      this._sentAt = now;
    }
  }
}
