"""The inbox page's reactions, replies and emoji picker (as visitors have them in the widget), agent
typing before joining, and the page title where a conversation started: headless Chromium against a
real server, an agent's page and a visitor's page side by side."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from .browser_support import sql
from .test_browser import axe_violations, bubble, send
from .test_browser_reactions import eventually, message
from .test_inbox_page import conversation, row, sign_in_agent, visitor_page, write

pytestmark = pytest.mark.browser


def agent_message(page: Page, text: str) -> Any:
    """A message in the agent's open conversation by its own text (not a quote of it)."""
    return conversation(page).locator("webchat-message", has=page.locator(".bubble > .text", has_text=text))


def act(page: Page, text: str, item: str) -> None:
    """A message's actions, opened from the keyboard (focused, Enter), and one picked."""
    m = agent_message(page, text)
    m.focus()
    m.press("Enter")
    page.get_by_role("menuitem", name=item).click()


def menu_items(page: Page, text: str) -> list[str]:
    """The names of a message's actions (its menu opened from the keyboard, then closed)."""
    m = agent_message(page, text)
    m.focus()
    m.press("Enter")
    items = page.get_by_role("menuitem")
    expect(items.first).to_be_visible()
    names = [items.nth(i).inner_text() for i in range(items.count())]
    page.keyboard.press("Escape")
    return names


def test_an_agent_reacts_replies_with_a_quote_and_types_without_joining(
        context: Any, visitor_ctx: Any, server: Any) -> None:
    agent = sign_in_agent(context, server)
    visitor, chat = visitor_page(visitor_ctx, server, "Do you have rye bread today?")
    row(agent, chat).get_by_role("button").click()
    expect(agent_message(agent, "rye bread")).to_have_count(1)
    # where it started: the demo page's title, sent by the widget with the first message
    expect(agent.locator("inbox-context")).to_contain_text("WebChat demo")
    assert sql(server.database_url, "SELECT metadata->'context'->>'title' FROM webchat.chats WHERE id = $1",
               chat) == "WebChat demo"

    # the agent types before claiming (not a member): the visitor sees it
    agent.locator("inbox-conversation webchat-composer textarea").press_sequentially("Let me")
    expect(visitor.locator("webchat-chat .typing")).to_contain_text("Ana (Support) is typing")
    agent.locator("inbox-conversation webchat-composer textarea").fill("")

    # a reaction from the quick row: the visitor sees the chip, by the agent's name
    act(agent, "rye bread", "React")
    quick = agent.get_by_role("toolbar", name="React to this message")
    expect(quick.get_by_role("button", name="React with 👍")).to_be_focused()
    agent.keyboard.press("Enter")
    mine = agent_message(agent, "rye bread").locator(".chip", has_text="👍")
    expect(mine).to_have_attribute("aria-pressed", "true")
    chip = message(visitor, "rye bread").locator(".chip", has_text="👍")
    expect(chip).to_contain_text("1")
    expect(chip).to_have_attribute("aria-pressed", "false")
    expect(chip.locator(".who")).to_have_text("Ana")
    # reacting is not answering: still unclaimed, and the agent is not in the chat
    assert sql(server.database_url, "SELECT count(*) FROM webchat.chat_members m JOIN webchat.accounts a "
               "ON a.id = m.account_id WHERE m.chat_id = $1 AND a.kind = 'agent'", chat) == 0

    # the full picker from the quick row
    act(agent, "rye bread", "React")
    agent.get_by_role("button", name="More emoji…").click()
    dialog = agent.get_by_role("dialog", name="React with an emoji")
    dialog.get_by_role("combobox").fill("bread")
    expect(dialog.locator("#emo-🍞")).to_be_visible()
    agent.keyboard.press("ArrowDown")
    agent.keyboard.press("Enter")
    expect(dialog).to_have_count(0)
    expect(message(visitor, "rye bread").locator(".chip", has_text="🍞")).to_contain_text("1")

    # a reply to the visitor's message: the visitor sees the quote
    send(visitor, "And the seeded one?")
    expect(agent_message(agent, "seeded one")).to_have_count(1)
    act(agent, "rye bread", "Reply")
    composer = agent.locator("inbox-conversation webchat-composer")
    expect(composer.get_by_role("group", name=re.compile("^Replying to"))).to_contain_text("rye bread")
    write(agent, "Yes, baked this morning.")
    answer = message(visitor, "baked this morning")
    expect(answer.locator(".quote")).to_contain_text("Do you have rye bread today?")
    expect(answer.locator(".sender")).to_have_text("Ana (Support)")
    expect(agent_message(agent, "baked this morning").locator(".quote")).to_contain_text("rye bread")

    # a note is not quotable: its actions have no Reply; a public message's have
    conversation(agent).get_by_role("button", name="Note").click()
    write(agent, "Keeps asking about rye: stock more")
    expect(agent_message(agent, "stock more")).to_have_attribute("note", "")
    assert "Reply" not in menu_items(agent, "stock more")
    assert "Reply" in menu_items(agent, "seeded one")
    # a note may quote a visitor's message (agents only see it)
    act(agent, "seeded one", "Reply")
    write(agent, "Seeded: sold out")
    expect(agent_message(agent, "Seeded: sold out").locator(".quote")).to_contain_text("seeded one")
    eventually(lambda: sql(server.database_url, "SELECT visibility FROM webchat.messages WHERE text = $1",
                           "Seeded: sold out"), "agents")
    expect(visitor.get_by_text("sold out")).to_have_count(0)
    expect(visitor.get_by_text("stock more")).to_have_count(0)
    expect(bubble(visitor, "baked this morning")).to_have_count(1)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_axe_on_the_inbox_with_a_reaction_a_quote_and_the_picker_open(
        browser: Any, visitor_ctx: Any, server: Any, theme: str, tmp_path: Any) -> None:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True, color_scheme=theme)
    ctx.set_default_timeout(10_000)
    try:
        agent = sign_in_agent(ctx, server, f"react-{theme}", "Rae")
        visitor, chat = visitor_page(visitor_ctx, server, f"Is the café open late, {theme}?")
        row(agent, chat).get_by_role("button").click()
        act(agent, "café open late", "React")
        agent.keyboard.press("ArrowRight")
        agent.keyboard.press("Enter")
        expect(agent_message(agent, "café open late").locator(".chip", has_text="❤️")).to_have_count(1)
        act(agent, "café open late", "Reply")
        write(agent, "Until 22:00 on Fridays.")
        expect(agent_message(agent, "Until 22:00").locator(".quote")).to_contain_text("café open late")
        expect(message(visitor, "Until 22:00").locator(".quote")).to_contain_text("café open late")
        assert axe_violations(agent) == [], f"{theme}, reaction and quote"
        agent.screenshot(path=str(tmp_path / f"desktop-{theme}.png"))
        act(agent, "café open late", "React")
        expect(agent.get_by_role("toolbar", name="React to this message")).to_be_visible()
        assert axe_violations(agent) == [], f"{theme}, quick row"
        agent.get_by_role("button", name="More emoji…").click()
        expect(agent.get_by_role("dialog", name="React with an emoji").locator("#emo-😀")).to_be_visible()
        assert axe_violations(agent) == [], f"{theme}, picker open"
        agent.screenshot(path=str(tmp_path / f"picker-{theme}.png"))
        agent.keyboard.press("Escape")
        expect(agent.get_by_role("dialog", name="React with an emoji")).to_have_count(0)
        agent.set_viewport_size({"width": 390, "height": 844})
        expect(agent.locator("webchat-inbox")).to_have_attribute("narrow", "")
        expect(agent_message(agent, "Until 22:00")).to_be_visible()
        assert axe_violations(agent) == [], f"{theme}, phone"
        agent.get_by_role("button", name="Insert an emoji").click()
        expect(agent.get_by_role("dialog", name="Insert an emoji").locator("#emo-😀")).to_be_visible()
        assert axe_violations(agent) == [], f"{theme}, phone, picker open"
        agent.screenshot(path=str(tmp_path / f"phone-picker-{theme}.png"))
    finally:
        ctx.close()
