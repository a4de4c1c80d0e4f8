// <webchat-message>: one bubble. Text is rendered as text (never HTML); http(s) links are clickable.
// The message list sets the grouping (first/last of a run by one sender), the day separator, the
// "New messages" divider and "seen"; the host is focusable (roving) and Enter opens its actions.

import {LitElement, html, css, nothing} from 'lit';
import {controlStyles} from '../lib/theme.js';
import './webchat-menu.js';
import './webchat-voice-note.js';

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

/** The quick-reaction row (the full picker is one more button away). */
export const QUICK = ['👍', '❤️', '😂', '😮', '😢', '🙏'];

/** "You, Ada and 3 others": who reacted, in the order they did, from a reaction's first names. */
export function whoReacted(r, meId) {
  const names = r.by.map((n, i) => (r.account_ids[i] === meId ? 'You' : n || 'Someone'));
  const others = r.count - names.length;
  if (others > 0) return `${names.join(', ')} and ${others} other${others > 1 ? 's' : ''}`;
  if (names.length < 2) return names[0] || '';
  return `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

/** What a quote says when its message has no text. */
function quoteText(q) {
  if (q.deleted) return 'Deleted message';
  return q.text || (q.media_type === 'image' ? 'Photo' : q.media_type === 'audio' ? 'Audio' : '');
}

/**
 * @fires webchat-edit - detail {id, text}
 * @fires webchat-delete - detail {id}
 * @fires webchat-retry - detail {clientId}
 * @fires webchat-discard - detail {clientId}
 * @fires webchat-react - detail {message, emoji}: toggle my reaction
 * @fires webchat-react-more - detail {message}: open the full picker for it
 * @fires webchat-reply - detail {message}
 * @fires webchat-jump - detail {id}: show the quoted message
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
    meId: {type: Number},
    highlight: {type: Boolean, reflect: true}, // just jumped to from a quote
    editing: {state: true},
    reacting: {state: true}, // the quick-reaction row is open
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
    /* on my own (accent-coloured) bubble the player takes the bubble's colours, inverted */
    :host([mine]) webchat-voice-note { --_accent: var(--_bubble-mine-fg); --_accent-fg: var(--_bubble-mine); }
    textarea { font: inherit; color: inherit; background: var(--_bg); width: min(70vw, 480px); max-width: 100%;
      min-height: 60px; border-radius: 8px; padding: 6px; box-sizing: border-box; border: 1px solid var(--_control-border); }
    .quote { display: block; width: 100%; text-align: start; margin: 0 0 6px; padding: 4px 8px; font-size: 13px;
      border: none; border-inline-start: 3px solid currentColor; border-radius: 6px; background: rgb(0 0 0 / 0.07);
      color: inherit; line-height: 1.3; }
    /* darkened, not lightened: the quote keeps its white text at 4.5:1 on the accent in both themes */
    :host([mine]) .quote { background: rgb(0 0 0 / 0.2); }
    .quote .qname { display: block; font-weight: 600; font-size: 12px; }
    .quote .qtext { display: -webkit-box; -webkit-line-clamp: 2; -webkit-box-orient: vertical; overflow: hidden;
      white-space: pre-wrap; overflow-wrap: anywhere; }
    .quote .qtext.gone { font-style: italic; }
    :host([highlight]) .bubble { outline: 3px solid var(--_accent); outline-offset: 2px; }
    .reactions { display: flex; flex-wrap: wrap; gap: 4px; margin: 3px 2px 0; }
    .chip { position: relative; display: inline-flex; align-items: center; gap: 4px; padding: 1px 8px; min-height: 26px;
      border-radius: 999px; font-size: 13px; background: var(--_surface); border: 1px solid var(--_border); }
    .chip[aria-pressed=true] { border-color: var(--_accent); background: color-mix(in srgb, var(--_accent) 14%, var(--_bg)); }
    .chip .n { font-variant-numeric: tabular-nums; }
    .who { display: none; position: absolute; bottom: calc(100% + 6px); inset-inline-start: 0; z-index: 5; width: max-content;
      max-width: 220px; white-space: normal; text-align: start; padding: 4px 8px; border-radius: 6px; font-size: 12px;
      background: var(--_banner-bg); color: var(--_banner-fg); pointer-events: none; }
    .chip:hover .who, .chip:focus-visible .who { display: block; }
    .quick { display: flex; flex-wrap: wrap; gap: 2px; padding: 3px; margin: 3px 0 0; border-radius: 999px;
      background: var(--_bg); border: 1px solid var(--_control-border); box-shadow: 0 4px 14px rgb(0 0 0 / 0.15); }
    .quick button { border: none; background: none; font-size: 20px; line-height: 1; padding: 6px; border-radius: 50%; }
    .quick button:hover, .quick button:focus-visible { background: var(--_surface); }
    .quick .more { font-size: 15px; color: var(--_muted); }
    webchat-menu { align-self: center; opacity: 0; }
    :host(:hover) webchat-menu, :host(:focus-within) webchat-menu, :host(:focus) webchat-menu, webchat-menu[open] { opacity: 1; }
    @media (pointer: coarse) { webchat-menu { opacity: 1; } }
  `];

  willUpdate() {
    const m = this.message;
    if (!m) return;
    this.setAttribute('role', 'article');
    const who = this.mine ? 'You' : m.sender_name;
    const body = m.deleted ? 'This message was deleted' : (m.text || (m.media_type === 'image' ? 'Image' : m.media?.type === 'voice' ? 'Voice message' : m.media_type ? 'Audio' : ''));
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
    if (!m || !m.id || m.deleted) return [];
    const all = [{value: 'react', label: 'React'}, {value: 'reply', label: 'Reply'}];
    if (!this.mine) return all;
    return [...all, ...(m.media_type ? [] : [{value: 'edit', label: 'Edit'}]), {value: 'delete', label: 'Delete'}];
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
        ${this.mine && actions.length ? this._menu(actions) : nothing}
        <div class="col">
          ${this.first ? html`<div class="sender" dir="auto">${this.mine ? html`<span class="sr-only">You</span>` : m.sender_name}</div>`
            : html`<span class="sr-only">${who}</span>`}
          ${this.editing ? this._editor(m) : html`
          <div class="bubble ${m.deleted ? 'deleted' : ''}" data-seq=${m.seq ?? ''} data-client-id=${m.client_id ?? ''}>
            ${m.deleted ? 'This message was deleted' : html`
              ${m.quote ? this._quote(m.quote) : nothing}
              ${m.media_type === 'image' && m.media_url ? html`<img src=${m.media_url} alt="Image from ${who}">` : nothing}
              ${m.media?.type === 'voice' && m.media_url ? html`<webchat-voice-note src=${m.media_url} from=${who}
                .durationMs=${m.media.duration_ms} .waveform=${m.media.waveform}></webchat-voice-note>`
                : m.media_type === 'audio' && m.media_url ? html`<audio controls preload="none" src=${m.media_url}></audio>` : nothing}
              <span class="text" dir="auto">${linkify(m.text || '')}</span>`}
          </div>`}
          ${m.deleted ? nothing : this._reactions(m)}
          ${this.reacting ? this._quick() : nothing}
          ${this.confirming ? html`<div class="confirm" role="group" aria-label="Delete this message?"
            @keydown=${(e) => { if (e.key === 'Escape') { e.preventDefault(); this._cancelDelete(); } }}>
            <span>Delete this message for everyone?</span>
            <button class="primary" @click=${this._delete}>Delete</button>
            <button @click=${this._cancelDelete}>Cancel</button></div>` : this._meta(m)}
        </div>
        ${!this.mine && actions.length ? this._menu(actions) : nothing}
      </div>`;
  }

  _menu(actions) {
    return html`<webchat-menu up label="Message actions" trigger-tabindex="-1"
      .items=${actions} @webchat-menu-pick=${this._pick}></webchat-menu>`;
  }

  _quote(q) {
    const text = quoteText(q);
    return html`<button class="quote" aria-label="Reply to ${q.sender_name}: ${text.slice(0, 140)}. Show that message"
      @click=${() => this._fire('webchat-jump', {id: q.id})}>
      <span class="qname" dir="auto">${q.sender_name}</span>
      <span class="qtext ${q.deleted ? 'gone' : ''}" dir="auto">${text}</span></button>`;
  }

  _reactions(m) {
    const list = m.reactions || [];
    if (!list.length) return nothing;
    return html`<div class="reactions" role="group" aria-label="Reactions">${list.map((r) => {
      const mine = r.account_ids.includes(this.meId);
      const who = whoReacted(r, this.meId);
      return html`<button class="chip" aria-pressed=${mine ? 'true' : 'false'}
        aria-label="${r.emoji} ${r.count}: ${who}. ${mine ? 'Press to take yours back' : 'Press to react too'}"
        @click=${() => this._fire('webchat-react', {message: this.message, emoji: r.emoji})}>
        <span aria-hidden="true">${r.emoji}</span><span class="n" aria-hidden="true">${r.count}</span>
        <span class="who" role="tooltip" aria-hidden="true">${who}</span></button>`;
    })}</div>`;
  }

  _quick() {
    return html`<div class="quick" role="toolbar" aria-label="React to this message" @keydown=${this._quickKey}
      @focusout=${(e) => { if (!e.relatedTarget || !this.renderRoot.contains(e.relatedTarget)) this.reacting = false; }}>
      ${QUICK.map((e) => html`<button aria-label="React with ${e}" title=${e}
        @click=${() => this._react(e)}>${e}</button>`)}
      <button class="more" aria-label="More emoji…" title="More emoji" @click=${this._more}>＋</button></div>`;
  }

  async _openQuick() {
    this.reacting = true;
    await this.updateComplete;
    this.renderRoot.querySelector('.quick button')?.focus();
  }

  _quickKey(e) {
    const items = [...this.renderRoot.querySelectorAll('.quick button')];
    const i = items.indexOf(this.renderRoot.activeElement);
    const to = {ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: items.length - 1}[e.key];
    if (to !== undefined) {
      e.preventDefault();
      items[(to + items.length) % items.length].focus();
    } else if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      this._closeQuick();
    }
  }

  _closeQuick() {
    this.reacting = false;
    this.focus();
  }

  _react(emoji) {
    this._closeQuick();
    this._fire('webchat-react', {message: this.message, emoji});
  }

  _more() {
    this.reacting = false;
    this._fire('webchat-react-more', {message: this.message});
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
    if (e.detail.value === 'react') this._openQuick();
    if (e.detail.value === 'reply') this._fire('webchat-reply', {message: m});
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
