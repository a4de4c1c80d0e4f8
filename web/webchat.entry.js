// The one-tag embed: every public element in one module. `npm run build` bundles this (with Lit)
// into dist/webchat-[hash].js and writes the stable loader webchat.js that sites include.

export {WebchatApp} from './components/webchat-app.js';
export {WebchatChat} from './components/webchat-chat.js';
export {WebchatLauncher} from './components/webchat-launcher.js';
