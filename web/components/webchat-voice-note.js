// <webchat-voice-note>: plays a voice note: play/pause, its waveform as the scrubber (pointer,
// arrow keys, Home/End), elapsed / total. Starting one pauses whichever other note was playing.

import {LitElement, html, css, svg} from 'lit';
import {controlStyles} from '../lib/theme.js';

let playing = null; // the one note playing on this page

/** m:ss (or h:mm:ss) for a number of seconds. */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(Number.isFinite(seconds) ? seconds : 0));
  const mm = String(Math.floor((s % 3600) / 60));
  const ss = String(s % 60).padStart(2, '0');
  return s >= 3600 ? `${Math.floor(s / 3600)}:${mm.padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

const BARS = 40;

export class WebchatVoiceNote extends LitElement {
  static properties = {
    src: {type: String},
    durationMs: {type: Number, attribute: 'duration-ms'},
    waveform: {attribute: false},
    from: {type: String}, // who recorded it, for the accessible names
    paused: {state: true},
    position: {state: true},
  };

  static styles = [controlStyles, css`
    :host { display: flex; align-items: center; gap: 8px; min-width: 0; width: 260px; max-width: 100%; padding: 2px 0; }
    button.play { flex: none; width: 36px; height: 36px; padding: 0; border-radius: 50%; display: grid; place-items: center;
      background: var(--_accent); color: var(--_accent-fg); border-color: transparent; }
    .wave { flex: 1; min-width: 0; height: 32px; cursor: pointer; touch-action: none; border-radius: 4px; }
    .wave svg { display: block; width: 100%; height: 100%; }
    .wave rect { fill: currentColor; opacity: .45; }
    .wave rect.done { opacity: 1; }
    .time { flex: none; font-size: 12px; font-variant-numeric: tabular-nums; }
    audio { display: none; }
  `];

  constructor() {
    super();
    this.paused = true;
    this.position = 0;
    this.waveform = null;
    this.from = '';
  }

  get _audio() { return this.renderRoot.querySelector('audio'); }

  /** seconds: the server's figure (WebM from a recorder states no duration: the element says Infinity) */
  get total() {
    const d = this._audio?.duration;
    if (this.durationMs) return this.durationMs / 1000;
    return Number.isFinite(d) ? d : 0;
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    if (playing === this) { this._audio?.pause(); playing = null; }
  }

  render() {
    const total = this.total;
    const at = Math.min(this.position, total || this.position);
    const label = `voice message${this.from ? ` from ${this.from}` : ''}, ${clock(total)}`;
    return html`
      <!-- nothing is fetched until it is played: a chat with many notes costs no request each -->
      <audio preload="none" src=${this.src || ''} @timeupdate=${this._time} @play=${this._played}
        @pause=${() => { this.paused = true; }} @ended=${this._ended} @loadedmetadata=${() => this.requestUpdate()}></audio>
      <button class="play" type="button" @click=${this.toggle} aria-label=${this.paused ? `Play ${label}` : `Pause ${label}`}>
        ${this.paused ? svg`<svg width="14" height="14" viewBox="0 0 14 14" aria-hidden="true"><path d="M3 1.5v11l9.5-5.5z" fill="currentColor"/></svg>`
          : svg`<svg width="14" height="14" viewBox="0 0 14 14" aria-hidden="true"><path d="M3 1.5h3v11H3zM8.5 1.5h3v11h-3z" fill="currentColor"/></svg>`}
      </button>
      <div class="wave" role="slider" tabindex="0" aria-label="Position in the voice message"
        aria-valuemin="0" aria-valuemax=${Math.round(total)} aria-valuenow=${Math.round(at)}
        aria-valuetext="${clock(at)} of ${clock(total)}"
        @pointerdown=${this._down} @keydown=${this._key}>${this._bars(total ? at / total : 0)}</div>
      <span class="time" aria-hidden="true">${clock(this.paused && !at ? total : at)} / ${clock(total)}</span>`;
  }

  _bars(done) {
    const levels = this._levels();
    const w = 100 / levels.length;
    return svg`<svg viewBox="0 0 100 32" preserveAspectRatio="none" aria-hidden="true">${levels.map((v, i) => {
      const h = Math.max(2, (v / 255) * 30);
      return svg`<rect class=${(i + 0.5) / levels.length <= done ? 'done' : ''} x=${i * w + w * 0.15} y=${16 - h / 2}
        width=${w * 0.7} height=${h} rx="0.6"></rect>`;
    })}</svg>`;
  }

  /** The waveform resampled to BARS bars (a flat line when there is none). */
  _levels() {
    const wf = Array.isArray(this.waveform) && this.waveform.length ? this.waveform : null;
    if (!wf) return new Array(BARS).fill(40);
    return Array.from({length: BARS}, (_, i) => wf[Math.min(wf.length - 1, Math.floor((i * wf.length) / BARS))]);
  }

  toggle() {
    const a = this._audio;
    if (!a) return;
    // a file that failed to load (a network blip, not yet allowed) is fetched again on play
    if (a.error) a.load();
    if (a.paused) a.play().catch(() => { this.paused = true; });
    else a.pause();
  }

  pause() { this._audio?.pause(); }

  _played() {
    if (playing && playing !== this) playing.pause();
    playing = this;
    this.paused = false;
  }

  _ended() {
    // it stays at the end (play starts it again from the beginning, as the element does)
    this.paused = true;
    this.position = this.total;
    if (playing === this) playing = null;
  }

  _time() { this.position = this._audio.currentTime; }

  seek(seconds) {
    const a = this._audio;
    const total = this.total;
    const to = Math.max(0, Math.min(total || 0, seconds));
    this.position = to;
    if (a) a.currentTime = to;
  }

  _key(e) {
    const total = this.total;
    const step = {ArrowRight: 1, ArrowUp: 1, ArrowLeft: -1, ArrowDown: -1, PageUp: 5, PageDown: -5}[e.key];
    if (step !== undefined) this.seek(this.position + step);
    else if (e.key === 'Home') this.seek(0);
    else if (e.key === 'End') this.seek(total);
    else if (e.key === ' ' || e.key === 'Enter') this.toggle();
    else return;
    e.preventDefault();
    e.stopPropagation(); // not the message list's roving keys
  }

  _down(e) {
    const wave = e.currentTarget;
    const at = (ev) => {
      const r = wave.getBoundingClientRect();
      this.seek(((ev.clientX - r.left) / r.width) * this.total);
    };
    wave.setPointerCapture?.(e.pointerId);
    at(e);
    const move = (ev) => at(ev);
    const up = () => { wave.removeEventListener('pointermove', move); wave.removeEventListener('pointerup', up); };
    wave.addEventListener('pointermove', move);
    wave.addEventListener('pointerup', up);
  }
}
customElements.define('webchat-voice-note', WebchatVoiceNote);
