// <webchat-inbox>: the agents' page. The visitor conversations (filters, unread), the open one
// (reply, internal notes, claim / hand over / resolve / reopen) and the visitor's details side by
// side; narrower than 1100 px the details are behind a button, at 700 px and below (a phone) the
// list and the conversation are two views. A sound and a browser notification announce a new
// conversation; keyboard shortcuts (j/k or Alt+Up/Down, r, n, e, ?) are listed under "?".
// Anyone who is not an agent sees how to sign in, and no data.

import {LitElement, html, css, nothing, unsafeCSS} from 'lit';
import {createInboxClient} from '../lib/inbox-client.js';
import {ClientController} from '../lib/controller.js';
import {askPermission, notificationPermission} from '../lib/notify.js';
import {audioContext} from '../lib/chime.js';
import {themeStyles, controlStyles} from '../lib/theme.js';
import '../lib/inbox-note.js';
import './inbox-list.js';
import './inbox-conversation.js';
import './inbox-context.js';
import './webchat-status.js';
import './webchat-banner.js';

const NARROW_PX = 700;
const WIDE_PX = 1100;

export const SHORTCUTS = [
  ['j  or  Alt+↓', 'Next conversation'],
  ['k  or  Alt+↑', 'Previous conversation'],
  ['r', 'Reply'],
  ['n', 'Internal note'],
  ['e', 'Resolve'],
  ['?', 'This help'],
  ['Esc', 'Close this help'],
];

// the amber of internal notes, light and dark (read by the composer and by the notes in the history)
const NOTE_COLOURS = {
  light: '--_note-bg: #fff1c7; --_note-surface: #fff8e1; --_note-fg: #3d2c00; --_note-border: #9a6b00; --_note-label: #6b4700;',
  dark: '--_note-bg: #3b2f10; --_note-surface: #2e250d; --_note-fg: #fbe7b0; --_note-border: #c9a13d; --_note-label: #f0c862;',
};

const NOTE_CSS = (theme) => unsafeCSS(NOTE_COLOURS[theme]);

export class WebchatInbox extends LitElement {
  static properties = {
    apiBase: {type: String, attribute: 'api-base'},
    userToken: {type: String, attribute: 'user-token'},
    theme: {type: String, reflect: true},
    narrow: {type: Boolean, reflect: true},
    wide: {type: Boolean, reflect: true},
    view: {type: String, reflect: true}, // 'list' | 'chat' (narrow only)
    details: {type: Boolean, reflect: true}, // the visitor's details shown while not wide
    help: {state: true},
    agents: {state: true},
    permission: {state: true},
    announced: {state: true},
  };

  static styles = [themeStyles, controlStyles, css`
    :host { display: grid; grid-template-columns: 300px minmax(0, 1fr); grid-template-rows: auto minmax(0, 1fr);
      height: 100%; position: relative; box-sizing: border-box; min-width: 0; ${NOTE_CSS('light')} }
    :host([theme='dark']) { ${NOTE_CSS('dark')} }
    @media (prefers-color-scheme: dark) { :host(:not([theme='light'])) { ${NOTE_CSS('dark')} } }
    :host([wide]) { grid-template-columns: 300px minmax(0, 1fr) 280px; }
    .bar { grid-column: 1 / -1; display: flex; align-items: center; flex-wrap: wrap; gap: 6px 10px; padding: 6px 12px;
      border-bottom: 1px solid var(--_border); background: var(--_surface); min-width: 0; }
    h1 { font-size: 17px; margin: 0; flex: 1; }
    .me { font-size: 13px; color: var(--_muted); overflow: hidden; text-overflow: ellipsis; white-space: nowrap; min-width: 0; }
    inbox-list { border-right: 1px solid var(--_border); min-height: 0; min-width: 0; }
    inbox-conversation { min-height: 0; min-width: 0; }
    inbox-context { border-left: 1px solid var(--_border); min-height: 0; display: none; }
    :host([wide]) inbox-context { display: block; }
    :host(:not([wide])[details]) inbox-context { display: block; position: absolute; right: 0; top: 48px; bottom: 0;
      width: min(320px, 100%); box-sizing: border-box; background: var(--_bg); z-index: 3;
      box-shadow: -4px 0 16px rgb(0 0 0 / 0.2); }
    :host([narrow]) { grid-template-columns: minmax(0, 1fr); }
    :host([narrow]) .me { display: none; }
    :host([narrow]) .bar { gap: 6px; padding: 4px 8px; }
    :host([narrow]) inbox-list { border-right: none; }
    :host([narrow][view='chat']) inbox-list, :host([narrow][view='list']) inbox-conversation { display: none; }
    .signin { grid-column: 1 / -1; max-width: 36em; padding: 24px; line-height: 1.5; }
    .signin h1 { margin-top: 0; font-size: 22px; }
    code { background: var(--_surface); padding: 1px 4px; border-radius: 4px; }
    .help-back { position: fixed; inset: 0; background: rgb(0 0 0 / 0.4); display: grid; place-items: center; z-index: 10; }
    .help { background: var(--_bg); color: var(--_fg); border-radius: 12px; padding: 16px 20px; width: min(360px, 90vw);
      box-shadow: 0 8px 32px rgb(0 0 0 / 0.3); }
    .help h2 { font-size: 16px; margin: 0 0 10px; }
    .help table { border-collapse: collapse; width: 100%; margin-bottom: 12px; }
    .help th { text-align: left; font-weight: normal; padding: 4px 12px 4px 0; white-space: pre; }
    .help kbd { font: inherit; font-family: ui-monospace, monospace; background: var(--_surface);
      border: 1px solid var(--_control-border); border-radius: 4px; padding: 0 5px; }
    .help td { padding: 4px 0; }
  `];

  constructor() {
    super();
    this.narrow = false;
    this.wide = false;
    this.view = 'list';
    this.details = false;
    this.help = false;
    this.agents = [];
    this._asked = new Set(); // assignee ids the agents' list was fetched for
    this.permission = notificationPermission();
    this.announced = '';
    new ClientController(this);
    // the element's own width decides (the page may give it a column of a wider layout)
    this._resize = new ResizeObserver(([entry]) => {
      this.narrow = entry.contentRect.width <= NARROW_PX;
      this.wide = entry.contentRect.width >= WIDE_PX;
    });
    this._onKey = (e) => this._key(e);
    // a sign-in link opened in a tab that shows this page already: the address changes, not the page
    this._onHash = () => { if (location.hash.startsWith('#signin=')) location.reload(); };
    this._onNew = (e) => { this.announced = `New conversation from ${e.detail.visitor.display_name}`; };
  }

  connectedCallback() {
    this.client = createInboxClient({base: this.apiBase || '', token: this.userToken || ''});
    this.client.addEventListener('new-conversation', this._onNew);
    super.connectedCallback();
    this._resize.observe(this);
    window.addEventListener('keydown', this._onKey);
    window.addEventListener('hashchange', this._onHash);
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    this._resize.disconnect();
    window.removeEventListener('keydown', this._onKey);
    window.removeEventListener('hashchange', this._onHash);
    this.client.removeEventListener('new-conversation', this._onNew);
    this.client.stop();
  }

  willUpdate(changed) {
    const c = this.client;
    // a phone shows the conversation once one is opened (from the list, a shortcut, a
    // notification), and when the page narrows with one open
    const open = c.openChatId;
    if (open && (open !== this._lastOpen || (changed.has('narrow') && this.narrow))) this.view = 'chat';
    this._lastOpen = open;
    if (!c.me || c.notAgent) return;
    // the agents' names: at start, and again when a conversation is assigned to one not known yet
    // (an agent who signed in for the first time since)
    const known = new Set(this.agents.map((a) => a.id));
    const unknown = [...c.conversations.values()].map((x) => x.assignee_id)
      .filter((id) => id && !known.has(id) && !this._asked.has(id));
    if (!this._asked.size || unknown.length) {
      this._asked.add(0);
      for (const id of unknown) this._asked.add(id);
      c.agents().then((agents) => { this.agents = agents; });
    }
  }

  render() {
    const c = this.client;
    if (c.notAgent) return this._signIn();
    const open = c.openChatId;
    const conv = c.conversation(open);
    return html`
      <div class="bar">
        <h1>Inbox</h1>
        ${c.me ? html`<span class="me">${c.me.display_name}</span>` : nothing}
        <button @click=${() => c.setSound(!c.sound)}
          title="A sound for each new conversation">${c.sound ? 'Sound on' : 'Sound off'}</button>
        ${this.permission === 'default' ? html`<button @click=${this._askNotifications}>${this.narrow ? 'Notify me' : 'Enable notifications'}</button>` : nothing}
        <button aria-label="Keyboard shortcuts" title="Keyboard shortcuts (?)" @click=${this._openHelp}>?</button>
        <webchat-status status=${c.status}></webchat-status>
        <span class="sr-only announce" role="status">${this.announced}</span>
      </div>
      <webchat-banner .message=${c.error} @webchat-dismiss=${() => c.clearError()}></webchat-banner>
      ${c.me ? html`
        <inbox-list .client=${c} .agents=${this.agents} @inbox-open=${this._opened}></inbox-list>
        <inbox-conversation .client=${c} .agents=${this.agents} .chatId=${open} ?back=${this.narrow}
          ?contextToggle=${!this.wide} @inbox-back=${this._back} @inbox-context=${() => { this.details = !this.details; }}>
        </inbox-conversation>
        <inbox-context .conversation=${conv} ?closable=${!this.wide} .known=${(id) => c.conversation(id)}
          @inbox-context=${this._closeDetails} @inbox-open=${this._openOther}></inbox-context>` : html`<p>Loading…</p>`}
      ${this.help ? this._help() : nothing}`;
  }

  _signIn() {
    return html`<section class="signin">
      <h1>This page is for the site's staff</h1>
      ${this.client.signinError ? html`<p role="alert">${this.client.signinError}</p>` : nothing}
      <p>The inbox shows the conversations of this site's visitors, so it opens only for agents.</p>
      <p>Sign in with the link you were given (the site's owner makes one with
        <code>webchat-server agent add YOUR-NAME</code>), or through your site's own staff sign-in,
        then come back to this page.</p>
    </section>`;
  }

  _help() {
    return html`<div class="help-back" @click=${(e) => { if (e.target === e.currentTarget) this._closeHelp(); }}>
      <div class="help" role="dialog" aria-modal="true" aria-labelledby="help-title" @keydown=${this._helpKey}>
        <h2 id="help-title">Keyboard shortcuts</h2>
        <table>
          ${SHORTCUTS.map(([keys, what]) => html`<tr><th scope="row">${keys.split('  or  ').map((k, i) =>
            html`${i ? ' or ' : ''}<kbd>${k}</kbd>`)}</th><td>${what}</td></tr>`)}
        </table>
        <button class="primary" @click=${this._closeHelp}>Close</button>
      </div>
    </div>`;
  }

  async _openHelp() {
    this._helpFrom = this.shadowRoot.activeElement || document.activeElement;
    this.help = true;
    await this.updateComplete;
    this.renderRoot.querySelector('.help button')?.focus();
  }

  _closeHelp() {
    this.help = false;
    this._helpFrom?.focus?.();
  }

  _helpKey(e) {
    // one control in the dialog: Tab stays on it
    if (e.key === 'Tab') e.preventDefault();
  }

  get _conversation() { return this.renderRoot.querySelector('inbox-conversation'); }

  _key(e) {
    const c = this.client;
    if (!c.me || c.notAgent) return;
    if (this.help) {
      if (e.key === 'Escape' || e.key === '?') { e.preventDefault(); this._closeHelp(); }
      return;
    }
    const target = e.composedPath()[0];
    const typing = target && (target.localName === 'textarea' || target.localName === 'input'
      || target.localName === 'select' || target.isContentEditable);
    if (e.altKey && (e.key === 'ArrowDown' || e.key === 'ArrowUp')) {
      e.preventDefault();
      this.step(e.key === 'ArrowDown' ? 1 : -1);
      return;
    }
    if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
    const open = c.openChatId;
    const conv = c.conversation(open);
    const act = {
      j: () => this.step(1),
      k: () => this.step(-1),
      r: () => conv && this._write('reply'),
      n: () => conv && this._write('note'),
      e: () => conv && conv.status === 'open' && c.resolve(open).catch((err) => c.fail(err)),
      '?': () => this._openHelp(),
    }[e.key];
    if (act) {
      e.preventDefault();
      act();
    }
  }

  async _write(mode) {
    if (this.narrow) this.view = 'chat';
    await this.updateComplete;
    this._conversation?.write(mode);
  }

  /** Open the next (1) or previous (-1) conversation of the list. */
  step(by) {
    const c = this.client;
    const list = c.listed();
    if (!list.length) return;
    const at = list.findIndex((x) => x.id === c.openChatId);
    const to = at < 0 ? 0 : Math.max(0, Math.min(list.length - 1, at + by));
    c.openChat(list[to].id);
    if (this.narrow) this.view = 'chat';
  }

  async _closeDetails() {
    this.details = false;
    await this.updateComplete;
    this._conversation?.renderRoot.querySelector('.details')?.focus();
  }

  /** One of the visitor's other conversations (it may be under another filter, or not loaded). */
  _openOther(e) {
    this.details = false;
    this.client.openConversation(e.detail.id).catch((err) => this.client.fail(err));
  }

  _opened() {
    if (this.narrow) this.view = 'chat';
  }

  async _back() {
    this.view = 'list';
    this.details = false;
    await this.updateComplete;
    this.renderRoot.querySelector('inbox-list')?.focusCurrent();
  }

  async _askNotifications() {
    audioContext(); // a click: the page may play the chime from now on
    this.permission = await askPermission();
  }
}

customElements.define('webchat-inbox', WebchatInbox);
