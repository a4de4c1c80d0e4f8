// The one-tag embed. `npm run build` bundles this (with Lit) into webchat.js (and the same bytes as
// dist/webchat-[hash].js): the launcher, and Lit handed to the conversation chunk
// (conversation.entry.js), which holds every other element and is loaded when a page uses one of
// them or a launcher opens. A closed launcher on a site's every page thus costs the visitor only
// this file.

import {LitElement, html, css, nothing, svg, unsafeCSS} from 'lit';
import {repeat} from 'lit/directives/repeat.js';
import {loadConversation} from './lib/conversation.js';

globalThis[Symbol.for('webchat.lit')] = {LitElement, html, css, nothing, svg, unsafeCSS, repeat};

export {WebchatLauncher} from './components/webchat-launcher.js';
export {loadConversation};

// module scripts run once the document is parsed: its elements are there to be seen
if (document.querySelector('webchat-app, webchat-chat')) loadConversation();
