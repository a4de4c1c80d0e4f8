// The agents' page (/inbox/): a bundle of its own, so the visitors' widget (webchat.js) carries
// none of it. `npm run build` bundles this (with Lit) into web/inbox.js.

export {WebchatInbox} from './components/inbox-app.js';
