// Inline SVG icons (no icon font or emoji font needed, nothing loaded from elsewhere).

import {svg} from 'lit';

const icon = (path) => svg`<svg width="16" height="16" viewBox="0 0 24 24" fill="none" stroke="currentColor"
  stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">${path}</svg>`;

export const attachIcon = icon(svg`<path d="M21 12.5l-8.5 8.5a5 5 0 0 1-7-7l9-9a3.5 3.5 0 0 1 5 5l-9 9a2 2 0 0 1-3-3l8-8"/>`);
export const editIcon = icon(svg`<path d="M4 20h4L19 9l-4-4L4 16v4z"/>`);
export const archiveIcon = icon(svg`<rect x="3" y="4" width="18" height="5" rx="1"/><path d="M5 9v10h14V9M10 13h4"/>`);
export const unarchiveIcon = icon(svg`<path d="M9 14l-4-4 4-4"/><path d="M5 10h10a5 5 0 0 1 0 10h-3"/>`);
export const deleteIcon = icon(svg`<path d="M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3"/>`);
export const emojiIcon = icon(svg`<circle cx="12" cy="12" r="9"/><path d="M8 14s1.5 2 4 2 4-2 4-2"/><path d="M9 9h.01M15 9h.01"/>`);
