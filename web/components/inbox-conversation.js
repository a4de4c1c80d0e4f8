// <inbox-conversation>: one visitor conversation for an agent: who handles it (claim, hand over),
// resolve / reopen, the history (the widget's message list, with its React and Reply actions and
// the emoji picker, as visitors have them), the visitor typing, and the composer in two modes: a
// reply the visitor sees, or an internal note (amber, "visitors don't see this"). A note is never
// quoted (its Reply action is not there: a public reply would show it to the visitor).

import {LitElement, html, css, nothing} from 'lit';
import {controlStyles} from '../lib/theme.js';
import {ClientController} from '../lib/controller.js';
import {typingText} from './webchat-chat.js';
import {emojiPanel, openEmoji} from '../lib/emoji-panel.js';
import {handler} from './inbox-list.js';
import {NOTE_LABEL} from '../lib/inbox-note.js';
import './webchat-message-list.js';
import './webchat-composer.js';

/** "Assigned to you", "Assigned to Jo", "Unassigned". */
function assigned(who) {
  if (who === 'Unassigned') return who;
  return `Assigned to ${who === 'You' ? 'you' : who}`;
}

/**
 * @fires inbox-back - back to the list (phone layout)
 * @fires inbox-context - show or hide the visitor's details
 */
export class InboxConversation extends LitElement {
  static properties = {
    client: {attribute: false},
    agents: {attribute: false},
    chatId: {type: Number},
    back: {type: Boolean, reflect: true},
    contextToggle: {type: Boolean}, // the visitor panel is not beside the conversation: offer a button
    mode: {type: String, reflect: true}, // 'reply' | 'note'
    _emoji: {state: true}, // the picker is open: {message} to react to it, {} for the composer
  };

  static styles = [controlStyles, css`
    :host { display: flex; flex-direction: column; min-height: 0; min-width: 0; height: 100%; position: relative; }
    header { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 8px; padding: 8px 12px;
      border-bottom: 1px solid var(--_border); min-width: 0; }
    .title { flex: 1 1 160px; display: flex; align-items: center; gap: 8px; min-width: 0; }
    /* a phone: the visitor's name has the first line to itself, the actions the second */
    :host([back]) .title { flex-basis: 100%; }
    h2 { font-size: 16px; margin: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; min-width: 4em;
      flex: 0 1 auto; }
    .chip { flex: none; font-size: 12px; border-radius: 999px; padding: 1px 8px; border: 1px solid var(--_control-border); }
    .chip.resolved { background: var(--_surface); }
    .who { font-size: 12px; color: var(--_muted); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; min-width: 0; }
    .actions { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; }
    select { font: inherit; color: inherit; background: var(--_surface); border: 1px solid var(--_control-border);
      border-radius: 8px; padding: 5px 6px; max-width: 12em; }
    .back { font-size: 22px; line-height: 1; padding: 2px 12px; }
    @media (max-width: 600px), (pointer: coarse) { select { min-height: 44px; } }
    webchat-message-list { flex: 1; }
    .typing { min-height: 18px; padding: 0 16px 4px; font-size: 12px; color: var(--_muted); font-style: italic; }
    .modes { display: flex; gap: 4px; padding: 6px 8px 0; border-top: 1px solid var(--_border); }
    .modes button { border-radius: 8px 8px 0 0; border-bottom: none; font-size: 13px; }
    .modes button[aria-pressed='true'] { background: var(--_accent); color: var(--_accent-fg); border-color: transparent; font-weight: 600; }
    :host([mode='note']) .modes button.note[aria-pressed='true'] { background: var(--_note-bg); color: var(--_note-fg);
      border: 1px dashed var(--_note-border); border-bottom: none; }
    .note-bar { display: none; }
    :host([mode='note']) .note-bar { display: block; padding: 6px 12px 0; font-size: 13px; font-weight: 600;
      background: var(--_note-bg); color: var(--_note-label); border-top: 1px dashed var(--_note-border); }
    :host([mode='note']) webchat-composer { --_bg: var(--_note-bg); --_surface: var(--_note-surface);
      --_fg: var(--_note-fg); border-top: none; }
    .empty { padding: 40px 16px; color: var(--_muted); text-align: center; }
    webchat-emoji-picker { position: absolute; z-index: 20; right: 8px; bottom: 96px; width: min(360px, calc(100% - 16px)); }
  `];

  constructor() {
    super();
    this.agents = [];
    this.mode = 'reply';
    this.back = false;
    this.contextToggle = false;
    new ClientController(this);
  }

  render() {
    const c = this.client;
    const id = this.chatId;
    const conv = c.conversation(id);
    if (!id || !conv) return html`<p class="empty">Choose a conversation.</p>`;
    const mine = conv.assignee_id === c.me.id;
    const others = this.agents.filter((a) => a.id !== c.me.id);
    const name = conv.visitor.display_name || 'Visitor';
    return html`
      <header>
        <div class="title">
          ${this.back ? html`<button class="back" aria-label="Back to conversations" @click=${() => this._fire('inbox-back')}>‹</button>` : nothing}
          <h2 dir="auto">${name}</h2>
          <span class="chip ${conv.status}">${conv.status === 'open' ? 'Open' : 'Resolved'}</span>
          <span class="who">${assigned(handler(conv, c.me.id, this.agents))}</span>
        </div>
        <div class="actions">
          ${mine ? nothing : html`<button @click=${() => this._do(c.claim(id))}>Claim</button>`}
          ${others.length ? html`<select aria-label="Hand over to" @change=${this._handOver}>
              <option value="">Hand over…</option>
              ${others.map((a) => html`<option value=${a.id}>${a.display_name}</option>`)}
            </select>` : nothing}
          ${conv.status === 'open' ? html`<button @click=${() => this._do(c.resolve(id))}>Resolve</button>`
            : html`<button @click=${() => this._do(c.reopen(id))}>Reopen</button>`}
          ${this.contextToggle ? html`<button class="details" @click=${() => this._fire('inbox-context')}>Visitor</button>` : nothing}
        </div>
      </header>
      <webchat-message-list .messages=${c.messageList(id)} .meId=${c.me.id} .chatId=${id}
        .dividerAfter=${c.unread.dividerAfter.get(id) ?? null}
        ?hasOlder=${Boolean(c.messages.hasOlder.get(id))} .loadOlder=${() => c.loadOlder(id)}
        .findMessage=${(mid) => c.findMessage(id, mid)}
        @webchat-react=${(e) => c.toggleReaction(e.detail.message, e.detail.emoji)}
        @webchat-react-more=${(e) => this._openEmoji({message: e.detail.message, returnTo: e.composedPath()[0]})}
        @webchat-reply=${this._reply}
        @webchat-edit=${(e) => c.editMessage(e.detail.id, e.detail.text).catch((err) => c.fail(err))}
        @webchat-delete=${(e) => c.deleteMessage(e.detail.id).catch((err) => c.fail(err))}
        @webchat-retry=${(e) => c.retry(e.detail.clientId)}
        @webchat-discard=${(e) => c.discard(e.detail.clientId)}></webchat-message-list>
      <div class="typing" aria-live="polite">${typingText(c.typingNames(id))}</div>
      <div class="modes" role="group" aria-label="Write">
        <button class="reply" aria-pressed=${this.mode === 'reply' ? 'true' : 'false'} @click=${() => this.write('reply')}
          title="Reply (r)">Reply</button>
        <button class="note" aria-pressed=${this.mode === 'note' ? 'true' : 'false'} @click=${() => this.write('note')}
          title="Internal note (n)">Note</button>
      </div>
      <div class="note-bar" aria-hidden=${this.mode === 'note' ? 'false' : 'true'}>${NOTE_LABEL}</div>
      <webchat-composer .maxChars=${c.limits.max_text_chars} .maxBytes=${c.limits.max_media_bytes}
        .maxVoiceSeconds=${c.limits.max_voice_seconds || 300}
        @webchat-send=${this._send} @webchat-typing=${() => { if (this.mode === 'reply') c.typingNow(id); }}
        @webchat-emoji-open=${() => this._openEmoji({})}></webchat-composer>
      ${emojiPanel(this)}`;
  }

  _openEmoji(target) { return openEmoji(this, target); }

  /** Reply to a message: its quote above the composer. A reply in note mode is a note that quotes it. */
  async _reply(e) {
    const composer = this.renderRoot.querySelector('webchat-composer');
    if (!composer || e.detail.message.internal) return;
    composer.replyTo = e.detail.message;
    await composer.updateComplete;
    composer.focus();
  }

  /** Reply or note mode, with the caret in the composer (the r and n shortcuts). */
  async write(mode) {
    this.mode = mode;
    await this.updateComplete;
    this.renderRoot.querySelector('webchat-composer')?.focus();
  }

  willUpdate(changed) {
    if (changed.has('chatId') && changed.get('chatId') !== undefined) {
      // another conversation: the reply, the quote and the picker of the last one do not follow
      this.mode = 'reply';
      this._emoji = null;
      const composer = this.renderRoot && this.renderRoot.querySelector('webchat-composer');
      if (composer) composer.replyTo = null;
    }
  }

  async updated() {
    // the composer's textarea is named by the mode, so a screen reader hears which one it is in
    const composer = this.renderRoot.querySelector('webchat-composer');
    if (!composer) return;
    await composer.updateComplete;
    const ta = composer.renderRoot.querySelector('textarea');
    if (!ta) return;
    ta.setAttribute('aria-label', this.mode === 'note' ? 'Internal note' : 'Reply');
    ta.placeholder = this.mode === 'note' ? 'Write a note for other agents…' : 'Write a reply…';
  }

  _send(e) {
    const c = this.client;
    const {text, file, replyTo} = e.detail;
    if (this.mode === 'note') {
      if (file) c.fail('Notes are text only: send the file as a reply, or describe it in the note.');
      if (text) c.sendNote(this.chatId, text, replyTo).catch(() => {});
    } else {
      c.send(this.chatId, text, file, undefined, replyTo).catch(() => {});
    }
    this.renderRoot.querySelector('webchat-message-list')?.scrollToBottom();
  }

  _handOver(e) {
    const agentId = Number(e.target.value);
    e.target.value = '';
    if (agentId) this._do(this.client.handOver(this.chatId, agentId));
  }

  _do(promise) { promise.catch((err) => this.client.fail(err)); }

  _fire(name) { this.dispatchEvent(new CustomEvent(name, {bubbles: true, composed: true})); }
}
customElements.define('inbox-conversation', InboxConversation);
