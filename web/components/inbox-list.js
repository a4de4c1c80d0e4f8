// <inbox-list>: the visitor conversations of the current filter (open / resolved, mine /
// unassigned / all), newest activity first, with the visitor, the last message, who handles it
// and the unread count. The rows are one tab stop (arrow keys, Home/End: roving tabindex).

import {LitElement, html, css, nothing} from 'lit';
import {controlStyles} from '../lib/theme.js';
import {ClientController} from '../lib/controller.js';
import {avatarColor, initials, time} from './webchat-message.js';
import {dayLabel} from './webchat-message-list.js';

const STATUS_LABELS = {open: 'Open', resolved: 'Resolved'};
const ASSIGNEE_LABELS = {me: 'Mine', none: 'Unassigned', any: 'All'};

/** "10:42" today, "Yesterday", or a date. */
export function when(ts) {
  if (!ts) return '';
  const day = dayLabel(ts);
  return day === 'Today' ? time(ts) : day;
}

/** Who handles a conversation, in words. */
export function handler(conv, meId, agents) {
  if (conv.assignee_id === null || conv.assignee_id === undefined) return 'Unassigned';
  if (conv.assignee_id === meId) return 'You';
  return agents.find((a) => a.id === conv.assignee_id)?.display_name || 'Another agent';
}

/** @fires inbox-open - detail {id}: the agent opened a conversation */
export class InboxList extends LitElement {
  static properties = {client: {attribute: false}, agents: {attribute: false}, focusId: {state: true}};

  static styles = [controlStyles, css`
    :host { display: flex; flex-direction: column; min-height: 0; min-width: 0; }
    .filters { display: flex; flex-direction: column; gap: 6px; padding: 10px; border-bottom: 1px solid var(--_border); }
    .group { display: flex; border: 1px solid var(--_control-border); border-radius: 8px; overflow: hidden; }
    .group button { flex: 1; border: none; border-radius: 0; padding: 6px 4px; font-size: 13px; }
    .group button + button { border-left: 1px solid var(--_control-border); }
    .group button[aria-pressed='true'] { background: var(--_accent); color: var(--_accent-fg); font-weight: 600; }
    ul { list-style: none; margin: 0; padding: 0; overflow-y: auto; flex: 1; }
    li { border-bottom: 1px solid var(--_border); }
    li.current { background: var(--_surface); box-shadow: inset 3px 0 var(--_accent); }
    .open { display: grid; grid-template-columns: 36px minmax(0, 1fr) auto; gap: 2px 10px; width: 100%;
      text-align: left; background: none; border: none; border-radius: 0; padding: 10px 12px; }
    .avatar { grid-row: 1 / span 3; width: 36px; height: 36px; border-radius: 50%; color: #fff; font-size: 13px;
      font-weight: 600; display: grid; place-items: center; }
    .name { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    .time { font-size: 12px; color: var(--_muted); justify-self: end; }
    .preview { font-size: 13px; color: var(--_muted); overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    .unread .preview { color: var(--_fg); font-weight: 600; }
    .badge { justify-self: end; background: var(--_accent); color: var(--_accent-fg); border-radius: 999px;
      font-size: 11px; padding: 1px 7px; font-weight: 600; }
    .who { grid-column: 2 / span 2; font-size: 12px; color: var(--_muted); }
    .empty { padding: 24px 16px; color: var(--_muted); text-align: center; }
    .more { margin: 10px; }
  `];

  constructor() {
    super();
    this.agents = [];
    this.focusId = null;
    new ClientController(this);
  }

  render() {
    const c = this.client;
    const list = c.listed();
    const stop = [this.focusId, c.openChatId].find((id) => list.some((x) => x.id === id)) ?? list[0]?.id;
    return html`
      <div class="filters">
        ${this._group('Status', 'status', STATUS_LABELS)}
        ${this._group('Assigned to', 'assignee', ASSIGNEE_LABELS)}
      </div>
      <ul aria-label="Conversations" @keydown=${this._key}>
        ${list.length === 0 ? html`<li class="empty">${c.filter.status === 'open'
          ? 'No open conversations here. New ones appear as visitors write.' : 'Nothing resolved yet.'}</li>` : nothing}
        ${list.map((chat) => this._item(chat, chat.id === stop))}
      </ul>
      ${c.hasMore ? html`<button class="more" @click=${() => c.loadMore().catch((err) => c.fail(err))}>Load more</button>` : nothing}`;
  }

  _group(label, key, labels) {
    const c = this.client;
    return html`<div class="group" role="group" aria-label=${label}>
      ${Object.entries(labels).map(([value, text]) => html`<button aria-pressed=${c.filter[key] === value ? 'true' : 'false'}
        data-filter=${`${key}:${value}`} @click=${() => c.setFilter({[key]: value})}>${text}</button>`)}
    </div>`;
  }

  _item(chat, isStop) {
    const c = this.client;
    const conv = c.conversation(chat.id);
    const name = conv.visitor.display_name || 'Visitor';
    const last = chat.last_message;
    let preview = 'No messages yet';
    if (last) {
      const body = last.deleted ? 'Message deleted' : last.text || (last.media_type === 'image' ? 'Image' : 'Audio');
      const who = last.sender_id === c.me.id ? 'You: ' : last.sender_id === conv.visitor.account_id ? '' : `${last.sender_name}: `;
      preview = `${last.internal ? 'Note · ' : ''}${who}${body}`;
    }
    const unread = chat.unread_count || 0;
    const current = chat.id === c.openChatId;
    return html`<li class=${current ? 'current' : ''} data-chat-id=${chat.id}>
      <button class="open ${unread ? 'unread' : ''}" tabindex=${isStop ? '0' : '-1'} aria-current=${current ? 'true' : 'false'}
        @click=${() => this._open(chat.id)} @focus=${() => { this.focusId = chat.id; }}>
        <span class="avatar" style="background:${avatarColor(name)}" aria-hidden="true">${initials(name)}</span>
        <span class="name" dir="auto">${name}</span>
        <span class="time">${when(last ? last.timestamp : chat.updated_at)}</span>
        <span class="preview" dir="auto">${preview}</span>
        ${unread ? html`<span class="badge" aria-hidden="true">${unread}</span><span class="sr-only">, ${unread} unread</span>`
          : html`<span></span>`}
        <span class="who">${handler(conv, c.me.id, this.agents)}</span>
      </button>
    </li>`;
  }

  /** Focus the list's tab stop (back from a conversation on a phone). */
  focusCurrent() { this.renderRoot.querySelector('.open[tabindex="0"]')?.focus(); }

  _open(id) {
    this.focusId = id;
    this.client.openChat(id);
    this.dispatchEvent(new CustomEvent('inbox-open', {detail: {id}}));
  }

  _key(e) {
    const rows = [...this.renderRoot.querySelectorAll('li[data-chat-id] .open')];
    const row = rows.indexOf(e.composedPath()[0]);
    if (row < 0) return;
    const to = {ArrowDown: row + 1, ArrowUp: row - 1, Home: 0, End: rows.length - 1}[e.key];
    if (to === undefined) return;
    e.preventDefault();
    e.stopPropagation();
    rows[Math.max(0, Math.min(rows.length - 1, to))].focus();
  }
}
customElements.define('inbox-list', InboxList);
