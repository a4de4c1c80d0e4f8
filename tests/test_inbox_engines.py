"""The agents' inbox on every browser engine (Chromium, Firefox ESR, WebKit): a visitor's conversation
appears live, the agent opens and claims it, an internal note is amber and stored for agents only, and
the agent reacts to the visitor's message and replies quoting it."""

from __future__ import annotations

import http.cookiejar
import json
import urllib.request
from typing import Any

import pytest

from .browser_support import IDENTITY_SECRET, sql
from .conftest import identity_token
from .engines.drivers import Engine, Session
from .test_browser_reactions import eventually
from .test_engines import engine, page_js, send, session, wait, wait_status

pytestmark = pytest.mark.browser

__all__ = ["engine", "session"]  # the engine fixtures, shared with test_engines.py


def visitor_writes(base: str, text: str) -> int:
    """A visitor without a browser: a guest session over HTTP that writes a first message."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with opener.open(base + "/webchat/me") as r:
        csrf = json.load(r)["csrf_token"]
    req = urllib.request.Request(base + "/webchat/send/", data=json.dumps({"text": text}).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "X-CSRF-Token": csrf})
    with opener.open(req) as r:
        return int(json.load(r)["chat_id"])


def shadow(path: str) -> str:
    """JavaScript reaching into the inbox's shadow roots: 'list' / 'conv' are the two parts."""
    return ("const inbox = document.querySelector('webchat-inbox').shadowRoot;"
            "const list = inbox.querySelector('inbox-list')?.shadowRoot;"
            "const conv = inbox.querySelector('inbox-conversation')?.shadowRoot;" + path)


def test_inbox_live_claim_and_note(engine: Engine, session: Session, server: Any) -> None:
    text = f"inbox on {engine.name}"
    tab = session.tab()
    tab.goto(server.base + "/inbox/")
    wait(tab, "return all('.signin').length === 1;", "the sign-in explanation")
    token = identity_token(f"agent-{engine.name}", f"Agent {engine.name}", secret=IDENTITY_SECRET, role="agent")
    signed = tab.js(f"""fetch('/webchat/me').then((r) => r.json()).then((me) => fetch('/webchat/identify',
      {{method: 'POST', body: JSON.stringify({{token: {json.dumps(token)}}}),
        headers: {{'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token}}}})).then((r) => r.status)""")
    assert signed == 200
    tab.goto(server.base + "/inbox/")
    wait_status(tab, "live")
    # the page is open before the visitor writes
    chat = visitor_writes(server.base, text)
    row = f"list.querySelector('li[data-chat-id=\"{chat}\"] button')"
    wait(tab, shadow(f"return Boolean({row});"), "the new conversation in the list")
    page_js(tab, shadow(f"{row}.click(); return true;"))
    wait(tab, f"return bubbles({json.dumps(text)}).length === 1;", "the visitor's message")
    page_js(tab, shadow("[...conv.querySelectorAll('button')].find((b) => b.textContent.trim() === 'Claim')"
                        ".click(); return true;"))
    wait(tab, shadow("return conv.querySelector('.who')?.textContent.trim() === 'Assigned to you';"), "claimed")
    page_js(tab, shadow("conv.querySelector('.modes button.note').click(); return true;"))
    wait(tab, shadow("return conv.host.getAttribute('mode') === 'note';"), "note mode")
    send(tab, f"a note on {engine.name}")
    wait(tab, f"""const m = bubbles({json.dumps(f"a note on {engine.name}")})[0];
      const b = m && m.shadowRoot.querySelector('.bubble');
      // stored (it has its seq), marked a note, and amber
      return Boolean(b && b.dataset.seq && m.hasAttribute('note')
        && getComputedStyle(b).backgroundColor === 'rgb(255, 241, 199)');""",
         "an amber note, stored")
    assert sql(server.database_url, "SELECT visibility FROM webchat.messages WHERE chat_id = $1 AND text = $2",
               chat, f"a note on {engine.name}") == "agents"

    # the widget's message actions, in the inbox: a reaction from the quick row, a reply quoting
    # the visitor's message; a note's actions have no Reply (a reply would show it to the visitor)
    pick = ("const pick = (m, value) => m.shadowRoot.querySelector('webchat-menu')"
            ".dispatchEvent(new CustomEvent('webchat-menu-pick', {detail: {value}}));")
    asked = f"bubbles({json.dumps(text)})[0]"
    page_js(tab, pick + f"pick({asked}, 'react'); return true;")
    wait(tab, f"return Boolean({asked}.shadowRoot.querySelector('.quick button'));", "the quick row")
    page_js(tab, f"{asked}.shadowRoot.querySelector('.quick button').click(); return true;")
    wait(tab, f"return Boolean({asked}.shadowRoot.querySelector('.chip[aria-pressed=\"true\"]'));", "my reaction")
    # the chip shows at once; the server has it a moment later
    eventually(lambda: sql(server.database_url, "SELECT emoji FROM webchat.reactions r JOIN webchat.messages m "
                           "ON m.id = r.message_id WHERE m.chat_id = $1", chat), "👍")
    note_items = page_js(tab, f"""return bubbles({json.dumps(f"a note on {engine.name}")})[0].shadowRoot
      .querySelector('webchat-menu').items.map((i) => i.value).join(' ');""")
    assert "reply" not in str(note_items).split() and "react" in str(note_items).split()
    page_js(tab, shadow("conv.querySelector('.modes button.reply').click(); return true;"))
    page_js(tab, pick + f"pick({asked}, 'reply'); return true;")
    wait(tab, shadow("return Boolean(conv.querySelector('webchat-composer').replyTo);"), "replying to it")
    send(tab, f"a reply on {engine.name}")
    wait(tab, f"""const m = bubbles({json.dumps(f"a reply on {engine.name}")})[0];
      const r = m && m.shadowRoot;
      return Boolean(r && r.querySelector('.bubble').dataset.seq && r.querySelector('.quote'));""",
         "a stored reply with its quote")
    eventually(lambda: sql(server.database_url, "SELECT q.text FROM webchat.messages m JOIN webchat.messages q "
                           "ON q.id = m.reply_to_id WHERE m.chat_id = $1 AND m.text = $2",
                           chat, f"a reply on {engine.name}"), text)
