// <webchat-status>: the connection badge (live / reconnecting / polling / offline).

import {LitElement, html, css} from 'lit';

const LABELS = {connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…', polling: 'Polling', offline: 'Offline'};

export class WebchatStatus extends LitElement {
  static properties = {status: {type: String, reflect: true}};

  static styles = css`
    :host { display: inline-flex; align-items: center; gap: 6px; font-size: 12px; color: var(--_muted); }
    .dot { flex: none; width: 8px; height: 8px; border-radius: 50%; background: #9aa1ad; }
    :host([status='live']) .dot { background: #12b76a; }
    :host([status='polling']) .dot { background: #f79009; }
    :host([status='reconnecting']) .dot, :host([status='connecting']) .dot { background: #f79009; animation: pulse 1s infinite; }
    :host([status='offline']) .dot { background: var(--_danger); }
    @keyframes pulse { 50% { opacity: 0.3; } }
  `;

  constructor() {
    super();
    this.status = 'connecting';
  }

  render() {
    return html`<span class="dot" aria-hidden="true"></span>
      <span role="status" aria-live="polite" data-status=${this.status}>${LABELS[this.status] || this.status}</span>`;
  }
}
customElements.define('webchat-status', WebchatStatus);
