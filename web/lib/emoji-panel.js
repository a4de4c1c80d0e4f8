// The full emoji picker beside a conversation, shared by the widget's chat and the inbox's: opened
// for the composer or to react to a message, its code a chunk of its own imported on first open,
// focus back where it was on close. The host keeps two fields: `_emoji` (a Lit state: {message} to
// react to it, {} for the composer, null when closed) and `_pickerLoaded`.

import {html, nothing} from 'lit';
import {deepActive} from '../components/webchat-menu.js';

/** The picker's data, copied at build time and served by this server (no CDN). */
export const EMOJI_DATA = '/web/dist/emoji-data-en.json';

/** Open the picker for `target`; remembers what had focus to give it back on close. */
export async function openEmoji(host, target) {
  target.returnTo ||= deepActive();
  if (!host._pickerLoaded) {
    await import('../components/webchat-emoji-picker.js');
    host._pickerLoaded = true;
  }
  host._emoji = target;
  await host.updateComplete;
  host.renderRoot.querySelector('webchat-emoji-picker')?.focus();
}

export function closeEmoji(host, restore = true) {
  const back = host._emoji && host._emoji.returnTo;
  host._emoji = null;
  if (restore && back && back.isConnected) back.focus();
}

function picked(host, e) {
  const {emoji} = e.detail;
  const target = host._emoji;
  if (!target) return;
  if (target.message) {
    // the newest copy of the message: reactions may have changed while the picker was open
    const m = host.client.messageList(target.message.chat_id).find((x) => x.id === target.message.id)
      || target.message;
    host.client.toggleReaction(m, emoji);
    closeEmoji(host);
  } else {
    // the composer's picker stays open for another; its caret is where the emoji went
    host.renderRoot.querySelector('webchat-composer')?.insert(emoji);
  }
}

/** The open picker (or nothing), following the host's theme. */
export function emojiPanel(host) {
  if (!host._emoji || !host._pickerLoaded) return nothing;
  return html`<webchat-emoji-picker data-source=${host.client.api.base + EMOJI_DATA}
    ?dark=${getComputedStyle(host).colorScheme === 'dark'}
    label=${host._emoji.message ? 'React with an emoji' : 'Insert an emoji'}
    @webchat-emoji-pick=${(e) => picked(host, e)} @webchat-emoji-close=${() => closeEmoji(host)}></webchat-emoji-picker>`;
}
