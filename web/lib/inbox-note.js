// Internal notes in the inbox look different from replies: the shared message element gains a
// `note` attribute (and "Note" in its accessible name) for a message with `internal: true`, and
// an amber look (its colours, light and dark, are set by the inbox: --_note-*). A note has no
// Reply action: a reply quoting it would show the note to the visitor (the server refuses one).
// Done from the inbox's bundle, so the visitors' widget carries none of it.

import {css} from 'lit';
import {WebchatMessage} from '../components/webchat-message.js';

export const NOTE_LABEL = "Note — visitors don't see this";

// the element's styles were finalized when it was defined, before any instance exists
WebchatMessage.elementStyles.push(css`
  :host([note]) .bubble { background: var(--_note-bg, #fff1c7); color: var(--_note-fg, #3d2c00);
    border: 1px dashed var(--_note-border, #9a6b00); }
  :host([note]) .bubble a { color: inherit; }
  :host([note]) .col::before { content: "Note — visitors don't see this"; font-size: 11px; font-weight: 600;
    color: var(--_note-label, #6b4700); margin: 0 4px 2px; }
`);

const willUpdate = WebchatMessage.prototype.willUpdate;
WebchatMessage.prototype.willUpdate = function noteWillUpdate(changed) {
  willUpdate.call(this, changed);
  const note = Boolean(this.message?.internal);
  this.toggleAttribute('note', note);
  if (note) this.setAttribute('aria-label', `Internal note. ${this.getAttribute('aria-label')}`);
};

const actions = WebchatMessage.prototype._actions;
WebchatMessage.prototype._actions = function noteActions() {
  const all = actions.call(this);
  return this.message?.internal ? all.filter((a) => a.value !== 'reply') : all;
};
