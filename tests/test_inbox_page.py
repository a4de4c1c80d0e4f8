"""The agents' inbox page (/inbox/) in a real browser against a real server: a visitor writes, an agent
sees it live, claims, replies and writes notes the visitor never sees; filters, phone width, axe."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from .browser_support import IDENTITY_SECRET, png, sql
from .conftest import identity_token
from .test_browser import NOTIFICATION_SPY, axe_violations, bubble, send

pytestmark = pytest.mark.browser

SIGN_IN_TEXT = "This page is for the site's staff"


def sign_in_agent(ctx: Any, server: Any, sub: str = "ana", name: str = "Ana (Support)") -> Page:
    """What a site's backend does for its staff: an identity token with role "agent"; then /inbox/."""
    page = ctx.new_page()
    page.goto(server.base + "/inbox/")
    expect(page.get_by_text(SIGN_IN_TEXT)).to_be_visible()
    token = identity_token(sub, name, secret=IDENTITY_SECRET, role="agent")
    page.evaluate("""async (token) => {
      const me = await (await fetch('/webchat/me')).json();
      const r = await fetch('/webchat/identify', {method: 'POST', body: JSON.stringify({token}),
        headers: {'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token}});
      if (!r.ok) throw new Error(await r.text());
    }""", token)
    page.reload()
    expect(page.locator("webchat-inbox webchat-status")).to_have_attribute("status", "live")
    return page


def visitor_page(ctx: Any, server: Any, text: str) -> tuple[Page, int]:
    """A visitor on the demo page who writes a first message; (page, chat id)."""
    page = ctx.new_page()
    page.goto(server.base + "/")
    expect(page.locator("webchat-app webchat-status")).to_have_attribute("status", "live")
    send(page, text)
    expect(bubble(page, text)).to_have_count(1)
    page.wait_for_function("document.querySelector('webchat-app').client.openChatId !== null")
    return page, int(page.evaluate("document.querySelector('webchat-app').client.openChatId"))


def visitor_writes(ctx: Any, server: Any, text: str) -> int:
    """A visitor conversation made over HTTP (no page): its chat id."""
    req = ctx.request
    csrf = req.get(server.base + "/webchat/me").json()["csrf_token"]
    r = req.post(server.base + "/webchat/send/", data={"text": text}, headers={"X-CSRF-Token": csrf})
    assert r.ok, r.text()
    return int(r.json()["chat_id"])


def row(page: Page, chat_id: int) -> Any:
    return page.locator(f"inbox-list li[data-chat-id='{chat_id}']")


def filter_button(page: Page, value: str) -> Any:
    return page.locator(f"inbox-list button[data-filter='{value}']")


def conversation(page: Page) -> Any:
    return page.locator("inbox-conversation")


def write(page: Page, text: str) -> None:
    box = page.locator("inbox-conversation webchat-composer textarea")
    box.fill(text)
    box.press("Enter")


def test_visitor_writes_agent_claims_replies_and_notes_stay_with_agents(context: Any, visitor_ctx: Any,
                                                                        server: Any, tmp_path: Path) -> None:
    agent = sign_in_agent(context, server)
    # the page was open before the visitor came: the first message appears without a reload
    visitor, chat = visitor_page(visitor_ctx, server, "Is the blue teapot in stock?")
    expect(row(agent, chat)).to_contain_text("Is the blue teapot in stock?")
    expect(row(agent, chat)).to_contain_text("Unassigned")
    expect(row(agent, chat).locator(".badge")).to_have_text("1")
    row(agent, chat).get_by_role("button").click()
    expect(conversation(agent).locator("webchat-message .bubble", has_text="blue teapot")).to_have_count(1)
    # open but not claimed (the agent is not in the conversation): what the visitor adds shows too
    send(visitor, "Or in green?")
    expect(conversation(agent).locator("webchat-message .bubble", has_text="Or in green?")).to_have_count(1)
    conversation(agent).get_by_role("button", name="Claim").click()
    expect(conversation(agent).locator(".who")).to_have_text("Assigned to you")
    expect(conversation(agent).get_by_role("button", name="Claim")).to_have_count(0)
    # the agent types: the visitor sees it
    agent.locator("inbox-conversation webchat-composer textarea").press_sequentially("Yes")
    expect(visitor.locator("webchat-chat .typing")).to_contain_text("Ana (Support) is typing")
    agent.locator("inbox-conversation webchat-composer textarea").fill("")
    write(agent, "Yes, two left. Shall I keep one for you?")
    # the visitor sees the reply under the agent's name
    reply = visitor.locator("webchat-message", has_text="two left")
    expect(reply.locator(".bubble")).to_have_count(1)
    expect(reply.locator(".sender")).to_have_text("Ana (Support)")

    # an internal note: visibly different on the agent's page, never on the visitor's
    conversation(agent).get_by_role("button", name="Note").click()
    expect(agent.locator("inbox-conversation .note-bar")).to_have_text("Note — visitors don't see this")
    write(agent, "Regular customer, offer free delivery")
    note = agent.locator("inbox-conversation webchat-message[note]", has_text="free delivery")
    expect(note).to_have_count(1)
    expect(note).to_have_attribute("aria-label", re.compile("^Internal note"))
    # amber, not the blue of the agent's replies
    reply_bg, note_bg = (agent.locator(f"inbox-conversation webchat-message:has-text('{t}') .bubble").evaluate(
        "(b) => getComputedStyle(b).backgroundColor") for t in ("two left", "free delivery"))
    assert note_bg != reply_bg and note_bg == "rgb(255, 241, 199)", (reply_bg, note_bg)
    assert sql(server.database_url, "SELECT visibility FROM webchat.messages WHERE chat_id = $1 AND text LIKE $2",
               chat, "%free delivery%") == "agents"
    # a reply after the note reaches the visitor; the note, before it, did not
    conversation(agent).get_by_role("button", name="Reply").click()
    write(agent, "It ships tomorrow.")
    expect(bubble(visitor, "It ships tomorrow.")).to_have_count(1)
    expect(visitor.get_by_text("free delivery")).to_have_count(0)
    expect(agent.locator("inbox-conversation webchat-message[note]")).to_have_count(1)
    visitor.reload()
    expect(bubble(visitor, "It ships tomorrow.")).to_have_count(1)
    expect(visitor.get_by_text("free delivery")).to_have_count(0)

    # a picture as a reply
    image = tmp_path / "teapot.png"
    image.write_bytes(png())
    agent.locator("inbox-conversation webchat-composer input[type=file]").set_input_files(str(image))
    agent.locator("inbox-conversation webchat-composer textarea").press("Enter")
    expect(visitor.locator("webchat-message .bubble img")).to_have_count(1)

    # the visitor types: the agent sees it
    visitor.locator("webchat-composer textarea").press_sequentially("thanks")
    expect(conversation(agent).locator(".typing")).to_contain_text("is typing")

    # resolve: it leaves the open list, shows under Resolved, and can be reopened
    conversation(agent).get_by_role("button", name="Resolve").click()
    expect(row(agent, chat)).to_have_count(0)
    filter_button(agent, "status:resolved").click()
    expect(row(agent, chat)).to_have_count(1)
    conversation(agent).get_by_role("button", name="Reopen").click()
    expect(row(agent, chat)).to_have_count(0)
    filter_button(agent, "status:open").click()
    expect(row(agent, chat)).to_contain_text("You")

    # the visitor starts another conversation: one click away in the visitor's details
    visitor.get_by_role("button", name="+ New chat").click()
    visitor.wait_for_function(f"document.querySelector('webchat-app').client.openChatId !== {chat}")
    send(visitor, "Another thing: gift wrapping?")
    expect(bubble(visitor, "gift wrapping")).to_have_count(1)
    second = int(visitor.evaluate("document.querySelector('webchat-app').client.openChatId"))
    expect(row(agent, second)).to_have_count(1)
    agent.locator("inbox-context").get_by_role("button", name=re.compile("gift wrapping")).click()
    expect(conversation(agent).locator("webchat-message .bubble", has_text="gift wrapping")).to_have_count(1)
    expect(row(agent, second).locator("button")).to_have_attribute("aria-current", "true")


def test_filters_mine_unassigned_all(context: Any, visitor_ctx: Any, browser: Any, server: Any) -> None:
    agent = sign_in_agent(context, server, "bo", "Bo")
    chats = []
    for text in ("filter one", "filter two", "filter three"):
        ctx = browser.new_context()
        try:
            chats.append(visitor_writes(ctx, server, text))
        finally:
            ctx.close()
    for chat in chats:
        expect(row(agent, chat)).to_have_count(1)
    row(agent, chats[0]).get_by_role("button").click()
    conversation(agent).get_by_role("button", name="Claim").click()
    expect(row(agent, chats[0])).to_contain_text("You")
    # another agent takes the second one
    other = sign_in_agent(visitor_ctx, server, "cy", "Cy")
    row(other, chats[1]).get_by_role("button").click()
    conversation(other).get_by_role("button", name="Claim").click()
    expect(row(agent, chats[1])).not_to_contain_text("Unassigned")

    expect(row(agent, chats[1])).to_contain_text("Cy")
    # hand the third over to Cy
    row(agent, chats[2]).get_by_role("button").click()
    conversation(agent).get_by_label("Hand over to").select_option(label="Cy")
    expect(conversation(agent).locator(".who")).to_have_text("Assigned to Cy")
    expect(row(other, chats[2])).to_contain_text("You")
    # a filter it does not match takes it off the list, not off the screen
    filter_button(agent, "assignee:none").click()
    expect(row(agent, chats[2])).to_have_count(0)
    expect(conversation(agent).locator(".who")).to_have_text("Assigned to Cy")
    filter_button(agent, "assignee:any").click()
    # and back to unassigned, by SQL (the API's unassign is tested with the API)
    sql(server.database_url, "UPDATE webchat.chats SET assignee_id = NULL WHERE id = $1", chats[2])
    agent.reload()
    expect(row(agent, chats[2])).to_contain_text("Unassigned")

    filter_button(agent, "assignee:me").click()
    expect(filter_button(agent, "assignee:me")).to_have_attribute("aria-pressed", "true")
    expect(row(agent, chats[0])).to_have_count(1)
    expect(row(agent, chats[1])).to_have_count(0)
    expect(row(agent, chats[2])).to_have_count(0)
    filter_button(agent, "assignee:none").click()
    expect(row(agent, chats[2])).to_have_count(1)
    expect(row(agent, chats[0])).to_have_count(0)
    expect(row(agent, chats[1])).to_have_count(0)
    filter_button(agent, "assignee:any").click()
    for chat in chats:
        expect(row(agent, chat)).to_have_count(1)
    # the filter is remembered across a reload
    filter_button(agent, "assignee:none").click()
    agent.reload()
    expect(filter_button(agent, "assignee:none")).to_have_attribute("aria-pressed", "true")
    expect(row(agent, chats[2])).to_have_count(1)
    expect(row(agent, chats[0])).to_have_count(0)


def test_a_new_conversation_is_announced(browser: Any, server: Any) -> None:
    ctx = browser.new_context(permissions=["notifications"], bypass_csp=True)
    ctx.set_default_timeout(10_000)
    try:
        ctx.add_init_script(NOTIFICATION_SPY)
        agent = sign_in_agent(ctx, server, "fay", "Fay")
        agent.get_by_role("button", name="Sound on").click()  # a click lets the page play sound
        agent.get_by_role("button", name="Sound off").click()
        expect(agent.get_by_role("button", name="Sound on")).to_be_visible()
        visitor = browser.new_context()
        try:
            chat = visitor_writes(visitor, server, "Hello, anyone there?")
        finally:
            visitor.close()
        expect(row(agent, chat)).to_have_count(1)
        agent.wait_for_function("window.__notes.length > 0")
        note = agent.evaluate("window.__notes[0]")
        assert note["title"].startswith("New conversation") and note["body"] == "Hello, anyone there?"
        expect(agent.locator("webchat-inbox .announce")).to_contain_text("New conversation")
    finally:
        ctx.close()


def test_keyboard_shortcuts(context: Any, browser: Any, server: Any) -> None:
    agent = sign_in_agent(context, server, "di", "Di")
    chats = []
    for text in ("keys one", "keys two"):
        ctx = browser.new_context()
        try:
            chats.append(visitor_writes(ctx, server, text))
        finally:
            ctx.close()
    for chat in chats:
        expect(row(agent, chat)).to_have_count(1)
    agent.locator("webchat-inbox h1").click()  # somewhere that is not a conversation or a field
    agent.keyboard.press("j")  # the first (newest) conversation
    expect(row(agent, chats[1]).locator("button")).to_have_attribute("aria-current", "true")
    agent.keyboard.press("j")
    expect(row(agent, chats[0]).locator("button")).to_have_attribute("aria-current", "true")
    agent.keyboard.press("Alt+ArrowUp")
    expect(row(agent, chats[1]).locator("button")).to_have_attribute("aria-current", "true")
    agent.keyboard.press("n")  # note mode, caret in the composer
    expect(conversation(agent)).to_have_attribute("mode", "note")
    agent.keyboard.type("typed after n")
    expect(agent.locator("inbox-conversation webchat-composer textarea")).to_have_value("typed after n")
    agent.locator("inbox-conversation webchat-composer textarea").fill("")
    agent.keyboard.press("Escape")
    agent.locator("inbox-conversation h2").click()
    agent.keyboard.press("r")
    expect(conversation(agent)).to_have_attribute("mode", "reply")
    agent.locator("inbox-conversation h2").click()
    agent.keyboard.press("?")
    expect(agent.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    agent.keyboard.press("Escape")
    expect(agent.get_by_role("dialog")).to_have_count(0)
    agent.keyboard.press("e")  # resolve
    expect(row(agent, chats[1])).to_have_count(0)


def test_anyone_but_an_agent_sees_how_to_sign_in_and_no_data(context: Any, visitor_ctx: Any, server: Any) -> None:
    _, chat = visitor_page(visitor_ctx, server, "a secret of mine")
    page = visitor_ctx.new_page()
    page.goto(server.base + "/inbox/")  # a guest with a conversation of their own
    expect(page.get_by_text(SIGN_IN_TEXT)).to_be_visible()
    expect(page.locator("inbox-list")).to_have_count(0)
    # a signed-in visitor of the site, a user not an agent
    user = context.new_page()
    user.goto(server.base + "/inbox/")
    token = identity_token("u1", "Una", secret=IDENTITY_SECRET)
    user.evaluate("""async (token) => {
      const me = await (await fetch('/webchat/me')).json();
      await fetch('/webchat/identify', {method: 'POST', body: JSON.stringify({token}),
        headers: {'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token}});
    }""", token)
    user.reload()
    expect(user.get_by_text(SIGN_IN_TEXT)).to_be_visible()
    expect(user.locator("inbox-list")).to_have_count(0)
    assert "a secret of mine" not in user.content()
    # a sign-in link that is not valid says so
    user.goto(server.base + "/inbox/#signin=not-a-real-link")
    expect(user.get_by_role("alert")).to_contain_text("sign-in link")
    assert "#signin" not in user.url
    assert chat


def test_a_sign_in_link_from_the_command_line_works_once(browser: Any, server: Any) -> None:
    out = subprocess.run([sys.executable, "-m", "webchat_server", "agent", "add", "Gus", "--email", "gus@example.org"],
                         env={**os.environ, "DATABASE_URL": server.database_url, "WEBCHAT_PORT": str(server.port)},
                         capture_output=True, text=True, check=True, timeout=60).stdout
    link = re.search(r"http\S+/inbox/#signin=\S+", out)
    assert link, out
    first, second = browser.new_context(), browser.new_context()
    try:
        page = first.new_page()
        page.goto(link.group(0))
        expect(page.locator("webchat-inbox webchat-status")).to_have_attribute("status", "live")
        expect(page.locator("webchat-inbox .me")).to_have_text("Gus")
        assert "#signin" not in page.url  # spent, and not left in the address bar or history
        again = second.new_page()
        again.goto(link.group(0))
        expect(again.get_by_role("alert")).to_contain_text("already used")
        expect(again.locator("inbox-list")).to_have_count(0)
    finally:
        first.close()
        second.close()


def test_phone_width_list_and_conversation_are_two_views(browser: Any, visitor_ctx: Any, server: Any) -> None:
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True, has_touch=True)
    ctx.set_default_timeout(10_000)
    try:
        agent = sign_in_agent(ctx, server, "ed", "Ed")
        chat = visitor_writes(visitor_ctx, server, "from a phone test")
        expect(agent.locator("webchat-inbox")).to_have_attribute("narrow", "")
        row(agent, chat).get_by_role("button").click()
        expect(agent.locator("inbox-list")).to_be_hidden()
        expect(conversation(agent).locator("webchat-message .bubble", has_text="from a phone test")).to_be_visible()
        # nothing wider than the screen
        assert agent.evaluate("document.documentElement.scrollWidth") <= 390
        conversation(agent).get_by_role("button", name="Visitor").click()
        expect(agent.locator("inbox-context")).to_be_visible()
        agent.get_by_role("button", name="Close visitor details").click()
        expect(agent.locator("inbox-context")).to_be_hidden()
        conversation(agent).get_by_role("button", name="Back to conversations").click()
        expect(agent.locator("inbox-list")).to_be_visible()
        expect(conversation(agent)).to_be_hidden()
    finally:
        ctx.close()


def test_page_runs_under_its_content_security_policy(browser: Any, server: Any) -> None:
    ctx = browser.new_context()
    try:
        violations: list[str] = []
        ctx.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
        page = ctx.new_page()
        response = page.goto(server.base + "/inbox/")
        assert response is not None
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "object-src 'none'" in policy
        expect(page.get_by_text(SIGN_IN_TEXT)).to_be_visible()
        assert violations == []
    finally:
        ctx.close()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_axe_reports_no_violations(browser: Any, visitor_ctx: Any, server: Any, theme: str) -> None:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True, color_scheme=theme)
    ctx.set_default_timeout(10_000)
    try:
        agent = sign_in_agent(ctx, server, f"axe-{theme}", "Axe Agent")
        assert axe_violations(agent) == [], "signed in, empty"
        visitor, chat = visitor_page(visitor_ctx, server, f"axe check {theme} https://example.com/order")
        sql(server.database_url, """UPDATE webchat.chats SET metadata = metadata || jsonb_build_object('context',
            jsonb_build_object('url', 'https://shop.example/teapots', 'title', 'Teapots', 'language', 'en-GB',
                               'user_agent', 'Mozilla/5.0 (X11; Linux x86_64) Chrome/140.0 Safari/537.36'))
            WHERE id = $1""", chat)
        expect(row(agent, chat)).to_have_count(1)
        row(agent, chat).get_by_role("button").click()
        conversation(agent).get_by_role("button", name="Claim").click()
        write(agent, "A reply")
        conversation(agent).get_by_role("button", name="Note").click()
        write(agent, "A note")
        expect(agent.locator("inbox-conversation webchat-message[note]")).to_have_count(1)
        expect(agent.locator("inbox-context")).to_contain_text("Teapots")
        assert axe_violations(agent) == [], f"conversation, {theme}"
        agent.get_by_role("button", name="Keyboard shortcuts").click()
        assert axe_violations(agent) == [], f"help, {theme}"
        agent.keyboard.press("Escape")
        agent.set_viewport_size({"width": 390, "height": 844})
        expect(agent.locator("webchat-inbox")).to_have_attribute("narrow", "")
        assert axe_violations(agent) == [], f"phone, conversation, {theme}"
        conversation(agent).get_by_role("button", name="Back to conversations").click()
        assert axe_violations(agent) == [], f"phone, list, {theme}"
        visitor.close()
        # the sign-in explanation
        page = browser.new_context(color_scheme=theme, bypass_csp=True).new_page()
        page.goto(server.base + "/inbox/")
        expect(page.get_by_text(SIGN_IN_TEXT)).to_be_visible()
        assert axe_violations(page) == [], f"signed out, {theme}"
        page.context.close()
    finally:
        ctx.close()
