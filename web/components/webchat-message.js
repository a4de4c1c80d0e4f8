// <webchat-message>: one bubble. Text is rendered as text (never HTML); http(s) links are clickable.

import {LitElement, html, css, nothing} from 'lit';
import {controlStyles} from '../lib/theme.js';

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

function time(ts) {
  try {
    return new Date(ts).toLocaleTimeString([], {hour: '2-digit', minute: '2-digit'});
  } catch {
    return '';
  }
}

/**
 * @fires webchat-edit - detail {id, text}
 * @fires webchat-delete - detail {id}
 * @fires webchat-retry - detail {clientId}
 * @fires webchat-discard - detail {clientId}
 */
export class WebchatMessage extends LitElement {
  static properties = {message: {attribute: false}, mine: {type: Boolean, reflect: true}, editing: {state: true}};

  static styles = [controlStyles, css`
    :host { display: flex; flex-direction: column; align-items: flex-start; margin: 4px 12px; }
    :host([mine]) { align-items: flex-end; }
    .bubble { max-width: min(80%, 560px); padding: 8px 12px; border-radius: var(--webchat-radius);
      background: var(--webchat-bubble-other); color: var(--webchat-bubble-other-fg);
      overflow-wrap: anywhere; line-height: 1.4; }
    .text { white-space: pre-wrap; }
    :host([mine]) .bubble { background: var(--webchat-bubble-mine); color: var(--webchat-bubble-mine-fg); }
    :host([mine]) .bubble a { color: inherit; }
    .meta { font-size: 11px; color: var(--webchat-muted); margin: 2px 4px; display: flex; gap: 6px; align-items: center; }
    .sender { font-size: 12px; color: var(--webchat-muted); margin: 0 4px 2px; }
    .deleted { font-style: italic; opacity: 0.7; }
    .failed { color: var(--webchat-danger); }
    img { display: block; max-width: 100%; max-height: 280px; border-radius: 10px; margin-bottom: 4px; }
    audio { display: block; max-width: 100%; margin-bottom: 4px; }
    textarea { font: inherit; width: min(70vw, 480px); min-height: 60px; border-radius: 8px; padding: 6px; }
    .actions { visibility: hidden; }
    :host(:hover) .actions, :host(:focus-within) .actions { visibility: visible; }
  `];

  render() {
    const m = this.message;
    if (!m) return nothing;
    if (this.editing) {
      return html`<div class="bubble">
        <textarea aria-label="Edit message" .value=${m.text} @keydown=${this._editKey}></textarea>
        <div><button class="primary" @click=${this._saveEdit}>Save</button>
          <button @click=${() => { this.editing = false; }}>Cancel</button></div></div>`;
    }
    return html`
      ${this.mine ? nothing : html`<div class="sender">${m.sender_name}</div>`}
      <div class="bubble ${m.deleted ? 'deleted' : ''}" data-seq=${m.seq ?? ''} data-client-id=${m.client_id ?? ''}>
        ${m.deleted ? 'This message was deleted' : html`
          ${m.media_type === 'image' && m.media_url ? html`<img src=${m.media_url} alt="Image from ${m.sender_name}" loading="lazy">` : nothing}
          ${m.media_type === 'audio' && m.media_url ? html`<audio controls preload="none" src=${m.media_url}></audio>` : nothing}
          <span class="text">${linkify(m.text || '')}</span>`}
      </div>
      <div class="meta">
        <span>${time(m.timestamp)}</span>
        ${m.edited_at && !m.deleted ? html`<span>edited</span>` : nothing}
        ${m.status === 'sending' ? html`<span aria-label="sending">Sending…</span>` : nothing}
        ${m.status === 'failed' ? html`<span class="failed" role="alert">Not sent</span>
          <button class="link" @click=${() => this._fire('webchat-retry', {clientId: m.client_id})}>Retry</button>
          <button class="link" @click=${() => this._fire('webchat-discard', {clientId: m.client_id})}>Discard</button>` : nothing}
        ${this.mine && m.id && !m.deleted ? html`<span class="actions">
          ${m.media_type ? nothing : html`<button class="link" aria-label="Edit message" @click=${() => { this.editing = true; }}>Edit</button>`}
          <button class="link" aria-label="Delete message" @click=${() => this._fire('webchat-delete', {id: m.id})}>Delete</button>
        </span>` : nothing}
      </div>`;
  }

  _editKey(e) {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); this._saveEdit(); }
    if (e.key === 'Escape') this.editing = false;
  }

  _saveEdit() {
    const text = this.renderRoot.querySelector('textarea').value.trim();
    this.editing = false;
    if (text && text !== this.message.text) this._fire('webchat-edit', {id: this.message.id, text});
  }

  _fire(name, detail) {
    this.dispatchEvent(new CustomEvent(name, {detail, bubbles: true, composed: true}));
  }
}
customElements.define('webchat-message', WebchatMessage);
