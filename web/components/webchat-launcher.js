// <webchat-launcher>: a floating button in a corner of the host page that opens and closes a
// panel with one conversation (<webchat-chat>); unread count on the button and in the page title
// while closed, messages not sent yet marked on it, an optional chime, open/closed remembered
// across page loads, full-screen on phones (then a modal dialog: Tab stays inside it).

import {LitElement, html, css, nothing} from 'lit';
import {themeStyles, controlStyles} from '../lib/theme.js';
import {askPermission, notificationPermission} from '../lib/notify.js';
import {audioContext, chime} from '../lib/chime.js';
import './webchat-availability.js';
import {loadConversation} from '../lib/conversation.js';

const STORE_KEY = 'webchat-launcher';
const CORNERS = new Set(['bottom-right', 'bottom-left', 'top-right', 'top-left']);
const TITLE_PREFIX = /^\(\d+\+?\) /;

function loadState() {
  try {
    return JSON.parse(localStorage.getItem(STORE_KEY) || '{}') || {};
  } catch {
    return {};  // storage blocked (privacy mode, sandboxed frame) or garbage: start closed
  }
}

function saveState(state) {
  try {
    localStorage.setItem(STORE_KEY, JSON.stringify(state));
  } catch {
    // storage blocked: the launcher still works, it just forgets
  }
}

const chatIcon = html`<svg viewBox="0 0 24 24" width="28" height="28" aria-hidden="true" focusable="false">
  <path fill="currentColor" d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-4.6 3.6A.9.9 0 0 1 3 20.9V6a2 2 0 0 1 1-2Zm3 6.2a1.3 1.3 0 1 0 0 2.6 1.3 1.3 0 0 0 0-2.6Zm5 0a1.3 1.3 0 1 0 0 2.6 1.3 1.3 0 0 0 0-2.6Zm5 0a1.3 1.3 0 1 0 0 2.6 1.3 1.3 0 0 0 0-2.6Z"/></svg>`;
const bellIcon = html`<svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false">
  <path fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"
    d="M6 16v-5a6 6 0 0 1 12 0v5l2 2H4ZM10 21h4"/></svg>`;
const closeIcon = (size) => html`<svg viewBox="0 0 24 24" width=${size} height=${size} aria-hidden="true" focusable="false">
  <path fill="none" stroke="currentColor" stroke-width="2.4" stroke-linecap="round" d="M6 6l12 12M18 6 6 18"/></svg>`;

export class WebchatLauncher extends LitElement {
  static properties = {
    open: {type: Boolean, reflect: true},
    position: {type: String, reflect: true},
    offset: {type: Number},
    offsetX: {type: Number, attribute: 'offset-x'},
    offsetY: {type: Number, attribute: 'offset-y'},
    sound: {type: Boolean},
    heading: {type: String},
    label: {type: String},
    apiBase: {type: String, attribute: 'api-base'},
    userToken: {type: String, attribute: 'user-token'},
    theme: {type: String, reflect: true},
    unread: {type: Number, reflect: true},
    _mounted: {state: true},
    _unsent: {state: true},
    _permission: {state: true},
  };

  static styles = [themeStyles, controlStyles, css`
    :host { background: none; --_x: 20px; --_y: 20px; --_size: 56px; }
    .root { position: fixed; z-index: 2147483000; }
    :host([position='bottom-right']) .root, :host(:not([position])) .root { right: var(--_x); bottom: var(--_y); }
    :host([position='bottom-left']) .root { left: var(--_x); bottom: var(--_y); }
    :host([position='top-right']) .root { right: var(--_x); top: var(--_y); }
    :host([position='top-left']) .root { left: var(--_x); top: var(--_y); }
    button.bubble {
      position: relative; width: var(--_size); height: var(--_size); border-radius: 50%; padding: 0;
      display: grid; place-items: center; border: none;
      background: var(--_accent); color: var(--_accent-fg);
      box-shadow: 0 6px 20px rgb(0 0 0 / 0.25); transition: transform 0.15s ease;
    }
    button.bubble:hover { transform: scale(1.06); }
    /* dark ring outside a white one: visible on any host page, light or dark */
    button.bubble:focus-visible { outline: 3px solid #1b1e24; outline-offset: 3px; box-shadow: 0 0 0 3px #fff; }
    .badge {
      position: absolute; top: -4px; right: -4px; min-width: 22px; height: 22px; padding: 0 6px;
      box-sizing: border-box; border-radius: 11px; background: #c81e1e; color: #fff;
      font: 600 12px/22px var(--_font); text-align: center; border: 2px solid #fff;
    }
    .badge.unsent { right: auto; left: -4px; background: #b54708; }
    .panel {
      position: absolute; display: flex; flex-direction: column; overflow: hidden;
      width: min(380px, calc(100vw - 2 * var(--_x)));
      height: min(600px, calc(100vh - var(--_y) - var(--_size) - 32px));
      background: var(--_bg); color: var(--_fg);
      border: 1px solid var(--_border); border-radius: var(--_radius);
      box-shadow: 0 12px 40px rgb(0 0 0 / 0.28);
    }
    .panel[hidden] { display: none; }
    :host([position='bottom-right']) .panel, :host(:not([position])) .panel { right: 0; bottom: calc(var(--_size) + 14px); }
    :host([position='bottom-left']) .panel { left: 0; bottom: calc(var(--_size) + 14px); }
    :host([position='top-right']) .panel { right: 0; top: calc(var(--_size) + 14px); }
    :host([position='top-left']) .panel { left: 0; top: calc(var(--_size) + 14px); }
    .head {
      display: flex; align-items: center; gap: 8px; padding: 10px 8px 10px 16px;
      background: var(--_accent); color: var(--_accent-fg);
    }
    h2 { flex: 1; margin: 0; font-size: 16px; font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    .head button { background: none; border: none; color: inherit; width: 44px; height: 44px; padding: 0;
      display: grid; place-items: center; border-radius: 8px; }
    .head button:focus-visible { outline: 2px solid currentColor; outline-offset: -4px; }
    webchat-chat { flex: 1; min-height: 0; }
    @media (max-width: 600px) {
      /* a phone: the open conversation takes the whole screen, the bubble steps aside */
      .panel { position: fixed; inset: 0; width: 100vw; height: 100vh; height: 100dvh; border: none; border-radius: 0; }
      :host([open]) button.bubble { display: none; }
    }
    @media (prefers-reduced-motion: reduce) { button.bubble { transition: none; } }
  `];

  constructor() {
    super();
    this.open = false;
    this.offset = 20;
    this.sound = false;
    this.heading = 'Chat with us';
    this.label = 'chat';
    this.theme = 'auto';
    this.unread = 0;
    this._mounted = false;
    this._unsent = 0;
    this._permission = notificationPermission();
    this._onKey = (e) => this._key(e);
    // a phone: the panel covers the page, so it is modal
    this._phone = matchMedia('(max-width: 600px)');
    this._onMedia = () => this.requestUpdate();
  }

  connectedCallback() {
    super.connectedCallback();
    this._phone.addEventListener('change', this._onMedia);
    const state = loadState();
    // the conversation (and its session and socket) starts only for visitors who opened the chat
    // once: a drive-by visitor of the host page costs the chat server nothing
    this._mounted = Boolean(state.engaged);
    // an `open` attribute written by the page wins over the remembered state
    this.open = this.hasAttribute('open') || Boolean(state.engaged && state.open);
  }

  willUpdate(changed) {
    if (changed.has('open') && this.open) this._mounted = true;
    if (this._mounted) loadConversation();
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    this._phone.removeEventListener('change', this._onMedia);
    this._setTitle(0);
  }

  /** Open the panel (starts the conversation if it has not started yet). */
  show() { this._toggle(true); }

  /** Close the panel; focus goes back to the launcher button. */
  hide() { this._toggle(false); }

  toggle() { this._toggle(!this.open); }

  updated(changed) {
    if (changed.has('open') || changed.has('unread')) this._setTitle(this.open ? 0 : this.unread);
  }

  render() {
    const x = this.offsetX ?? this.offset;
    const y = this.offsetY ?? this.offset;
    const count = this.open ? 0 : this.unread;
    const unsent = this.open ? 0 : this._unsent;
    const name = this.open ? `Close ${this.label}`
      : `Open ${this.label}` + (count ? `, ${count} unread message${count === 1 ? '' : 's'}` : '')
        + (unsent ? `, ${unsent} message${unsent === 1 ? '' : 's'} not sent yet` : '');
    const modal = this.open && this._phone.matches;
    // a modal panel keeps Tab inside: focus reaching an edge goes round to the other end
    const trap = (toFirst) => (modal ? html`<span class="trap" tabindex="0" @focus=${() => this._wrap(toFirst)}></span>` : nothing);
    return html`<div class="root" style="--_x: ${Number(x) || 0}px; --_y: ${Number(y) || 0}px"
        @keydown=${this._onKey}>
      <section class="panel" id="panel" role="dialog" aria-label=${this.heading} aria-modal=${modal ? 'true' : nothing}
          ?hidden=${!this.open}>
        ${trap(false)}
        <div class="head">
          <h2>${this.heading}</h2>
          ${this._mounted && this._permission === 'default' ? html`<button class="notify" aria-label="Notify me of replies"
            title="Notify me of replies" @click=${this._askNotifications}>${bellIcon}</button>` : nothing}
          <button class="close" aria-label=${`Close ${this.label}`} @click=${() => this.hide()}>${closeIcon(20)}</button>
        </div>
        ${this._mounted ? html`<webchat-availability api-base=${this.apiBase || nothing}></webchat-availability>` : nothing}
        ${this._mounted ? html`<webchat-chat embedded .active=${this.open} theme=${this.theme}
            api-base=${this.apiBase || nothing} user-token=${this.userToken || nothing}
            @webchat-unread=${this._onUnread} @webchat-state=${this._onState}></webchat-chat>` : nothing}
        ${trap(true)}
      </section>
      <button class="bubble" aria-label=${name} aria-expanded=${this.open ? 'true' : 'false'}
          aria-controls="panel" @click=${() => this.toggle()}
          @pointerenter=${loadConversation} @focus=${loadConversation}>
        ${this.open ? closeIcon(26) : chatIcon}
        ${count ? html`<span class="badge" aria-hidden="true">${count > 99 ? '99+' : count}</span>` : nothing}
        ${unsent ? html`<span class="badge unsent" aria-hidden="true" title="Not sent yet">!</span>` : nothing}
      </button>
    </div>`;
  }

  /** Focus the first (or last) control of the panel, looking into the conversation's shadow roots. */
  _wrap(toFirst) {
    const found = [];
    const walk = (node) => {
      for (const el of node.children) {
        if (el.tabIndex >= 0 && !el.disabled && !el.classList.contains('trap') && el.getClientRects().length) found.push(el);
        if (el.shadowRoot) walk(el.shadowRoot);
        walk(el);
      }
    };
    walk(this.renderRoot.querySelector('.panel'));
    found.at(toFirst ? 0 : -1)?.focus();
  }

  async _askNotifications() {
    this._permission = await askPermission();
  }

  _onState(e) {
    this._unsent = e.detail.unsent;
  }

  _toggle(open) {
    if (open === this.open) return;
    if (this.sound) audioContext();
    this.open = open;
    this._mounted = this._mounted || open;
    saveState({engaged: this._mounted, open});
    this.dispatchEvent(new CustomEvent(open ? 'webchat-open' : 'webchat-close', {bubbles: true, composed: true}));
    this.updateComplete.then(() => {
      if (open) this._focusConversation();
      else this.renderRoot.querySelector('button.bubble')?.focus();
    });
  }

  async _focusConversation(tries = 60) {
    const chat = this.renderRoot.querySelector('webchat-chat');
    if (chat && typeof chat.focusComposer === 'function') {
      await chat.updateComplete;
      chat.focusComposer();
      if (this.renderRoot.activeElement === chat) return;
    }
    // still loading: hold focus in the panel, and move to the composer once it appears, unless
    // the visitor has moved on by then
    const close = this.renderRoot.querySelector('button.close');
    if (tries === 60) close?.focus();
    if (tries > 0 && this.open && this.renderRoot.activeElement === close) {
      setTimeout(() => this._focusConversation(tries - 1), 50);
    }
  }

  _key(e) {
    // a menu or an edit inside the conversation consumes its own Escape (preventDefault)
    if (e.key !== 'Escape' || e.defaultPrevented || !this.open) return;
    e.preventDefault();
    this.hide();
  }

  _onUnread(e) {
    const count = Math.max(0, Number(e.detail && e.detail.count) || 0);
    const grew = count > this.unread;
    this.unread = count;
    if (grew && !this.open) {
      if (this.sound && chime()) {
        this.dispatchEvent(new CustomEvent('webchat-chime', {bubbles: true, composed: true}));
      }
    }
  }

  _setTitle(count) {
    const base = document.title.replace(TITLE_PREFIX, '');
    const title = count ? `(${count > 99 ? '99+' : count}) ${base}` : base;
    if (document.title !== title) document.title = title;
  }
}

customElements.define('webchat-launcher', WebchatLauncher);
