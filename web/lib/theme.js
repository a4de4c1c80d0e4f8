// Shared look: every --webchat-* custom property, with light and dark defaults.
//
// Each public element reads the page's --webchat-* values (inherited from the element or any
// ancestor) into private --_* properties with its defaults as fallbacks, and every part uses only
// the private ones. A custom property set on <webchat-app> therefore reaches the nested
// <webchat-chat> too: its own defaults are fallbacks, never assignments that would hide it.

import {css, unsafeCSS} from 'lit';

/** name -> [light default, dark default]; documented in the README ("Theming"). */
export const TOKENS = {
  bg: ['#ffffff', '#15171c'],
  surface: ['#f5f6f8', '#1e2128'],
  fg: ['#1b1e24', '#e8eaef'],
  muted: ['#5d6676', '#a3aab6'],
  border: ['#e2e5ea', '#2e323b'],
  'control-border': ['#7b8494', '#6f7888'],
  accent: ['#2563eb', '#5b9dff'],
  'accent-fg': ['#ffffff', '#0b1220'],
  'bubble-mine': ['#2563eb', '#2b5cab'],
  'bubble-mine-fg': ['#ffffff', '#ffffff'],
  'bubble-other': ['#eef0f4', '#2a2e37'],
  'bubble-other-fg': ['#1b1e24', '#e8eaef'],
  danger: ['#c4320a', '#ff7b72'],
  'banner-bg': ['#1b1e24', '#e8eaef'],
  'banner-fg': ['#ffffff', '#15171c'],
  radius: ['14px', '14px'],
  font: ["system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"],
};

const assign = (i) => unsafeCSS(Object.entries(TOKENS)
  .map(([name, values]) => `--_${name}: var(--webchat-${name}, ${values[i]});`).join('\n'));

export const themeStyles = css`
  :host {
    ${assign(0)}
    color-scheme: light;
    font-family: var(--_font);
    color: var(--_fg);
    background: var(--_bg);
  }
  :host([theme='dark']) { ${assign(1)} color-scheme: dark; }
  @media (prefers-color-scheme: dark) {
    :host(:not([theme='light'])) { ${assign(1)} color-scheme: dark; }
  }
`;

export const controlStyles = css`
  button {
    font: inherit;
    color: inherit;
    background: var(--_surface);
    border: 1px solid var(--_control-border);
    border-radius: 8px;
    padding: 6px 10px;
    cursor: pointer;
  }
  button:hover { border-color: var(--_accent); }
  button:focus-visible, input:focus-visible, textarea:focus-visible, a:focus-visible, [tabindex]:focus-visible {
    outline: 2px solid var(--_accent);
    outline-offset: 1px;
  }
  button.primary { background: var(--_accent); color: var(--_accent-fg); border-color: transparent; }
  button.link { background: none; border: none; padding: 2px 4px; color: var(--_muted); }
  .sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
  /* phones and touch screens: every control is at least 44 px in both directions */
  @media (max-width: 600px), (pointer: coarse) {
    button { min-height: 44px; min-width: 44px; }
  }
`;
