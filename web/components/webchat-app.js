// <webchat-app>: the full widget: chat list and the open chat, connection status, notifications.
// Narrower than 600 px (a phone) the list and the conversation are two views with a back control;
// a visitor without any chat yet starts in the conversation, so they can type at once.

import {LitElement, html, css, nothing} from 'lit';
import {createClient} from '../lib/client.js';
import {ClientController} from '../lib/controller.js';
import {askPermission, notificationPermission} from '../lib/notify.js';
import {themeStyles, controlStyles} from '../lib/theme.js';
import './webchat-chat-list.js';
import './webchat-chat.js';
import './webchat-status.js';
import './webchat-banner.js';

const NARROW_PX = 600;

export class WebchatApp extends LitElement {
  static properties = {
    apiBase: {type: String, attribute: 'api-base'},
    theme: {type: String, reflect: true},
    userToken: {type: String, attribute: 'user-token'},
    permission: {state: true},
    narrow: {type: Boolean, reflect: true},
    view: {type: String, reflect: true},
  };

  static styles = [themeStyles, controlStyles, css`
    :host { display: grid; grid-template-columns: 280px minmax(0, 1fr); grid-template-rows: auto minmax(0, 1fr);
      height: 100%; border: 1px solid var(--_border); border-radius: 12px; overflow: hidden; position: relative;
      box-sizing: border-box; min-width: 0; }
    .bar { grid-column: 1 / -1; display: flex; align-items: center; gap: 10px; padding: 6px 12px; min-width: 0;
      border-bottom: 1px solid var(--_border); background: var(--_surface); }
    .bar strong { flex: 1; }
    .me { font-size: 12px; color: var(--_muted); overflow: hidden; text-overflow: ellipsis; white-space: nowrap; min-width: 0; }
    .bar > * { flex: none; }
    .bar > .me { flex: 0 1 auto; }
    webchat-chat-list { border-right: 1px solid var(--_border); min-height: 0; min-width: 0; }
    webchat-chat { min-height: 0; min-width: 0; }
    webchat-banner { top: 52px; }
    :host([narrow]) { grid-template-columns: minmax(0, 1fr); border-radius: 0; }
    :host([narrow]) webchat-chat-list { border-right: none; }
    :host([narrow][view='chat']) webchat-chat-list, :host([narrow][view='list']) webchat-chat { display: none; }
  `];

  constructor() {
    super();
    this.permission = notificationPermission();
    this.narrow = false;
    this.view = 'chat';
    new ClientController(this);
    // the widget's own width decides (it may sit in a narrow column of a wide page)
    this._resize = new ResizeObserver(([entry]) => { this.narrow = entry.contentRect.width <= NARROW_PX; });
  }

  connectedCallback() {
    this.client = createClient({base: this.apiBase || '', token: this.userToken || ''});
    super.connectedCallback();
    this._resize.observe(this);
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    this._resize.disconnect();
    this.client.stop();
  }

  render() {
    const c = this.client;
    return html`
      <div class="bar">
        <strong>Chat</strong>
        ${c.me ? html`<span class="me">${c.me.display_name}</span>` : nothing}
        ${this.permission === 'default' ? html`<button @click=${this._askNotifications}>${this.narrow ? 'Notify me' : 'Enable notifications'}</button>` : nothing}
        <webchat-status status=${c.status}></webchat-status>
      </div>
      <webchat-banner .message=${c.error} @webchat-dismiss=${() => c.clearError()}></webchat-banner>
      ${c.unavailable ? html`<p role="alert">${c.unavailable}</p>` : c.me ? html`<webchat-chat-list .client=${c} @webchat-chat-open=${this._opened}></webchat-chat-list>
        <webchat-chat .client=${c} .chatId=${c.openChatId} theme=${this.theme || 'auto'} ?back=${this.narrow}
          @webchat-back=${this._back}></webchat-chat>` : html`<div>Loading…</div>`}`;
  }

  willUpdate() {
    // a phone shows the list while no chat is open, and the conversation when one gets opened
    // (from the list, a notification, or the one remembered from the last visit)
    const c = this.client;
    const open = c.openChatId;
    // ...except the first conversation's own id arriving after its visitor went back to the list
    // (the send that makes it was still on its way): they chose the list, it keeps it
    if (open !== this._lastOpen && open && !(this._lastOpen == null && this._leftFirst)) this.view = 'chat';
    if (open) this._leftFirst = false;
    this._lastOpen = open;
    // no chat open: the list, unless there is nothing in it (a first visit): then a new conversation
    if (this.narrow && !open && !this._chose) this.view = c.chats.chats.size ? 'list' : 'chat';
  }

  async _opened() {
    if (!this.narrow) return;
    this.view = 'chat';
    await this.updateComplete;
    this.renderRoot.querySelector('webchat-chat')?.focusComposer();
  }

  async _back() {
    this.view = 'list';
    this._chose = !this.client.openChatId; // back from a first conversation: stay on the (empty) list
    this._leftFirst = !this.client.openChatId;
    await this.updateComplete;
    this.renderRoot.querySelector('webchat-chat-list')?.focusCurrent();
  }

  async _askNotifications() {
    this.permission = await askPermission();
  }
}
customElements.define('webchat-app', WebchatApp);
