// A quote inside the agent's own (accent-coloured) reply: the shared message element lightens the
// quote's background, which leaves its white text under 4.5:1 on the light theme's blue (axe
// colour-contrast). In the inbox it is darkened instead, so the text keeps AA in both themes.
// (The widget's own replies with a quote have the same colours: the element is the place to fix
// it for both; this keeps the inbox's page clean meanwhile.)

import {css} from 'lit';
import {WebchatMessage} from '../components/webchat-message.js';

WebchatMessage.elementStyles.push(css`
  :host([mine]) .quote { background: rgb(0 0 0 / 0.2); }
`);
