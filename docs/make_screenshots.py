"""Screenshots of the demo page: desktop and phone (390 px), light and dark (docs/demo-*.png)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import asyncpg
from playwright.sync_api import Page, sync_playwright

from bench.browser import ARGS, in_thread
from bench.common import Bench, make_bot

DOCS = Path(__file__).resolve().parent


def send(page: Page, text: str) -> None:
    box = page.locator("webchat-composer textarea")
    box.fill(text)
    box.press("Enter")
    page.wait_for_timeout(300)


def main(out: Path = DOCS) -> None:
    bench = Bench()
    in_thread(bench.start)
    chromium = shutil.which("chromium")
    assert chromium, "apt-get install chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        context = browser.new_context(viewport={"width": 1100, "height": 640}, bypass_csp=True)
        page = context.new_page()
        page.goto(bench.base + "/?theme=light")
        page.wait_for_function("document.querySelector('webchat-app').client?.status === 'live'")
        send(page, "Billing: was I charged twice in March? The invoice number is INV-2026-000318-REFUND")
        page.get_by_role("button", name="+ New chat").click()
        page.wait_for_timeout(300)
        send(page, "Hi! Where is my order #4521?")
        chat_id = int(page.evaluate("document.querySelector('webchat-app').client.openChatId"))

        async def history() -> None:
            conn = await asyncpg.connect(bench.database_url)
            bot = await make_bot(conn, chat_id)
            await conn.execute("UPDATE webchat.accounts SET display_name = 'Order Bot' WHERE id = $1", bot)
            # yesterday's exchange, then today's: day separators and a grouped run of bot messages
            await conn.execute("UPDATE webchat.messages SET created_at = now() - interval '1 day' WHERE chat_id = $1",
                               chat_id)
            for text, ago in (("Let me check that for you.", 1438),
                              ("It is packed and leaves tomorrow morning.", 1437),
                              ("Order #4521 left our warehouse this morning. Track it at https://example.com/t/4521",
                               3)):
                await conn.execute("INSERT INTO webchat.messages (chat_id, sender_id, text) VALUES ($1, $2, $3)",
                                   chat_id, bot, text)
                await conn.execute("UPDATE webchat.messages SET created_at = now() - make_interval(mins => $3)"
                                   " WHERE chat_id = $1 AND text = $2", chat_id, text, ago)
            await conn.close()

        in_thread(history)
        page.reload()
        page.wait_for_function("document.querySelector('webchat-app').client?.status === 'live'")
        page.wait_for_timeout(500)
        send(page, "Great, thanks! Can I still change the address?")

        async def answer() -> None:
            conn = await asyncpg.connect(bench.database_url)
            bot = await conn.fetchval("SELECT id FROM webchat.accounts WHERE display_name = 'Order Bot'")
            await conn.execute("UPDATE webchat.chat_members SET last_read_seq = 99 WHERE account_id = $1", bot)
            await conn.execute("SELECT webchat.typing($1, $2, true)", chat_id, bot)
            await conn.close()

        in_thread(answer)
        page.wait_for_timeout(800)
        page.screenshot(path=str(out / "demo-light.png"))
        page.select_option("#theme", "dark")
        page.wait_for_timeout(300)
        page.screenshot(path=str(out / "demo-dark.png"))
        # a phone: the conversation, then the chat list (two views with a back control)
        phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, bypass_csp=True,
                                    storage_state=context.storage_state())
        for theme in ("light", "dark"):
            tab = phone.new_page()
            tab.goto(bench.base + f"/?theme={theme}")
            tab.wait_for_function("document.querySelector('webchat-app').client?.status === 'live'")
            tab.wait_for_timeout(600)
            tab.screenshot(path=str(out / f"demo-phone-{theme}.png"))
            if theme == "light":
                tab.get_by_role("button", name="Back to chats").click()
                tab.wait_for_timeout(300)
                tab.screenshot(path=str(out / "demo-phone-list.png"))
            tab.close()
        browser.close()
    bench.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DOCS)
