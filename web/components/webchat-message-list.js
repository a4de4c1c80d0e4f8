// <webchat-message-list>: the scrolling history. Keeps a window of recent messages in the DOM,
// pages older ones in, follows new messages only when the reader is at the bottom.

import {LitElement, html, css, nothing} from 'lit';
import {repeat} from 'lit/directives/repeat.js';
import {controlStyles} from '../lib/theme.js';
import './webchat-message.js';

const WINDOW = 150;
const STEP = 100;

/** @fires webchat-load-older - the reader wants older history than is loaded */
export class WebchatMessageList extends LitElement {
  static properties = {
    messages: {attribute: false},
    meId: {type: Number},
    hasOlder: {type: Boolean},
    chatId: {type: Number},
    shown: {state: true},
    unseen: {state: true},
  };

  static styles = [controlStyles, css`
    :host { display: block; position: relative; min-height: 0; }
    .scroller { height: 100%; overflow-y: auto; overscroll-behavior: contain; padding: 8px 0; box-sizing: border-box; }
    .older { display: flex; justify-content: center; padding: 6px; }
    .empty { color: var(--webchat-muted); text-align: center; padding: 40px 16px; }
    .pill { position: absolute; left: 50%; bottom: 12px; transform: translateX(-50%);
      background: var(--webchat-accent); color: var(--webchat-accent-fg); border: none; border-radius: 999px;
      padding: 6px 14px; box-shadow: 0 2px 8px rgb(0 0 0 / 0.2); }
  `];

  constructor() {
    super();
    this.messages = [];
    this.shown = WINDOW;
    this.unseen = 0;
    this._atBottom = true;
    this._lastCount = 0;
  }

  willUpdate(changed) {
    if (changed.has('chatId')) {
      this.shown = WINDOW;
      this.unseen = 0;
      this._atBottom = true;
      this._lastCount = 0;
      this._lastTop = 0;
    }
    const count = this.messages.length;
    if (count > this._lastCount && this._lastCount && !this._atBottom) {
      const last = this.messages[count - 1];
      if (last && last.sender_id !== this.meId) this.unseen += count - this._lastCount;
    }
    if (changed.has('messages') && this._atBottom) {
      // keep the DOM small while following the live end
      this.shown = Math.max(WINDOW, Math.min(this.shown, WINDOW));
    }
    this._grew = count !== this._lastCount;
    this._lastCount = count;
  }

  get _scroller() { return this.renderRoot.querySelector('.scroller'); }

  render() {
    const all = this.messages || [];
    const visible = all.length > this.shown ? all.slice(all.length - this.shown) : all;
    const moreInMemory = all.length > visible.length;
    return html`
      <div class="scroller" role="log" aria-live="polite" aria-label="Messages" tabindex="0" @scroll=${this._onScroll}>
        ${moreInMemory || this.hasOlder ? html`<div class="older">
          <button @click=${this._older} aria-label="Load older messages">Load older</button></div>` : nothing}
        ${all.length === 0 ? html`<div class="empty">No messages yet. Say hello!</div>` : nothing}
        ${repeat(visible, (m) => (m.seq ? `s${m.seq}` : `c${m.client_id}`), (m) => html`
          <webchat-message .message=${m} ?mine=${m.sender_id === this.meId}></webchat-message>`)}
      </div>
      ${this.unseen > 0 ? html`<button class="pill" @click=${this.scrollToBottom}>
        ${this.unseen} new message${this.unseen > 1 ? 's' : ''} ↓</button>` : nothing}`;
  }

  updated() {
    const el = this._scroller;
    if (!el) return;
    if (this._restore !== undefined) {
      // keep the reader's place when older messages are inserted above
      el.scrollTop = el.scrollHeight - this._restore;
      this._restore = undefined;
    } else if (this._atBottom && this._grew) {
      el.scrollTop = el.scrollHeight;
    }
  }

  scrollToBottom() {
    const el = this._scroller;
    this.unseen = 0;
    this._atBottom = true;
    this.shown = WINDOW;
    this.updateComplete.then(() => { el.scrollTop = el.scrollHeight; });
  }

  _onScroll() {
    const el = this._scroller;
    const nearBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    // only the reader scrolls up; our own follow-the-end scrolls go down. Judging "at bottom" from
    // any scroll event would lose the end during a burst: content grows between our scroll and
    // its event, which then looks like the reader having left the bottom.
    if (el.scrollTop < (this._lastTop ?? 0) - 2) this._atBottom = nearBottom;
    else if (nearBottom) this._atBottom = true;
    this._lastTop = el.scrollTop;
    if (this._atBottom) this.unseen = 0;
    if (el.scrollTop < 20 && !this._loading) this._older();
  }

  async _older() {
    const el = this._scroller;
    const all = this.messages || [];
    this._restore = el.scrollHeight - el.scrollTop;
    if (all.length > this.shown) {
      this.shown += STEP;
      return;
    }
    if (!this.hasOlder) return;
    this._loading = true;
    this.shown += STEP;
    this.dispatchEvent(new CustomEvent('webchat-load-older', {bubbles: true, composed: true}));
    setTimeout(() => { this._loading = false; }, 300);
  }
}
customElements.define('webchat-message-list', WebchatMessageList);
