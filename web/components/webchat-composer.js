// <webchat-composer>: Enter sends, Shift+Enter adds a line; image/audio attachments with preview;
// the microphone button records a voice note (lib/recorder.js, loaded on first use).

import {LitElement, html, css, nothing, svg} from 'lit';
import {controlStyles} from '../lib/theme.js';
import {attachIcon, emojiIcon, deleteIcon} from '../lib/icons.js';
import {clock} from './webchat-voice-note.js';

// here, not in lib/icons.js: the launcher's bundle shares that file and would carry it
const micIcon = svg`<svg width="16" height="16" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2"
  stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><rect x="9" y="3" width="6" height="11" rx="3"/>
  <path d="M5 11a7 7 0 0 0 14 0M12 18v3"/></svg>`;

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
    maxVoiceSeconds: {type: Number},
    disabled: {type: Boolean},
    replyTo: {attribute: false}, // the message being answered: its quote shows above the box
    file: {state: true},
    preview: {state: true},
    error: {state: true},
    voice: {state: true}, // while recording: {ms, level}; {starting: true} while the microphone opens
  };

  static styles = [controlStyles, css`
    :host { display: block; border-top: 1px solid var(--_border); padding: 8px; background: var(--_bg); min-width: 0; }
    form { display: flex; gap: 8px; align-items: flex-end; min-width: 0; }
    form > button { flex: none; }
    form[hidden] { display: none; }
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
    .recording { display: flex; align-items: center; gap: 8px; min-width: 0; }
    .recording .dot { flex: none; width: 10px; height: 10px; border-radius: 50%; background: var(--_danger); }
    .recording .timer { flex: none; font-variant-numeric: tabular-nums; min-width: 5ch; }
    .recording .cap { flex: none; color: var(--_muted); font-size: 12px; }
    .meter { flex: 1; min-width: 24px; height: 8px; border-radius: 4px; background: var(--_surface); overflow: hidden;
      border: 1px solid var(--_border); }
    .meter div { height: 100%; background: var(--_accent); transform-origin: left; transition: transform 50ms linear; }
    .recording .primary { margin-inline-start: auto; }
    @media (max-width: 600px), (pointer: coarse) { textarea { min-height: 26px; } form, .recording { gap: 6px; } }
  `];

  constructor() {
    super();
    this.maxChars = 10000;
    this.maxBytes = 5 * 1024 * 1024;
    this.maxVoiceSeconds = 300;
    this.voice = null;
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
      ${this.voice ? this._recording() : nothing}
      <form @submit=${this._submit} ?hidden=${Boolean(this.voice)}>
        <button type="button" @click=${() => this.renderRoot.querySelector('input[type=file]').click()}
          aria-label="Attach an image or audio file" title="Attach">${attachIcon}</button>
        <input type="file" accept="image/*,audio/*" @change=${this._pick} aria-label="Attachment">
        <button type="button" class="emoji" @click=${this._emoji} aria-label="Insert an emoji" title="Emoji"
          aria-haspopup="dialog">${emojiIcon}</button>
        <textarea rows="1" dir="auto" placeholder="Message…" aria-label="Message" maxlength=${this.maxChars}
          ?disabled=${this.disabled} @keydown=${this._key} @input=${this._input}></textarea>
        <button type="button" class="mic" @click=${this.record} ?disabled=${this.disabled}
          aria-label="Record a voice message" title="Voice message">${micIcon}</button>
        <button class="primary" type="submit" ?disabled=${this.disabled}>Send</button>
      </form>`;
  }

  _recording() {
    const {starting, ms = 0, level = 0} = this.voice;
    return html`<div class="recording" role="group" aria-label="Recording a voice message" @keydown=${this._voiceKey}>
      <button type="button" class="cancel" @click=${this._cancelVoice} aria-label="Cancel the voice message"
        title="Cancel (Escape)">${deleteIcon}</button>
      <span class="dot" aria-hidden="true"></span>
      ${starting ? html`<span role="status">Starting the microphone…</span>` : html`
        <span class="timer" role="timer" aria-label="Recorded ${clock(ms / 1000)}">${clock(ms / 1000)}</span>
        <span class="cap">of ${clock(this.maxVoiceSeconds)}</span>
        <div class="meter" aria-hidden="true"><div style="transform: scaleX(${level.toFixed(3)})"></div></div>`}
      <button class="primary send-voice" type="button" @click=${this._sendVoice} ?disabled=${starting}>Send</button>
    </div>`;
  }

  /** Start recording a voice note (the microphone button). */
  async record() {
    if (this.voice) return;
    this.error = '';
    this.voice = {starting: true};
    try {
      const {Recorder, refusal} = await import('../lib/recorder.js');
      this._refusal = refusal;
      this._recorder = new Recorder({
        maxMs: this.maxVoiceSeconds * 1000,
        onTick: (ms) => { if (this.voice) this.voice = {...this.voice, ms}; },
        onLevel: (level) => { if (this.voice) this.voice = {...this.voice, level}; },
        // at the cap the recording stops and goes as it is
        onLimit: () => this._sendVoice(),
      });
      await this._recorder.start();
      if (!this.voice) { this._recorder.cancel(); return; } // cancelled while the microphone opened
      this.voice = {ms: 0, level: 0};
      await this.updateComplete;
      this.renderRoot.querySelector('.send-voice')?.focus();
    } catch (err) {
      this._recorder?.cancel();
      this._recorder = null;
      this.voice = null;
      this.error = this._refusal ? this._refusal(err) : 'Voice messages could not be loaded. Check the connection.';
      await this.updateComplete;
      this.renderRoot.querySelector('.mic')?.focus();
    }
  }

  _voiceKey(e) {
    if (e.key !== 'Escape') return;
    // the recording goes, not the launcher's panel
    e.preventDefault();
    e.stopPropagation();
    this._cancelVoice();
  }

  async _cancelVoice() {
    this._recorder?.cancel();
    this._recorder = null;
    this.voice = null;
    await this.updateComplete;
    this.renderRoot.querySelector('.mic')?.focus();
  }

  async _sendVoice() {
    const recorder = this._recorder;
    if (!recorder || this.voice?.starting) return;
    this._recorder = null;
    const {file, duration_ms: durationMs, waveform} = await recorder.stop();
    this.voice = null;
    if (!file.size) { this.error = 'Nothing was recorded. Check the microphone and try again.'; return; }
    if (file.size > this.maxBytes) { this.error = 'That recording is too large to send.'; return; }
    file.voice = {duration_ms: durationMs, waveform};
    this.dispatchEvent(new CustomEvent('webchat-send', {detail: {text: '', file, replyTo: this.replyTo},
      bubbles: true, composed: true}));
    this.replyTo = null;
    await this.updateComplete;
    this.renderRoot.querySelector('.mic')?.focus();
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
