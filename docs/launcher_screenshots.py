"""Screenshots of <webchat-launcher> on the sample host page: closed with a badge and open, desktop and phone."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import asyncpg
from playwright.sync_api import sync_playwright

from bench.browser import ARGS, in_thread
from bench.common import Bench, make_bot
from tests.browser_support import launcher_chat_id

DOCS = Path(__file__).resolve().parent
PAGE = "/web/embed-launcher.html"


def bot_says(bench: Bench, chat: int, *texts: str) -> None:
    async def go() -> None:
        conn = await asyncpg.connect(bench.database_url)
        bot = await conn.fetchval("SELECT account_id FROM webchat.chat_members m JOIN webchat.accounts a"
                                  " ON a.id = m.account_id WHERE m.chat_id = $1 AND a.kind = 'bot'", chat)
        if bot is None:
            bot = await make_bot(conn, chat)
            await conn.execute("UPDATE webchat.accounts SET display_name = 'Maya Lindqvist' WHERE id = $1", bot)
        for text in texts:
            await conn.execute("INSERT INTO webchat.messages (chat_id, sender_id, text) VALUES ($1, $2, $3)",
                               chat, bot, text)
        await conn.close()

    in_thread(go)


def shoot(browser: Any, bench: Bench, name: str, viewport: dict[str, int]) -> None:
    ctx = browser.new_context(viewport=viewport, color_scheme="light",
                              is_mobile=viewport["width"] <= 600, has_touch=viewport["width"] <= 600)
    page = ctx.new_page()
    page.goto(bench.base + PAGE)
    page.locator("webchat-launcher button.bubble").click()
    box = page.locator("webchat-composer textarea")
    box.fill("Hi! Do you have rye bread tomorrow morning?")
    box.press("Enter")
    chat = launcher_chat_id(page)
    page.wait_for_timeout(300)
    bot_says(bench, chat, "Good morning! Yes, rye & caraway comes out of the oven at 7:00.")
    box.fill("Great, could you save me a loaf? I'll be there around 9.")
    box.press("Enter")
    page.wait_for_timeout(300)
    bot_says(bench, chat, "Of course, one rye under your name. See you at 9!")
    page.wait_for_timeout(800)
    page.screenshot(path=str(DOCS / f"launcher-{name}-open.png"))
    page.keyboard.press("Escape")
    bot_says(bench, chat, "PS: the cardamom buns are back on Friday.", "Want one with the rye?")
    page.locator("webchat-launcher .badge").wait_for()
    # a visitor who closed it with the mouse: no keyboard focus ring in the picture
    page.evaluate("document.querySelector('webchat-launcher').shadowRoot.activeElement?.blur()")
    page.wait_for_timeout(300)
    page.mouse.move(0, 0)
    page.screenshot(path=str(DOCS / f"launcher-{name}-closed.png"))
    ctx.close()


def main() -> None:
    bench = Bench()
    in_thread(bench.start)
    chromium = shutil.which("chromium")
    assert chromium, "apt-get install chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        shoot(browser, bench, "desktop", {"width": 1100, "height": 700})
        shoot(browser, bench, "phone", {"width": 390, "height": 844})
        browser.close()
    bench.stop()


if __name__ == "__main__":
    main()
