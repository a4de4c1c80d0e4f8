"""Screenshots of reactions, a reply and the emoji picker: desktop and phone (390 px), light and dark
(docs/reactions-*.png)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import asyncpg
from playwright.sync_api import Page, sync_playwright

from bench.browser import ARGS, in_thread
from bench.common import Bench, join_all

DOCS = Path(__file__).resolve().parent
LIVE = "document.querySelector('webchat-app').client?.status === 'live'"


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
        page.wait_for_function(LIVE)
        send(page, "Hi! My parcel #4521 says delivered, but it is not here.")
        chat_id = int(page.evaluate("document.querySelector('webchat-app').client.openChatId"))
        me = int(page.evaluate("document.querySelector('webchat-app').client.me.id"))

        async def team() -> None:
            conn = await asyncpg.connect(bench.database_url)
            ids = []
            for name in ("Ada Lovelace", "Grace Hopper", "Order Bot"):
                ids.append(await conn.fetchval(
                    "INSERT INTO webchat.accounts (kind, display_name) VALUES ('agent', $1) RETURNING id", name))
            await join_all(conn, chat_id, ids)
            first = await conn.fetchval("SELECT id FROM webchat.messages WHERE chat_id = $1 AND seq = 1", chat_id)
            await conn.execute("INSERT INTO webchat.messages (chat_id, sender_id, text, reply_to_id)"
                               " VALUES ($1, $2, $3, $4)", chat_id, ids[0],
                               "Sorry about that! The driver left it with your neighbour at number 12.", first)
            answer = await conn.fetchval("SELECT max(id) FROM webchat.messages WHERE chat_id = $1", chat_id)
            # reactions as a bot and the agents make them: plain INSERTs
            await conn.execute("INSERT INTO webchat.reactions (message_id, account_id, emoji)"
                               " SELECT $1, unnest($2::bigint[]), '👍'", answer, ids)
            await conn.execute("INSERT INTO webchat.reactions (message_id, account_id, emoji) VALUES ($1, $2, '🙏')",
                               first, ids[0])
            await conn.close()

        in_thread(team)
        page.wait_for_timeout(800)
        # my reaction through the quick row, then a reply to the agent's message with its quote
        answer = page.locator("webchat-message").nth(1)
        answer.focus()
        answer.press("Enter")
        page.get_by_role("menuitem", name="React").click()
        page.get_by_role("button", name="React with ❤️").click()
        page.wait_for_timeout(300)
        answer.focus()
        answer.press("Enter")
        page.get_by_role("menuitem", name="Reply").click()
        page.locator("webchat-composer textarea").fill("Got it, thank you! 🎉")
        page.wait_for_timeout(200)
        page.screenshot(path=str(out / "reactions-reply-light.png"))
        page.locator("webchat-composer textarea").press("Enter")
        page.wait_for_timeout(500)
        # the full picker, opened from the composer
        page.get_by_role("button", name="Insert an emoji").click()
        page.wait_for_selector("webchat-emoji-picker")
        page.wait_for_timeout(1200)
        page.screenshot(path=str(out / "reactions-light.png"))
        page.select_option("#theme", "dark")
        page.wait_for_timeout(400)
        page.keyboard.press("Escape")
        page.get_by_role("button", name="Insert an emoji").click()
        page.wait_for_timeout(800)
        page.screenshot(path=str(out / "reactions-dark.png"))
        phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, bypass_csp=True,
                                    storage_state=context.storage_state())
        for theme in ("light", "dark"):
            tab = phone.new_page()
            tab.goto(bench.base + f"/?theme={theme}")
            tab.wait_for_function(LIVE)
            tab.wait_for_timeout(600)
            if theme == "dark":
                msg = tab.locator("webchat-message").nth(1)
                msg.focus()
                msg.press("Enter")
                tab.get_by_role("menuitem", name="React").click()
                tab.get_by_role("button", name="More emoji…").click()
                tab.wait_for_selector("webchat-emoji-picker")
                tab.wait_for_timeout(1000)
            tab.screenshot(path=str(out / f"reactions-phone-{theme}.png"))
            tab.close()
        assert me
        browser.close()
    bench.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DOCS)
