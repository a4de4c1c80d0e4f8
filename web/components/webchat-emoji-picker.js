// <webchat-emoji-picker>: the full emoji picker (search, categories, skin tones, recently used) in
// a small dialog, with emoji-picker-element inside. A chunk of its own, imported on first open, so
// the launcher's first bytes do not carry it. It is plain DOM, not Lit: a chunk that imported Lit
// would make esbuild move Lit into a shared chunk that the bundle itself would then fetch first.
// Its data (emojibase, copied into the build output) comes from the chat server itself, never from
// a CDN: the product runs air-gapped and under a strict CSP. The picker caches the data in
// IndexedDB and revalidates it by ETag.

import 'emoji-picker-element/picker.js';

/** Where the build puts the picker's data, under the chat server's /web/. */
export const DATA_PATH = '/web/dist/emoji-data-en.json';

const STYLE = `
  :host { display: block; }
  .dialog { display: flex; flex-direction: column; background: var(--_bg); color: var(--_fg);
    border: 1px solid var(--_control-border); border-radius: 12px; box-shadow: 0 8px 28px rgb(0 0 0 / 0.25); overflow: hidden; }
  .head { display: flex; align-items: center; justify-content: space-between; gap: 8px; padding: 2px 4px 2px 12px;
    font-size: 13px; color: var(--_muted); }
  .close { font: inherit; color: inherit; background: none; border: none; border-radius: 8px; padding: 2px 8px; cursor: pointer; }
  .close:focus-visible { outline: 2px solid var(--_accent); }
  emoji-picker { width: 100%; height: min(340px, 50vh);
    --background: var(--_bg); --border-color: var(--_border); --indicator-color: var(--_accent);
    --input-border-color: var(--_control-border); --input-font-color: var(--_fg);
    --input-placeholder-color: var(--_muted); --outline-color: var(--_accent); --category-font-color: var(--_fg);
    --button-hover-background: var(--_surface); --button-active-background: var(--_border);
    --num-columns: 8; --emoji-padding: 0.4rem; --border-size: 0; }
  @media (max-width: 360px) { emoji-picker { --num-columns: 7; } }
  @media (max-width: 600px), (pointer: coarse) { .close { min-width: 44px; min-height: 44px; } }
`;

/**
 * Attributes: `label` (the dialog's name), `data-source` (the data's URL), `dark`.
 * @fires webchat-emoji-pick - detail {emoji}
 * @fires webchat-emoji-close - Escape, the close button or a click outside
 */
export class WebchatEmojiPicker extends HTMLElement {
  constructor() {
    super();
    const root = this.attachShadow({mode: 'open'});
    const style = document.createElement('style');
    style.textContent = STYLE;
    this._dialog = Object.assign(document.createElement('div'), {className: 'dialog'});
    this._dialog.setAttribute('role', 'dialog');
    const head = Object.assign(document.createElement('div'), {className: 'head'});
    this._title = document.createElement('span');
    const close = Object.assign(document.createElement('button'), {className: 'close', textContent: '✕', title: 'Close'});
    close.setAttribute('aria-label', 'Close the emoji picker');
    close.addEventListener('click', () => this._close());
    head.append(this._title, close);
    this._picker = document.createElement('emoji-picker');
    this._picker.addEventListener('emoji-click', (e) => this._pick(e));
    this._dialog.append(head, this._picker);
    this._dialog.addEventListener('keydown', (e) => this._key(e));
    root.append(style, this._dialog);
    this._outside = (e) => { if (!e.composedPath().includes(this)) this._close(); };
  }

  connectedCallback() {
    const label = this.getAttribute('label') || 'Choose an emoji';
    this._title.textContent = label;
    this._dialog.setAttribute('aria-label', label);
    this._picker.className = this.hasAttribute('dark') ? 'dark' : 'light';
    this._picker.dataSource = this.getAttribute('data-source') || DATA_PATH;
    // the click that opened it is over by now; the next one outside closes it
    this._timer = setTimeout(() => document.addEventListener('pointerdown', this._outside, true));
  }

  disconnectedCallback() {
    clearTimeout(this._timer);
    document.removeEventListener('pointerdown', this._outside, true);
  }

  /** Focus the search box (the picker renders it at once, before its data is in). */
  async focus() {
    for (let i = 0; i < 100; i++) {
      const search = this._picker.shadowRoot && this._picker.shadowRoot.querySelector('input.search');
      if (search) { search.focus(); return; }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  _key(e) {
    if (e.key !== 'Escape') return;
    // the skin tone list closes itself on Escape first
    const inner = e.composedPath()[0];
    if (inner && inner.id === 'skintone-list') return;
    e.preventDefault();
    e.stopPropagation();
    this._close();
  }

  _pick(e) {
    const emoji = e.detail.unicode;
    if (emoji) this.dispatchEvent(new CustomEvent('webchat-emoji-pick', {detail: {emoji}, bubbles: true, composed: true}));
  }

  _close() {
    this.dispatchEvent(new CustomEvent('webchat-emoji-close', {bubbles: true, composed: true}));
  }
}
if (!customElements.get('webchat-emoji-picker')) customElements.define('webchat-emoji-picker', WebchatEmojiPicker);
