// <webchat-chat>: one conversation (header, history, typing line, composer). Embeddable alone:
// without a `.client` it makes its own from the `api-base` and `user-token` attributes.
//
// `active` (default true): while false the chat stays connected but marks nothing read (a closed
// launcher). Fires `webchat-unread` {detail: {count}} (bubbling, composed) whenever the number of
// unread messages in its chat changes, and `webchat-state` {detail: {status, unsent}} when the
// connection status or the number of messages not sent yet changes. `back`: show a back control
// (phone layout), firing `webchat-back`. `embedded` (inside the launcher's panel): no header; the
// connection state shows as a line at the top while it is not connected.

import {LitElement, html, css, nothing} from 'lit';
import {createClient, OFFLINE} from '../lib/client.js';
import {ClientController} from '../lib/controller.js';
import {receipt} from '../lib/receipts.js';
import {otherSide, presenceText} from '../lib/presence.js';
import {themeStyles, controlStyles} from '../lib/theme.js';
import './webchat-message-list.js';
import './webchat-composer.js';
import './webchat-status.js';
import './webchat-banner.js';
import {emojiPanel, openEmoji} from '../lib/emoji-panel.js';

export function typingText(names) {
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names.slice(0, -1).join(', ')} and ${names.at(-1)} are typing…`;
}

/** The line an embedded conversation shows while it is not connected. */
const CONN = {
  reconnecting: "Reconnecting… Messages you write are sent once it's back.",
  offline: "You're offline. Messages you write are sent when you're back online.",
};

export class WebchatChat extends LitElement {
  static properties = {
    client: {attribute: false},
    chatId: {type: Number, attribute: 'chat-id'},
    apiBase: {type: String, attribute: 'api-base'},
    userToken: {type: String, attribute: 'user-token'},
    theme: {type: String, reflect: true},
    embedded: {type: Boolean},
    active: {type: Boolean, reflect: true},
    back: {type: Boolean},
    _emoji: {state: true}, // the picker is open: {message} to react to it, {} for the composer
  };

  static styles = [themeStyles, controlStyles, css`
    :host { display: flex; flex-direction: column; height: 100%; min-height: 0; min-width: 0; position: relative; }
    header { display: flex; align-items: center; gap: 8px; padding: 8px 12px; min-height: 28px;
      border-bottom: 1px solid var(--_border); min-width: 0; }
    .title { flex: 1; min-width: 0; }
    h2 { font-size: 16px; margin: 0; min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    .presence { font-size: 12px; color: var(--_muted); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
    .presence.online::before { content: ''; display: inline-block; width: 8px; height: 8px; border-radius: 50%;
      margin-right: 6px; background: var(--_online, #12b76a); }
    .back { flex: none; font-size: 22px; line-height: 1; padding: 2px 12px; }
    webchat-status { flex: none; }
    webchat-message-list { flex: 1; }
    .typing { min-height: 18px; padding: 0 16px 4px; font-size: 12px; color: var(--_muted); font-style: italic; }
    .archived { font-size: 12px; color: var(--_muted); flex: none; }
    .conn { padding: 6px 12px; font-size: 13px; background: var(--_surface); border-bottom: 1px solid var(--_border); }
    .conn::before { content: ''; display: inline-block; width: 8px; height: 8px; border-radius: 50%;
      margin-right: 8px; background: #f79009; }
    .conn.offline::before { background: var(--_danger); }
    .unavailable { padding: 16px; }
    webchat-emoji-picker { position: absolute; z-index: 20; right: 8px; bottom: 64px; width: min(360px, calc(100% - 16px)); }
  `];

  constructor() {
    super();
    this.embedded = false;
    this.active = true;
    this.back = false;
    this._unread = 0;
    this._state = '';
    new ClientController(this);
  }

  connectedCallback() {
    // "last seen 5 min ago" ages while nothing else changes
    this._clock = setInterval(() => this.requestUpdate(), 30 * 1000);
    if (!this.client) {
      // standalone: own the client
      this.client = createClient({base: this.apiBase || '', token: this.userToken || ''});
      this._ownsClient = true;
      this.client.setActive(this.active);
    }
    super.connectedCallback();
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    clearInterval(this._clock);
    if (this._ownsClient) {
      this.client.stop();
      this.client = null;
      this._ownsClient = false;
    }
  }

  get _chatId() { return this.chatId || this.client.openChatId; }

  willUpdate(changed) {
    if (changed.has('active') && this.client) this.client.setActive(this.active);
    const id = this.client && this.client.me ? this._chatId : null;
    if (id !== this._shownChat) {
      // another conversation: a reply or a picker opened in the last one does not follow
      this._shownChat = id;
      const composer = this.renderRoot && this.renderRoot.querySelector('webchat-composer');
      if (composer) composer.replyTo = null;
      this._emoji = null;
    }
  }

  render() {
    const c = this.client;
    if (c && c.unavailable) return html`<p class="unavailable" role="alert">${c.unavailable}</p>`;
    // not connected: said once, in the line (embedded) or the header's badge, not again in the banner
    const conn = CONN[c && c.status];
    if (!c || !c.me) {
      return html`${this._ownsClient && c ? html`<webchat-banner .message=${c.error}></webchat-banner>` : nothing}
        ${this.embedded && conn ? html`<div class="conn ${c.status}" role="status">${conn}</div>` : nothing}
        <div style="padding:16px">Loading…</div>`;
    }
    const id = this._chatId;
    const chat = id ? c.chats.get(id) : null;
    return html`
      ${this.embedded ? html`<div role="status">${conn ? html`<div class="conn ${c.status}">${conn}</div>` : nothing}</div>`
        : html`<header>
        ${this.back ? html`<button class="back" aria-label="Back to chats" @click=${this._back}>‹</button>` : nothing}
        <div class="title"><h2 dir="auto">${chat ? chat.title : 'New conversation'}</h2>${this._presence(chat)}</div>
        ${chat && chat.is_archived ? html`<span class="archived">Archived</span>` : nothing}
        ${this._ownsClient ? html`<webchat-status status=${c.status}></webchat-status>` : nothing}
      </header>`}
      ${this._ownsClient ? html`<webchat-banner .message=${conn && c.error === OFFLINE ? '' : c.error}
        @webchat-dismiss=${() => c.clearError()}></webchat-banner>` : nothing}
      <webchat-message-list .messages=${c.messageList(id || null)} .meId=${c.me.id} .chatId=${id}
        .receipt=${chat ? receipt(chat, c.me.id, c.messageList(id)) : null} .dividerAfter=${id ? c.unread.dividerAfter.get(id) ?? null : null}
        ?hasOlder=${Boolean(id && c.messages.hasOlder.get(id))}
        .loadOlder=${() => c.loadOlder(id)} .findMessage=${(mid) => c.findMessage(id, mid)}
        @webchat-react=${(e) => c.toggleReaction(e.detail.message, e.detail.emoji)}
        @webchat-react-more=${(e) => this._openEmoji({message: e.detail.message, returnTo: e.composedPath()[0]})}
        @webchat-reply=${this._reply}
        @webchat-edit=${(e) => c.editMessage(e.detail.id, e.detail.text).catch((err) => c.fail(err))}
        @webchat-delete=${(e) => c.deleteMessage(e.detail.id).catch((err) => c.fail(err))}
        @webchat-retry=${(e) => c.retry(e.detail.clientId)}
        @webchat-discard=${(e) => c.discard(e.detail.clientId)}></webchat-message-list>
      <div class="typing" aria-live="polite">${id ? typingText(c.typingNames(id)) : ''}</div>
      <webchat-composer .maxChars=${c.limits.max_text_chars} .maxBytes=${c.limits.max_media_bytes}
        .maxVoiceSeconds=${c.limits.max_voice_seconds || 300}
        @webchat-send=${this._send} @webchat-typing=${() => c.typingNow(this._chatId)}
        @webchat-emoji-open=${() => this._openEmoji({})}></webchat-composer>
      ${emojiPanel(this)}`;
  }

  _openEmoji(target) { return openEmoji(this, target); }

  async _reply(e) {
    const composer = this.renderRoot.querySelector('webchat-composer');
    if (!composer) return;
    composer.replyTo = e.detail.message;
    await composer.updateComplete;
    composer.focus();
  }

  updated() {
    const c = this.client;
    const id = c && c.me ? this._chatId : null;
    const count = id ? c.unread.count(id) : 0;
    if (count !== this._unread) {
      this._unread = count;
      this.dispatchEvent(new CustomEvent('webchat-unread', {detail: {count}, bubbles: true, composed: true}));
    }
    const status = c ? c.status : 'connecting';
    const unsent = c && c.me ? c.unsent : 0;
    if (`${status} ${unsent}` !== this._state) {
      this._state = `${status} ${unsent}`;
      this.dispatchEvent(new CustomEvent('webchat-state', {detail: {status, unsent}, bubbles: true, composed: true}));
    }
  }

  /** The other side's status under the title ("online", "last seen 5 min ago"); nothing in a group. */
  _presence(chat) {
    const other = otherSide(chat, this.client.me.id);
    const text = other ? presenceText(other.presence) : '';
    // not a live region: "last seen" ages every minute and must not be read out each time
    return text ? html`<div class="presence ${other.presence.status}"><span class="sr-only">${other.display_name}: </span>${text}</div>`
      : nothing;
  }

  /** Put the caret in the composer (after opening a chat, or the launcher's panel). */
  focusComposer() { this.renderRoot.querySelector('webchat-composer')?.focus(); }

  _back() {
    this.dispatchEvent(new CustomEvent('webchat-back', {bubbles: true, composed: true}));
  }

  _send(e) {
    const {text, file, replyTo} = e.detail;
    this.client.send(this._chatId || null, text, file, undefined, replyTo).catch(() => {});
    this.renderRoot.querySelector('webchat-message-list')?.scrollToBottom();
  }
}
customElements.define('webchat-chat', WebchatChat);
