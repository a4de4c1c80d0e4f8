// Test-only bridge: drives Firefox ESR over WebDriver BiDi with puppeteer-core.
// Reads one JSON command per line on stdin, answers one JSON line per command on stdout:
//   {"id", "op": "context"}                      -> {"id", "result": contextId}
//   {"id", "op": "page", "context"}              -> {"id", "result": pageId}
//   {"id", "op": "goto", "page", "url"}          -> {"id"}
//   {"id", "op": "eval", "page", "expression"}   -> {"id", "result": value}   (promises are awaited)
//   {"id", "op": "press", "page", "key"}         -> {"id"}   ("Tab", "Shift+Tab": real key events)
//   {"id", "op": "close", "context"}             -> {"id"}
import puppeteer from 'puppeteer-core';
import readline from 'node:readline';

const browser = await puppeteer.launch({
  browser: 'firefox',
  executablePath: process.argv[2],
  headless: true,
  protocol: 'webDriverBiDi',
  extraPrefsFirefox: {
    // what a user's "Allow" click would store: the notification tests need a granted permission
    'permissions.default.desktop-notification': 1,
    // a fake microphone (a tone), allowed without asking: the voice-note test records from it
    'media.navigator.streams.fake': true,
    'media.navigator.permission.disabled': true,
  },
});
const contexts = new Map();
const pages = new Map();
let nextId = 1;

function reply(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

async function run(cmd) {
  switch (cmd.op) {
    case 'version':
      return browser.version();
    case 'context': {
      const id = nextId++;
      contexts.set(id, await browser.createBrowserContext());
      return id;
    }
    case 'page': {
      const id = nextId++;
      pages.set(id, await contexts.get(cmd.context).newPage());
      return id;
    }
    case 'goto':
      await pages.get(cmd.page).goto(cmd.url, {waitUntil: 'load'});
      return null;
    case 'eval':
      return pages.get(cmd.page).evaluate(cmd.expression);
    case 'press': {
      const {keyboard} = pages.get(cmd.page);
      const [key, ...mods] = cmd.key.split('+').reverse();
      for (const m of mods) await keyboard.down(m);
      await keyboard.press(key);
      for (const m of mods.reverse()) await keyboard.up(m);
      return null;
    }
    case 'close':
      await contexts.get(cmd.context).close();
      contexts.delete(cmd.context);
      return null;
    case 'quit':
      await browser.close();
      process.exit(0);
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

reply({ready: true, version: await browser.version()});
const rl = readline.createInterface({input: process.stdin});
rl.on('line', async (line) => {
  const cmd = JSON.parse(line);
  try {
    const result = await run(cmd);
    reply({id: cmd.id, result: result === undefined ? null : result});
  } catch (err) {
    reply({id: cmd.id, error: String(err && err.stack ? err.stack : err)});
  }
});
rl.on('close', () => browser.close().then(() => process.exit(0)));
