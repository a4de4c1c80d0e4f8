"""Reactions, replies and the emoji picker in a real browser (headless Chromium) against a real server."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from .browser_support import bot_says, make_bot, sql
from .test_browser import axe_violations, bubble, client, open_app, send, start_chat

pytestmark = pytest.mark.browser


def message(page: Page, text: str) -> Any:
    return page.locator("webchat-message", has=page.locator(".bubble", has_text=text))


def actions(page: Page, text: str, item: str) -> None:
    """Open a message's actions from the keyboard (the message focused, Enter) and pick one."""
    m = message(page, text)
    m.focus()
    m.press("Enter")
    page.get_by_role("menuitem", name=item).click()


def eventually(query: Any, expected: Any) -> None:
    """Until the database says `expected` (the widget shows a change before the server has it)."""
    deadline = time.monotonic() + 10
    while (got := query()) != expected:
        assert time.monotonic() < deadline, f"still {got!r}, expected {expected!r}"
        time.sleep(0.05)


def resources(page: Page) -> list[str]:
    return list(page.evaluate("performance.getEntriesByType('resource').map((e) => e.name)"))


def test_reactions_live_keyboard_toggle_and_picker(context: Any, server: Any) -> None:
    page = open_app(context, server)
    chat = start_chat(page, "Is the blue kettle back in stock?")
    bot = make_bot(server, chat, "Stock Bot")
    bot_says(server, chat, bot, "Yes, 12 left.")
    expect(bubble(page, "Yes, 12 left.")).to_have_count(1)
    mid = int(sql(server.database_url, "SELECT id FROM webchat.messages WHERE text = 'Yes, 12 left.'"))

    # a bot reacts with a plain INSERT: the chip appears live, with who reacted
    sql(server.database_url, "INSERT INTO webchat.reactions (message_id, account_id, emoji) VALUES ($1, $2, '👍')",
        mid, bot)
    thumbs = message(page, "Yes, 12 left.").locator(".chip", has_text="👍")
    expect(thumbs).to_have_attribute("aria-pressed", "false")
    expect(thumbs).to_contain_text("1")
    thumbs.hover()
    expect(thumbs.locator(".who")).to_be_visible()
    expect(thumbs.locator(".who")).to_have_text("Stock")

    # mine from the keyboard: actions -> React -> the quick row (arrow keys) -> Enter
    assert not any("emoji" in r for r in resources(page)), "the picker must not load before it is opened"
    actions(page, "Yes, 12 left.", "React")
    row = page.get_by_role("toolbar", name="React to this message")
    expect(row.get_by_role("button", name="React with 👍")).to_be_focused()
    page.keyboard.press("ArrowRight")
    expect(row.get_by_role("button", name="React with ❤️")).to_be_focused()
    page.keyboard.press("Enter")
    heart = message(page, "Yes, 12 left.").locator(".chip", has_text="❤️")
    expect(heart).to_have_attribute("aria-pressed", "true")
    expect(message(page, "Yes, 12 left.")).to_be_focused()
    eventually(lambda: sql(server.database_url, "SELECT count(*) FROM webchat.reactions WHERE message_id = $1", mid), 2)

    # a chip toggles mine: +1 on the bot's, then taken back
    thumbs.click()
    expect(thumbs).to_have_attribute("aria-pressed", "true")
    expect(thumbs).to_contain_text("2")
    expect(thumbs.locator(".who")).to_have_text("Stock and You")
    thumbs.click()
    expect(thumbs).to_have_attribute("aria-pressed", "false")
    expect(thumbs).to_contain_text("1")

    # the full picker from the quick row, searched and picked with the keyboard
    actions(page, "Yes, 12 left.", "React")
    page.get_by_role("button", name="More emoji…").click()
    dialog = page.get_by_role("dialog", name="React with an emoji")
    search = dialog.get_by_role("combobox")
    expect(search).to_be_focused()
    search.fill("party popper")
    expect(dialog.locator("#emo-🎉")).to_be_visible()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(message(page, "Yes, 12 left.").locator(".chip", has_text="🎉")).to_have_attribute("aria-pressed", "true")
    expect(dialog).to_have_count(0)
    expect(message(page, "Yes, 12 left.")).to_be_focused()
    # its code and its data came from this server, nowhere else
    loaded = resources(page)
    assert any(r.startswith(server.base + "/web/dist/emoji-data-en.json") for r in loaded), loaded
    assert all(r.startswith(server.base) for r in loaded), loaded

    # the composer's picker inserts at the caret and stays open; Escape closes it, focus back
    box = page.locator("webchat-composer textarea")
    box.fill("Thanks ")
    page.get_by_role("button", name="Insert an emoji").click()
    dialog = page.get_by_role("dialog", name="Insert an emoji")
    dialog.get_by_role("combobox").fill("thumbs up")
    expect(dialog.get_by_role("option").first).to_be_visible()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    # the picker's data spells some emoji with VS16 ("👍️"); the server stores one spelling of each
    expect(box).to_have_value(re.compile("^Thanks 👍\ufe0f?$"))
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(page.get_by_role("button", name="Insert an emoji")).to_be_focused()


def test_reply_quote_escape_and_jump_to_an_unloaded_original(context: Any, server: Any) -> None:
    page = open_app(context, server)
    chat = start_chat(page, "The first question")
    bot = make_bot(server, chat, "Help Bot")
    bot_says(server, chat, bot, "An early answer")
    expect(bubble(page, "An early answer")).to_have_count(1)

    # Reply from the actions; Escape cancels it (and does nothing else), Reply again and send
    actions(page, "An early answer", "Reply")
    bar = page.get_by_role("group", name="Replying to Help Bot")
    expect(bar).to_contain_text("An early answer")
    expect(page.locator("webchat-composer textarea")).to_be_focused()
    page.keyboard.press("Escape")
    expect(bar).to_have_count(0)
    actions(page, "An early answer", "Reply")
    send(page, "About that answer")
    mine = message(page, "About that answer")
    expect(mine.locator(".quote")).to_contain_text("An early answer")
    expect(bar).to_have_count(0)
    early = int(sql(server.database_url, "SELECT id FROM webchat.messages WHERE text = 'An early answer'"))
    eventually(lambda: sql(server.database_url, "SELECT reply_to_id FROM webchat.messages"
                                                "  WHERE text = 'About that answer'"), early)

    # far back in history: the original is not loaded after a reload; its quote's click loads it
    sql(server.database_url, "INSERT INTO webchat.messages (chat_id, sender_id, text)"
        " SELECT $1, $2, 'filler ' || i FROM generate_series(1, 160) i", chat, bot)
    sql(server.database_url, "INSERT INTO webchat.messages (chat_id, sender_id, text, reply_to_id)"
        " VALUES ($1, $2, 'Following up on my early answer', $3)", chat, bot, early)
    # read already (elsewhere), so the chat opens on its newest message, not on a "New messages" divider
    sql(server.database_url, "UPDATE webchat.chat_members m SET last_read_seq = c.last_seq FROM webchat.chats c"
        " WHERE c.id = m.chat_id AND m.chat_id = $1 RETURNING 1", chat)
    page.reload()
    expect(page.locator("webchat-status")).to_have_attribute("status", "live")
    follow = message(page, "Following up on my early answer")
    expect(follow).to_have_count(1)
    assert not client(page, f"c.messages.list({chat}).some((m) => m.id === {early})")
    follow.locator(".quote").click()
    # by its own text: the messages that quote it (ours, the bot's follow-up) are rendered too now
    original = page.locator("webchat-message", has=page.locator(".bubble > .text", has_text="An early answer"))
    expect(original).to_be_focused()
    expect(original).to_be_in_viewport()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_axe_with_reactions_a_quote_and_the_picker_open(browser: Any, server: Any, theme: str) -> None:
    ctx = browser.new_context(viewport={"width": 1100, "height": 700}, bypass_csp=True, color_scheme=theme)
    ctx.set_default_timeout(10_000)
    try:
        page = ctx.new_page()
        page.goto(f"{server.base}/?theme={theme}")
        expect(page.locator("webchat-status")).to_have_attribute("status", "live")
        chat = start_chat(page, "Do you ship to Norway?")
        bot = make_bot(server, chat, "Ship Bot")
        first = int(sql(server.database_url, "SELECT id FROM webchat.messages WHERE chat_id = $1", chat))
        sql(server.database_url, "INSERT INTO webchat.messages (chat_id, sender_id, text, reply_to_id)"
            " VALUES ($1, $2, 'We do, in 3 days.', $3)", chat, bot, first)
        expect(bubble(page, "We do, in 3 days.")).to_have_count(1)
        mid = int(sql(server.database_url, "SELECT max(id) FROM webchat.messages WHERE chat_id = $1", chat))
        sql(server.database_url, "INSERT INTO webchat.reactions (message_id, account_id, emoji) VALUES ($1, $2, '🚚')",
            mid, bot)
        message(page, "We do, in 3 days.").locator(".chip", has_text="🚚").click()
        expect(message(page, "We do, in 3 days.").locator(".chip", has_text="🚚")).to_contain_text("2")
        actions(page, "We do, in 3 days.", "React")
        expect(page.get_by_role("toolbar", name="React to this message")).to_be_visible()
        assert axe_violations(page) == [], f"{theme}, quick row"
        page.get_by_role("button", name="More emoji…").click()
        expect(page.get_by_role("dialog", name="React with an emoji").locator("#emo-😀")).to_be_visible()
        assert axe_violations(page) == [], f"{theme}, picker open"
    finally:
        ctx.close()
