"""Read receipts and presence in the widget (headless Chromium) against a real server process."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from .browser_support import make_bot, sql
from .test_browser import NOTIFICATION_SPY, axe_violations, message, open_app, send, start_chat

pytestmark = pytest.mark.browser

# a presence change reaches partners within about 11 s (README); waited for generously
PRESENCE_WAIT = 30_000


def _reads(server: Any, chat: int, account: int, seq: int) -> None:
    sql(server.database_url,
        "UPDATE webchat.chat_members SET last_read_seq = $3 WHERE chat_id = $1 AND account_id = $2", chat, account, seq)


def _state(page: Page, text: str) -> Any:
    return message(page, text).locator(".state")


def test_seen_survives_a_reload_and_names_readers_in_groups(context: Any, server: Any) -> None:
    page = open_app(context, server)
    chat = start_chat(page, "first question")
    send(page, "second question")
    expect(_state(page, "second question")).to_have_text("✓ Sent")
    ada = make_bot(server, chat, "Ada")
    _reads(server, chat, ada, 1)  # live: a `read` event from a member this page did not know yet
    expect(_state(page, "first question")).to_have_text("✓✓ Seen")
    expect(_state(page, "second question")).to_have_text("✓ Sent")
    page.reload()
    # after a reload the position comes with the chat's members, not from an event
    expect(_state(page, "first question")).to_have_text("✓✓ Seen")
    expect(_state(page, "second question")).to_have_text("✓ Sent")
    # a group: who has seen my newest message they read, two names and "+N"
    for name in ("Bea", "Cy", "Dee"):
        _reads(server, chat, make_bot(server, chat, name), 2)
    page.reload()
    expect(_state(page, "second question")).to_have_text("✓✓ Seen by Bea, Cy +1")
    expect(_state(page, "first question")).to_have_count(0)  # only the newest seen one says it
    assert axe_violations(page) == []


def test_no_seen_from_a_member_that_does_not_share(context: Any, server: Any) -> None:
    page = open_app(context, server)
    chat = start_chat(page, "private reader?")
    bot = make_bot(server, chat, "Quiet Bot")
    sql(server.database_url, "UPDATE webchat.accounts SET share_read_receipts = false WHERE id = $1", bot)
    _reads(server, chat, bot, 1)
    page.reload()
    expect(message(page, "private reader?")).to_have_count(1)
    expect(_state(page, "private reader?")).to_have_text("✓ Sent")


def test_header_shows_the_other_side_last_seen(context: Any, server: Any) -> None:
    page = open_app(context, server)
    chat = start_chat(page, "anyone there?")
    bot = make_bot(server, chat, "Sleepy Bot")
    sql(server.database_url, "UPDATE webchat.accounts SET last_seen_at = now() - interval '5 minutes 10 seconds'"
        " WHERE id = $1", bot)
    page.reload()
    expect(page.locator("webchat-chat header .presence")).to_have_text("Sleepy Bot: last seen 5 min ago")
    assert axe_violations(page) == []


def test_header_shows_the_other_side_online_away_then_last_seen(browser: Any, server: Any) -> None:
    visitor_ctx = browser.new_context(viewport={"width": 1100, "height": 700}, bypass_csp=True)
    agent_ctx = browser.new_context(viewport={"width": 1100, "height": 700}, bypass_csp=True)
    try:
        for ctx in (visitor_ctx, agent_ctx):
            ctx.set_default_timeout(10_000)
        agent_ctx.add_init_script(NOTIFICATION_SPY)  # window.__setHidden: the tab hidden or shown
        visitor = open_app(visitor_ctx, server)
        chat = start_chat(visitor, "is anyone here?")
        agent = open_app(agent_ctx, server)
        agent_id = agent.evaluate("document.querySelector('webchat-app').client.me.id")
        sql(server.database_url, "INSERT INTO webchat.chat_members (chat_id, account_id) VALUES ($1, $2)",
            chat, agent_id)
        status = visitor.locator("webchat-chat header .presence")
        expect(status).to_have_text(re.compile(r": online$"), timeout=PRESENCE_WAIT)
        agent.evaluate("window.__setHidden(true)")  # the page says so: away
        expect(status).to_have_text(re.compile(r": away$"), timeout=PRESENCE_WAIT)
        agent.evaluate("window.__setHidden(false)")
        expect(status).to_have_text(re.compile(r": online$"), timeout=PRESENCE_WAIT)
        agent.close()
        expect(status).to_have_text(re.compile(r": last seen just now$"), timeout=PRESENCE_WAIT)
    finally:
        visitor_ctx.close()
        agent_ctx.close()
