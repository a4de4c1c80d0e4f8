// <webchat-chat>: one conversation (header, history, typing line, composer). Embeddable alone:
// without a `.client` it makes its own from the `api-base` and `user-token` attributes.
//
// `active` (default true): while false the chat stays connected but marks nothing read (a closed
// launcher). Fires `webchat-unread` {detail: {count}} (bubbling, composed) whenever the number of
// unread messages in its chat changes.

import {LitElement, html, css, nothing} from 'lit';
import {ChatClient} from '../lib/store.js';
import {themeStyles, controlStyles} from '../lib/theme.js';
import './webchat-message-list.js';
import './webchat-composer.js';
import './webchat-status.js';

export function typingText(names) {
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names.slice(0, -1).join(', ')} and ${names.at(-1)} are typing…`;
}

export class WebchatChat extends LitElement {
  static properties = {
    client: {attribute: false},
    chatId: {type: Number, attribute: 'chat-id'},
    apiBase: {type: String, attribute: 'api-base'},
    userToken: {type: String, attribute: 'user-token'},
    theme: {type: String, reflect: true},
    embedded: {type: Boolean},
    active: {type: Boolean, reflect: true},
  };

  static styles = [themeStyles, controlStyles, css`
    :host { display: flex; flex-direction: column; height: 100%; min-height: 0; }
    header { display: flex; align-items: center; gap: 8px; padding: 10px 14px; border-bottom: 1px solid var(--webchat-border); }
    h2 { font-size: 16px; margin: 0; flex: 1; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    webchat-message-list { flex: 1; }
    .typing { min-height: 18px; padding: 0 16px 4px; font-size: 12px; color: var(--webchat-muted); font-style: italic; }
    .archived { font-size: 12px; color: var(--webchat-muted); }
  `];

  constructor() {
    super();
    this.embedded = false;
    this.active = true;
    this._unread = 0;
    this._onChange = () => this.requestUpdate();
  }

  connectedCallback() {
    super.connectedCallback();
    if (!this.client) {
      // standalone: own the client
      this.client = new ChatClient({base: this.apiBase || '', token: this.userToken || ''});
      this._ownsClient = true;
      this.client.active = this.active;
      this.client.start().catch((err) => { this.client.error = err.message; this.requestUpdate(); });
    }
    this.client.addEventListener('change', this._onChange);
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    this.client.removeEventListener('change', this._onChange);
    if (this._ownsClient) this.client.stop();
  }

  get _chatId() { return this.chatId || this.client.openChatId; }

  willUpdate(changed) {
    if (changed.has('active') && this.client) {
      this.client.setActive(this.active);
    }
  }

  updated() {
    const c = this.client;
    const id = c && c.me ? this._chatId : null;
    const chat = id ? c.chats.get(id) : null;
    const count = chat ? chat.unread_count || 0 : 0;
    if (count !== this._unread) {
      this._unread = count;
      this.dispatchEvent(new CustomEvent('webchat-unread', {detail: {count}, bubbles: true, composed: true}));
    }
  }

  render() {
    const c = this.client;
    if (!c || !c.me) return html`<div style="padding:16px">Loading…</div>`;
    const id = this._chatId;
    const chat = id ? c.chats.get(id) : null;
    return html`
      ${this.embedded ? nothing : html`<header>
        <h2>${chat ? chat.title : 'New conversation'}</h2>
        ${chat && chat.is_archived ? html`<span class="archived">Archived</span>` : nothing}
        ${this._ownsClient ? html`<webchat-status status=${c.status}></webchat-status>` : nothing}
      </header>`}
      <webchat-message-list .messages=${id ? c.messageList(id) : []} .meId=${c.me.id} .chatId=${id}
        ?hasOlder=${Boolean(id && c.hasOlder.get(id))} @webchat-load-older=${() => c.loadOlder(id)}
        @webchat-edit=${(e) => c.editMessage(e.detail.id, e.detail.text).catch((err) => this._fail(err))}
        @webchat-delete=${(e) => c.deleteMessage(e.detail.id).catch((err) => this._fail(err))}
        @webchat-retry=${(e) => c.retry(e.detail.clientId)}
        @webchat-discard=${(e) => c.discard(e.detail.clientId)}></webchat-message-list>
      <div class="typing" aria-live="polite">${id ? typingText(c.typingNames(id)) : ''}</div>
      <webchat-composer .maxChars=${c.limits.max_text_chars} .maxBytes=${c.limits.max_media_bytes}
        @webchat-send=${this._send} @webchat-typing=${() => c.typingNow(this._chatId)}></webchat-composer>`;
  }

  _send(e) {
    const {text, file} = e.detail;
    this.client.send(this._chatId || null, text, file).catch(() => {});
    this.renderRoot.querySelector('webchat-message-list')?.scrollToBottom();
  }

  _fail(err) {
    this.client.error = err.message;
    this.requestUpdate();
  }
}
customElements.define('webchat-chat', WebchatChat);
