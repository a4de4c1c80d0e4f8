"""Screenshots of read receipts and presence (issue 15):

- presence-{desktop,phone}-{light,dark}.png: a visitor's one-to-one chat with an agent who is
  online (the header says so) and has read the visitor's last message ("✓✓ Seen");
- receipts-group-{light,dark}.png: a group chat, "Seen by Ada, Bea +2", and the other side's
  "last seen" is not shown (there is no one other side).

Run: .venv/bin/python -m docs.presence_screenshots (needs Debian's chromium).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import asyncpg
from playwright.sync_api import Page, expect, sync_playwright

from bench.browser import ARGS, in_thread
from bench.common import Bench

DOCS = Path(__file__).resolve().parent
SIZES = {"desktop": {"width": 1100, "height": 700}, "phone": {"width": 390, "height": 844}}


def context(browser: Any, width: str, theme: str) -> Any:
    phone = width == "phone"
    ctx = browser.new_context(viewport=SIZES[width], color_scheme=theme, is_mobile=phone, has_touch=phone,
                              device_scale_factor=2 if phone else 1, bypass_csp=True)
    ctx.set_default_timeout(30_000)
    return ctx


def open_app(ctx: Any, bench: Bench, theme: str) -> Page:
    page = ctx.new_page()
    page.goto(f"{bench.base}/?theme={theme}")
    page.wait_for_function("document.querySelector('webchat-app').client?.status === 'live'")
    return page


def write(page: Page, text: str) -> None:
    box = page.locator("webchat-composer textarea")
    box.fill(text)
    box.press("Enter")
    expect(page.locator("webchat-message .bubble", has_text=text)).to_have_count(1)


def settle(page: Page) -> None:
    page.evaluate("document.activeElement?.blur?.()")
    page.mouse.move(0, 0)
    page.evaluate("document.fonts.ready")
    page.wait_for_timeout(300)


def sql(bench: Bench, query: str, *args: Any) -> Any:
    async def run() -> Any:
        conn = await asyncpg.connect(bench.database_url)
        try:
            return await conn.fetchval(query, *args)
        finally:
            await conn.close()

    return in_thread(run)


def one_to_one(browser: Any, bench: Bench, width: str, theme: str) -> None:
    visitor_ctx, agent_ctx = context(browser, width, theme), context(browser, "desktop", theme)
    visitor = open_app(visitor_ctx, bench, theme)
    write(visitor, "Hi! Has my order #4471 left the warehouse?")
    chat = int(visitor.wait_for_function("document.querySelector('webchat-app').client.openChatId").json_value())
    sql(bench, "UPDATE webchat.chats SET title = 'Order #4471' WHERE id = $1", chat)
    agent = open_app(agent_ctx, bench, theme)
    agent_id = int(agent.evaluate("document.querySelector('webchat-app').client.me.id"))
    sql(bench, "UPDATE webchat.accounts SET display_name = 'Maya Lindqvist' WHERE id = $1", agent_id)
    sql(bench, "INSERT INTO webchat.chat_members (chat_id, account_id) VALUES ($1, $2)", chat, agent_id)
    sql(bench, "INSERT INTO webchat.messages (chat_id, sender_id, text) VALUES ($1, $2, $3)", chat, agent_id,
        "Yes, it left this morning: it should be with you on Thursday.")
    write(visitor, "Great, thank you!")
    sql(bench, "UPDATE webchat.chat_members SET last_read_seq = 3 WHERE chat_id = $1 AND account_id = $2",
        chat, agent_id)
    if width == "phone":
        expect(visitor.locator("webchat-app")).to_have_attribute("view", "chat")
    expect(visitor.locator("webchat-chat header .presence")).to_contain_text("online")
    expect(visitor.locator("webchat-message .state.seen")).to_have_text("✓✓ Seen")
    settle(visitor)
    visitor.screenshot(path=str(DOCS / f"presence-{width}-{theme}.png"))
    visitor_ctx.close()
    agent_ctx.close()


def group(browser: Any, bench: Bench, theme: str) -> None:
    ctx = context(browser, "desktop", theme)
    page = open_app(ctx, bench, theme)
    page.get_by_role("button", name="+ New chat").click()
    write(page, "Team, the new opening hours go up on Monday.")
    chat = int(page.wait_for_function("document.querySelector('webchat-app').client.openChatId").json_value())
    sql(bench, "UPDATE webchat.chats SET title = 'Opening hours' WHERE id = $1", chat)
    for name in ("Ada Okafor", "Bea Novak", "Cy Tanaka", "Dee Moreau"):
        member = sql(bench, "INSERT INTO webchat.accounts (kind, display_name) VALUES ('agent', $1) RETURNING id", name)
        sql(bench, "INSERT INTO webchat.chat_members (chat_id, account_id, last_read_seq) VALUES ($1, $2, 1)",
            chat, member)
    page.reload()
    page.wait_for_function("document.querySelector('webchat-app').client?.status === 'live'")
    expect(page.locator("webchat-message .state.seen")).to_have_text("✓✓ Seen by Ada Okafor, Bea Novak +2")
    settle(page)
    page.screenshot(path=str(DOCS / f"receipts-group-{theme}.png"))
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
                    one_to_one(browser, bench, width, theme)
            for theme in ("light", "dark"):
                group(browser, bench, theme)
            browser.close()
    finally:
        bench.stop()  # a failed shot must not leave the server running


if __name__ == "__main__":
    main()
