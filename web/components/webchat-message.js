// <webchat-message>: one bubble. Text is rendered as text (never HTML); http(s) links are clickable.
// The message list sets the grouping (first/last of a run by one sender), the day separator, the
// "New messages" divider and "seen"; the host is focusable (roving) and Enter opens its actions.

import {LitElement, html, css, nothing} from 'lit';
import {controlStyles} from '../lib/theme.js';
import './webchat-menu.js';

const URL_RE = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;

/** Split text into strings and safe link templates; Lit escapes every string part. */
export function linkify(text) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    if (match.index > last) parts.push(text.slice(last, match.index));
    parts.push(html`<a href=${match[0]} target="_blank" rel="noopener noreferrer nofollow">${match[0]}</a>`);
    last = match.index + match[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

export function time(ts) {
  try {
    return new Date(ts).toLocaleTimeString([], {hour: '2-digit', minute: '2-digit'});
  } catch {
    return '';
  }
}

/** Up to two initials, from words of letters or digits: "Ada Lovelace" -> "AL", "bot" -> "B",
 * "Ana (Fernwood)" -> "A" (a part in brackets is not the name). */
export function initials(name) {
  const words = (n) => n.match(/[\p{L}\p{N}]+/gu) || [];
  let w = words(String(name || '').replace(/\([^)]*\)|\[[^\]]*\]/g, ' '));
  if (!w.length) w = words(String(name || ''));
  if (!w.length) return '?';
  const first = (word) => [...word][0];
  return (w.length > 1 ? first(w[0]) + first(w.at(-1)) : first(w[0])).toUpperCase();
}

const linear = (c) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);

/** A stable colour per name: its hue from the name, its lightness as high as white initials allow
 * at 4.5:1 (WCAG AA; 4.6 leaves room for rounding), whatever the hue. */
export function avatarColor(name) {
  let h = 0;
  for (const ch of String(name)) h = (h * 31 + ch.codePointAt(0)) % 360;
  for (let l = 0.42; ; l -= 0.02) {
    // HSL to RGB with saturation 0.55
    const a = 0.55 * Math.min(l, 1 - l);
    const rgb = [0, 8, 4].map((n) => {
      const k = (n + h / 30) % 12;
      return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
    });
    const [r, g, b] = rgb.map((c) => linear(c / 255));
    if (1.05 / (0.2126 * r + 0.7152 * g + 0.0722 * b + 0.05) >= 4.6) return `rgb(${rgb.join(' ')})`;
  }
}

/**
 * @fires webchat-edit - detail {id, text}
 * @fires webchat-delete - detail {id}
 * @fires webchat-retry - detail {clientId}
 * @fires webchat-discard - detail {clientId}
 */
export class WebchatMessage extends LitElement {
  static properties = {
    message: {attribute: false},
    mine: {type: Boolean, reflect: true},
    first: {type: Boolean, reflect: true}, // first of a run by one sender: name and avatar
    last: {type: Boolean, reflect: true}, // last of the run: time and delivery state
    day: {type: String}, // a day separator above ("Today", "Yesterday", a date) or ''
    divider: {type: Boolean}, // "New messages" above
    seen: {type: Boolean}, // someone else has read it
    receipt: {type: String}, // "Seen" / "Seen by A, B +3": under my newest message others have read
    editing: {state: true},
    confirming: {state: true}, // "Delete this message?" shown under it
  };

  static styles = [controlStyles, css`
    :host { display: block; margin: 1px 12px; outline: none; }
    :host([first]) { margin-top: 8px; }
    .sep { display: flex; align-items: center; gap: 10px; margin: 12px 0 6px; font-size: 12px; color: var(--_muted); }
    .sep::before, .sep::after { content: ''; flex: 1; border-top: 1px solid var(--_border); }
    .sep.new { color: var(--_danger); }
    .sep.new::before, .sep.new::after { border-color: var(--_danger); }
    .row { display: flex; gap: 8px; align-items: flex-end; min-width: 0; }
    :host([mine]) .row { justify-content: flex-end; }
    .avatar { flex: none; width: 32px; height: 32px; border-radius: 50%; color: #fff; font-size: 13px; font-weight: 600;
      display: grid; place-items: center; align-self: flex-start; }
    .spacer { flex: none; width: 32px; }
    .col { display: flex; flex-direction: column; align-items: flex-start; min-width: 0; max-width: min(80%, 560px); }
    :host([mine]) .col { align-items: flex-end; }
    .bubble { padding: 8px 12px; border-radius: var(--_radius); max-width: 100%; box-sizing: border-box;
      background: var(--_bubble-other); color: var(--_bubble-other-fg); overflow-wrap: anywhere; line-height: 1.4; }
    .text { white-space: pre-wrap; }
    :host([mine]) .bubble { background: var(--_bubble-mine); color: var(--_bubble-mine-fg); }
    :host([mine]) .bubble a { color: inherit; }
    :host(:focus-visible) .bubble { outline: 2px solid var(--_accent); outline-offset: 2px; }
    .meta { font-size: 11px; color: var(--_muted); margin: 2px 4px; display: flex; gap: 6px; align-items: center; flex-wrap: wrap; }
    .sender { font-size: 12px; color: var(--_muted); margin: 0 4px 2px; overflow-wrap: anywhere; }
    .deleted { font-style: italic; opacity: 0.8; }
    .failed { color: var(--_danger); }
    .confirm { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; margin: 4px; font-size: 13px; }
    .confirm .primary { background: var(--_danger); color: var(--_bg); }
    img { display: block; max-width: 100%; max-height: 280px; border-radius: 10px; margin-bottom: 4px; }
    audio { display: block; max-width: 100%; margin-bottom: 4px; }
    textarea { font: inherit; color: inherit; background: var(--_bg); width: min(70vw, 480px); max-width: 100%;
      min-height: 60px; border-radius: 8px; padding: 6px; box-sizing: border-box; border: 1px solid var(--_control-border); }
    webchat-menu { align-self: center; opacity: 0; }
    :host(:hover) webchat-menu, :host(:focus-within) webchat-menu, :host(:focus) webchat-menu, webchat-menu[open] { opacity: 1; }
    @media (pointer: coarse) { webchat-menu { opacity: 1; } }
  `];

  willUpdate() {
    const m = this.message;
    if (!m) return;
    this.setAttribute('role', 'article');
    const who = this.mine ? 'You' : m.sender_name;
    const body = m.deleted ? 'This message was deleted' : (m.text || (m.media_type === 'image' ? 'Image' : m.media_type ? 'Audio' : ''));
    this.setAttribute('aria-label', `${who}, ${time(m.timestamp)}: ${body.slice(0, 200)}`);
  }

  connectedCallback() {
    super.connectedCallback();
    this.addEventListener('keydown', this._hostKey);
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    this.removeEventListener('keydown', this._hostKey);
  }

  _actions() {
    const m = this.message;
    if (!this.mine || !m || !m.id || m.deleted) return [];
    return [...(m.media_type ? [] : [{value: 'edit', label: 'Edit'}]), {value: 'delete', label: 'Delete'}];
  }

  render() {
    const m = this.message;
    if (!m) return nothing;
    const actions = this._actions();
    const who = this.mine ? 'You' : m.sender_name;
    return html`
      ${this.day ? html`<div class="sep day">${this.day}</div>` : nothing}
      ${this.divider ? html`<div class="sep new">New messages</div>` : nothing}
      <div class="row">
        ${this.mine ? nothing : this.first
          ? html`<div class="avatar" aria-hidden="true" style="background:${avatarColor(m.sender_name)}">${initials(m.sender_name)}</div>`
          : html`<div class="spacer"></div>`}
        ${this.mine && actions.length ? html`<webchat-menu up label="Message actions" trigger-tabindex="-1"
          .items=${actions} @webchat-menu-pick=${this._pick}></webchat-menu>` : nothing}
        <div class="col">
          ${this.first ? html`<div class="sender" dir="auto">${this.mine ? html`<span class="sr-only">You</span>` : m.sender_name}</div>`
            : html`<span class="sr-only">${who}</span>`}
          ${this.editing ? this._editor(m) : html`
          <div class="bubble ${m.deleted ? 'deleted' : ''}" data-seq=${m.seq ?? ''} data-client-id=${m.client_id ?? ''}>
            ${m.deleted ? 'This message was deleted' : html`
              ${m.media_type === 'image' && m.media_url ? html`<img src=${m.media_url} alt="Image from ${who}">` : nothing}
              ${m.media_type === 'audio' && m.media_url ? html`<audio controls preload="none" src=${m.media_url}></audio>` : nothing}
              <span class="text" dir="auto">${linkify(m.text || '')}</span>`}
          </div>`}
          ${this.confirming ? html`<div class="confirm" role="group" aria-label="Delete this message?"
            @keydown=${(e) => { if (e.key === 'Escape') { e.preventDefault(); this._cancelDelete(); } }}>
            <span>Delete this message for everyone?</span>
            <button class="primary" @click=${this._delete}>Delete</button>
            <button @click=${this._cancelDelete}>Cancel</button></div>` : this._meta(m)}
        </div>
      </div>`;
  }

  _meta(m) {
    const failed = m.status === 'failed';
    const receipt = this.mine && !m.deleted ? this.receipt : '';
    if (!this.last && !failed && m.status !== 'sending' && !m.edited_at && !receipt) return nothing;
    let state = nothing;
    if (this.mine && m.status === 'sending') state = html`<span class="state">Sending…</span>`;
    else if (receipt) state = html`<span class="state seen">✓✓ ${receipt}</span>`;
    else if (this.mine && !failed && m.seq && this.last && !m.deleted) {
      state = this.seen ? html`<span class="state" title="Seen">✓✓<span class="sr-only"> Seen</span></span>`
        : html`<span class="state" title="Sent">✓ Sent</span>`;
    }
    return html`<div class="meta">
      ${this.last || failed ? html`<span>${time(m.timestamp)}</span>` : nothing}
      ${m.edited_at && !m.deleted ? html`<span>edited</span>` : nothing}
      ${state}
      ${failed ? html`<span class="failed" role="alert">Not sent</span>
        <button class="link" @click=${() => this._fire('webchat-retry', {clientId: m.client_id})}>Retry</button>
        <button class="link" @click=${() => this._fire('webchat-discard', {clientId: m.client_id})}>Discard</button>` : nothing}
    </div>`;
  }

  _editor(m) {
    return html`<div class="bubble">
      <textarea aria-label="Edit message" dir="auto" .value=${m.text} @keydown=${this._editKey}></textarea>
      <div><button class="primary" @click=${this._saveEdit}>Save</button>
        <button @click=${this._cancelEdit}>Cancel</button></div></div>`;
  }

  /** Open the actions menu from the keyboard (Enter, Shift+F10 or the context-menu key on the message). */
  _hostKey = (e) => {
    if (e.composedPath()[0] !== this) return;
    if (e.key === 'Enter' || e.key === 'ContextMenu' || (e.key === 'F10' && e.shiftKey)) {
      const menu = this.renderRoot.querySelector('webchat-menu');
      if (menu) { e.preventDefault(); menu.show(this); }
    }
  };

  async _pick(e) {
    const m = this.message;
    if (e.detail.value === 'delete') {
      // deleting cannot be undone (its picture is erased too): ask first, in place
      this.confirming = true;
      await this.updateComplete;
      this.renderRoot.querySelector('.confirm .primary')?.focus();
    }
    if (e.detail.value === 'edit') {
      this.editing = true;
      await this.updateComplete;
      const ta = this.renderRoot.querySelector('textarea');
      ta?.focus();
      ta?.setSelectionRange(ta.value.length, ta.value.length);
    }
  }

  _delete() {
    this.confirming = false;
    this.focus();
    this._fire('webchat-delete', {id: this.message.id});
  }

  _cancelDelete() {
    this.confirming = false;
    this.focus();
  }

  _editKey(e) {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); this._saveEdit(); }
    if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); this._cancelEdit(); }
  }

  _cancelEdit() {
    this.editing = false;
    this.focus();
  }

  _saveEdit() {
    const text = this.renderRoot.querySelector('textarea').value.trim();
    this.editing = false;
    this.focus();
    if (text && text !== this.message.text) this._fire('webchat-edit', {id: this.message.id, text});
  }

  _fire(name, detail) {
    this.dispatchEvent(new CustomEvent(name, {detail, bubbles: true, composed: true}));
  }
}
customElements.define('webchat-message', WebchatMessage);
