"""Screenshots of the agents' inbox (/inbox/) for the README ("Answer your visitors"):

- inbox-desktop-{light,dark}.png: the conversations, one open with the agent's reaction to the
  visitor's question, a reply quoting it and an internal note, the visitor's details beside it;
- inbox-phone-list-{light,dark}.png and inbox-phone-conversation-{light,dark}.png: the same at 390 px,
  where the list and the conversation are two views.

Run: .venv/bin/python -m docs.inbox_screenshots (needs Debian's chromium).
"""

from __future__ import annotations

import functools
import shutil
import time
from pathlib import Path
from typing import Any

import asyncpg
import jwt
from playwright.sync_api import Page, expect, sync_playwright

from bench.browser import ARGS, in_thread
from bench.common import Bench

DOCS = Path(__file__).resolve().parent
SECRET = "screenshots-identity-secret-of-at-least-32-bytes"
SIZES = {"desktop": {"width": 1280, "height": 760}, "phone": {"width": 390, "height": 844}}
CHROME = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/140.0 Safari/537.36")
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/18.1 Mobile/15E148 Safari/604.1")
# (name, email, first message, page title, page URL, language, browser)
VISITORS = [
    ("Maya Lindqvist", "maya@example.org", "Hi! Can I still order the rye sourdough for Saturday?",
     "Weekend orders", "https://fernwood.example/orders/weekend", "sv-SE", CHROME),
    ("Tom Okafor", None, "Do you deliver to Elm Street?", "Delivery", "https://fernwood.example/delivery",
     "en-GB", IPHONE),
    ("Lena Brandt", "lena.b@example.net", "Is the almond croissant gluten-free?", "Pastries",
     "https://fernwood.example/pastries", "de-DE", FIREFOX),
    ("Ravi Menon", None, "What time do you open on Sundays?", "Opening hours", "https://fernwood.example/hours",
     "en-IN", CHROME),
]


def token(sub: str, name: str, email: str | None = None, role: str | None = None) -> str:
    now = int(time.time())
    claims = {"sub": sub, "name": name, "iat": now, "exp": now + 600, "email": email, "role": role}
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, SECRET, algorithm="HS256")


def visitor_writes(p: Any, bench: Bench, i: int) -> int:
    """A signed-in visitor of the site writes a first message; the conversation's context is set as the
    widget would have brought it."""
    name, email, text, title, url, language, ua = VISITORS[i]
    req = p.request.new_context(base_url=bench.base)
    csrf = req.get("/webchat/me").json()["csrf_token"]
    r = req.post("/webchat/identify", data={"token": token(f"v{i}", name, email)}, headers={"X-CSRF-Token": csrf})
    csrf = r.json()["csrf_token"]
    chat = int(req.post("/webchat/send/", data={"text": text}, headers={"X-CSRF-Token": csrf}).json()["chat_id"])
    req.dispose()

    async def context() -> None:
        conn = await asyncpg.connect(bench.database_url)
        await conn.execute("""UPDATE webchat.chats SET metadata = metadata || jsonb_build_object('context',
            jsonb_build_object('url', $2::text, 'title', $3::text, 'language', $4::text, 'user_agent', $5::text))
            WHERE id = $1""", chat, url, title, language, ua)
        await conn.close()

    in_thread(context)
    return chat


def agent_page(browser: Any, bench: Bench, width: str, theme: str, sub: str = "sam",
               name: str = "Sam (Fernwood)") -> tuple[Any, Page]:
    phone = width == "phone"
    # Playwright's string predicates need eval, which the page's CSP forbids
    ctx = browser.new_context(viewport=SIZES[width], color_scheme=theme, is_mobile=phone, has_touch=phone,
                              device_scale_factor=2 if phone else 1, bypass_csp=True)
    ctx.set_default_timeout(20_000)
    page = ctx.new_page()
    page.goto(bench.base + "/inbox/")
    page.evaluate("""async (token) => {
      const me = await (await fetch('/webchat/me')).json();
      await fetch('/webchat/identify', {method: 'POST', body: JSON.stringify({token}),
        headers: {'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token}});
    }""", token(sub, name, f"{sub}@fernwood.example", "agent"))
    page.reload()
    expect(page.locator("webchat-inbox webchat-status")).to_have_attribute("status", "live")
    return ctx, page


def write(page: Page, text: str) -> None:
    box = page.locator("inbox-conversation webchat-composer textarea")
    box.fill(text)
    box.press("Enter")


def settle(page: Page) -> None:
    """No focus ring or hover in the picture, layout and fonts done."""
    page.evaluate("document.querySelector('webchat-inbox')?.shadowRoot.activeElement?.blur?.()")
    page.mouse.move(0, 0)
    page.evaluate("document.fonts.ready")
    page.wait_for_timeout(400)


def main() -> None:
    bench = Bench()
    in_thread(functools.partial(bench.start, {"WEBCHAT_IDENTITY_SECRET": SECRET}))
    chromium = shutil.which("chromium")
    assert chromium, "apt-get install chromium"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=ARGS)
            chats = [visitor_writes(p, bench, i) for i in range(len(VISITORS))]
            # the first conversation: claimed, answered, and a note for the other agents
            ctx, page = agent_page(browser, bench, "desktop", "light")
            page.locator(f"inbox-list li[data-chat-id='{chats[0]}'] button").click()
            page.locator("inbox-conversation").get_by_role("button", name="Claim").click()
            # a reaction to her question, and a reply that quotes it
            question = page.locator("inbox-conversation webchat-message", has_text="rye sourdough")
            question.focus()
            question.press("Enter")
            page.get_by_role("menuitem", name="React").click()
            page.get_by_role("toolbar", name="React to this message").get_by_role("button", name="React with ❤️").click()
            expect(question.locator(".chip")).to_have_count(1)
            question.focus()
            question.press("Enter")
            page.get_by_role("menuitem", name="Reply").click()
            write(page, "Hi Maya! Yes, orders for Saturday close Friday at 18:00. One rye sourdough?")
            expect(page.locator("inbox-conversation webchat-message .quote")).to_have_count(1)
            page.locator("inbox-conversation").get_by_role("button", name="Note").click()
            write(page, "Regular on Saturdays: she usually picks up at 9.")
            expect(page.locator("inbox-conversation webchat-message[note]")).to_have_count(1)
            ctx.close()
            # another agent already has the third one
            other_ctx, other = agent_page(browser, bench, "desktop", "light", "jo", "Jo")
            other.locator(f"inbox-list li[data-chat-id='{chats[2]}'] button").click()
            other.locator("inbox-conversation").get_by_role("button", name="Claim").click()
            expect(other.locator("inbox-conversation .who")).to_have_text("Assigned to you")
            other_ctx.close()
            for theme in ("light", "dark"):
                ctx, page = agent_page(browser, bench, "desktop", theme)
                page.locator(f"inbox-list li[data-chat-id='{chats[0]}'] button").click()
                expect(page.locator("inbox-conversation webchat-message[note]")).to_have_count(1)
                settle(page)
                page.screenshot(path=str(DOCS / f"inbox-desktop-{theme}.png"))
                ctx.close()
                ctx, page = agent_page(browser, bench, "phone", theme)
                expect(page.locator("inbox-list")).to_be_visible()
                settle(page)
                page.screenshot(path=str(DOCS / f"inbox-phone-list-{theme}.png"))
                page.locator(f"inbox-list li[data-chat-id='{chats[0]}'] button").click()
                expect(page.locator("inbox-conversation webchat-message[note]")).to_have_count(1)
                settle(page)
                page.screenshot(path=str(DOCS / f"inbox-phone-conversation-{theme}.png"))
                ctx.close()
            browser.close()
    finally:
        bench.stop()  # a failed shot must not leave the server running


if __name__ == "__main__":
    main()
