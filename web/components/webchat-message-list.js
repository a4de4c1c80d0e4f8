// <webchat-message-list>: the scrolling history, pinned to the newest message.
//
// Opening a chat lands on the newest message (or on the "New messages" divider, with a "N new
// messages ↓" control for the unread ones below the view); while the reader is at the end,
// anything that makes the content taller (a new message, an image loading, the composer growing)
// keeps the end in view; scrolled up, messages from others below what the reader has seen are
// counted in that control instead. A list that is hidden (a closed launcher) lands once it is
// shown, and again on a new divider if messages came while it was hidden. Reaching the top loads
// older history by itself; the reader's place is kept (by an anchor message) when messages are
// added above.
//
// The DOM holds a window of messages, never the whole chat: a chat may hold thousands of messages
// and a render must cost the same for 150 or 5000. While the reader follows the end the window is
// the newest WINDOW messages. When they leave the end the window's last message is frozen (`_endKey`):
// paging up grows the window upward, new messages are only counted (the pill), and reaching the
// bottom of the window extends it downward until it meets the live end again, where it shrinks back
// to WINDOW. Everything a render computes (day separators, grouping, delivery state, the divider)
// looks only at the window and its two neighbours.

import {LitElement, html, css, nothing} from 'lit';
import {repeat} from 'lit/directives/repeat.js';
import {controlStyles} from '../lib/theme.js';
import './webchat-message.js';

const WINDOW = 150;
const STEP = 50;
const GROUP_GAP_MS = 5 * 60_000;
const NEAR_END_PX = 40;
const NEAR_TOP_PX = 200;
const ABOVE_DIVIDER = 10; // messages rendered above the divider when a chat opens on it

const key = (m) => (m.client_id && !m.seq ? `c${m.client_id}` : `s${m.seq}`);

function newestSeq(all) {
  for (let i = all.length - 1; i >= 0; i--) if (all[i].seq) return all[i].seq;
  return 0;
}

// parsed once per message object (messages are replaced, not mutated, when they change)
const parsed = new WeakMap();
function when(m) {
  let p = parsed.get(m);
  if (!p) {
    const d = new Date(m.timestamp);
    p = {ms: d.getTime(), day: `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`};
    parsed.set(m, p);
  }
  return p;
}

/** "Today", "Yesterday", or a date ("Mon, 3 Mar"; with the year when it is not this year). */
export function dayLabel(ts, now = new Date()) {
  const d = new Date(ts);
  const today = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  const that = new Date(d.getFullYear(), d.getMonth(), d.getDate());
  const days = Math.round((today - that) / 86_400_000);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  const opts = {weekday: 'short', day: 'numeric', month: 'short'};
  if (d.getFullYear() !== now.getFullYear()) opts.year = 'numeric';
  return d.toLocaleDateString([], opts);
}

export class WebchatMessageList extends LitElement {
  static properties = {
    messages: {attribute: false},
    meId: {type: Number},
    hasOlder: {type: Boolean},
    chatId: {type: Number},
    receipt: {attribute: false}, // {seq, text}: my newest message someone else has read, and by whom
    dividerAfter: {type: Number}, // "New messages" before the first message from others after this seq
    loadOlder: {attribute: false}, // () => Promise: fetch an older page
    findMessage: {attribute: false}, // (id) => Promise<message|null>: loads history until it is there
    shown: {state: true},
    unseen: {state: true},
    focusKey: {state: true},
  };

  static styles = [controlStyles, css`
    :host { display: block; position: relative; min-height: 0; min-width: 0; }
    .scroller { position: relative; height: 100%; overflow-y: auto; overflow-x: hidden; overscroll-behavior: contain;
      overflow-anchor: none; box-sizing: border-box; }
    .content { padding: 8px 0; }
    .older { display: flex; justify-content: center; padding: 6px; }
    .empty { color: var(--_muted); text-align: center; padding: 40px 16px; }
    .pill { position: absolute; left: 50%; bottom: 12px; transform: translateX(-50%); white-space: nowrap;
      background: var(--_accent); color: var(--_accent-fg); border: none; border-radius: 999px;
      padding: 6px 14px; box-shadow: 0 2px 8px rgb(0 0 0 / 0.2); }
  `];

  constructor() {
    super();
    this.messages = [];
    this.shown = WINDOW;
    this.unseen = 0;
    this.receipt = null;
    this.dividerAfter = null;
    this.focusKey = null;
    this._atEnd = true;
    this._landed = false;
    this._seenSeq = 0; // the newest message the reader has had in view: what is after it is unseen
    this._lastTop = 0;
    this._endKey = null; // null: the window ends at the newest message; else its frozen last message
    this._win = {start: 0, end: 0};
    // content taller or viewport smaller: stay at the end if the reader was there
    this._resize = new ResizeObserver(() => this._settle());
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    this._resize.disconnect();
  }

  get _scroller() { return this.renderRoot.querySelector('.scroller'); }

  willUpdate(changed) {
    if (changed.has('chatId')) this._reset();
    const all = this.messages || [];
    if (!this._landed && this._endKey === null) {
      // about to land on a divider further up than the newest WINDOW: the window starts just above it
      const d = this._dividerIndex(all);
      if (d >= 0 && d < all.length - WINDOW) {
        this.shown = WINDOW;
        this._endKey = key(all[d - ABOVE_DIVIDER + WINDOW - 1]);
      }
    }
    if (this._landed && this._atEnd) {
      if (changed.has('messages')) this.shown = WINDOW; // trim while following the end
      this._seenSeq = Math.max(this._seenSeq, newestSeq(all));
    } else if (this._landed) {
      // counting from the end: the cost is the number of unseen messages, not the chat's length
      this.unseen = this._countAfter(all, this._seenSeq);
    }
    this._win = this._window(all);
  }

  _reset() {
    this.shown = WINDOW;
    this.unseen = 0;
    this._atEnd = true;
    this._landed = false;
    this._seenSeq = 0;
    this._lastTop = 0;
    this._anchor = null;
    this._endKey = null;
    this.focusKey = null;
  }

  /** Messages from others after seq (the pill's count). */
  _countAfter(all, seq) {
    let n = 0;
    for (let i = all.length - 1; i >= 0; i--) {
      const s = all[i].seq;
      if (s && s <= seq) break;
      if (s && all[i].sender_id !== this.meId) n++;
    }
    return n;
  }

  /** The reader has now seen up to the last message in view: the pill counts what is below it. */
  _seen() {
    const el = this._scroller;
    const bottom = el.scrollTop + el.clientHeight;
    let seq = 0;
    for (const m of this._items()) {
      if (m.offsetTop >= bottom) break;
      seq = m.message.seq || seq;
    }
    this._seenSeq = Math.max(this._seenSeq, seq);
    this.unseen = this._countAfter(this.messages || [], this._seenSeq);
  }

  /** The rendered slice [start, end) of all messages. */
  _window(all) {
    let end = all.length;
    if (this._endKey !== null) {
      // the frozen last message is near the end: search backwards (cost: the messages after it)
      let i = all.length - 1;
      while (i >= 0 && key(all[i]) !== this._endKey) i--;
      if (i >= 0) end = i + 1;
      else this._endKey = null; // gone (a pending send got its seq): fall back to the live end
    }
    return {start: Math.max(0, end - this.shown), end};
  }

  render() {
    const all = this.messages || [];
    const {start, end} = this._win;
    const visible = all.slice(start, end);
    const moreAbove = start > 0 || this.hasOlder;
    const now = new Date();
    const divider = this._dividerKey(all);
    const focusKey = visible.some((m) => key(m) === this.focusKey) ? this.focusKey : (visible.length ? key(visible.at(-1)) : null);
    return html`
      <div class="scroller" role="log" aria-label="Messages" tabindex=${visible.length ? '-1' : '0'}
        @scroll=${this._onScroll} @keydown=${this._key} @focusin=${this._focusin} @webchat-jump=${this._jump}>
        <div class="content">
          ${moreAbove ? html`<div class="older"><button @click=${this._older}>Load older messages</button></div>` : nothing}
          ${all.length === 0 ? html`<div class="empty">No messages yet. Say hello!</div>` : nothing}
          ${repeat(visible, key, (m, i) => {
            const prev = i > 0 ? visible[i - 1] : (start > 0 ? all[start - 1] : null);
            const next = i + 1 < visible.length ? visible[i + 1] : all[end] || null;
            const k = key(m);
            const newDay = !prev || when(prev).day !== when(m).day;
            const isDivider = k === divider;
            const first = newDay || isDivider || !this._sameRun(prev, m);
            const last = !next || when(next).day !== when(m).day || key(next) === divider || !this._sameRun(m, next);
            return html`<webchat-message .message=${m} ?mine=${m.sender_id === this.meId} .meId=${this.meId} data-key=${k}
              tabindex=${k === focusKey ? '0' : '-1'} ?first=${first} ?last=${last}
              .day=${newDay ? dayLabel(m.timestamp, now) : ''} ?divider=${isDivider}
              ?seen=${Boolean(m.seq && this.receipt && m.seq <= this.receipt.seq)}
              .receipt=${this.receipt && m.seq === this.receipt.seq ? this.receipt.text : ''}></webchat-message>`;
          })}
        </div>
      </div>
      ${this.unseen > 0 ? html`<button class="pill" @click=${this._pill}>
        ${this.unseen} new message${this.unseen > 1 ? 's' : ''} ↓</button>` : nothing}`;
  }

  firstUpdated() {
    this._resize.observe(this._scroller);
    this._resize.observe(this.renderRoot.querySelector('.content'));
  }

  async updated() {
    // the messages render in their own update: measure once they have
    await Promise.all([...this.renderRoot.querySelectorAll('webchat-message')].map((m) => m.updateComplete));
    this._settle();
  }

  /** The first render of a chat's messages (or of a hidden list, once shown): land on the "New
   * messages" divider, or the newest message. */
  _land() {
    const el = this._scroller;
    const all = this.messages || [];
    if (!all.length || !el.clientHeight) return;
    this._landed = true;
    this._landedOn = this._dividerKey(all);
    const divider = this.renderRoot.querySelector('webchat-message[divider]');
    if (divider) {
      // the divider at the top, unless the end is reachable with it still in view
      el.scrollTop = Math.min(divider.offsetTop - 8, el.scrollHeight - el.clientHeight);
      this._lastTop = el.scrollTop;
      if (el.scrollHeight - el.scrollTop - el.clientHeight >= NEAR_END_PX) {
        this._leave();
        this._seen();
      }
      this._anchor = this._atEnd ? null : this._visibleAnchor();
    } else {
      this._toEnd();
    }
  }

  /** After any change of size or content: follow the end, or keep the reader's message where it was. */
  _settle() {
    const el = this._scroller;
    if (!el) return;
    if (!el.clientHeight) {
      this._hidden = true; // a closed launcher: nothing to measure until it is shown
      return;
    }
    if (this._hidden) {
      this._hidden = false;
      // shown again with messages that came while hidden: land on them
      const divider = this._dividerKey(this.messages || []);
      if (this._landed && divider && divider !== this._landedOn) {
        const landedOn = this._landedOn;
        this._reset();
        this._landedOn = landedOn;
        this.requestUpdate();
        return;
      }
    }
    if (!this._landed) {
      this._land();
      return;
    }
    if (this._atEnd) {
      this._toEnd();
      return;
    }
    const anchor = this._anchor;
    const a = anchor && this.renderRoot.querySelector(`webchat-message[data-key="${CSS.escape(anchor.key)}"]`);
    if (a) {
      el.scrollTop = a.offsetTop - anchor.offset;
      this._lastTop = el.scrollTop;
    }
  }

  _sameRun(a, b) {
    return a && b && a.sender_id === b.sender_id && Math.abs(when(b).ms - when(a).ms) < GROUP_GAP_MS;
  }

  /** The first message from others after `dividerAfter`: a binary search (messages are in seq order,
   * pending sends without a seq at the end), then a step over the reader's own messages. */
  _dividerIndex(all) {
    const after = this.dividerAfter;
    if (after === null || after === undefined) return -1;
    let lo = 0;
    let hi = all.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (all[mid].seq && all[mid].seq <= after) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < all.length && all[i].seq; i++) if (all[i].sender_id !== this.meId) return i;
    return -1;
  }

  _dividerKey(all) {
    const i = this._dividerIndex(all);
    return i < 0 ? null : key(all[i]);
  }

  _visibleAnchor() {
    const el = this._scroller;
    if (!el) return null;
    for (const m of this.renderRoot.querySelectorAll('webchat-message')) {
      if (m.offsetTop + m.offsetHeight > el.scrollTop) return {key: m.dataset.key, offset: m.offsetTop - el.scrollTop};
    }
    return null;
  }

  _toEnd() {
    const el = this._scroller;
    if (!el) return;
    el.scrollTop = el.scrollHeight;
    this._lastTop = el.scrollTop;
    this._seenSeq = Math.max(this._seenSeq, newestSeq(this.messages || []));
  }

  scrollToBottom() {
    this._follow();
    this.updateComplete.then(() => this._toEnd());
  }

  /** The pill goes away once pressed: focus moves to the newest message rather than to nowhere. */
  async _pill() {
    this.scrollToBottom();
    await this.updateComplete;
    this._items().at(-1)?.focus({preventScroll: true});
  }

  /** Back at the live end: unfreeze the window and shrink it back to the newest WINDOW messages. */
  _follow() {
    this.unseen = 0;
    this._atEnd = true;
    this._anchor = null;
    this._endKey = null;
    this.shown = WINDOW;
  }

  /** The reader left the end: freeze the window's last message, so new ones are counted, not rendered. */
  _leave() {
    this._atEnd = false;
    const {end} = this._win;
    this._endKey = end ? key(this.messages[end - 1]) : null;
  }

  /** The window's bottom reached while newer messages are not rendered: extend it downward. */
  _newer() {
    const all = this.messages || [];
    const from = this._window(all).end;
    const end = Math.min(all.length, from + STEP);
    this.shown += end - from;
    this._endKey = end < all.length ? key(all[end - 1]) : null;
  }

  _onScroll() {
    const el = this._scroller;
    if (!this._landed) return;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < NEAR_END_PX;
    const live = this._endKey === null; // the window reaches the newest message
    const wasAtEnd = this._atEnd;
    // only the reader scrolls up; our own follow-the-end scrolls go down. Judging "at the end" from
    // any scroll event would lose the end during a burst: content grows between our scroll and
    // its event, which then looks like the reader having left the end.
    if (el.scrollTop < this._lastTop - 2) this._atEnd = atBottom && live;
    else if (atBottom && live) this._atEnd = true;
    this._lastTop = el.scrollTop;
    // up in history with a window that reaches the newest message (it just left the end, or
    // `_newer` caught up without the reader reaching the bottom): freeze it, so it cannot grow
    if (!this._atEnd && live) this._leave();
    else if (!wasAtEnd && this._atEnd) this._follow();
    else if (atBottom && !live && this._landed) this._newer();
    // the reader's place: the first message in view, and how far it is from the top
    this._anchor = this._atEnd ? null : this._visibleAnchor();
    if (this._atEnd) this.unseen = 0;
    else this._seen();
    if (el.scrollTop < NEAR_TOP_PX && !this._atEnd && this._landed) this._older();
  }

  async _older() {
    if (this._atEnd) { this._leave(); this._anchor = this._visibleAnchor(); } // the button: reading history now
    if (this._win.start > 0) {
      this.shown += STEP;
      return;
    }
    if (!this.hasOlder || this._loading || !this.loadOlder) return;
    this._loading = true;
    try {
      const n = await this.loadOlder();
      this.shown += n;
    } finally {
      this._loading = false;
    }
  }

  /** A quote was pressed: bring its original into view (loading older history until it is there),
   * focus it and mark it for a moment. */
  async _jump(e) {
    const id = e.detail.id;
    let all = this.messages || [];
    if (!all.some((m) => m.id === id)) {
      if (!this.findMessage || !(await this.findMessage(id))) return;
      await this.updateComplete;
      all = this.messages || [];
    }
    const i = all.findIndex((m) => m.id === id);
    if (i < 0) return;
    if (this._atEnd) this._leave();
    const {start, end} = this._window(all);
    if (i < start) this.shown += start - Math.max(0, i - 5);
    else if (i >= end) {
      this._endKey = key(all[Math.min(all.length - 1, i + 5)]);
      this.shown = Math.max(this.shown, 20);
    }
    this.requestUpdate();
    await this.updateComplete;
    const el = this.renderRoot.querySelector(`webchat-message[data-key="${CSS.escape(key(all[i]))}"]`);
    if (!el) return;
    el.scrollIntoView({block: 'center'});
    this._lastTop = this._scroller.scrollTop;
    this._anchor = this._visibleAnchor();
    this.focusKey = el.dataset.key;
    el.focus({preventScroll: true});
    el.highlight = true;
    setTimeout(() => { el.highlight = false; }, 1600);
  }

  // -- keyboard: the log is one tab stop; arrow keys move between messages (roving tabindex) ----
  _items() { return [...this.renderRoot.querySelectorAll('webchat-message')]; }

  _focusin(e) {
    const m = e.composedPath().find((x) => x.localName === 'webchat-message');
    if (m && m.dataset.key !== this.focusKey) this.focusKey = m.dataset.key;
  }

  _key(e) {
    const items = this._items();
    const current = e.composedPath()[0];
    const i = items.indexOf(current);
    if (i < 0) return;
    const to = {ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: items.length - 1, PageDown: i + 5, PageUp: i - 5}[e.key];
    if (to === undefined) return;
    e.preventDefault();
    if (to < 0 && (this.hasOlder || this._win.start > 0)) this._older();
    if (to >= items.length && this._win.end < this.messages.length) this._newer();
    const next = items[Math.max(0, Math.min(items.length - 1, to))];
    this.focusKey = next.dataset.key;
    next.focus();
    next.scrollIntoView({block: 'nearest'});
  }
}
customElements.define('webchat-message-list', WebchatMessageList);
