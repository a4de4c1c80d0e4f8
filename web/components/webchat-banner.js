// <webchat-banner>: an error that overlays the top of the widget (never moves the chat), in plain words.

import {LitElement, html, css, nothing} from 'lit';
import {controlStyles} from '../lib/theme.js';

/** @fires webchat-dismiss - the reader closed the banner */
export class WebchatBanner extends LitElement {
  static properties = {message: {type: String}};

  static styles = [controlStyles, css`
    :host { position: absolute; top: 8px; left: 50%; transform: translateX(-50%); z-index: 5;
      max-width: calc(100% - 24px); box-sizing: border-box; pointer-events: none; }
    .banner { pointer-events: auto; display: flex; align-items: center; gap: 8px; padding: 6px 6px 6px 14px;
      border-radius: 10px; background: var(--_banner-bg); color: var(--_banner-fg); font-size: 14px;
      box-shadow: 0 4px 16px rgb(0 0 0 / 0.25); overflow-wrap: anywhere; }
    button.link { color: inherit; }
  `];

  render() {
    // the live region stays in the DOM so that a new message in it is announced
    return html`<div role="status" aria-live="polite">${this.message ? html`<div class="banner">
      <span>${this.message}</span>
      <button class="link" aria-label="Dismiss" @click=${() => this.dispatchEvent(new CustomEvent('webchat-dismiss',
        {bubbles: true, composed: true}))}>✕</button></div>` : nothing}</div>`;
  }
}
customElements.define('webchat-banner', WebchatBanner);
