"""Screenshots of what a visitor sees when the connection fails and on a first visit (issue 19):

- launcher-retry-{desktop,phone}-{light,dark}.png: a first message written while the chat server is
  down: "Reconnecting…" in the panel, the message kept as "Not sent" with Retry and Discard;
- launcher-unsent-closed.png: the launcher closed with that message waiting (the "!" on its button);
- launcher-offline-{desktop-light,phone-dark}.png: a conversation while the device is offline;
- demo-phone-first-visit-{light,dark}.png: the full widget on a phone, first visit: a conversation
  to type in at once.

Run: .venv/bin/python -m docs.visitor_screenshots (needs Debian's chromium).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import asyncpg
from playwright.sync_api import Page, expect, sync_playwright

from bench.browser import ARGS, in_thread
from bench.common import Bench, make_bot

DOCS = Path(__file__).resolve().parent
LAUNCHER = "/web/embed-launcher.html"
SIZES = {"desktop": {"width": 1100, "height": 700}, "phone": {"width": 390, "height": 844}}


def context(browser: Any, width: str, theme: str) -> Any:
    phone = width == "phone"
    # Playwright's string predicates need eval, which the demo page's CSP forbids
    ctx = browser.new_context(viewport=SIZES[width], color_scheme=theme, is_mobile=phone, has_touch=phone,
                              device_scale_factor=2 if phone else 1, bypass_csp=True)
    ctx.set_default_timeout(20_000)
    return ctx


def open_launcher(ctx: Any, bench: Bench) -> Page:
    page = ctx.new_page()
    page.goto(bench.base + LAUNCHER)
    page.locator("webchat-launcher button.bubble").click()
    page.wait_for_function("""() => document.querySelector('webchat-launcher').shadowRoot
      .querySelector('webchat-chat')?.client?.status === 'live'""")
    return page


def write(page: Page, text: str) -> None:
    box = page.locator("webchat-launcher webchat-composer textarea")
    box.fill(text)
    box.press("Enter")


def settle(page: Page) -> None:
    """No focus ring or hover in the picture, layout and fonts done."""
    page.evaluate("document.activeElement?.blur?.(); document.querySelector('webchat-launcher')"
                  "?.shadowRoot.activeElement?.blur?.()")
    page.mouse.move(0, 0)
    page.evaluate("document.fonts.ready")
    page.wait_for_timeout(300)


def retry(browser: Any, bench: Bench, width: str, theme: str) -> None:
    ctx = context(browser, width, theme)
    page = open_launcher(ctx, bench)
    bench.stop()
    try:
        expect(page.locator("webchat-launcher .conn")).to_contain_text("Reconnecting")
        write(page, "Hi! Do you have gluten-free bread on Saturdays?")
        expect(page.locator("webchat-launcher webchat-message .failed")).to_have_text("Not sent")
        settle(page)
        page.screenshot(path=str(DOCS / f"launcher-retry-{width}-{theme}.png"))
        if (width, theme) == ("desktop", "light"):
            page.locator("webchat-launcher button.close").click()
            expect(page.locator("webchat-launcher .badge.unsent")).to_be_visible()
            settle(page)
            page.screenshot(path=str(DOCS / "launcher-unsent-closed.png"))
    finally:
        in_thread(bench.start)
    ctx.close()


def offline(browser: Any, bench: Bench, width: str, theme: str) -> None:
    ctx = context(browser, width, theme)
    page = open_launcher(ctx, bench)
    write(page, "Is the cardamom bun back this Friday?")
    page.wait_for_function("""() => document.querySelector('webchat-launcher').shadowRoot
      .querySelector('webchat-chat').client.openChatId""")
    chat = int(page.evaluate("""document.querySelector('webchat-launcher').shadowRoot
      .querySelector('webchat-chat').client.openChatId"""))

    async def reply() -> None:
        conn = await asyncpg.connect(bench.database_url)
        bot = await make_bot(conn, chat)
        await conn.execute("UPDATE webchat.accounts SET display_name = 'Maya Lindqvist' WHERE id = $1", bot)
        await conn.execute("INSERT INTO webchat.messages (chat_id, sender_id, text) VALUES ($1, $2, $3)",
                           chat, bot, "Yes, from 7:00. Shall I keep two for you?")
        await conn.close()

    in_thread(reply)
    expect(page.locator("webchat-launcher webchat-message", has_text="Shall I keep")).to_have_count(1)
    ctx.set_offline(True)
    expect(page.locator("webchat-launcher .conn")).to_contain_text("offline")
    write(page, "Yes please, two!")
    expect(page.locator("webchat-launcher webchat-message .failed")).to_have_text("Not sent")
    settle(page)
    page.screenshot(path=str(DOCS / f"launcher-offline-{width}-{theme}.png"))
    ctx.set_offline(False)
    ctx.close()


def first_visit(browser: Any, bench: Bench, theme: str) -> None:
    ctx = context(browser, "phone", theme)
    page = ctx.new_page()
    page.goto(f"{bench.base}/?theme={theme}")
    page.wait_for_function("document.querySelector('webchat-app').client?.status === 'live'")
    expect(page.locator("webchat-app")).to_have_attribute("view", "chat")
    settle(page)
    page.screenshot(path=str(DOCS / f"demo-phone-first-visit-{theme}.png"))
    ctx.close()


def main() -> None:
    bench = Bench()
    in_thread(bench.start)
    chromium = shutil.which("chromium")
    assert chromium, "apt-get install chromium"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=ARGS)
            for width in SIZES:
                for theme in ("light", "dark"):
                    retry(browser, bench, width, theme)
            offline(browser, bench, "desktop", "light")
            offline(browser, bench, "phone", "dark")
            for theme in ("light", "dark"):
                first_visit(browser, bench, theme)
            browser.close()
    finally:
        bench.stop()  # a failed shot must not leave the server running


if __name__ == "__main__":
    main()
