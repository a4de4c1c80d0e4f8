// <inbox-context>: who the visitor is and where the conversation started (name, email if they
// are identified, the page's title and URL, language, browser, first seen), from the inbox API.
// `closable`: shown over the conversation (not beside it), with a close button firing `inbox-context`.
// The visitor's other conversations are buttons firing `inbox-open` {detail: {id}}.

import {LitElement, html, css, nothing} from 'lit';
import {controlStyles} from '../lib/theme.js';

/** "Firefox 128 on Linux" from a User-Agent string: the browser people know it by. */
export function browserName(ua) {
  if (!ua) return '';
  const pick = [[/Edg\/(\d+)/, 'Edge'], [/OPR\/(\d+)/, 'Opera'], [/Firefox\/(\d+)/, 'Firefox'],
    [/Chrome\/(\d+)/, 'Chrome'], [/Version\/(\d+)[^ ]* (Mobile\/\S+ )?Safari/, 'Safari']];
  const found = pick.map(([re, name]) => [ua.match(re), name]).find(([m]) => m);
  const os = [[/Android/, 'Android'], [/iPhone|iPad/, 'iOS'], [/Windows/, 'Windows'], [/Mac OS X/, 'macOS'],
    [/Linux/, 'Linux']].find(([re]) => re.test(ua));
  const browser = found ? `${found[1]} ${found[0][1]}` : ua.slice(0, 60);
  return os ? `${browser} on ${os[1]}` : browser;
}

function date(ts) {
  if (!ts) return '';
  try {
    return new Date(ts).toLocaleString([], {dateStyle: 'medium', timeStyle: 'short'});
  } catch {
    return ts;
  }
}

/** A page URL worth linking to: http(s) only. */
function safeUrl(url) {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : '';
  } catch {
    return '';
  }
}

export class InboxContext extends LitElement {
  static properties = {conversation: {attribute: false}, closable: {type: Boolean}, known: {attribute: false}};

  static styles = [controlStyles, css`
    :host { display: block; padding: 12px 16px; overflow-y: auto; min-width: 0; }
    .head { display: flex; align-items: center; justify-content: space-between; gap: 8px; }
    h2 { font-size: 15px; margin: 4px 0 12px; }
    h3 { font-size: 13px; margin: 16px 0 4px; color: var(--_muted); font-weight: 600; }
    dl { margin: 0; display: grid; grid-template-columns: minmax(0, 1fr); gap: 2px; }
    dt { font-size: 12px; color: var(--_muted); margin-top: 10px; }
    dd { margin: 0; overflow-wrap: anywhere; }
    a { color: var(--_accent); }
    .url { font-size: 12px; color: var(--_muted); }
    ul { list-style: none; margin: 4px 0 0; padding: 0; display: flex; flex-direction: column; gap: 4px; }
    ul button { width: 100%; text-align: left; font-size: 13px; }
  `];

  render() {
    const conv = this.conversation;
    if (!conv) return nothing;
    const v = conv.visitor;
    const ctx = conv.context || {};
    const url = ctx.url || ctx.page_url || '';
    const title = ctx.title || ctx.page_title || '';
    const href = safeUrl(url);
    const language = ctx.language || ctx.lang || '';
    const browser = ctx.browser || browserName(ctx.user_agent || ctx.userAgent || '');
    const others = v.other_conversations || [];
    const row = (label, value) => (value ? html`<dt>${label}</dt><dd dir="auto">${value}</dd>` : nothing);
    return html`<div class="head"><h2>Visitor</h2>${this.closable ? html`<button aria-label="Close visitor details"
        @click=${() => this.dispatchEvent(new CustomEvent('inbox-context', {bubbles: true, composed: true}))}>✕</button>` : nothing}</div>
      <dl>
        ${row('Name', v.display_name)}
        ${row('Email', v.email ? html`<a href="mailto:${v.email}">${v.email}</a>` : '')}
        ${row('Account', v.kind === 'user' ? 'Signed in on the site' : 'Guest (not signed in)')}
        ${row('Started on', url || title ? html`${href ? html`<a href=${href} target="_blank" rel="noopener noreferrer">${title || url}</a>`
          : title || url}${title && url ? html`<div class="url">${url}</div>` : nothing}` : '')}
        ${row('Language', language)}
        ${row('Browser', browser)}
        ${row('First seen', date(v.first_seen))}
        ${row('Conversation started', date(conv.chat.created_at))}
      </dl>
      ${others.length ? html`<h3>Other conversations</h3><ul>
        ${others.map((id) => html`<li><button @click=${() => this._open(id)}>${this._label(id)}</button></li>`)}
      </ul>` : nothing}`;
  }

  /** What a button to another conversation says: its last message and day when the list has it. */
  _label(id) {
    const other = this.known && this.known(id);
    const last = other && other.chat.last_message;
    if (!last) return `Conversation ${id}`;
    const body = last.deleted ? 'Message deleted' : last.text || (last.media_type === 'image' ? 'Image' : 'Audio');
    return `${date(last.timestamp)}: ${body.slice(0, 60)}`;
  }

  _open(id) {
    this.dispatchEvent(new CustomEvent('inbox-open', {detail: {id}, bubbles: true, composed: true}));
  }
}
customElements.define('inbox-context', InboxContext);
