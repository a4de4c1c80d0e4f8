"""Voice notes in a real browser (Debian's Chromium with a fake microphone) against a real server:
record, send, play, one note at a time, keyboard, refusal in words, the inbox, axe, screenshots."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from .browser_support import CHROMIUM_ARGS, FAKE_MICROPHONE, bot_voice_note, chromium_path, make_bot, sql
from .test_browser import axe_violations, bubble, start_chat
from .test_browser_reactions import eventually
from .test_inbox_page import sign_in_agent, visitor_page

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=[*CHROMIUM_ARGS, *FAKE_MICROPHONE])
        yield b
        b.close()


def new_context(browser: Any, theme: str = "light", phone: bool = False) -> Any:
    size = {"width": 390, "height": 844} if phone else {"width": 1100, "height": 700}
    ctx = browser.new_context(viewport=size, bypass_csp=True, color_scheme=theme, is_mobile=phone, has_touch=phone)
    ctx.set_default_timeout(15_000)
    return ctx


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = new_context(browser)
    yield ctx
    ctx.close()


def open_app(ctx: Any, server: Any, theme: str = "light") -> Page:
    page = ctx.new_page()
    page.goto(f"{server.base}/?theme={theme}")
    expect(page.locator("webchat-status")).to_have_attribute("status", "live")
    return page


def record(page: Page, scope: str = "webchat-app", seconds: int = 1) -> None:
    """Press the microphone button, record until the timer shows `seconds`, and send."""
    composer = page.locator(f"{scope} webchat-composer")
    composer.get_by_role("button", name="Record a voice message").click()
    expect(composer.get_by_role("timer")).to_have_text(re.compile(f"^0:(0[{seconds}-9]|[1-5]\\d)$"), timeout=20_000)
    composer.get_by_role("button", name="Send").and_(composer.locator(".send-voice")).click()


def voice_notes(page: Page, scope: str = "webchat-app") -> Any:
    return page.locator(f"{scope} webchat-message webchat-voice-note")


def test_record_send_and_play_a_voice_note(context: Any, server: Any) -> None:
    page = open_app(context, server)
    chat = start_chat(page, "Can I send you a voice note?")
    record(page, seconds=2)
    note = voice_notes(page)
    expect(note).to_have_count(1)
    stored = "SELECT count(*) FROM webchat.media WHERE chat_id = $1"
    eventually(lambda: sql(server.database_url, stored, chat), 1)
    # stored as recorded: Chromium records Opus in WebM, labelled so, with the recorder's figures
    media = json.loads(sql(server.database_url,
                           "SELECT (to_jsonb(md) - 'bytes')::text FROM webchat.media md WHERE chat_id = $1", chat))
    assert media["content_type"] == "audio/webm" and media["voice"] is True
    assert media["duration_ms"] is None  # WebM states none: the recorder's figure is kept
    assert 2000 <= media["client_duration_ms"] < 60_000
    assert 0 < len(media["waveform"]) <= 128 and max(media["waveform"]) == 255  # the fake microphone beeps
    # after a reload it is the server's voice note that plays, with its total time
    page.reload()
    expect(note).to_have_count(1)
    expect(note.locator(".time")).to_have_text(re.compile(r"^(0:(0[2-9]|[1-5]\d)) / \1$"))
    play = note.get_by_role("button", name=re.compile("^Play voice message from You"))
    play.click()
    # it plays: the position moves (a short note may already be over, so not "Pause")
    expect(note.get_by_role("slider")).not_to_have_attribute("aria-valuetext", re.compile("^0:00 of"), timeout=20_000)


def test_one_note_plays_at_a_time_and_the_scrubber_works_by_keyboard(context: Any, server: Any) -> None:
    page = open_app(context, server)
    chat = start_chat(page, "two notes please")
    bot = make_bot(server, chat, "Echo Bot")
    bot_voice_note(server, chat, bot, 20, [10, 200, 255, 90, 30] * 10)
    bot_voice_note(server, chat, bot, 15, [255, 20] * 30)
    notes = voice_notes(page)
    expect(notes).to_have_count(2)
    first, second = notes.nth(0), notes.nth(1)
    expect(first.locator(".time")).to_have_text("0:20 / 0:20")
    first.get_by_role("button", name="Play voice message from Echo Bot, 0:20").click()
    expect(first.get_by_role("button", name=re.compile("^Pause"))).to_be_visible()
    second.get_by_role("button", name=re.compile("^Play")).click()
    expect(second.get_by_role("button", name=re.compile("^Pause"))).to_be_visible()
    expect(first.get_by_role("button", name=re.compile("^Play"))).to_be_visible()  # paused by the second
    second.get_by_role("button", name=re.compile("^Pause")).click()
    # the scrubber from the keyboard
    slider = first.get_by_role("slider", name="Position in the voice message")
    slider.focus()
    page.keyboard.press("End")
    expect(slider).to_have_attribute("aria-valuetext", "0:20 of 0:20")
    page.keyboard.press("Home")
    expect(slider).to_have_attribute("aria-valuetext", "0:00 of 0:20")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(slider).to_have_attribute("aria-valuetext", "0:02 of 0:20")
    expect(slider).to_be_focused()  # the message list's own arrow keys did not take it
    page.keyboard.press("Enter")
    expect(first.get_by_role("button", name=re.compile("^Pause"))).to_be_visible()
    # a click on the waveform seeks there
    first.get_by_role("button", name=re.compile("^Pause")).click()
    box = slider.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2)
    expect(slider).to_have_attribute("aria-valuetext", "0:15 of 0:20")


def test_cancel_by_escape_sends_nothing(context: Any, server: Any) -> None:
    page = open_app(context, server)
    chat = start_chat(page, "never mind")
    composer = page.locator("webchat-composer")
    composer.get_by_role("button", name="Record a voice message").click()
    expect(composer.get_by_role("timer")).to_be_visible()
    expect(composer.locator(".send-voice")).to_be_focused()
    page.keyboard.press("Escape")
    expect(composer.get_by_role("timer")).to_have_count(0)
    expect(composer.get_by_role("button", name="Record a voice message")).to_be_focused()
    expect(composer.get_by_role("textbox", name="Message")).to_be_visible()
    page.wait_for_timeout(300)
    assert sql(server.database_url, "SELECT count(*) FROM webchat.media WHERE chat_id = $1", chat) == 0


def test_a_refused_microphone_is_explained(browser: Any, server: Any) -> None:
    # no fake UI: headless Chromium then refuses the microphone, as a visitor's "Block" would
    refusing = browser.browser_type.launch(executable_path=chromium_path(), args=[*CHROMIUM_ARGS, FAKE_MICROPHONE[0]])
    try:
        page = open_app(new_context(refusing), server)
        composer = page.locator("webchat-composer")
        composer.get_by_role("button", name="Record a voice message").click()
        expect(composer.get_by_role("alert")).to_have_text(
            re.compile("The microphone is blocked for this page.*allow the microphone"))
        expect(composer.get_by_role("timer")).to_have_count(0)
        expect(composer.get_by_role("button", name="Record a voice message")).to_be_focused()
    finally:
        refusing.close()


def test_agents_record_and_play_voice_notes_in_the_inbox(context: Any, browser: Any, server: Any) -> None:
    visitor_ctx = new_context(browser)
    try:
        agent = sign_in_agent(context, server, sub="vera", name="Vera (Support)")
        visitor, chat = visitor_page(visitor_ctx, server, "Hello, can you hear me?")
        agent.locator(f"inbox-list li[data-chat-id='{chat}']").get_by_role("button").click()
        expect(agent.locator("inbox-conversation webchat-message .bubble", has_text="can you hear me")).to_have_count(1)
        record(visitor)
        expect(voice_notes(agent, "inbox-conversation")).to_have_count(1)
        record(agent, "inbox-conversation")
        expect(voice_notes(visitor)).to_have_count(2)
        expect(voice_notes(agent, "inbox-conversation")).to_have_count(2)
        theirs = voice_notes(agent, "inbox-conversation").nth(0)
        theirs.get_by_role("button", name=re.compile("^Play voice message from")).click()
        expect(theirs.get_by_role("button", name=re.compile("^Pause"))).to_be_visible()
        assert sql(server.database_url, "SELECT count(*) FROM webchat.media WHERE chat_id = $1 AND voice", chat) == 2
    finally:
        visitor_ctx.close()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_axe_and_screenshots_with_voice_notes(browser: Any, server: Any, theme: str) -> None:
    for phone in (False, True):
        ctx = new_context(browser, theme, phone)
        try:
            page = open_app(ctx, server, theme)
            chat = start_chat(page, "Here is how to find us")
            bot = make_bot(server, chat, "Fernwood Bakery")
            bot_voice_note(server, chat, bot, 14, [30, 60, 120, 200, 255, 180, 90, 140, 220, 160, 70, 40] * 8)
            record(page)
            notes = voice_notes(page)
            expect(notes).to_have_count(2)
            bot_note = notes.nth(0)
            bot_note.get_by_role("button", name=re.compile("^Play")).click()
            slider = bot_note.get_by_role("slider")
            expect(slider).not_to_have_attribute("aria-valuetext", re.compile("^0:0[0-2] of"), timeout=20_000)
            bot_note.get_by_role("button", name=re.compile("^Pause")).click()
            assert axe_violations(page) == []
            name = f"voice-{'phone' if phone else 'desktop'}-{theme}"
            if os.environ.get("WEBCHAT_SCREENSHOTS") or not (DOCS / f"{name}-played.png").exists():
                page.screenshot(path=str(DOCS / f"{name}-played.png"))
            page.locator("webchat-composer").get_by_role("button", name="Record a voice message").click()
            expect(page.locator("webchat-composer").get_by_role("timer")).to_have_text(re.compile("^0:(0[2-9]|[1-5]\\d)$"))
            assert axe_violations(page) == []
            if os.environ.get("WEBCHAT_SCREENSHOTS") or not (DOCS / f"{name}-recording.png").exists():
                page.screenshot(path=str(DOCS / f"{name}-recording.png"))
            page.keyboard.press("Escape")
            assert bubble(page, "Here is how to find us").count() == 1
        finally:
            ctx.close()
