"""The core widget scenarios on every browser engine: Chromium, Firefox ESR and WebKit (Safari's).

One suite, three engines: the drivers only navigate and evaluate JavaScript, and failures are
made by the server side (a proxy that refuses or drops WebSockets, a server restart), so every
engine meets the same conditions. Run one engine alone with `pytest tests/test_engines.py -k firefox`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from .browser_support import bot_says, free_port, make_bot, sql
from .engines.drivers import ENGINES, Engine, Session, Tab, launch
from .ws_proxy import WsProxy

DEEP = """const all = (sel, root = document) => {
  const out = [...root.querySelectorAll(sel)];
  for (const el of root.querySelectorAll('*')) if (el.shadowRoot) out.push(...all(sel, el.shadowRoot));
  return out;
};
const bubbles = (text) => all('webchat-message').filter((m) => {
  const b = m.shadowRoot && m.shadowRoot.querySelector('.bubble');
  return b && b.textContent.includes(text);
});"""

SPY = """(() => {
  window.__notes = [];
  const Real = window.Notification;
  if (!Real) return 'unsupported';
  if (Real.permission !== 'granted') return Real.permission;
  window.Notification = class extends Real {
    constructor(title, options) { super(title, options); window.__notes.push({title, ...options}); }
  };
  let hidden = false;
  Object.defineProperty(document, 'visibilityState', {get: () => (hidden ? 'hidden' : 'visible'), configurable: true});
  Object.defineProperty(document, 'hidden', {get: () => hidden, configurable: true});
  window.__setHidden = (h) => { hidden = h; document.dispatchEvent(new Event('visibilitychange')); };
  return 'granted';
})()"""


def page_js(tab: Tab, body: str) -> Any:
    return tab.js(f"(() => {{ {DEEP} {body} }})()")


def wait(tab: Tab, body: str, what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = page_js(tab, body)
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what} (last value {last!r})")


def status(tab: Tab) -> str:
    return str(page_js(tab, "const s = all('webchat-status')[0]; return s ? s.status : '';"))


def wait_status(tab: Tab, wanted: str, timeout: float = 15.0) -> None:
    wait(tab, f"const s = all('webchat-status')[0]; return s && s.status === {json.dumps(wanted)};",
         f"status {wanted}", timeout)


def count(tab: Tab, text: str) -> int:
    return int(page_js(tab, f"return bubbles({json.dumps(text)}).length;"))


def wait_count(tab: Tab, text: str, n: int = 1, timeout: float = 15.0) -> None:
    wait(tab, f"return bubbles({json.dumps(text)}).length === {n};", f"{n} bubble(s) {text!r}", timeout)


def send(tab: Tab, text: str) -> None:
    # the composer's own listeners handle these events exactly as they handle a person's typing
    page_js(tab, f"""const ta = all('webchat-composer')[0].shadowRoot.querySelector('textarea');
      ta.focus();
      ta.value = {json.dumps(text)};
      ta.dispatchEvent(new Event('input', {{bubbles: true, composed: true}}));
      ta.dispatchEvent(new KeyboardEvent('keydown', {{key: 'Enter', bubbles: true, composed: true, cancelable: true}}));
      return true;""")


def open_demo(session: Session, base: str) -> Tab:
    tab = session.tab()
    tab.goto(base + "/")
    wait_status(tab, "live")
    return tab


def start_chat(tab: Tab, text: str) -> int:
    send(tab, text)
    wait_count(tab, text)
    chat = wait(tab, "return document.querySelector('webchat-app').client.openChatId;", "an open chat")
    return int(chat)


@pytest.fixture(scope="module", params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    e = launch(request.param)
    print(f"\nengine: {e.version}")
    yield e
    e.quit()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    s = engine.session()
    yield s
    s.close()


@pytest.fixture(scope="module")
def proxy(server: Any) -> Iterator[WsProxy]:
    p = WsProxy(server.base, free_port())
    p.start()
    yield p
    p.stop()


def test_load_send_and_see_once(engine: Engine, session: Session, server: Any) -> None:
    tab = open_demo(session, server.base)
    text = f"hello from {engine.name}"
    start_chat(tab, text)
    time.sleep(0.5)
    assert count(tab, text) == 1
    seq = page_js(tab, f"return bubbles({json.dumps(text)})[0].shadowRoot.querySelector('.bubble').dataset.seq;")
    assert seq == "1"


def test_bot_reply_by_sql_appears_live(engine: Engine, session: Session, server: Any) -> None:
    tab = open_demo(session, server.base)
    chat = start_chat(tab, "is anyone there?")
    bot = make_bot(server, chat, "Engine Bot")
    bot_says(server, chat, bot, f"yes, {engine.name}")
    wait_count(tab, f"yes, {engine.name}")
    assert page_js(tab, "return all('webchat-message').length;") == 2


def test_typing_indicator_shows_and_clears(engine: Engine, session: Session, server: Any) -> None:
    tab = open_demo(session, server.base)
    chat = start_chat(tab, "typing test")
    bot = make_bot(server, chat, "Typist")
    typing = "(all('.typing')[0] || {textContent: ''}).textContent.trim()"
    sql(server.database_url, "SELECT webchat.typing($1, $2, true)", chat, bot)
    wait(tab, f"return {typing} === 'Typist is typing…';", "typing shown")
    sql(server.database_url, "SELECT webchat.typing($1, $2, false)", chat, bot)
    wait(tab, f"return {typing} === '';", "typing cleared")
    sql(server.database_url, "SELECT webchat.typing($1, $2, true)", chat, bot)
    wait(tab, f"return {typing} === 'Typist is typing…';", "typing shown again")
    wait(tab, f"return {typing} === '';", "typing expired", timeout=10)


def test_websocket_blocked_then_dropped(engine: Engine, session: Session, server: Any, proxy: WsProxy) -> None:
    proxy.block_ws = True
    try:
        tab = session.tab()
        tab.goto(proxy.base + "/")
        wait_status(tab, "polling", timeout=20)
        chat = start_chat(tab, "sent while polling")
        bot = make_bot(server, chat, "Engine Bot")
        bot_says(server, chat, bot, "via long-poll")
        wait_count(tab, "via long-poll")
        proxy.block_ws = False
        # the periodic upgrade would do this within 30 s; coming back online does it now
        page_js(tab, "window.dispatchEvent(new Event('online')); return true;")
        wait_status(tab, "live", timeout=20)
        bot_says(server, chat, bot, "via socket again")
        wait_count(tab, "via socket again")
        # a dropped connection: reconnect, resume, nothing twice
        proxy.drop_sockets()
        bot_says(server, chat, bot, "sent during the drop")
        wait_count(tab, "sent during the drop", timeout=20)
        wait_status(tab, "live", timeout=20)
        time.sleep(0.5)
        for text in ("via long-poll", "via socket again", "sent during the drop"):
            assert count(tab, text) == 1, text
    finally:
        proxy.block_ws = False


def test_server_restart_reconnects_and_catches_up(engine: Engine, session: Session, server: Any) -> None:
    tab = open_demo(session, server.base)
    chat = start_chat(tab, "before the restart")
    bot = make_bot(server, chat, "Engine Bot")
    server.stop()
    wait_status(tab, "reconnecting")
    bot_says(server, chat, bot, "while the server was down")
    server.start()
    wait_status(tab, "live", timeout=30)
    wait_count(tab, "while the server was down", timeout=20)
    assert count(tab, "before the restart") == 1


def test_notification_when_hidden(engine: Engine, session: Session, server: Any) -> None:
    tab = open_demo(session, server.base)
    chat = start_chat(tab, "notify test")
    permission = tab.js(SPY)
    if permission != "granted":
        pytest.skip(f"{engine.version}: Notification.permission is {permission!r}: {engine.notifications_note}")
    bot = make_bot(server, chat, "Alert Bot")
    bot_says(server, chat, bot, "seen while visible")
    wait_count(tab, "seen while visible")
    page_js(tab, "window.__setHidden(true); return true;")
    bot_says(server, chat, bot, "while hidden")
    wait_count(tab, "while hidden")
    notes = wait(tab, "return window.__notes.length ? window.__notes : null;", "a notification")
    assert len(notes) == 1, notes
    assert notes[0]["body"] == "Alert Bot: while hidden" and notes[0]["tag"] == f"webchat-chat-{chat}"


LAUNCHER = """const launcher = document.querySelector('webchat-launcher');
const root = launcher && launcher.shadowRoot;
const panel = root && root.querySelector('.panel');
const opener = root && root.querySelector('button.bubble');
const badge = root && root.querySelector('.badge');
const chat = root && root.querySelector('webchat-chat');"""


def launcher_js(tab: Tab, body: str) -> Any:
    return page_js(tab, LAUNCHER + body)


def wait_launcher(tab: Tab, body: str, what: str, timeout: float = 15.0) -> Any:
    return wait(tab, LAUNCHER + body, what, timeout)


def test_launcher_opens_sends_closes_counts_unread_and_survives_reload(engine: Engine, session: Session,
                                                                        server: Any) -> None:
    tab = session.tab()
    page = server.base + "/web/embed-launcher.html"
    tab.goto(page)
    wait_launcher(tab, "return opener && panel.hidden && !chat;", "a closed launcher, no conversation yet")
    assert launcher_js(tab, "return opener.getAttribute('aria-label');") == "Open chat with Fernwood Bakery"
    launcher_js(tab, "opener.click(); return true;")
    wait_launcher(tab, "return !panel.hidden && chat && chat.client && chat.client.status === 'live';",
                  "the open panel, live")
    text = f"launcher on {engine.name}"
    send(tab, text)
    wait_count(tab, text)
    chat_id = int(wait_launcher(tab, "return chat.client.openChatId;", "a chat"))
    # Escape closes; focus goes back to the button
    page_js(tab, """all('webchat-composer')[0].shadowRoot.querySelector('textarea').dispatchEvent(
      new KeyboardEvent('keydown', {key: 'Escape', bubbles: true, composed: true, cancelable: true})); return true;""")
    wait_launcher(tab, "return panel.hidden;", "the panel closed")
    assert launcher_js(tab, "return root.activeElement === opener;") is True
    bot = make_bot(server, chat_id, "Engine Baker")
    bot_says(server, chat_id, bot, "one")
    bot_says(server, chat_id, bot, "two")
    wait_launcher(tab, "return badge && badge.textContent.trim() === '2';", "a badge of 2")
    assert launcher_js(tab, "return opener.getAttribute('aria-label');") == (
        "Open chat with Fernwood Bakery, 2 unread messages")
    assert str(page_js(tab, "return document.title;")).startswith("(2) Fernwood Bakery")
    # reload: still closed, the count comes back from the server
    tab.goto(page)
    wait_launcher(tab, "return panel.hidden && badge && badge.textContent.trim() === '2';", "closed with 2 unread")
    assert str(page_js(tab, "return document.title;")).startswith("(2) Fernwood Bakery")
    launcher_js(tab, "opener.click(); return true;")
    wait_count(tab, "two")
    wait_launcher(tab, "return !badge && !document.title.startsWith('(');", "unread cleared on opening")
    # the open state is remembered across a reload
    tab.goto(page)
    wait_launcher(tab, "return opener && !panel.hidden;", "open after reload")
    wait_count(tab, text)
    wait_count(tab, "one")


IN_VIEW = """const inView = (el) => { const box = el.getRootNode().querySelector('.scroller').getBoundingClientRect();
  const r = el.getBoundingClientRect();
  return r.height > 0 && r.bottom <= box.bottom + 1 && r.bottom > box.top
    && (r.top >= box.top - 1 || r.height > box.height); };"""


def wait_in_view(tab: Tab, text: str, timeout: float = 15.0) -> None:
    wait(tab, f"{IN_VIEW} const m = bubbles({json.dumps(text)}); return m.length === 1 && inView(m[0]);",
         f"{text!r} inside the message log's visible box", timeout)


def test_pinned_to_newest_message(engine: Engine, session: Session, server: Any) -> None:
    tab = open_demo(session, server.base)
    chat = start_chat(tab, "pin test")
    bot = make_bot(server, chat, "Engine Bot")
    sql(server.database_url, "INSERT INTO webchat.messages (chat_id, sender_id, text)"
        " SELECT $1, $2, 'filler ' || g || ' ' || repeat('lorem ipsum ', 8) FROM generate_series(0, 59) g", chat, bot)
    wait_in_view(tab, "filler 59 ")
    # a reload (with everything read: else it lands on the "New messages" divider) lands on the newest message
    deadline = time.monotonic() + 15
    while sql(server.database_url, "SELECT max(last_read_seq) FROM webchat.chat_members WHERE chat_id = $1"
              " AND account_id <> $2", chat, bot) < 61:
        assert time.monotonic() < deadline, "the open chat was not marked read"
        time.sleep(0.05)
    tab.goto(server.base + "/")
    wait_status(tab, "live")
    wait_in_view(tab, "filler 59 ")
    bot_says(server, chat, bot, f"reply for {engine.name}")
    wait_in_view(tab, f"reply for {engine.name}")


# the app at phone size: a 390 x 844 frame, whose own viewport the layout (and media queries) follow
IN_FRAME = """const doc = document.querySelector('iframe').contentDocument;
const win = document.querySelector('iframe').contentWindow;
const all = (sel, root = doc) => {
  const out = [...root.querySelectorAll(sel)];
  for (const el of root.querySelectorAll('*')) if (el.shadowRoot) out.push(...all(sel, el.shadowRoot));
  return out;
};
const one = (sel) => all(sel)[0];
const fits = (el) => { const r = el.getBoundingClientRect();
  return r.width > 0 && r.left >= 0 && r.top >= 0 && r.right <= win.innerWidth && r.bottom <= win.innerHeight; };"""


def frame_js(tab: Tab, body: str) -> Any:
    return tab.js(f"(() => {{ {IN_FRAME} {body} }})()")


def frame_wait(tab: Tab, body: str, what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = frame_js(tab, body)
        except Exception as e:  # the frame is still loading
            last = repr(e)[:200]
        if last is True or (last and not isinstance(last, str)):
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what} (last value {last!r})")


def frame_send(tab: Tab, text: str) -> None:
    frame_js(tab, f"""const ta = one('webchat-composer').shadowRoot.querySelector('textarea');
      ta.focus(); ta.value = {json.dumps(text)};
      ta.dispatchEvent(new Event('input', {{bubbles: true, composed: true}}));
      ta.dispatchEvent(new KeyboardEvent('keydown', {{key: 'Enter', bubbles: true, composed: true, cancelable: true}}));
      return true;""")


def test_phone_layout(engine: Engine, session: Session, server: Any) -> None:
    tab = session.tab()
    tab.goto(server.base + "/web/embed-chat.html")
    tab.js("""(() => { const f = document.createElement('iframe'); f.src = '/';
      f.style.cssText = 'width:390px;height:844px;border:0;position:absolute;left:0;top:0';
      document.body.replaceChildren(f); return true; })()""")
    frame_wait(tab, "return one('webchat-status')?.status === 'live';", "the app in the frame is live")
    word = "Supercalifragilisticexpialidocious" * 4
    # a first visit (no chat yet) starts in a new conversation: the visitor types at once
    frame_wait(tab, """const ta = one('webchat-app').getAttribute('view') === 'chat' && one('webchat-composer')
        && one('webchat-composer').shadowRoot.querySelector('textarea');
      return Boolean(ta) && fits(ta) && one('webchat-chat').shadowRoot.querySelector('h2').textContent
        === 'New conversation';""", "a new conversation with its composer on screen")
    frame_send(tab, "short chat")
    frame_wait(tab, "return all('webchat-message').some((m) => m.message.seq > 0);", "the first chat's message stored")
    frame_js(tab, "one('webchat-chat').shadowRoot.querySelector('.back').click(); return true;")
    frame_wait(tab, "return one('webchat-app').getAttribute('view') === 'list';", "back to the list")
    frame_js(tab, "one('webchat-chat-list').shadowRoot.querySelector('.top button').click(); return true;")
    frame_wait(tab, "return one('webchat-app').getAttribute('view') === 'chat';", "a new chat")
    frame_send(tab, word)
    frame_wait(tab, "return one('webchat-chat').shadowRoot.querySelector('h2').textContent.startsWith('Supercali');",
               "the long title")
    # the composer and Send fit, nothing scrolls sideways
    frame_wait(tab, """const form = one('webchat-composer').shadowRoot;
      return fits(form.querySelector('textarea')) && fits(form.querySelector('button[type=submit]'))
        && doc.documentElement.scrollWidth <= win.innerWidth
        && all('.scroller').every((s) => s.scrollWidth <= s.clientWidth + 1);""", "composer and Send on screen")
    # another chat can be opened from the list
    frame_js(tab, "one('webchat-chat').shadowRoot.querySelector('.back').click(); return true;")
    frame_wait(tab, "return all('li[data-chat-id]').length === 2;", "two chats listed")
    frame_js(tab, """all('li[data-chat-id] .open')
      .find((b) => b.textContent.includes('short chat')).click(); return true;""")
    frame_wait(tab, "return one('webchat-chat').shadowRoot.querySelector('h2').textContent === 'short chat'"
               " && one('webchat-app').getAttribute('view') === 'chat'"
               " && fits(one('webchat-composer').shadowRoot.querySelector('button[type=submit]'));",
               "the other chat open")


def test_launcher_full_screen_on_a_phone(engine: Engine, session: Session, server: Any) -> None:
    tab = session.tab()
    tab.goto(server.base + "/web/embed-chat.html")
    tab.js("""(() => { const f = document.createElement('iframe'); f.src = '/web/embed-launcher.html';
      f.style.cssText = 'width:390px;height:844px;border:0;position:absolute;left:0;top:0';
      document.body.replaceChildren(f); return true; })()""")
    opener = "one('webchat-launcher').shadowRoot.querySelector('button.bubble')"
    frame_wait(tab, f"return Boolean({opener}) && fits({opener});", "the launcher button on screen")
    frame_js(tab, f"{opener}.click(); return true;")
    frame_wait(tab, "return one('webchat-chat')?.client?.status === 'live';", "the conversation live")
    # the panel is the whole phone screen; the bubble steps aside for the panel's close button
    frame_wait(tab, """const r = one('webchat-launcher').shadowRoot.querySelector('.panel').getBoundingClientRect();
      // WebKit lays 100dvh out as 843.98 px of 844: within a pixel is the whole screen
      const near = (a, b) => Math.abs(a - b) < 1;
      return (near(r.left, 0) && near(r.top, 0) && near(r.width, win.innerWidth) && near(r.height, win.innerHeight))
        || [r.left, r.top, r.width, r.height, win.innerWidth, win.innerHeight].join(' ');""",
               "a full-screen panel")
    assert frame_js(tab, f"return {opener}.getBoundingClientRect().width;") == 0
    frame_send(tab, f"phone launcher on {engine.name}")
    frame_wait(tab, f"""return all('webchat-message').some((m) => m.message.seq > 0
      && m.message.text === {json.dumps(f'phone launcher on {engine.name}')});""", "the message stored")
    frame_wait(tab, """const form = one('webchat-composer').shadowRoot;
      return fits(form.querySelector('textarea')) && fits(form.querySelector('button[type=submit]'))
        && doc.documentElement.scrollWidth <= win.innerWidth;""", "composer and Send on screen")
    frame_js(tab, "one('webchat-launcher').shadowRoot.querySelector('button.close').click(); return true;")
    frame_wait(tab, f"return one('webchat-launcher').shadowRoot.querySelector('.panel').hidden && fits({opener});",
               "closed, the button back")
