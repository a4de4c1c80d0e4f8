// <webchat-chat-list>: chats by latest activity, unread badges, create/rename/archive/delete.
// The list is one tab stop: arrow keys move between chats (roving tabindex), ArrowRight reaches
// a chat's actions menu.

import {LitElement, html, css, nothing} from 'lit';
import {controlStyles} from '../lib/theme.js';
import {ClientController} from '../lib/controller.js';
import './webchat-menu.js';

/** @fires webchat-chat-open - the reader opened a chat (detail {id}); for the host app, so not composed */
export class WebchatChatList extends LitElement {
  static properties = {
    client: {attribute: false}, showArchived: {state: true}, renaming: {state: true}, focusId: {state: true},
  };

  static styles = [controlStyles, css`
    :host { display: flex; flex-direction: column; min-height: 0; min-width: 0; }
    .top { display: flex; gap: 6px; padding: 10px; }
    .top button { flex: 1; }
    ul { list-style: none; margin: 0; padding: 0; overflow-y: auto; flex: 1; }
    li { display: flex; align-items: center; border-bottom: 1px solid var(--_border); min-width: 0; }
    li.current { background: var(--_surface); box-shadow: inset 3px 0 var(--_accent); }
    .open { flex: 1; min-width: 0; text-align: left; background: none; border: none; border-radius: 0; padding: 10px 12px; }
    .title { font-weight: 600; display: flex; gap: 6px; align-items: center; min-width: 0; }
    .title span:first-child { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    .preview { font-size: 12px; color: var(--_muted); overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    .badge { margin-left: auto; background: var(--_accent); color: var(--_accent-fg); border-radius: 999px;
      font-size: 11px; padding: 1px 7px; font-weight: 600; flex: none; }
    webchat-menu { margin-right: 4px; flex: none; }
    input { font: inherit; color: inherit; background: var(--_bg); border: 1px solid var(--_accent);
      border-radius: 6px; padding: 4px 6px; width: 100%; box-sizing: border-box; }
    .section { font-size: 12px; color: var(--_muted); padding: 8px 12px; }
  `];

  constructor() {
    super();
    this.showArchived = false;
    this.renaming = null;
    this.focusId = null;
    new ClientController(this);
  }

  _chats() {
    return this.client.chats.sorted().filter((x) => Boolean(x.is_archived) === this.showArchived);
  }

  render() {
    const c = this.client;
    const chats = this._chats();
    // the roving tab stop: the chat focused last, else the open one, else the first
    const stop = [this.focusId, c.openChatId].find((id) => chats.some((x) => x.id === id)) ?? chats[0]?.id;
    return html`
      <div class="top">
        <button class="primary" @click=${this._new}>+ New chat</button>
        <button @click=${() => { this.showArchived = !this.showArchived; }} aria-pressed=${this.showArchived ? 'true' : 'false'}>
          ${this.showArchived ? 'Active' : 'Archived'}</button>
      </div>
      ${this.showArchived ? html`<div class="section">Archived chats</div>` : nothing}
      <ul aria-label=${this.showArchived ? 'Archived chats' : 'Chats'} @keydown=${this._key}>
        ${chats.length === 0 ? html`<li><span class="section">${this.showArchived ? 'Nothing archived.' : 'No chats yet.'}</span></li>` : nothing}
        ${chats.map((chat) => this._item(chat, chat.id === stop))}
      </ul>`;
  }

  _item(chat, isStop) {
    const c = this.client;
    const last = chat.last_message;
    let preview = 'No messages yet';
    if (last) {
      const body = last.deleted ? 'Message deleted' : last.text || (last.media?.type === 'voice' ? '[voice message]' : last.media_type ? `[${last.media_type}]` : '');
      preview = `${last.sender_id === c.me.id ? 'You: ' : ''}${body}`;
    }
    const current = chat.id === c.openChatId;
    const items = [{value: 'rename', label: 'Rename'},
      {value: 'archive', label: chat.is_archived ? 'Unarchive' : 'Archive'}, {value: 'delete', label: 'Delete'}];
    return html`<li class=${current ? 'current' : ''} data-chat-id=${chat.id}>
      ${this.renaming === chat.id ? html`<div class="open"><input aria-label="Chat title" dir="auto" .value=${chat.title}
            @keydown=${(e) => this._renameKey(e, chat)} @blur=${(e) => this._rename(chat, e.target.value)}></div>`
        : html`<button class="open" tabindex=${isStop ? '0' : '-1'} aria-current=${current ? 'true' : 'false'}
            @click=${() => this._open(chat.id)} @focus=${() => { this.focusId = chat.id; }}>
            <div class="title"><span dir="auto">${chat.title}</span>
              ${chat.unread_count > 0 ? html`<span class="badge" aria-hidden="true">${chat.unread_count}</span><span class="sr-only">, ${chat.unread_count} unread</span>` : nothing}</div>
            <div class="preview" dir="auto">${preview}</div></button>`}
      <webchat-menu label="Actions for ${chat.title}" trigger-tabindex="-1" .items=${items}
        @webchat-menu-pick=${(e) => this._action(chat, e.detail.value)}></webchat-menu>
    </li>`;
  }

  /** Focus the list's tab stop (coming back from the conversation on a phone). */
  focusCurrent() { this.renderRoot.querySelector('.open[tabindex="0"]')?.focus(); }

  async _new() {
    const chat = await this.client.createChat('New chat').catch((err) => this.client.fail(err));
    if (chat) this._opened(chat.id);
  }

  _open(id) {
    this.client.openChat(id);
    this._opened(id);
  }

  _opened(id) {
    this.focusId = id;
    this.dispatchEvent(new CustomEvent('webchat-chat-open', {detail: {id}}));
  }

  _key(e) {
    const rows = [...this.renderRoot.querySelectorAll('li[data-chat-id]')];
    const target = e.composedPath()[0];
    const row = rows.findIndex((li) => li.contains(target) || li.querySelector('webchat-menu')?.shadowRoot?.contains(target));
    if (row < 0 || target.localName === 'input' || target.getAttribute('role') === 'menuitem') return;
    const to = {ArrowDown: row + 1, ArrowUp: row - 1, Home: 0, End: rows.length - 1}[e.key];
    if (to !== undefined) {
      e.preventDefault();
      rows[Math.max(0, Math.min(rows.length - 1, to))].querySelector('.open')?.focus();
    } else if (e.key === 'ArrowRight') {
      e.preventDefault();
      rows[row].querySelector('webchat-menu').shadowRoot.querySelector('.trigger').focus();
    } else if (e.key === 'ArrowLeft') {
      e.preventDefault();
      rows[row].querySelector('.open')?.focus();
    }
  }

  _action(chat, action) {
    const c = this.client;
    if (action === 'rename') this._startRename(chat);
    if (action === 'archive') c.archiveChat(chat.id, !chat.is_archived).catch((err) => c.fail(err));
    if (action === 'delete' && confirm(`Delete "${chat.title}" and all its messages?`)) {
      c.deleteChat(chat.id).catch((err) => c.fail(err));
    }
  }

  async _startRename(chat) {
    this.renaming = chat.id;
    await this.updateComplete;
    const input = this.renderRoot.querySelector('input');
    input?.focus();
    input?.select();
  }

  async _renameKey(e, chat) {
    if (e.key === 'Enter') this._rename(chat, e.target.value);
    if (e.key === 'Escape') {
      e.stopPropagation();
      this.renaming = null;
    }
    if (e.key === 'Enter' || e.key === 'Escape') {
      await this.updateComplete;
      this.renderRoot.querySelector(`li[data-chat-id="${chat.id}"] .open`)?.focus();
    }
  }

  _rename(chat, value) {
    if (this.renaming !== chat.id) return;
    this.renaming = null;
    const title = value.trim();
    if (title && title !== chat.title) this.client.renameChat(chat.id, title).catch((err) => this.client.fail(err));
  }
}
customElements.define('webchat-chat-list', WebchatChatList);
