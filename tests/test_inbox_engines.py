"""The agents' inbox on every browser engine (Chromium, Firefox ESR, WebKit): a visitor's conversation
appears live, the agent opens and claims it, and an internal note is amber and stored for agents only."""

from __future__ import annotations

import http.cookiejar
import json
import urllib.request
from typing import Any

import pytest

from .browser_support import IDENTITY_SECRET, sql
from .conftest import identity_token
from .engines.drivers import Engine, Session
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
