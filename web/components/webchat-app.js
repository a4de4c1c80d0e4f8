// <webchat-app>: the full widget: chat list sidebar, the open chat, connection status, notifications.

import {LitElement, html, css, nothing} from 'lit';
import {ChatClient} from '../lib/store.js';
import {askPermission, notificationPermission} from '../lib/notify.js';
import {themeStyles, controlStyles} from '../lib/theme.js';
import './webchat-chat-list.js';
import './webchat-chat.js';
import './webchat-status.js';

export class WebchatApp extends LitElement {
  static properties = {
    apiBase: {type: String, attribute: 'api-base'},
    theme: {type: String, reflect: true},
    userToken: {type: String, attribute: 'user-token'},
    permission: {state: true},
  };

  static styles = [themeStyles, controlStyles, css`
    :host { display: grid; grid-template-columns: 280px 1fr; grid-template-rows: auto 1fr; height: 100%;
      border: 1px solid var(--webchat-border); border-radius: 12px; overflow: hidden; }
    .bar { grid-column: 1 / -1; display: flex; align-items: center; gap: 10px; padding: 8px 12px;
      border-bottom: 1px solid var(--webchat-border); background: var(--webchat-surface); }
    .bar strong { flex: 1; }
    .me { font-size: 12px; color: var(--webchat-muted); }
    webchat-chat-list { border-right: 1px solid var(--webchat-border); min-height: 0; }
    webchat-chat { min-height: 0; }
    .error { grid-column: 1 / -1; color: var(--webchat-danger); padding: 4px 12px; font-size: 13px; }
    @media (max-width: 640px) { :host { grid-template-columns: 1fr; } webchat-chat-list { display: none; } }
  `];

  constructor() {
    super();
    this.permission = notificationPermission();
    this._onChange = () => this.requestUpdate();
  }

  connectedCallback() {
    super.connectedCallback();
    this.client = new ChatClient({base: this.apiBase || '', token: this.userToken || ''});
    this.client.addEventListener('change', this._onChange);
    this.client.start().catch((err) => { this.client.error = err.message; this.requestUpdate(); });
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    this.client.removeEventListener('change', this._onChange);
    this.client.stop();
  }

  render() {
    const c = this.client;
    return html`
      <div class="bar">
        <strong>Chat</strong>
        ${c.me ? html`<span class="me">${c.me.display_name}</span>` : nothing}
        ${this.permission === 'default' ? html`<button @click=${this._askNotifications}>Enable notifications</button>` : nothing}
        <webchat-status status=${c.status}></webchat-status>
      </div>
      ${c.error ? html`<div class="error" role="alert">${c.error}
        <button class="link" @click=${() => { c.error = ''; this.requestUpdate(); }}>Dismiss</button></div>` : nothing}
      ${c.me ? html`<webchat-chat-list .client=${c}></webchat-chat-list>
        <webchat-chat .client=${c} .chatId=${c.openChatId} theme=${this.theme || 'auto'}></webchat-chat>` : html`<div>Loading…</div>`}`;
  }

  async _askNotifications() {
    this.permission = await askPermission();
  }
}
customElements.define('webchat-app', WebchatApp);
