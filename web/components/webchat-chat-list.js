// <webchat-chat-list>: chats by latest activity, unread badges, create/rename/archive/delete.

import {LitElement, html, css, nothing} from 'lit';
import {controlStyles} from '../lib/theme.js';
import {archiveIcon, deleteIcon, editIcon, unarchiveIcon} from '../lib/icons.js';

export class WebchatChatList extends LitElement {
  static properties = {client: {attribute: false}, showArchived: {state: true}, renaming: {state: true}};

  static styles = [controlStyles, css`
    :host { display: flex; flex-direction: column; min-height: 0; }
    .top { display: flex; gap: 6px; padding: 10px; }
    .top button { flex: 1; }
    ul { list-style: none; margin: 0; padding: 0; overflow-y: auto; flex: 1; }
    li { display: flex; align-items: center; border-bottom: 1px solid var(--webchat-border); }
    li[aria-current='true'] { background: var(--webchat-surface); box-shadow: inset 3px 0 var(--webchat-accent); }
    .open { flex: 1; min-width: 0; text-align: left; background: none; border: none; border-radius: 0; padding: 10px 12px; }
    .title { font-weight: 600; display: flex; gap: 6px; align-items: center; }
    .title span { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    .preview { font-size: 12px; color: var(--webchat-muted); overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    .badge { margin-left: auto; background: var(--webchat-accent); color: var(--webchat-accent-fg); border-radius: 999px;
      font-size: 11px; padding: 1px 7px; font-weight: 600; }
    .tools { display: flex; flex-direction: column; padding-right: 4px; opacity: 0.6; }
    li:hover .tools, li:focus-within .tools { opacity: 1; }
    input { font: inherit; color: inherit; background: var(--webchat-bg); border: 1px solid var(--webchat-accent);
      border-radius: 6px; padding: 4px 6px; width: 100%; box-sizing: border-box; }
    .section { font-size: 12px; color: var(--webchat-muted); padding: 8px 12px; }
  `];

  constructor() {
    super();
    this.showArchived = false;
    this.renaming = null;
    this._onChange = () => this.requestUpdate();
  }

  connectedCallback() {
    super.connectedCallback();
    this.client?.addEventListener('change', this._onChange);
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    this.client?.removeEventListener('change', this._onChange);
  }

  willUpdate(changed) {
    // follow the store: re-render whenever it changes
    const old = changed.get('client');
    if (old) old.removeEventListener('change', this._onChange);
    if (changed.has('client') && this.isConnected) this.client.addEventListener('change', this._onChange);
  }

  render() {
    const c = this.client;
    const chats = c.sortedChats().filter((x) => Boolean(x.is_archived) === this.showArchived);
    return html`
      <div class="top">
        <button class="primary" @click=${() => c.createChat('New chat')}>+ New chat</button>
        <button @click=${() => { this.showArchived = !this.showArchived; }} aria-pressed=${this.showArchived}>
          ${this.showArchived ? 'Active' : 'Archived'}</button>
      </div>
      ${this.showArchived ? html`<div class="section">Archived chats</div>` : nothing}
      <ul role="list" aria-label=${this.showArchived ? 'Archived chats' : 'Chats'}>
        ${chats.length === 0 ? html`<li><span class="section">${this.showArchived ? 'Nothing archived.' : 'No chats yet.'}</span></li>` : nothing}
        ${chats.map((chat) => this._item(chat))}
      </ul>`;
  }

  _item(chat) {
    const c = this.client;
    const last = chat.last_message;
    let preview = 'No messages yet';
    if (last) {
      const body = last.deleted ? 'Message deleted' : last.text || (last.media_type ? `[${last.media_type}]` : '');
      preview = `${last.sender_id === c.me.id ? 'You: ' : ''}${body}`;
    }
    return html`<li aria-current=${chat.id === c.openChatId ? 'true' : 'false'} data-chat-id=${chat.id}>
      ${this.renaming === chat.id ? html`<div class="open"><input aria-label="Chat title" .value=${chat.title}
            @keydown=${(e) => this._renameKey(e, chat)} @blur=${(e) => this._rename(chat, e.target.value)}></div>`
        : html`<button class="open" @click=${() => c.openChat(chat.id)}>
            <div class="title"><span>${chat.title}</span>
              ${chat.unread_count > 0 ? html`<span class="badge" aria-label="${chat.unread_count} unread">${chat.unread_count}</span>` : nothing}</div>
            <div class="preview">${preview}</div></button>`}
      <div class="tools">
        <button class="link" title="Rename" aria-label="Rename ${chat.title}" @click=${() => this._startRename(chat)}>${editIcon}</button>
        <button class="link" title=${chat.is_archived ? 'Unarchive' : 'Archive'} aria-label="${chat.is_archived ? 'Unarchive' : 'Archive'} ${chat.title}"
          @click=${() => c.archiveChat(chat.id, !chat.is_archived)}>${chat.is_archived ? unarchiveIcon : archiveIcon}</button>
        <button class="link" title="Delete" aria-label="Delete ${chat.title}" @click=${() => this._delete(chat)}>${deleteIcon}</button>
      </div>
    </li>`;
  }

  async _startRename(chat) {
    this.renaming = chat.id;
    await this.updateComplete;
    const input = this.renderRoot.querySelector('input');
    input?.focus();
    input?.select();
  }

  _renameKey(e, chat) {
    if (e.key === 'Enter') this._rename(chat, e.target.value);
    if (e.key === 'Escape') this.renaming = null;
  }

  _rename(chat, value) {
    if (this.renaming !== chat.id) return;
    this.renaming = null;
    const title = value.trim();
    if (title && title !== chat.title) this.client.renameChat(chat.id, title).catch(() => {});
  }

  _delete(chat) {
    if (confirm(`Delete "${chat.title}" and all its messages?`)) this.client.deleteChat(chat.id).catch((err) => alert(err.message));
  }
}
customElements.define('webchat-chat-list', WebchatChatList);
