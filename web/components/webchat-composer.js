// <webchat-composer>: Enter sends, Shift+Enter adds a line; image/audio attachments with preview.

import {LitElement, html, css, nothing} from 'lit';
import {controlStyles} from '../lib/theme.js';
import {attachIcon, emojiIcon} from '../lib/icons.js';

const TYPES = ['image/jpeg', 'image/png', 'image/gif', 'image/webp', 'audio/mpeg', 'audio/ogg', 'audio/wav',
  'audio/x-wav', 'audio/flac', 'audio/mp4', 'audio/aac', 'audio/webm', 'audio/x-m4a'];

/**
 * @fires webchat-send - detail {text, file, replyTo}
 * @fires webchat-typing - the user is typing
 * @fires webchat-emoji-open - the emoji button: the conversation opens its picker for the composer
 */
export class WebchatComposer extends LitElement {
  static properties = {
    maxChars: {type: Number},
    maxBytes: {type: Number},
    disabled: {type: Boolean},
    replyTo: {attribute: false}, // the message being answered: its quote shows above the box
    file: {state: true},
    preview: {state: true},
    error: {state: true},
  };

  static styles = [controlStyles, css`
    :host { display: block; border-top: 1px solid var(--_border); padding: 8px; background: var(--_bg); min-width: 0; }
    form { display: flex; gap: 8px; align-items: flex-end; min-width: 0; }
    form > button { flex: none; }
    textarea { flex: 1; min-width: 0; resize: none; font: inherit; color: inherit; background: var(--_surface);
      border: 1px solid var(--_control-border); border-radius: 10px; padding: 8px 10px; max-height: 140px; min-height: 22px;
      box-sizing: content-box; }
    .preview { display: flex; align-items: center; gap: 8px; margin-bottom: 6px; font-size: 13px; min-width: 0; overflow-wrap: anywhere; }
    .preview img { max-height: 64px; border-radius: 6px; }
    .error { color: var(--_danger); font-size: 12px; margin-bottom: 4px; }
    .reply { display: flex; align-items: center; gap: 8px; margin-bottom: 6px; padding: 4px 4px 4px 10px; min-width: 0;
      border-inline-start: 3px solid var(--_accent); background: var(--_surface); border-radius: 6px; font-size: 13px; }
    .reply div { flex: 1; min-width: 0; }
    .reply .who { font-weight: 600; font-size: 12px; }
    .reply .text { color: var(--_muted); overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    input[type=file] { display: none; }
    @media (max-width: 600px), (pointer: coarse) { textarea { min-height: 26px; } }
  `];

  constructor() {
    super();
    this.maxChars = 10000;
    this.maxBytes = 5 * 1024 * 1024;
    this.file = null;
    this.preview = null;
    this.error = '';
  }

  render() {
    return html`
      ${this.error ? html`<div class="error" role="alert">${this.error}</div>` : nothing}
      ${this.file ? html`<div class="preview" data-testid="preview">
        ${this.file.type.startsWith('image/') ? html`<img src=${this.preview} alt="Preview of ${this.file.name}">`
          : html`<audio controls src=${this.preview}></audio>`}
        <span>${this.file.name}</span>
        <button type="button" class="link" @click=${this._clearFile} aria-label="Remove attachment">✕</button>
      </div>` : nothing}
      ${this.replyTo ? html`<div class="reply" role="group" aria-label="Replying to ${this.replyTo.sender_name}">
        <div><div class="who" dir="auto">Replying to ${this.replyTo.sender_name}</div>
          <div class="text" dir="auto">${this.replyTo.text || (this.replyTo.media_type === 'image' ? 'Photo' : 'Audio')}</div></div>
        <button type="button" class="link" @click=${this.cancelReply} aria-label="Cancel the reply" title="Cancel reply (Escape)">✕</button>
      </div>` : nothing}
      <form @submit=${this._submit}>
        <button type="button" @click=${() => this.renderRoot.querySelector('input[type=file]').click()}
          aria-label="Attach an image or audio file" title="Attach">${attachIcon}</button>
        <input type="file" accept="image/*,audio/*" @change=${this._pick} aria-label="Attachment">
        <button type="button" class="emoji" @click=${this._emoji} aria-label="Insert an emoji" title="Emoji"
          aria-haspopup="dialog">${emojiIcon}</button>
        <textarea rows="1" dir="auto" placeholder="Write a message…" aria-label="Message" maxlength=${this.maxChars}
          ?disabled=${this.disabled} @keydown=${this._key} @input=${this._input}></textarea>
        <button class="primary" type="submit" ?disabled=${this.disabled}>Send</button>
      </form>`;
  }

  focus() { this.renderRoot.querySelector('textarea')?.focus(); }

  cancelReply() {
    this.replyTo = null;
    this.focus();
  }

  /** Put `text` where the caret is (an emoji from the picker), as if typed. */
  insert(text) {
    const ta = this.renderRoot.querySelector('textarea');
    if (!ta) return;
    const start = ta.selectionStart ?? ta.value.length;
    const end = ta.selectionEnd ?? ta.value.length;
    ta.setRangeText(text, start, end, 'end');
    ta.dispatchEvent(new Event('input', {bubbles: true}));
  }

  _emoji() {
    this.dispatchEvent(new CustomEvent('webchat-emoji-open', {bubbles: true, composed: true}));
  }

  _key(e) {
    if (e.key === 'Escape' && this.replyTo) {
      // the reply goes, not the launcher's panel
      e.preventDefault();
      e.stopPropagation();
      this.cancelReply();
      return;
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      this._submit(e);
    }
  }

  _input(e) {
    const ta = e.target;
    ta.style.height = 'auto';
    ta.style.height = `${Math.min(ta.scrollHeight, 140)}px`;
    if (ta.value.trim()) this.dispatchEvent(new CustomEvent('webchat-typing', {bubbles: true, composed: true}));
  }

  _pick(e) {
    const file = e.target.files[0];
    e.target.value = '';
    if (!file) return;
    if (!TYPES.includes(file.type)) { this.error = 'Only images (JPEG, PNG, GIF, WebP) and audio files can be sent.'; return; }
    if (file.size > this.maxBytes) { this.error = `That file is larger than ${Math.round(this.maxBytes / 1024 / 1024)} MB.`; return; }
    this.error = '';
    this._clearFile();
    this.file = file;
    this.preview = URL.createObjectURL(file);
  }

  _clearFile() {
    if (this.preview) URL.revokeObjectURL(this.preview);
    this.file = null;
    this.preview = null;
  }

  _submit(e) {
    e.preventDefault();
    const ta = this.renderRoot.querySelector('textarea');
    const text = ta.value.trim();
    if (!text && !this.file) return;
    if (text.length > this.maxChars) { this.error = `Messages are limited to ${this.maxChars} characters.`; return; }
    this.error = '';
    this.dispatchEvent(new CustomEvent('webchat-send', {detail: {text, file: this.file, replyTo: this.replyTo},
      bubbles: true, composed: true}));
    this.replyTo = null;
    ta.value = '';
    ta.style.height = 'auto';
    this.file = null;
    this.preview = null;
  }
}
customElements.define('webchat-composer', WebchatComposer);
