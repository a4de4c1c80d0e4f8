"""Screenshots of the demo page in both themes (docs/demo-light.png, docs/demo-dark.png)."""

from __future__ import annotations

import shutil
from pathlib import Path

import asyncpg
from playwright.sync_api import sync_playwright

from bench.browser import ARGS, in_thread
from bench.common import Bench, make_bot

DOCS = Path(__file__).resolve().parent


def main() -> None:
    bench = Bench()
    in_thread(bench.start)
    chromium = shutil.which("chromium")
    assert chromium, "apt-get install chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 640})
        page.goto(bench.base + "/?theme=light")
        box = page.locator("webchat-composer textarea")
        for text in ("Billing: was I charged twice in March?", "Hi! Where is my order #4521?"):
            if page.locator("webchat-chat-list li[data-chat-id]").count():
                page.get_by_role("button", name="+ New chat").click()
                page.wait_for_timeout(300)
            box.fill(text)
            box.press("Enter")
            page.wait_for_timeout(500)
        chat_id = int(page.evaluate("document.querySelector('webchat-app').client.openChatId"))

        async def answer() -> None:
            conn = await asyncpg.connect(bench.database_url)
            bot = await make_bot(conn, chat_id)
            await conn.execute("UPDATE webchat.accounts SET display_name = 'Order Bot' WHERE id = $1", bot)
            await conn.execute("INSERT INTO webchat.messages (chat_id, sender_id, text) VALUES ($1, $2, $3)", chat_id,
                               bot, "Order #4521 left our warehouse this morning. Track it at https://example.com/t/4521")
            await conn.execute("SELECT webchat.typing($1, $2, true)", chat_id, bot)
            await conn.close()

        box.fill("Great, thanks! Can I still change the address?")
        box.press("Enter")
        page.wait_for_timeout(300)
        in_thread(answer)
        page.wait_for_timeout(800)
        page.screenshot(path=str(DOCS / "demo-light.png"))
        page.select_option("#theme", "dark")
        page.wait_for_timeout(300)
        page.screenshot(path=str(DOCS / "demo-dark.png"))
        browser.close()
    bench.stop()


if __name__ == "__main__":
    main()
