"""The launcher tells visitors whether anyone is there, and takes an email when nobody is (Chromium)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from .browser_support import sql

pytestmark = pytest.mark.browser

LAUNCHER = "/web/embed-launcher.html"


def test_launcher_says_who_is_there_and_takes_an_email(browser: Any, server: Any) -> None:
    ctx = browser.new_context(viewport={"width": 1100, "height": 700})
    ctx.set_default_timeout(10_000)
    try:
        page = ctx.new_page()
        page.goto(server.base + LAUNCHER)
        page.get_by_role("button", name="Open chat with Fernwood Bakery").click()
        line = page.locator("webchat-availability p[role=status]")
        expect(line).to_have_text("We'll reply by email")
        page.get_by_label("Your email, for our reply (optional)").fill("sam@example.org")
        page.locator("webchat-availability").get_by_role("button", name="Save").click()
        expect(page.locator("webchat-availability .note")).to_have_text(
            "We'll write to sam@example.org if you're away.")
        assert sql(server.database_url, "SELECT count(*) FROM webchat.accounts WHERE email = 'sam@example.org'"
                   " AND kind = 'guest'") == 1
        # an agent comes online (what a connected agent's server process writes): the line changes,
        # once this process's five-second answer cache has passed
        sql(server.database_url, "INSERT INTO webchat.accounts (kind, display_name, agent_seen_at) "
                                 "VALUES ('agent', 'Ana', now() + interval '1 minute') RETURNING id")
        for _ in range(40):
            page.reload()
            if page.locator("webchat-availability p[role=status]").text_content(timeout=10_000) == "We're online":
                break
            page.wait_for_timeout(500)
        expect(line).to_have_text("We're online")
        expect(page.locator("webchat-availability form")).to_have_count(0)
    finally:
        ctx.close()
