// <webchat-menu>: a "⋯" button with a small actions menu: arrow keys move, Enter picks, Escape
// closes, and focus goes back to where it was when the menu opened.

import {LitElement, html, css, nothing} from 'lit';
import {controlStyles} from '../lib/theme.js';

/** The focused element, looking inside shadow roots. */
export function deepActive() {
  let el = document.activeElement;
  while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
  return el;
}

/** The top of the nearest ancestor (across shadow roots) that clips what overflows it. */
function clipTop(el) {
  for (let n = el.parentNode || el.host; n; n = n.parentNode || n.host) {
    if (n.nodeType === 1 && getComputedStyle(n).overflowY !== 'visible') return n.getBoundingClientRect().top;
  }
  return 0;
}

/** @fires webchat-menu-pick - detail {value} */
export class WebchatMenu extends LitElement {
  static properties = {
    items: {attribute: false}, // [{value, label}]
    label: {type: String},
    open: {type: Boolean, reflect: true},
    up: {type: Boolean}, // open above the button (messages near the bottom of a scroller)
    flip: {type: Boolean, reflect: true}, // `up` would be cut off by the scroller's top: open below
    triggerTabindex: {type: Number, attribute: 'trigger-tabindex'},
  };

  static styles = [controlStyles, css`
    :host { position: relative; display: inline-flex; }
    .trigger { line-height: 1; font-size: 16px; }
    [role=menu] { position: absolute; right: 0; top: 100%; z-index: 10; min-width: 140px; display: flex;
      flex-direction: column; padding: 4px; background: var(--_bg); color: var(--_fg);
      border: 1px solid var(--_control-border); border-radius: 10px; box-shadow: 0 6px 20px rgb(0 0 0 / 0.2); }
    :host([up]:not([flip])) [role=menu] { top: auto; bottom: 100%; }
    [role=menuitem] { text-align: left; border: none; background: none; border-radius: 6px; white-space: nowrap; }
    [role=menuitem]:hover, [role=menuitem]:focus { background: var(--_surface); }
  `];

  constructor() {
    super();
    this.items = [];
    this.open = false;
    this.up = false;
    this.triggerTabindex = 0;
    this._outside = (e) => { if (!e.composedPath().includes(this)) this.close(false); };
  }

  render() {
    return html`<button class="link trigger" aria-haspopup="menu" aria-expanded=${this.open ? 'true' : 'false'}
        aria-label=${this.label} title=${this.label} tabindex=${this.triggerTabindex}
        @click=${() => (this.open ? this.close() : this.show())}>⋯</button>
      ${this.open ? html`<div role="menu" aria-label=${this.label} @keydown=${this._key}>
        ${this.items.map((it) => html`<button role="menuitem" tabindex="-1"
          @click=${() => this._pick(it.value)}>${it.label}</button>`)}</div>` : nothing}`;
  }

  /** Open and focus the first item; `returnTo` gets focus back on close (default: what had it). */
  async show(returnTo = deepActive()) {
    this._returnTo = returnTo;
    this.flip = false;
    this.open = true;
    await this.updateComplete;
    if (this.up && this.renderRoot.querySelector('[role=menu]').getBoundingClientRect().top < clipTop(this)) {
      this.flip = true;
      await this.updateComplete;
    }
    this._items()[0]?.focus();
    document.addEventListener('pointerdown', this._outside, true);
  }

  close(restore = true) {
    if (!this.open) return;
    this.open = false;
    document.removeEventListener('pointerdown', this._outside, true);
    if (restore && this._returnTo && this._returnTo.isConnected) this._returnTo.focus();
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    document.removeEventListener('pointerdown', this._outside, true);
  }

  _items() { return [...this.renderRoot.querySelectorAll('[role=menuitem]')]; }

  _key(e) {
    const items = this._items();
    const i = items.indexOf(this.renderRoot.activeElement);
    const to = {ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: items.length - 1}[e.key];
    if (to !== undefined) {
      e.preventDefault();
      items[(to + items.length) % items.length]?.focus();
    } else if (e.key === 'Escape' || e.key === 'Tab') {
      if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); }
      this.close(e.key === 'Escape');
    }
  }

  _pick(value) {
    this.close();
    this.dispatchEvent(new CustomEvent('webchat-menu-pick', {detail: {value}, bubbles: true, composed: true}));
  }
}
customElements.define('webchat-menu', WebchatMenu);
