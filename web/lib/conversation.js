// Loading the conversation's elements (<webchat-chat>, <webchat-app>) on demand. In the bundle
// these imports are the conversation chunk (build.mjs); unbundled (development) they are the
// modules themselves.

let loading = null;

/** Define <webchat-chat> and <webchat-app> (once); resolves when they are. */
export function loadConversation() {
  loading ||= Promise.all([import('../components/webchat-chat.js'), import('../components/webchat-app.js')]);
  return loading;
}
