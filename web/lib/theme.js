// Shared look: --webchat-* custom properties with light and dark values.

import {css} from 'lit';

const dark = css`
  --webchat-bg: #15171c;
  --webchat-surface: #1e2128;
  --webchat-fg: #e8eaef;
  --webchat-muted: #9aa1ad;
  --webchat-border: #2e323b;
  --webchat-accent: #5b9dff;
  --webchat-accent-fg: #0b1220;
  --webchat-bubble-mine: #2b5cab;
  --webchat-bubble-mine-fg: #ffffff;
  --webchat-bubble-other: #2a2e37;
  --webchat-bubble-other-fg: #e8eaef;
  --webchat-danger: #ff6b6b;
`;

export const themeStyles = css`
  :host {
    --webchat-bg: #ffffff;
    --webchat-surface: #f5f6f8;
    --webchat-fg: #1b1e24;
    --webchat-muted: #667085;
    --webchat-border: #e2e5ea;
    --webchat-accent: #2563eb;
    --webchat-accent-fg: #ffffff;
    --webchat-bubble-mine: #2563eb;
    --webchat-bubble-mine-fg: #ffffff;
    --webchat-bubble-other: #eef0f4;
    --webchat-bubble-other-fg: #1b1e24;
    --webchat-danger: #d92d20;
    --webchat-radius: 14px;
    --webchat-font: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif;
    color-scheme: light;
    font-family: var(--webchat-font);
    color: var(--webchat-fg);
    background: var(--webchat-bg);
  }
  :host([theme='dark']) { ${dark} color-scheme: dark; }
  @media (prefers-color-scheme: dark) {
    :host(:not([theme='light'])) { ${dark} color-scheme: dark; }
  }
`;

export const controlStyles = css`
  button {
    font: inherit;
    color: inherit;
    background: var(--webchat-surface);
    border: 1px solid var(--webchat-border);
    border-radius: 8px;
    padding: 6px 10px;
    cursor: pointer;
  }
  button:hover { border-color: var(--webchat-accent); }
  button:focus-visible, input:focus-visible, textarea:focus-visible, a:focus-visible {
    outline: 2px solid var(--webchat-accent);
    outline-offset: 1px;
  }
  button.primary { background: var(--webchat-accent); color: var(--webchat-accent-fg); border-color: transparent; }
  button.link { background: none; border: none; padding: 2px 4px; color: var(--webchat-muted); }
  .sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
`;
