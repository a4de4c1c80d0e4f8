// <webchat-availability>: one line under the launcher's heading saying whether someone is there
// ("We're online") or not ("We'll reply by email"), with an optional email field for the replies.

import {LitElement, html, css, nothing} from 'lit';
import {Api} from '../lib/api.js';
import {themeStyles, controlStyles} from '../lib/theme.js';

// asked again this often while shown: an agent who comes online changes the line
const REFRESH_MS = 60_000;

export class WebchatAvailability extends LitElement {
  static properties = {
    apiBase: {type: String, attribute: 'api-base'},
    _online: {state: true},
    _saved: {state: true},
    _error: {state: true},
  };

  static styles = [themeStyles, controlStyles, css`
    :host { display: block; background: var(--_surface); color: var(--_fg); font: 13px/1.4 var(--_font);
      border-bottom: 1px solid var(--_border); }
    p { margin: 0; padding: 6px 16px; }
    .dot { display: inline-block; width: 8px; height: 8px; border-radius: 50%; margin-right: 6px;
      background: var(--_muted); }
    .dot.on { background: #15803d; }
    form { display: flex; gap: 6px; padding: 0 16px 8px; }
    input { flex: 1; min-width: 0; min-height: 36px; padding: 4px 8px; font: inherit; color: var(--_fg);
      background: var(--_bg); border: 1px solid var(--_control-border); border-radius: 6px; }
    button { min-height: 36px; padding: 0 12px; font: inherit; border-radius: 6px; border: none;
      background: var(--_accent); color: var(--_accent-fg); }
    input:focus-visible, button:focus-visible { outline: 2px solid var(--_accent); outline-offset: 1px; }
    .note { color: var(--_muted); padding-top: 0; }
    .error { color: var(--_danger); padding-top: 0; }
  `];

  constructor() {
    super();
    this._online = null;
    this._saved = '';
    this._error = '';
  }

  connectedCallback() {
    super.connectedCallback();
    this._api = new Api(this.apiBase);
    this._ask();
    this._timer = setInterval(() => this._ask(), REFRESH_MS);
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    clearInterval(this._timer);
  }

  async _ask() {
    try {
      this._online = (await this._api.request('GET', '/webchat/availability')).online;
    } catch {
      // the conversation below says when the server cannot be reached; this line just waits
    }
  }

  render() {
    if (this._online === null) return nothing;
    if (this._online) return html`<p role="status"><span class="dot on" aria-hidden="true"></span>We're online</p>`;
    return html`<p role="status"><span class="dot" aria-hidden="true"></span>We'll reply by email</p>
      ${this._saved ? html`<p class="note">We'll write to ${this._saved} if you're away.</p>` : html`
        <form @submit=${this._save}>
          <input type="email" name="email" autocomplete="email" placeholder="Your email (optional)"
            aria-label="Your email, for our reply (optional)" required>
          <button type="submit">Save</button>
        </form>`}
      ${this._error ? html`<p class="error" role="alert">${this._error}</p>` : nothing}`;
  }

  async _save(e) {
    e.preventDefault();
    const email = e.target.elements.email.value.trim();
    try {
      if (!this._api.csrf) await this._api.me();
      await this._api.request('POST', '/webchat/contact', {json: {email}});
      this._saved = email;
      this._error = '';
    } catch (err) {
      this._error = err.message || 'Could not save your email.';
    }
  }
}

customElements.define('webchat-availability', WebchatAvailability);
