// The conversation: every element but the launcher (<webchat-app>, <webchat-chat> and all they
// hold, with the client and the transport), a chunk of its own. The one-tag bundle loads it when
// the page has one of these elements, or when a launcher first opens (or is about to: a pointer
// over it, or focus); a closed launcher needs none of it. Its Lit is the bundle's (build.mjs hands
// it over), not a second copy.

export {WebchatApp} from './components/webchat-app.js';
export {WebchatChat} from './components/webchat-chat.js';
