"""The widget in a real browser (headless Chromium via Playwright) against a real server process."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from .browser_support import (
    avatar_names,
    bot_says,
    launcher_chat_id,
    make_bot,
    png,
    shop_site,
    sql,
)

pytestmark = pytest.mark.browser

NOTIFICATION_SPY = """
window.__notes = [];
const Real = window.Notification;
class Spy extends Real {
  constructor(title, options) { super(title, options); window.__notes.push({title, ...options}); }
}
window.Notification = Spy;
let hidden = false;
Object.defineProperty(document, 'visibilityState', {get: () => (hidden ? 'hidden' : 'visible'), configurable: true});
Object.defineProperty(document, 'hidden', {get: () => hidden, configurable: true});
window.__setHidden = (h) => { hidden = h; document.dispatchEvent(new Event('visibilitychange')); };
"""


def open_app(context: Any, server: Any) -> Page:
    page = context.new_page()
    page.goto(server.base + "/")
    expect(page.locator("webchat-status")).to_have_attribute("status", "live")
    return page


def send(page: Page, text: str) -> None:
    box = page.locator("webchat-composer textarea")
    box.fill(text)
    box.press("Enter")


def client(page: Page, expr: str) -> Any:
    return page.evaluate(f"(() => {{ const c = document.querySelector('webchat-app').client; return {expr}; }})()")


def bubble(page: Page, text: str) -> Any:
    return page.locator("webchat-message .bubble", has_text=text)


def wait_read(server: Any, chat: int, bot: int, seq: int) -> None:
    """Until the reader (the member that is not the bot) has told the server it read up to seq."""
    deadline = time.monotonic() + 10
    while sql(server.database_url, "SELECT max(last_read_seq) FROM webchat.chat_members WHERE chat_id = $1"
              " AND account_id <> $2", chat, bot) < seq:
        assert time.monotonic() < deadline, "the open chat was not marked read"
        time.sleep(0.05)


def chat_action(page: Page, item: Any, action: str) -> None:
    """A chat's actions menu (the "⋯" button in its row)."""
    item.get_by_role("button", name="Actions for").click()
    item.get_by_role("menuitem", name=action).click()


def start_chat(page: Page, text: str = "hello") -> int:
    send(page, text)
    expect(bubble(page, text)).to_have_count(1)
    # one read: the id the wait saw (a second read could race a chat-list reload under load)
    opened = page.wait_for_function("document.querySelector('webchat-app').client.openChatId")
    return int(opened.json_value())


def test_page_runs_under_its_content_security_policy(browser: Any, server: Any) -> None:
    # a context that honours CSP (the others bypass it: Playwright's string predicates use eval)
    ctx = browser.new_context()
    try:
        violations: list[str] = []
        ctx.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
        page = open_app(ctx, server)
        send(page, "under a strict policy")
        expect(bubble(page, "under a strict policy")).to_have_count(1)
        policy = page.evaluate("fetch('/').then((r) => r.headers.get('Content-Security-Policy'))")
        assert "script-src 'self' 'sha256-" in policy and "object-src 'none'" in policy
        # an injected inline script is refused
        page.evaluate("""() => { const s = document.createElement('script');
                                 s.textContent = 'window.__injected = 1'; document.body.append(s); }""")
        assert page.evaluate("window.__injected === undefined")
        assert any("inline script" in v or "script-src" in v for v in violations), violations
        violations.clear()
        page.reload()
        expect(page.locator("webchat-status")).to_have_attribute("status", "live")
        assert violations == []
    finally:
        ctx.close()


def test_send_and_bot_reply_by_sql(context: Any, server: Any) -> None:
    page = open_app(context, server)
    chat = start_chat(page, "Where is my parcel?")
    expect(page.locator("webchat-chat-list li[data-chat-id]")).to_have_count(1)
    bot = make_bot(server, chat, "Parcel Bot")
    bot_says(server, chat, bot, "It ships today.")
    expect(bubble(page, "It ships today.")).to_have_count(1)
    expect(page.locator("webchat-message", has_text="It ships today.").locator(".sender")).to_have_text("Parcel Bot")
    # the optimistic bubble was replaced by the stored one, not shown twice
    expect(bubble(page, "Where is my parcel?")).to_have_count(1)
    assert page.locator("webchat-message .bubble").first.get_attribute("data-seq") == "1"


def test_two_tabs_stay_in_sync(context: Any, server: Any) -> None:
    a = open_app(context, server)
    chat = start_chat(a, "first")
    b = open_app(context, server)
    expect(bubble(b, "first")).to_have_count(1)
    send(a, "from tab A")
    send(b, "from tab B")
    for page in (a, b):
        expect(bubble(page, "from tab A")).to_have_count(1)
        expect(bubble(page, "from tab B")).to_have_count(1)
    # unread state: a bot message in an open, visible chat is read in both tabs
    bot = make_bot(server, chat)
    bot_says(server, chat, bot, "bot line")
    for page in (a, b):
        expect(bubble(page, "bot line")).to_have_count(1)
    time.sleep(0.3)
    for page in (a, b):
        assert page.locator("webchat-message .bubble", has_text="from tab A").count() == 1
        expect(page.locator(f"webchat-chat-list li[data-chat-id='{chat}'] .badge")).to_have_count(0)
    # a chat created in one tab shows up in the other
    a.get_by_role("button", name="+ New chat").click()
    expect(b.locator("webchat-chat-list li[data-chat-id]")).to_have_count(2)


def test_typing_indicator_appears_and_clears(context: Any, server: Any) -> None:
    page = open_app(context, server)
    chat = start_chat(page)
    bot = make_bot(server, chat, "Typist")
    typing = page.locator("webchat-chat .typing")
    sql(server.database_url, "SELECT webchat.typing($1, $2, true)", chat, bot)
    expect(typing).to_have_text("Typist is typing…")
    sql(server.database_url, "SELECT webchat.typing($1, $2, false)", chat, bot)
    expect(typing).to_have_text("")
    # without a refresh the indicator expires on its own
    sql(server.database_url, "SELECT webchat.typing($1, $2, true)", chat, bot)
    expect(typing).to_have_text("Typist is typing…")
    expect(typing).to_have_text("", timeout=9000)

    # a person typing in another browser shows up here, and two typists are named together
    other_ctx = page.context.browser.new_context()
    try:
        other = open_app(other_ctx, server)
        other_id = int(client(other, "c.me.id"))
        sql(server.database_url, "INSERT INTO webchat.chat_members (chat_id, account_id) VALUES ($1, $2)",
            chat, other_id)
        other.reload()
        expect(other.locator("webchat-status")).to_have_attribute("status", "live")
        other.locator(f"webchat-chat-list li[data-chat-id='{chat}'] .open").click()
        other.locator("webchat-composer textarea").press_sequentially("hel", delay=50)
        sql(server.database_url, "SELECT webchat.typing($1, $2, true)", chat, bot)
        expect(typing).to_contain_text(" and ")
        expect(typing).to_contain_text("are typing…")
    finally:
        other_ctx.close()


def test_websocket_blocked_falls_back_to_polling_and_back(context: Any, server: Any) -> None:
    blocked = {"on": True}

    def route(ws: Any) -> None:
        if blocked["on"]:
            ws.close()
        else:
            ws.connect_to_server()

    page = context.new_page()
    page.route_web_socket("**/ws/webchat/**", route)
    page.goto(server.base + "/")
    expect(page.locator("webchat-status")).to_have_attribute("status", "polling", timeout=15000)
    chat = start_chat(page, "sent while polling")
    bot = make_bot(server, chat)
    bot_says(server, chat, bot, "delivered by long-poll")
    expect(bubble(page, "delivered by long-poll")).to_have_count(1)
    # the socket works again: the client upgrades back and keeps receiving, once
    blocked["on"] = False
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(page.locator("webchat-status")).to_have_attribute("status", "live", timeout=15000)
    bot_says(server, chat, bot, "back on the socket")
    expect(bubble(page, "back on the socket")).to_have_count(1)
    expect(bubble(page, "delivered by long-poll")).to_have_count(1)


def test_server_restart_reconnects_and_catches_up(context: Any, server: Any) -> None:
    page = open_app(context, server)
    chat = start_chat(page, "before restart")
    bot = make_bot(server, chat)
    server.stop()
    expect(page.locator("webchat-status")).to_have_attribute("status", "reconnecting")
    bot_says(server, chat, bot, "written while the server was down")
    server.start()
    expect(page.locator("webchat-status")).to_have_attribute("status", "live", timeout=20000)
    expect(bubble(page, "written while the server was down")).to_have_count(1)
    bot_says(server, chat, bot, "after restart")
    expect(bubble(page, "after restart")).to_have_count(1)
    expect(bubble(page, "before restart")).to_have_count(1)


def test_notification_when_hidden_once_across_tabs(browser: Any, server: Any) -> None:
    ctx = browser.new_context(permissions=["notifications"], bypass_csp=True)
    try:
        ctx.add_init_script(NOTIFICATION_SPY)
        a = open_app(ctx, server)
        chat = start_chat(a, "notify me")
        b = open_app(ctx, server)
        expect(bubble(b, "notify me")).to_have_count(1)
        bot = make_bot(server, chat, "Alert Bot")
        # visible tab with the chat open: no notification
        bot_says(server, chat, bot, "you are looking at this")
        expect(bubble(a, "you are looking at this")).to_have_count(1)
        expect(bubble(b, "you are looking at this")).to_have_count(1)
        for page in (a, b):
            page.evaluate("window.__setHidden(true)")
        bot_says(server, chat, bot, "while you were away")
        expect(bubble(a, "while you were away")).to_have_count(1)
        expect(bubble(b, "while you were away")).to_have_count(1)
        a.wait_for_function("window.__notes.length > 0 || true")
        time.sleep(0.5)
        notes = a.evaluate("window.__notes") + b.evaluate("window.__notes")
        assert len(notes) == 1, notes
        assert notes[0]["body"] == "Alert Bot: while you were away"
        assert notes[0]["tag"] == f"webchat-chat-{chat}"
    finally:
        ctx.close()


def test_html_in_messages_is_text(context: Any, server: Any) -> None:
    page = open_app(context, server)
    evil = "<img src=x onerror=\"window.__xss=1\"> <b>bold?</b> https://example.com/a?b=1"
    chat = start_chat(page, evil)
    bot = make_bot(server, chat)
    bot_says(server, chat, bot, "<script>window.__xss=2</script>")
    expect(bubble(page, "<script>window.__xss=2</script>")).to_have_count(1)
    expect(bubble(page, evil)).to_have_count(1)
    assert page.locator("webchat-message .bubble img").count() == 0
    assert page.locator("webchat-message .bubble b").count() == 0
    assert page.evaluate("window.__xss === undefined")
    link = page.locator("webchat-message .bubble a").first
    assert link.get_attribute("href") == "https://example.com/a?b=1"
    assert link.get_attribute("rel") == "noopener noreferrer nofollow"


def test_chat_create_rename_archive_delete(context: Any, server: Any) -> None:
    page = open_app(context, server)
    start_chat(page, "first chat")
    page.get_by_role("button", name="+ New chat").click()
    items = page.locator("webchat-chat-list li[data-chat-id]")
    expect(items).to_have_count(2)
    new_item = items.first
    expect(new_item.locator(".title")).to_contain_text("New chat")
    chat_action(page, new_item, "Rename")
    box = page.locator("webchat-chat-list input")
    box.fill("Billing questions")
    box.press("Enter")
    expect(items.first.locator(".title")).to_contain_text("Billing questions")
    expect(page.locator("webchat-chat h2")).to_have_text("Billing questions")
    chat_action(page, items.first, "Archive")
    expect(items).to_have_count(1)
    page.get_by_role("button", name="Archived").click()
    expect(page.locator("webchat-chat-list li[data-chat-id]")).to_have_count(1)
    expect(page.locator("webchat-chat-list li[data-chat-id] .title")).to_contain_text("Billing questions")
    page.get_by_role("button", name="Active").click()
    page.once("dialog", lambda d: d.accept())
    chat_action(page, page.locator("webchat-chat-list li[data-chat-id]").first, "Delete")
    expect(page.locator("webchat-chat-list li[data-chat-id]")).to_have_count(0)
    # survives a reload: the server has the same state
    page.reload()
    expect(page.locator("webchat-status")).to_have_attribute("status", "live")
    expect(page.locator("webchat-chat-list li[data-chat-id]")).to_have_count(0)
    page.get_by_role("button", name="Archived").click()
    expect(page.locator("webchat-chat-list li[data-chat-id]")).to_have_count(1)


def test_image_upload_preview_and_display(context: Any, server: Any, tmp_path: Path) -> None:
    page = open_app(context, server)
    start_chat(page, "a picture follows")
    image = tmp_path / "dot.png"
    image.write_bytes(png())
    page.locator("webchat-composer input[type=file]").set_input_files(str(image))
    expect(page.locator("webchat-composer [data-testid=preview] img")).to_be_visible()
    page.locator("webchat-composer textarea").press("Enter")
    shown = page.locator("webchat-message .bubble img")
    expect(shown).to_have_count(1)
    page.wait_for_function(
        "(() => { const b = [...document.querySelector('webchat-app').client.messages.byChat.values()]"
        ".flatMap((m) => [...m.values()]).find((m) => m.media_type === 'image'); return b && b.id; })()")
    # resolved against the chat server (api-base), not the page: right for a widget on another origin too
    expect(shown).to_have_attribute("src", __import__("re").compile("^" + server.base + r"/webchat/media/\d+$"))
    page.wait_for_function("(() => { const img = [...document.querySelectorAll('webchat-app')]"
                           "[0].shadowRoot.querySelector('webchat-chat').shadowRoot"
                           ".querySelector('webchat-message-list').shadowRoot"
                           ".querySelectorAll('webchat-message'); return img.length >= 2; })()")
    assert shown.evaluate("(img) => img.complete && img.naturalWidth") == 8
    # a wrong type is refused before sending
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    page.locator("webchat-composer input[type=file]").set_input_files(str(bad))
    expect(page.locator("webchat-composer .error")).to_contain_text("Only images")


def test_history_pages_in_older_messages_by_scrolling(context: Any, server: Any) -> None:
    page = open_app(context, server)
    chat = start_chat(page, "m0")
    bot = make_bot(server, chat)
    sql(server.database_url,
        "INSERT INTO webchat.messages (chat_id, sender_id, text)"
        " SELECT $1, $2, 'old ' || g FROM generate_series(1, 120) g",
        chat, bot)
    wait_read(server, chat, bot, 121)
    page.reload()
    expect(page.locator("webchat-status")).to_have_attribute("status", "live")
    expect(bubble(page, "old 120")).to_have_count(1)
    expect(page.locator("webchat-message")).to_have_count(50)
    # the reader scrolls to the top, again and again: older pages arrive with no button pressed
    scroller = page.locator("webchat-message-list .scroller")
    deadline = time.monotonic() + 20
    while bubble(page, "m0").count() == 0:
        assert time.monotonic() < deadline, "older history did not load by scrolling"
        scroller.evaluate("(el) => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); }")
        page.wait_for_timeout(100)
    expect(page.locator("webchat-message")).to_have_count(121)
    # the reader's place was kept: the messages above did not push the view to the end
    assert scroller.evaluate("(el) => el.scrollHeight - el.scrollTop - el.clientHeight") > 200


def user_token(sub: str, name: str, secret: str | None = None) -> str:
    """An HS256 JWT as an embedding site's backend issues it, under the browser server's secret."""
    from .browser_support import IDENTITY_SECRET
    from .conftest import identity_token

    return identity_token(sub, name, secret or IDENTITY_SECRET)


def open_app_with_token(context: Any, server: Any, token: str) -> Page:
    """The demo page with its <webchat-app> replaced by one carrying `user-token`."""
    page = context.new_page()
    page.goto(server.base + "/")
    expect(page.locator("webchat-status")).to_have_attribute("status", "live")
    page.evaluate("""(token) => { const old = document.querySelector('webchat-app');
      const app = document.createElement('webchat-app'); app.id = 'app';
      app.setAttribute('user-token', token); old.replaceWith(app); }""", token)
    return page


def test_signed_in_user_keeps_guest_chats(context: Any, server: Any) -> None:
    page = open_app(context, server)
    start_chat(page, "asked as a guest")
    token = user_token("customer-7", "Ada Lovelace")
    page = open_app_with_token(context, server, token)
    expect(page.locator("webchat-app .me")).to_have_text("Ada Lovelace")
    expect(bubble(page, "asked as a guest")).to_have_count(1)
    # the same user on another device (its own page view, so its own token: tokens sign in once)
    other = page.context.browser.new_context(bypass_csp=True)
    try:
        laptop = open_app_with_token(other, server, user_token("customer-7", "Ada Lovelace"))
        expect(bubble(laptop, "asked as a guest")).to_have_count(1)
    finally:
        other.close()
    # a forged token in a fresh browser is refused, the page says so, and no chat leaks
    stranger = page.context.browser.new_context(bypass_csp=True)
    try:
        wrong = "not-the-secret-but-long-enough-for-hs256"
        forged = open_app_with_token(stranger, server, user_token("customer-7", "Mallory", wrong))
        expect(forged.locator("webchat-app webchat-banner .banner")).to_be_visible()
        expect(bubble(forged, "asked as a guest")).to_have_count(0)
    finally:
        stranger.close()


def test_edit_and_delete_own_message(context: Any, server: Any) -> None:
    page = open_app(context, server)
    start_chat(page, "teh typo")
    mine = page.locator("webchat-message", has_text="teh typo")
    mine.hover()
    mine.get_by_role("button", name="Message actions").click()
    mine.get_by_role("menuitem", name="Edit").click()
    box = page.locator("webchat-message textarea")
    box.fill("the typo, fixed")
    box.press("Enter")
    expect(bubble(page, "the typo, fixed")).to_have_count(1)
    expect(page.locator("webchat-message", has_text="the typo, fixed").locator(".meta")).to_contain_text("edited")
    fixed = page.locator("webchat-message", has_text="the typo, fixed")
    fixed.hover()
    fixed.get_by_role("button", name="Message actions").click()
    fixed.get_by_role("menuitem", name="Delete").click()
    fixed.get_by_role("group", name="Delete this message?").get_by_role("button", name="Delete").click()
    expect(bubble(page, "This message was deleted")).to_have_count(1)
    # other sessions see both changes live, and after a reload the state is the server's
    page.reload()
    expect(bubble(page, "This message was deleted")).to_have_count(1)
    expect(bubble(page, "the typo, fixed")).to_have_count(0)


def test_failed_send_is_marked_and_retried_once(context: Any, server: Any) -> None:
    page = open_app(context, server)
    start_chat(page, "first")
    failing = {"on": True}

    def route(r: Any) -> None:
        if failing["on"] and r.request.method == "POST":
            r.abort()
        else:
            r.continue_()

    page.route("**/webchat/send/", route)
    send(page, "flaky network")
    expect(page.locator("webchat-message", has_text="flaky network").locator(".failed")).to_have_text("Not sent")
    failing["on"] = False
    page.locator("webchat-message", has_text="flaky network").get_by_role("button", name="Retry").click()
    expect(page.locator("webchat-message", has_text="flaky network").locator(".failed")).to_have_count(0)
    expect(bubble(page, "flaky network")).to_have_count(1)
    page.reload()
    expect(bubble(page, "flaky network")).to_have_count(1)


def test_new_messages_pill_when_scrolled_up(context: Any, server: Any) -> None:
    page = open_app(context, server)
    chat = start_chat(page, "start")
    bot = make_bot(server, chat)
    for i in range(40):
        bot_says(server, chat, bot, f"filler {i}")
    expect(bubble(page, "filler 39")).to_have_count(1)
    page.locator("webchat-message-list .scroller").evaluate("(el) => { el.scrollTop = 0; }")
    page.wait_for_timeout(200)
    bot_says(server, chat, bot, "arrived while reading history")
    pill = page.locator("webchat-message-list .pill")
    expect(pill).to_have_text("1 new message ↓")
    pill.click()
    expect(pill).to_have_count(0)
    at_bottom = page.locator("webchat-message-list .scroller").evaluate(
        "(el) => el.scrollHeight - el.scrollTop - el.clientHeight < 40")
    assert at_bottom


def test_single_chat_widget_embedded_alone(context: Any, server: Any) -> None:
    page = context.new_page()
    page.goto(server.base + "/web/embed-chat.html")
    expect(page.locator("webchat-chat webchat-status")).to_have_attribute("status", "live")
    expect(page.locator("webchat-chat h2")).to_have_text("New conversation")
    box = page.locator("webchat-composer textarea")
    box.fill("Do you ship to Norway?")
    box.press("Enter")
    expect(page.locator("webchat-message .bubble", has_text="Do you ship to Norway?")).to_have_count(1)
    expect(page.locator("webchat-chat h2")).to_have_text("Do you ship to Norway?")
    chat = int(page.evaluate("document.querySelector('webchat-chat').client.openChatId"))
    bot = make_bot(server, chat, "Shop Bot")
    bot_says(server, chat, bot, "Yes, in 3 days.")
    expect(page.locator("webchat-message .bubble", has_text="Yes, in 3 days.")).to_have_count(1)


def test_notification_click_opens_its_chat(browser: Any, server: Any) -> None:
    ctx = browser.new_context(permissions=["notifications"], bypass_csp=True)
    try:
        ctx.add_init_script(NOTIFICATION_SPY + "\nconst Spied = window.Notification;"
                            "window.__instances = [];"
                            "window.Notification = class extends Spied {"
                            "  constructor(t, o) { super(t, o); window.__instances.push(this); } };")
        page = open_app(ctx, server)
        first = start_chat(page, "first chat")
        page.get_by_role("button", name="+ New chat").click()
        page.wait_for_function(f"document.querySelector('webchat-app').client.openChatId !== {first}")
        bot = make_bot(server, first, "Ping Bot")
        # visible tab, but the message is in the chat that is not open: notify, with an unread badge
        bot_says(server, first, bot, "over here")
        page.wait_for_function("window.__instances.length === 1")
        expect(page.locator(f"webchat-chat-list li[data-chat-id='{first}'] .badge")).to_have_text("1")
        page.evaluate("window.__instances[0].onclick()")
        page.wait_for_function(f"document.querySelector('webchat-app').client.openChatId === {first}")
        expect(bubble(page, "over here")).to_have_count(1)
        expect(page.locator(f"webchat-chat-list li[data-chat-id='{first}'] .badge")).to_have_count(0)
    finally:
        ctx.close()


def test_offline_then_online_catches_up(context: Any, server: Any) -> None:
    page = open_app(context, server)
    chat = start_chat(page, "going offline")
    bot = make_bot(server, chat)
    context.set_offline(True)
    expect(page.locator("webchat-status")).to_have_attribute("status", "offline")
    expect(page.locator("webchat-status")).to_contain_text("Offline")
    bot_says(server, chat, bot, "sent while you were offline")
    context.set_offline(False)
    expect(page.locator("webchat-status")).to_have_attribute("status", "live")
    expect(bubble(page, "sent while you were offline")).to_have_count(1)
    bot_says(server, chat, bot, "and live again")
    expect(bubble(page, "and live again")).to_have_count(1)
    expect(bubble(page, "sent while you were offline")).to_have_count(1)


def test_inactive_chat_counts_unread_and_reads_when_active(context: Any, server: Any) -> None:
    # the launcher's contract: a closed panel (active=false) keeps the connection but reads nothing
    page = context.new_page()
    page.goto(server.base + "/web/embed-chat.html")
    expect(page.locator("webchat-chat webchat-status")).to_have_attribute("status", "live")
    send(page, "anyone?")
    expect(bubble(page, "anyone?")).to_have_count(1)
    page.wait_for_function("document.querySelector('webchat-chat').client.openChatId !== null")
    chat = int(page.evaluate("document.querySelector('webchat-chat').client.openChatId"))
    page.evaluate("""() => { const el = document.querySelector('webchat-chat'); window.__unread = [];
      el.addEventListener('webchat-unread', (e) => window.__unread.push(e.detail.count)); el.active = false; }""")
    bot = make_bot(server, chat, "Shop Bot")
    bot_says(server, chat, bot, "one")
    bot_says(server, chat, bot, "two")
    expect(bubble(page, "two")).to_have_count(1)
    page.wait_for_function("window.__unread.at(-1) === 2")
    assert sql(server.database_url, "SELECT last_read_seq FROM webchat.chat_members WHERE chat_id = $1"
               " AND account_id <> $2", chat, bot) < 3
    page.evaluate("document.querySelector('webchat-chat').active = true")
    page.wait_for_function("window.__unread.at(-1) === 0")
    deadline = time.monotonic() + 10
    while sql(server.database_url, "SELECT last_read_seq FROM webchat.chat_members WHERE chat_id = $1"
              " AND account_id <> $2", chat, bot) != 3:
        assert time.monotonic() < deadline, "the chat was not marked read on becoming active"
        time.sleep(0.05)


# -- <webchat-launcher> on the sample host page (the one-tag bundle, no import map) -------------
LAUNCHER = "/web/embed-launcher.html"
SITE_TITLE = "Fernwood Bakery · Sourdough, pastries and coffee"


def focused_in_launcher(page: Page) -> str:
    return str(page.evaluate("""() => { const root = document.querySelector('webchat-launcher').shadowRoot;
      const el = document.activeElement === root.host ? root.activeElement : null;
      return el ? el.className : ''; }"""))


def test_launcher_opens_sends_closes_counts_unread_and_survives_reload(browser: Any, server: Any) -> None:
    # honours our pages' CSP: the bundle is one self-hosted module, nothing inline, no import map
    ctx = browser.new_context(viewport={"width": 1100, "height": 700})
    ctx.set_default_timeout(10_000)
    try:
        page = ctx.new_page()
        page.goto(server.base + LAUNCHER)
        assert page.locator("script[type=importmap]").count() == 0
        opener = page.get_by_role("button", name="Open chat with Fernwood Bakery")
        expect(opener).to_be_visible()
        expect(opener).to_have_attribute("aria-expanded", "false")
        # a visitor who never opened the chat costs the server nothing: no conversation yet
        assert page.locator("webchat-launcher webchat-chat").count() == 0
        opener.click()
        panel = page.get_by_role("dialog", name="Fernwood Bakery")
        expect(panel).to_be_visible()
        expect(page.locator("webchat-launcher webchat-status")).to_have_count(0)  # the panel has its own header
        # focus goes to the composer, once the conversation has loaded
        expect(page.locator("webchat-launcher webchat-composer textarea")).to_be_focused()
        send(page, "hello from the launcher")
        expect(bubble(page, "hello from the launcher")).to_have_count(1)
        chat = launcher_chat_id(page)
        # Escape closes, and focus goes back to the button
        page.locator("webchat-composer textarea").focus()
        page.keyboard.press("Escape")
        expect(panel).to_be_hidden()
        assert focused_in_launcher(page) == "bubble"
        closed = page.get_by_role("button", name="Open chat with Fernwood Bakery")
        expect(closed).to_have_attribute("aria-expanded", "false")
        # replies while closed: a badge on the button, the count in its name and in the page title
        bot = make_bot(server, chat, "Baker Bot")
        bot_says(server, chat, bot, "Fresh loaves at 7!")
        bot_says(server, chat, bot, "Want one saved?")
        badge = page.locator("webchat-launcher .badge")
        expect(badge).to_have_text("2")
        expect(page.get_by_role("button", name="Open chat with Fernwood Bakery, 2 unread messages")).to_be_visible()
        expect(page).to_have_title("(2) " + SITE_TITLE)
        # the replies (seq 2 and 3) were not marked read while closed; the visitor's own first message
        # may or may not be (the chat opens as the send returns: Escape can come before that read)
        assert sql(server.database_url, "SELECT last_read_seq FROM webchat.chat_members WHERE chat_id = $1"
                   " AND account_id <> $2", chat, bot) < 2
        # a reload keeps it closed, with the count from the server
        page.reload()
        expect(badge).to_have_text("2")
        expect(page).to_have_title("(2) " + SITE_TITLE)
        expect(panel).to_be_hidden()
        # opening reads them: badge and title prefix go away
        page.get_by_role("button", name="Open chat with Fernwood Bakery, 2 unread messages").click()
        expect(bubble(page, "Want one saved?")).to_have_count(1)
        expect(badge).to_have_count(0)
        expect(page).to_have_title(SITE_TITLE)
        expect(page.get_by_role("button", name="Close chat with Fernwood Bakery").first).to_be_visible()
        # open is remembered across a reload too
        page.reload()
        expect(panel).to_be_visible()
        expect(bubble(page, "Fresh loaves at 7!")).to_have_count(1)
        expect(bubble(page, "hello from the launcher")).to_have_count(1)
        # and closing with the bubble button is remembered
        page.locator("webchat-launcher button.bubble").click()
        expect(panel).to_be_hidden()
        page.reload()
        expect(page.get_by_role("button", name="Open chat with Fernwood Bakery")).to_be_visible()
        expect(panel).to_be_hidden()
    finally:
        ctx.close()


def test_launcher_full_screen_on_a_phone(browser: Any, server: Any) -> None:
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    ctx.set_default_timeout(10_000)
    try:
        page = ctx.new_page()
        page.goto(server.base + LAUNCHER)
        bubble_button = page.locator("webchat-launcher button.bubble")
        box = bubble_button.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 390 and box["y"] + box["height"] <= 844
        bubble_button.click()
        panel = page.get_by_role("dialog", name="Fernwood Bakery")
        expect(panel).to_be_visible()
        assert panel.bounding_box() == {"x": 0, "y": 0, "width": 390, "height": 844}
        expect(bubble_button).to_be_hidden()  # the panel's own close button takes over
        send(page, "from my phone")
        expect(bubble(page, "from my phone")).to_have_count(1)
        for part in ("webchat-composer textarea", "webchat-composer button.primary"):
            b = page.locator(part).bounding_box()
            assert b is not None and b["x"] >= 0 and b["x"] + b["width"] <= 390 and b["y"] + b["height"] <= 844, part
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        close = page.locator("webchat-launcher button.close")
        cb = close.bounding_box()
        assert cb is not None and cb["width"] >= 44 and cb["height"] >= 44
        close.click()
        expect(panel).to_be_hidden()
        expect(bubble_button).to_be_visible()
    finally:
        ctx.close()


def test_launcher_corner_offset_and_chime(context: Any, server: Any) -> None:
    page = context.new_page()
    page.goto(server.base + LAUNCHER)
    page.evaluate("""() => { const l = document.querySelector('webchat-launcher');
      l.setAttribute('position', 'top-left'); l.setAttribute('offset', '32'); l.setAttribute('sound', '');
      window.__chimes = 0; l.addEventListener('webchat-chime', () => { window.__chimes += 1; }); }""")
    button = page.locator("webchat-launcher button.bubble")
    expect(page.locator("webchat-launcher .root")).to_have_css("left", "32px")
    box = button.bounding_box()
    assert box is not None and (box["x"], box["y"]) == (32, 32)
    button.click()
    send(page, "ring me")
    expect(bubble(page, "ring me")).to_have_count(1)
    chat = launcher_chat_id(page)
    page.keyboard.press("Escape")
    bot = make_bot(server, chat, "Bell Bot")
    bot_says(server, chat, bot, "ding")
    expect(page.locator("webchat-launcher .badge")).to_have_text("1")
    page.wait_for_function("window.__chimes === 1")
    # off by default: the sample page's launcher has no `sound` attribute
    assert page.evaluate("document.querySelector('webchat-launcher').sound") is True
    page.reload()
    assert page.evaluate("document.querySelector('webchat-launcher').sound") is False


# -- pinned to the newest message -------------------------------------------------------------------

IN_VIEW = """(el) => { const box = el.getRootNode().querySelector('.scroller').getBoundingClientRect();
  const r = el.getBoundingClientRect();
  return r.height > 0 && r.bottom <= box.bottom + 1 && r.bottom > box.top
    && (r.top >= box.top - 1 || r.height > box.height); }"""


def message(page: Page, text: str) -> Any:
    return page.locator("webchat-message", has=page.locator(".bubble", has_text=text))


def expect_in_view(page: Page, text: str, timeout: float = 10.0) -> None:
    """The message is inside the message log's visible box (polled: layout settles after events)."""
    el = message(page, text).last
    expect(el).to_have_count(1)
    deadline = time.monotonic() + timeout
    while not el.evaluate(IN_VIEW):
        assert time.monotonic() < deadline, f"{text!r} is not inside the message log's visible box"
        page.wait_for_timeout(50)


def fill_chat(server: Any, chat: int, bot: int, n: int, prefix: str = "filler") -> None:
    sql(server.database_url, "INSERT INTO webchat.messages (chat_id, sender_id, text)"
        " SELECT $1, $2, $3 || ' ' || g || ' ' || repeat('lorem ipsum ', 6) FROM generate_series(0, $4 - 1) g",
        chat, bot, prefix, n)


def bot_image(server: Any, chat: int, bot: int, data: bytes) -> None:
    sql(server.database_url, """WITH m AS (INSERT INTO webchat.media (chat_id, uploader_id, content_type, size, bytes)
                                 VALUES ($1, $2, 'image/png', length($3::bytea), $3::bytea) RETURNING id)
        INSERT INTO webchat.messages (chat_id, sender_id, media_id, media_type) SELECT $1, $2, id, 'image' FROM m""",
        chat, bot, data)


def test_opens_on_newest_and_stays_pinned(context: Any, server: Any) -> None:
    page = open_app(context, server)
    chat = start_chat(page, "the first message")
    bot = make_bot(server, chat, "Pin Bot")
    fill_chat(server, chat, bot, 60)
    expect_in_view(page, "filler 59")
    # a reload (with everything read) lands on the newest message, not on the top of the loaded page
    wait_read(server, chat, bot, 61)
    page.reload()
    expect(page.locator("webchat-status")).to_have_attribute("status", "live")
    expect_in_view(page, "filler 59")
    # an incoming reply keeps the view at the end
    bot_says(server, chat, bot, "an incoming reply")
    expect_in_view(page, "an incoming reply")
    # an image that loads after the next message arrived still leaves the newest message in view
    held: list[Any] = []
    page.route("**/webchat/media/*", lambda r: held.append(r))
    bot_image(server, chat, bot, png(40, 600))
    bot_says(server, chat, bot, "text after the image")
    expect_in_view(page, "text after the image")
    page.wait_for_function("true")
    deadline = time.monotonic() + 10
    while not held:
        assert time.monotonic() < deadline, "the image was never requested"
        page.wait_for_timeout(50)
    for r in held:
        r.continue_()
    img = page.locator("webchat-message .bubble img").last
    expect(img).to_have_js_property("complete", True)
    assert img.evaluate("(el) => el.getBoundingClientRect().height") > 200
    expect_in_view(page, "text after the image")
    # a burst keeps the end too
    fill_chat(server, chat, bot, 30, "burst")
    expect_in_view(page, "burst 29")


def test_long_chat_keeps_a_bounded_dom_window(context: Any, server: Any) -> None:
    """Paged-in history grows the window only while the reader is up in it; at the live end the DOM
    holds the newest 150 messages, and new messages while up in history wait for the reader."""
    page = open_app(context, server)
    chat = start_chat(page, "the first message")
    bot = make_bot(server, chat, "Long Bot")
    fill_chat(server, chat, bot, 300)
    wait_read(server, chat, bot, 301)
    page.reload()
    expect(page.locator("webchat-status")).to_have_attribute("status", "live")
    expect(bubble(page, "filler 299")).to_have_count(1)
    items = page.locator("webchat-message")
    scroller = page.locator("webchat-message-list .scroller")
    deadline = time.monotonic() + 30
    while bubble(page, "the first message").count() == 0:  # up to the top: the window grows
        assert time.monotonic() < deadline, "older history did not load by scrolling"
        scroller.evaluate("(el) => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); }")
        page.wait_for_timeout(100)
    expect(items).to_have_count(301)
    # new messages while up in history are counted, not rendered
    bot_says(server, chat, bot, "while away")
    expect(page.locator("webchat-message-list .pill")).to_have_text("1 new message ↓")
    expect(items).to_have_count(301)
    # scrolling down reaches them; back at the live end the window shrinks to the newest 150
    deadline = time.monotonic() + 30
    while bubble(page, "while away").count() == 0 or items.count() != 150:
        assert time.monotonic() < deadline, "the window did not come back to the live end"
        scroller.evaluate("(el) => { el.scrollTop = el.scrollHeight; el.dispatchEvent(new Event('scroll')); }")
        page.wait_for_timeout(100)
    expect(page.locator("webchat-message-list .pill")).to_have_count(0)
    bot_says(server, chat, bot, "live again")
    expect_in_view(page, "live again")
    expect(items).to_have_count(150)


def test_opens_on_first_unread_with_divider(context: Any, server: Any) -> None:
    page = open_app(context, server)
    chat = start_chat(page, "asked earlier")
    bot = make_bot(server, chat, "Later Bot")
    page.get_by_role("button", name="+ New chat").click()
    page.wait_for_function(f"document.querySelector('webchat-app').client.openChatId !== {chat}")
    fill_chat(server, chat, bot, 40, "unread")
    expect(page.locator(f"webchat-chat-list li[data-chat-id='{chat}'] .badge")).to_have_text("40")
    page.locator(f"webchat-chat-list li[data-chat-id='{chat}'] .open").click()
    divided = page.locator("webchat-message[divider]")
    expect(divided).to_have_count(1)
    expect(divided.locator(".sep.new")).to_have_text("New messages")
    expect(divided.locator(".bubble")).to_contain_text("unread 0 ")
    expect_in_view(page, "unread 0 ")
    assert not message(page, "unread 39").evaluate(IN_VIEW)
    expect(page.locator(f"webchat-chat-list li[data-chat-id='{chat}'] .badge")).to_have_count(0)


# -- phone layout -----------------------------------------------------------------------------------

LONG_WORD = "Supercalifragilisticexpialidocious" * 4

DEEP_JS = """const all = (sel, root = document) => {
  const out = [...root.querySelectorAll(sel)];
  for (const el of root.querySelectorAll('*')) if (el.shadowRoot) out.push(...all(sel, el.shadowRoot));
  return out;
};"""


def on_screen(page: Page, selector: str) -> bool:
    return bool(page.locator(selector).evaluate(
        "(el) => { const r = el.getBoundingClientRect(); return r.width > 0 && r.left >= 0 && r.top >= 0"
        " && r.right <= innerWidth && r.bottom <= innerHeight; }"))


def no_sideways_scroll(page: Page) -> None:
    widths = page.evaluate(f"""(() => {{ {DEEP_JS}
      const wide = all('*').filter((el) => el.scrollWidth > el.clientWidth + 1
        && ['auto', 'scroll'].includes(getComputedStyle(el).overflowX));
      return {{doc: document.documentElement.scrollWidth, inner: innerWidth,
               wide: wide.map((el) => el.className || el.localName)}};
    }})()""")
    assert widths["doc"] <= widths["inner"] and not widths["wide"], widths


def test_phone_layout(browser: Any, server: Any) -> None:
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True, has_touch=True)
    ctx.set_default_timeout(10_000)
    try:
        page = open_app(ctx, server)
        # no chat yet: the conversation view, to type in at once (test_phone_first_visit_types_at_once)
        expect(page.locator("webchat-app")).to_have_attribute("view", "chat")
        send(page, "short chat")
        expect(bubble(page, "short chat")).to_have_count(1)
        page.get_by_role("button", name="Back to chats").click()
        expect(page.locator("webchat-app")).to_have_attribute("view", "list")
        page.get_by_role("button", name="+ New chat").click()
        send(page, LONG_WORD)
        expect(page.locator("webchat-chat h2")).to_contain_text("Supercali")
        chat = int(client(page, "c.openChatId"))
        bot = make_bot(server, chat, "A bot with a " + LONG_WORD + " name")
        bot_says(server, chat, bot, LONG_WORD + " " + LONG_WORD)
        expect(bubble(page, LONG_WORD + " " + LONG_WORD)).to_have_count(1)
        # long words and titles wrap or ellipsize: the composer and Send are fully on screen
        for sel in ("webchat-composer textarea", "webchat-composer button[type=submit]", "webchat-chat h2",
                    "webchat-chat webchat-status" if page.locator("webchat-chat webchat-status").count() else
                    "webchat-app webchat-status"):
            assert on_screen(page, sel), sel
        no_sideways_scroll(page)
        expect_in_view(page, LONG_WORD + " " + LONG_WORD)
        # touch targets: every visible control of the widget is at least 44 px both ways
        small = page.evaluate(f"""(() => {{ {DEEP_JS}
          return all('button, textarea, [role=menuitem]', document.querySelector('webchat-app').shadowRoot)
            .map((el) => [el.getAttribute('aria-label') || el.textContent.trim(), el.getBoundingClientRect()])
            .filter(([, r]) => r.width > 0 && (r.width < 44 || r.height < 44))
            .map(([name, r]) => `${{name}} ${{r.width}}x${{r.height}}`); }})()""")
        assert small == [], small
        # the other chat can be opened from the list
        page.get_by_role("button", name="Back to chats").click()
        expect(page.locator("webchat-chat-list li[data-chat-id]")).to_have_count(2)
        no_sideways_scroll(page)
        page.locator("webchat-chat-list li[data-chat-id] .open", has_text="short chat").click()
        expect(page.locator("webchat-app")).to_have_attribute("view", "chat")
        expect(page.locator("webchat-chat h2")).to_have_text("short chat")
        assert on_screen(page, "webchat-composer button[type=submit]")
    finally:
        ctx.close()


# -- messenger details --------------------------------------------------------------------------------

def test_day_separators_grouping_avatars_and_dir(context: Any, server: Any) -> None:
    page = open_app(context, server)
    chat = start_chat(page, "from yesterday")
    bot = make_bot(server, chat, "Grace Hopper")
    sql(server.database_url, "UPDATE webchat.messages SET created_at = now() - interval '1 day' WHERE chat_id = $1",
        chat)
    bot_says(server, chat, bot, "first of a run")
    bot_says(server, chat, bot, "second of a run")
    bot_says(server, chat, bot, "مرحبا، كيف حالك؟")
    wait_read(server, chat, bot, 4)
    page.reload()
    expect(bubble(page, "مرحبا")).to_have_count(1)
    expect(page.locator("webchat-message .sep.day")).to_have_text(["Yesterday", "Today"])
    run = [message(page, t) for t in ("first of a run", "second of a run", "مرحبا")]
    # one name and avatar (initials) for the run, one time at its end
    expect(run[0].locator(".sender")).to_have_text("Grace Hopper")
    expect(run[0].locator(".avatar")).to_have_text("GH")
    for m in run[1:]:
        expect(m.locator(".sender")).to_have_count(0)
        expect(m.locator(".avatar")).to_have_count(0)
    expect(run[0].locator(".meta")).to_have_count(0)
    expect(run[2].locator(".meta")).to_have_count(1)
    # text and titles take their direction from their content
    expect(run[2].locator(".text")).to_have_attribute("dir", "auto")
    expect(page.locator("webchat-chat h2")).to_have_attribute("dir", "auto")
    # own messages are announced with "You"
    expect(message(page, "from yesterday")).to_have_attribute("aria-label", __import__("re").compile(r"^You, "))


def test_phone_back_while_the_first_send_is_on_its_way_stays_on_the_list(browser: Any, server: Any) -> None:
    """A first message is shown at once, before the send that makes its conversation is answered;
    going back to the list then, the conversation's id arriving later does not pull the visitor back."""
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True, has_touch=True)
    ctx.set_default_timeout(10_000)
    try:
        page = open_app(ctx, server)
        held: list[Any] = []
        page.route("**/webchat/send/", lambda r: held.append(r))
        send(page, "my first words")
        expect(bubble(page, "my first words")).to_have_count(1)
        page.get_by_role("button", name="Back to chats").click()
        expect(page.locator("webchat-app")).to_have_attribute("view", "list")
        deadline = time.monotonic() + 10
        while not held:
            assert time.monotonic() < deadline
            page.wait_for_timeout(50)
        held[0].continue_()
        page.wait_for_function("() => document.querySelector('webchat-app').client.openChatId")
        expect(page.locator("webchat-chat-list")).to_contain_text("my first words")
        expect(page.locator("webchat-app")).to_have_attribute("view", "list")
        # opening it from the list shows it, as any chat
        page.locator("webchat-chat-list").get_by_text("my first words").first.click()
        expect(page.locator("webchat-app")).to_have_attribute("view", "chat")
    finally:
        ctx.close()


def test_delivery_state_sending_sent_seen(context: Any, server: Any) -> None:
    page = open_app(context, server)
    chat = start_chat(page, "hello there")
    bot = make_bot(server, chat, "Reader Bot")
    held: list[Any] = []
    page.route("**/webchat/send/", lambda r: held.append(r))
    send(page, "is this delivered?")
    mine = message(page, "is this delivered?")
    expect(mine.locator(".state")).to_have_text("Sending…")
    deadline = time.monotonic() + 10
    while not held:
        assert time.monotonic() < deadline
        page.wait_for_timeout(50)
    held[0].continue_()
    expect(mine.locator(".state")).to_have_text("✓ Sent")
    # the other member reads it (a `read` event): seen
    sql(server.database_url, "UPDATE webchat.chat_members SET last_read_seq = 2 WHERE chat_id = $1 AND account_id = $2",
        chat, bot)
    expect(mine.locator(".state")).to_have_text("✓✓ Seen")


def test_failed_send_retried_when_back_and_banner_clears(context: Any, server: Any) -> None:
    page = open_app(context, server)
    start_chat(page, "first")
    log_top = page.locator("webchat-message-list").evaluate("(el) => el.getBoundingClientRect().top")
    failing = {"on": True}
    posts: list[str] = []

    def route(r: Any) -> None:
        if r.request.method == "POST":
            posts.append(r.request.post_data or "")
        if failing["on"] and r.request.method == "POST":
            r.abort()
        else:
            r.continue_()

    page.route("**/webchat/send/", route)
    send(page, "sent into the void")
    expect(message(page, "sent into the void").locator(".failed")).to_have_text("Not sent")
    banner = page.locator("webchat-app webchat-banner .banner")
    expect(banner).to_contain_text("Can't reach the chat server — retrying…")
    # the banner overlays: the conversation did not move
    assert page.locator("webchat-message-list").evaluate("(el) => el.getBoundingClientRect().top") == log_top
    failing["on"] = False
    # the connection drops and comes back: the failed send goes again by itself, once
    context.set_offline(True)
    expect(page.locator("webchat-status")).to_have_attribute("status", "offline")
    context.set_offline(False)
    expect(page.locator("webchat-status")).to_have_attribute("status", "live")
    expect(message(page, "sent into the void").locator(".failed")).to_have_count(0)
    expect(message(page, "sent into the void").locator(".state")).to_have_text("✓ Sent")
    expect(banner).to_have_count(0)
    page.reload()
    expect(bubble(page, "sent into the void")).to_have_count(1)
    assert len({p for p in posts if "sent into the void" in p}) == 1  # the same client_id every time


def test_new_chat_reuses_an_empty_chat(context: Any, server: Any) -> None:
    page = open_app(context, server)
    start_chat(page, "a real chat")
    items = page.locator("webchat-chat-list li[data-chat-id]")
    for _ in range(3):
        page.get_by_role("button", name="+ New chat").click()
        expect(items).to_have_count(2)
    expect(page.locator("webchat-chat h2")).to_have_text("New chat")
    page.reload()
    expect(page.locator("webchat-status")).to_have_attribute("status", "live")
    expect(items).to_have_count(2)


def test_theme_properties_reach_every_part(context: Any, server: Any) -> None:
    page = open_app(context, server)
    start_chat(page, "themed")
    page.evaluate("""() => { const app = document.querySelector('webchat-app');
      app.style.setProperty('--webchat-bubble-mine', 'rgb(1, 2, 3)');
      app.style.setProperty('--webchat-accent', 'rgb(200, 10, 20)');
      app.style.setProperty('--webchat-font', 'monospace'); }""")
    expect(page.locator("webchat-message .bubble").first).to_have_css("background-color", "rgb(1, 2, 3)")
    expect(page.locator("webchat-composer button[type=submit]")).to_have_css("background-color", "rgb(200, 10, 20)")
    expect(page.get_by_role("button", name="+ New chat")).to_have_css("background-color", "rgb(200, 10, 20)")
    expect(page.locator("webchat-composer textarea")).to_have_css("font-family", "monospace")
    # the same on the single-chat element
    page.goto(server.base + "/web/embed-chat.html")
    expect(page.locator("webchat-chat webchat-status")).to_have_attribute("status", "live")
    page.evaluate("document.querySelector('webchat-chat').style.setProperty('--webchat-accent', 'rgb(0, 128, 0)')")
    expect(page.locator("webchat-composer button[type=submit]")).to_have_css("background-color", "rgb(0, 128, 0)")


# -- keyboard and screen reader -------------------------------------------------------------------------

FOCUSED = """(() => { let el = document.activeElement;
  while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
  if (!el) return '';
  const host = el.getRootNode().host;
  return [host ? host.localName : '', el.localName, el.getAttribute('role') || '', el.className || '',
          el.getAttribute('aria-label') || el.textContent.trim().slice(0, 40)].join('|'); })()"""


def focused(page: Page) -> str:
    return str(page.evaluate(FOCUSED))


def test_keyboard_paths(context: Any, server: Any) -> None:
    page = open_app(context, server)
    for i in range(3):
        if i:
            page.get_by_role("button", name="+ New chat").click()
            expect(page.locator("webchat-chat h2")).to_have_text("New chat")
        send(page, f"chat {i} message")
        expect(bubble(page, f"chat {i} message")).to_have_count(1)
    send(page, "my second line")
    expect(bubble(page, "my second line")).to_have_count(1)
    # the chat list is one tab stop: Tab from "Archived" lands on the open chat, Tab again leaves the list
    page.get_by_role("button", name="Archived").focus()
    page.keyboard.press("Tab")
    assert focused(page).startswith("webchat-chat-list|button||open|"), focused(page)
    assert "chat 2 message" in focused(page)
    page.keyboard.press("ArrowDown")
    assert "chat 1 message" in focused(page)
    page.keyboard.press("Enter")
    expect(page.locator("webchat-chat h2")).to_have_text("chat 1 message")
    expect(page.locator("webchat-chat-list .open[aria-current=true]")).to_contain_text("chat 1 message")
    # ArrowRight reaches the chat's actions menu; Escape closes it and focus goes back
    page.keyboard.press("ArrowRight")
    assert focused(page).startswith("webchat-menu|button"), focused(page)
    page.keyboard.press("Enter")
    assert "|menuitem|" in focused(page) and "Rename" in focused(page), focused(page)
    page.keyboard.press("Escape")
    expect(page.locator("webchat-chat-list webchat-menu[open]")).to_have_count(0)
    assert focused(page).startswith("webchat-menu|button"), focused(page)
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Tab")
    assert not focused(page).startswith("webchat-chat-list"), focused(page)
    # the message log: one tab stop on the newest message, arrows move, Enter opens its actions
    page.locator("webchat-chat-list .open[aria-current=true]").focus()
    page.keyboard.press("Tab")
    assert focused(page).startswith("webchat-message-list|webchat-message|article"), focused(page)
    page.get_by_role("button", name="+ New chat").focus()
    page.locator("webchat-chat-list li[data-chat-id] .open").first.click()
    expect(page.locator("webchat-chat h2")).to_have_text("chat 2 message")
    page.keyboard.press("Tab")
    assert "my second line" in focused(page), focused(page)
    page.keyboard.press("ArrowUp")
    assert "chat 2 message" in focused(page), focused(page)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    # a message's actions: React, Reply, then your own message's Edit and Delete
    assert "|menuitem|" in focused(page) and "React" in focused(page), focused(page)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert "|menuitem|" in focused(page) and "Edit" in focused(page), focused(page)
    page.keyboard.press("Enter")
    assert focused(page).startswith("webchat-message|textarea"), focused(page)
    page.keyboard.press("Escape")
    assert "my second line" in focused(page) and "|article|" in focused(page), focused(page)
    # edit for real, from the keyboard
    page.keyboard.press("Enter")
    page.keyboard.press("End")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")
    page.keyboard.press("Control+a")
    page.keyboard.type("my second line, edited")
    page.keyboard.press("Enter")
    expect(bubble(page, "my second line, edited")).to_have_count(1)
    # menus close on Escape and on a click elsewhere
    page.keyboard.press("Enter")
    expect(page.locator("webchat-message webchat-menu[open]")).to_have_count(1)
    page.keyboard.press("Escape")
    expect(page.locator("webchat-message webchat-menu[open]")).to_have_count(0)


AXE = Path(__file__).resolve().parent / "engines" / "node_modules" / "axe-core" / "axe.min.js"


def axe_violations(page: Page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("""async () => {
      const r = await axe.run(document, {resultTypes: ['violations']});
      return r.violations.map((v) => `${v.id}: ${v.nodes.length} x ${v.nodes[0].target.join(' ')}`
        + `\n${v.nodes[0].failureSummary}`);
    }""")
    return list(found)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_axe_reports_no_violations(browser: Any, server: Any, theme: str) -> None:
    ctx = browser.new_context(viewport={"width": 1100, "height": 700}, bypass_csp=True, color_scheme=theme)
    ctx.set_default_timeout(10_000)
    try:
        page = ctx.new_page()
        page.goto(f"{server.base}/?theme={theme}")
        expect(page.locator("webchat-status")).to_have_attribute("status", "live")
        chat = start_chat(page, "Where is my parcel? https://example.com/track")
        bot = make_bot(server, chat, "Parcel Bot")
        bot_says(server, chat, bot, "It ships today.")
        expect(bubble(page, "It ships today.")).to_have_count(1)
        page.get_by_role("button", name="+ New chat").click()
        # the new chat is made by an API call: send once it is open (as the other tests do)
        page.wait_for_function(f"document.querySelector('webchat-app').client.openChatId !== {chat}")
        send(page, "second chat")
        expect(bubble(page, "second chat")).to_have_count(1)
        bot_says(server, chat, bot, "an unread one")
        expect(page.locator(f"webchat-chat-list li[data-chat-id='{chat}'] .badge")).to_have_text("1")
        assert axe_violations(page) == []
        # a menu open, and the phone layout
        page.locator("webchat-chat-list li[data-chat-id] webchat-menu").first.get_by_role("button").click()
        assert axe_violations(page) == []
        page.set_viewport_size({"width": 390, "height": 844})
        expect(page.locator("webchat-app")).to_have_attribute("narrow", "")
        assert axe_violations(page) == []
        # the single-chat embed page
        page.goto(server.base + "/web/embed-chat.html")
        expect(page.locator("webchat-chat webchat-status")).to_have_attribute("status", "live")
        send(page, "hello from the embed")
        expect(bubble(page, "hello from the embed")).to_have_count(1)
        assert axe_violations(page) == []
    finally:
        ctx.close()


def test_launcher_page_has_no_axe_violations_light_and_dark(context: Any, server: Any) -> None:
    page = context.new_page()
    page.goto(server.base + LAUNCHER)
    for theme in ("light", "dark"):
        page.evaluate(f"document.querySelector('webchat-launcher').setAttribute('theme', '{theme}')")
        expect(page.locator("webchat-launcher button.bubble")).to_be_visible()
        assert axe_violations(page) == [], f"closed, {theme}"
        page.locator("webchat-launcher button.bubble").click()
        if theme == "light":
            send(page, "axe check")
            expect(bubble(page, "axe check")).to_have_count(1)
            chat = launcher_chat_id(page)
            bot_says(server, chat, make_bot(server, chat, "Axe Bot"), "a reply to check as well")
        expect(bubble(page, "a reply to check as well")).to_have_count(1)
        assert axe_violations(page) == [], f"open, {theme}"
        page.keyboard.press("Escape")
        expect(page.get_by_role("dialog")).to_be_hidden()


@pytest.fixture
def shop_and_chat(pg_uri: str, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """A shop site on one origin and the chat server on another of the same site (127.0.0.1, two ports)."""
    with shop_site(pg_uri, tmp_path) as (shop, chat):
        yield shop, chat


def test_one_tag_embed_on_another_origin_of_the_same_site(browser: Any, shop_and_chat: tuple[str, Any]) -> None:
    shop, chat_server = shop_and_chat
    ctx = browser.new_context(viewport={"width": 1000, "height": 700})
    ctx.set_default_timeout(10_000)
    try:
        page = ctx.new_page()
        failed: list[str] = []
        # a request the reload below aborts (a read receipt in flight) is not a failure
        page.on("requestfailed", lambda r: failed.append(r.url) if r.failure != "net::ERR_ABORTED" else None)
        page.goto(shop)
        page.get_by_role("button", name="Open chat").click()
        send(page, "hello from the shop")
        expect(bubble(page, "hello from the shop")).to_have_count(1)
        chat = launcher_chat_id(page)
        # the message went to the chat server (api-base came from the script's URL) ...
        assert sql(chat_server.database_url, "SELECT text FROM webchat.messages WHERE chat_id = $1", chat) == (
            "hello from the shop")
        # ... and its socket delivers a reply written there
        bot = make_bot(chat_server, chat, "Shop Bot")
        bot_says(chat_server, chat, bot, "hello, shop visitor")
        expect(bubble(page, "hello, shop visitor")).to_have_count(1)
        assert page.evaluate("""() => document.querySelector('webchat-launcher').shadowRoot
          .querySelector('webchat-chat').client.status""") == "live"
        # pictures come from the chat server too, not from the shop's (a relative media_url would)
        page.locator("webchat-launcher webchat-composer input[type=file]").set_input_files(
            files=[{"name": "dot.png", "mimeType": "image/png", "buffer": png()}])
        page.locator("webchat-launcher webchat-composer textarea").press("Enter")
        bot_image(chat_server, chat, bot, png(12, 12))
        images = page.locator("webchat-message .bubble img")
        expect(images).to_have_count(2)
        from_chat_server = re.compile("^" + re.escape(chat_server.base) + "/webchat/media/")
        for i in range(2):
            expect(images.nth(i)).to_have_attribute("src", from_chat_server)
            expect(images.nth(i)).to_have_js_property("complete", True)
            assert images.nth(i).evaluate("(img) => img.naturalWidth") in (8, 12)
        # the session cookie (SameSite=Lax, same site) survives a reload: the same conversation
        page.reload()
        expect(bubble(page, "hello, shop visitor")).to_have_count(1)
        assert launcher_chat_id(page) == chat
        assert failed == []
    finally:
        ctx.close()


# -- what visitors notice (issue 19) ----------------------------------------------------------------
# The launcher ones run at desktop width and on a phone (390 px); tests/test_engines.py runs the same
# scenarios in Firefox and WebKit.

WIDTHS = {"desktop": {"width": 1100, "height": 700}, "phone": {"width": 390, "height": 844}}


def launcher_context(browser: Any, width: str, **kw: Any) -> Any:
    phone = width == "phone"
    ctx = browser.new_context(viewport=WIDTHS[width], is_mobile=phone, has_touch=phone, bypass_csp=True, **kw)
    ctx.set_default_timeout(10_000)
    return ctx


def open_launcher(ctx: Any, server: Any) -> Page:
    """The sample host page with its launcher opened and its conversation loaded."""
    page = ctx.new_page()
    page.goto(server.base + LAUNCHER)
    if not page.evaluate("document.querySelector('webchat-launcher').open"):  # else remembered open
        page.locator("webchat-launcher button.bubble").click()
    expect(page.locator("webchat-launcher webchat-composer textarea")).to_be_visible()
    page.wait_for_function("""() => document.querySelector('webchat-launcher').shadowRoot
      .querySelector('webchat-chat').client.status === 'live'""")
    return page


def launcher_client(page: Page, expr: str) -> Any:
    return page.evaluate(f"""() => {{ const c = document.querySelector('webchat-launcher').shadowRoot
      .querySelector('webchat-chat').client; return {expr}; }}""")


def conn_line(page: Page) -> Any:
    return page.locator("webchat-launcher webchat-chat .conn")


@pytest.mark.parametrize("width", WIDTHS)
def test_first_message_kept_through_an_outage_and_sent_once(browser: Any, server: Any, width: str) -> None:
    """Items 1 and 4: a first message written while the server is down stays as a "Not sent" bubble
    with Retry, the panel says it is reconnecting, the closed button says a message is waiting, and
    when the server is back the message makes one chat, once."""
    ctx = launcher_context(browser, width)
    try:
        page = open_launcher(ctx, server)
        me = int(launcher_client(page, "c.me.id"))
        expect(conn_line(page)).to_have_count(0)
        server.stop()
        try:
            expect(conn_line(page)).to_contain_text("Reconnecting")
            send(page, "Do you deliver on Sundays?")
            pending = message(page, "Do you deliver on Sundays?")
            expect(pending.locator(".failed")).to_have_text("Not sent")
            expect(pending.get_by_role("button", name="Retry")).to_be_visible()
            page.keyboard.press("Escape")
            expect(page.get_by_role("dialog")).to_be_hidden()
            # closed: the button says that something is waiting to go out
            closed = page.get_by_role("button", name="Open chat with Fernwood Bakery, 1 message not sent yet")
            expect(closed).to_be_visible()
            expect(page.locator("webchat-launcher .badge.unsent")).to_be_visible()
        finally:
            server.start()
        expect(page.locator("webchat-launcher .badge.unsent")).to_have_count(0, timeout=30_000)
        expect(page.get_by_role("button", name="Open chat with Fernwood Bakery")).to_be_visible()
        page.locator("webchat-launcher button.bubble").click()
        expect(message(page, "Do you deliver on Sundays?").locator(".state")).to_have_text("✓ Sent")
        expect(conn_line(page)).to_have_count(0)
        assert sql(server.database_url, "SELECT count(*) FROM webchat.chats WHERE created_by = $1", me) == 1
        assert sql(server.database_url, "SELECT count(*) FROM webchat.messages WHERE sender_id = $1"
                   " AND text = 'Do you deliver on Sundays?'", me) == 1
        assert launcher_chat_id(page) == sql(server.database_url,
                                             "SELECT id FROM webchat.chats WHERE created_by = $1", me)
    finally:
        ctx.close()


def test_unsent_first_message_survives_leaving_the_page(browser: Any, server: Any) -> None:
    """Item 1: the visitor writes while the server is down and goes to another page of the site: the
    next page shows the message again and sends it, once, when the server answers."""
    ctx = launcher_context(browser, "desktop")
    try:
        page = open_launcher(ctx, server)
        me = int(launcher_client(page, "c.me.id"))
        server.stop()
        try:
            expect(conn_line(page)).to_contain_text("Reconnecting")
            send(page, "Is the rye vegan?")
            expect(message(page, "Is the rye vegan?").locator(".failed")).to_have_text("Not sent")
            page.close()
        finally:
            server.start()
        page = ctx.new_page()
        page.goto(server.base + LAUNCHER)  # open: remembered
        expect(message(page, "Is the rye vegan?").locator(".state")).to_have_text("✓ Sent", timeout=20_000)
        assert sql(server.database_url, "SELECT count(*) FROM webchat.messages WHERE sender_id = $1"
                   " AND text = 'Is the rye vegan?'", me) == 1
        assert sql(server.database_url, "SELECT count(*) FROM webchat.chats WHERE created_by = $1", me) == 1
        assert page.evaluate("Object.keys(localStorage).filter((k) => k.startsWith('webchat-unsent'))") == []
    finally:
        ctx.close()


def test_phone_first_visit_types_at_once(browser: Any, server: Any) -> None:
    """Item 2: a first-time visitor on a phone gets a conversation to type in, not an empty list."""
    ctx = launcher_context(browser, "phone")
    try:
        page = open_app(ctx, server)
        expect(page.locator("webchat-app")).to_have_attribute("narrow", "")
        expect(page.locator("webchat-app")).to_have_attribute("view", "chat")
        expect(page.locator("webchat-chat h2")).to_have_text("New conversation")
        assert on_screen(page, "webchat-composer textarea")
        assert on_screen(page, "webchat-composer button[type=submit]")
        send(page, "hello from a phone")
        expect(message(page, "hello from a phone").locator(".state")).to_have_text("✓ Sent")
        expect(page.locator("webchat-chat h2")).to_have_text("hello from a phone")
        page.get_by_role("button", name="Back to chats").click()
        expect(page.locator("webchat-chat-list li[data-chat-id]")).to_have_count(1)
    finally:
        ctx.close()


def test_launcher_shows_offline_and_offers_notifications(browser: Any, server: Any) -> None:
    """Item 4: connection state in the panel (offline here), and notifications offered there."""
    ctx = launcher_context(browser, "desktop")
    try:
        page = open_launcher(ctx, server)
        bell = page.get_by_role("button", name="Notify me of replies")
        expect(bell).to_be_visible()
        ctx.set_offline(True)
        expect(conn_line(page)).to_contain_text("You're offline")
        ctx.set_offline(False)
        expect(conn_line(page)).to_have_count(0)
        bell.click()  # the browser answers the question (headless: it refuses); either way it is asked once
        expect(bell).to_have_count(0)
    finally:
        ctx.close()


# the shop's own policy lets the script in but not the API calls
SHOP_CSP = """<meta http-equiv="Content-Security-Policy" content="connect-src 'self'">"""


def test_page_policy_blocking_only_the_socket_long_polls_and_says_so(browser: Any, pg_uri: str,
                                                                    tmp_path: Path) -> None:
    """Item 5: a host page whose CSP lets the API through but not the WebSocket: the chat works (by
    long-polling) and the console names the missing source once."""
    head = """<meta http-equiv="Content-Security-Policy" content="connect-src 'self' CHAT">"""
    with shop_site(pg_uri, tmp_path, head=head) as (shop, chat_server):
        ctx = browser.new_context(viewport=WIDTHS["desktop"])
        ctx.set_default_timeout(10_000)
        try:
            page = ctx.new_page()
            page.goto(shop)
            page.get_by_role("button", name="Open chat").click()
            send(page, "through a strict page")
            expect(message(page, "through a strict page").locator(".state")).to_have_text("✓ Sent", timeout=30_000)
            page.wait_for_function("""() => document.querySelector('webchat-launcher').shadowRoot
              .querySelector('webchat-chat').client.status === 'polling'""", timeout=30_000)
            chat = launcher_chat_id(page)
            bot_says(chat_server, chat, make_bot(chat_server, chat, "Strict Bot"), "a reply by long-poll")
            expect(bubble(page, "a reply by long-poll")).to_have_count(1)
            said = page.evaluate("window.__console")
            ws = chat_server.base.replace("http", "ws")
            assert len(said) == 1 and f"add {chat_server.base} {ws} to its connect-src" in said[0], said
        finally:
            ctx.close()


@pytest.mark.parametrize("case", ["origin-not-allowed", "another-site", "page-csp"])
def test_embed_from_elsewhere_tells_visitor_and_site_owner(browser: Any, pg_uri: str, tmp_path: Path,
                                                          case: str) -> None:
    """Item 5: a page the chat server cannot serve gets one true sentence for the visitor (no endless
    "Loading…" or "retrying"), and the site owner gets the exact fix in the console."""
    host, allow = ("127.0.0.1", False) if case == "origin-not-allowed" else ("localhost", True)
    head = SHOP_CSP if case == "page-csp" else ""
    if case == "page-csp":
        host = "127.0.0.1"
    with shop_site(pg_uri, tmp_path, shop_host=host, allow=allow, head=head) as (shop, chat_server):
        ctx = browser.new_context(viewport=WIDTHS["desktop"])
        ctx.set_default_timeout(10_000)
        try:
            page = ctx.new_page()
            page.goto(shop)
            page.get_by_role("button", name="Open chat").click()
            panel = page.get_by_role("dialog")
            expect(panel.get_by_role("alert")).to_have_text("Chat isn't available on this page right now.")
            expect(panel).not_to_contain_text("Loading")
            expect(panel).not_to_contain_text("retrying")
            said = " ".join(page.evaluate("window.__console"))
            origin = shop.rstrip("/")
            if case == "origin-not-allowed":
                assert f"WEBCHAT_ALLOWED_ORIGINS={origin}" in said, said
            elif case == "another-site":
                assert "SameSite=Lax" in said and "subdomain" in said and origin in said, said
            else:
                assert "Content-Security-Policy (connect-src)" in said and chat_server.base in said, said
        finally:
            ctx.close()


def unread_below(page: Page, prefix: str) -> int:
    """How many messages starting with prefix are below the message log's visible box (or not rendered)."""
    return int(page.locator("webchat-message-list").evaluate("""(list, prefix) => {
      const box = list.shadowRoot.querySelector('.scroller').getBoundingClientRect();
      const mine = list.messages.filter((m) => (m.text || '').startsWith(prefix));
      const shown = [...list.shadowRoot.querySelectorAll('webchat-message')]
        .filter((m) => (m.message.text || '').startsWith(prefix));
      return mine.length - shown.filter((m) => m.getBoundingClientRect().top < box.bottom).length;
    }""", prefix))


def expect_pill_counts_below(page: Page, prefix: str) -> int:
    """The "N new messages ↓" pill counts the unread messages below the view (within one: a pixel of
    layout after landing may move one across the edge). Returns N."""
    pill = page.locator("webchat-message-list .pill")
    expect(pill).to_have_text(re.compile(r"\d+ new messages ↓"))
    shown = int((pill.text_content() or "").split()[0])
    below = unread_below(page, prefix)
    assert 0 < below < 120 and abs(shown - below) <= 1, (shown, below)
    return shown


@pytest.mark.parametrize("width", WIDTHS)
def test_launcher_opens_a_long_unread_chat_on_its_first_unread(browser: Any, server: Any, width: str) -> None:
    """Item 6: 120 replies while the launcher was closed: it opens on the first, under the divider,
    with "N new messages ↓" for the ones below; after a reload the same."""
    ctx = launcher_context(browser, width)
    try:
        page = open_launcher(ctx, server)
        send(page, "Can I order a cake?")
        expect(bubble(page, "Can I order a cake?")).to_have_count(1)
        chat = launcher_chat_id(page)
        bot = make_bot(server, chat, "Cake Bot")
        page.keyboard.press("Escape")
        for prefix, reload in (("reply", False), ("later", True)):
            fill_chat(server, chat, bot, 120, prefix)
            expect(page.locator("webchat-launcher .badge")).to_have_text("99+")
            if reload:
                page.reload()
                expect(page.locator("webchat-launcher .badge")).to_have_text("99+")
            page.locator("webchat-launcher button.bubble").click()
            divided = page.locator("webchat-message[divider]")
            expect(divided.locator(".bubble")).to_contain_text(f"{prefix} 0 ")
            expect_in_view(page, f"{prefix} 0 ")
            assert divided.locator(".sep.new").evaluate("""(sep) => {
              const box = sep.getRootNode().host.getRootNode().querySelector('.scroller').getBoundingClientRect();
              const r = sep.getBoundingClientRect();
              return r.top >= box.top - 1 && r.bottom <= box.bottom + 1; }""")
            pill = page.locator("webchat-message-list .pill")
            expect_pill_counts_below(page, prefix)
            pill.click()
            expect_in_view(page, f"{prefix} 119 ")
            expect(pill).to_have_count(0)
            page.keyboard.press("Escape")
            expect(page.get_by_role("dialog")).to_be_hidden()
    finally:
        ctx.close()


def test_app_opens_a_long_unread_chat_on_its_first_unread(context: Any, server: Any) -> None:
    """Item 6 in the full widget: a chat with 120 unread, opened from the list."""
    page = open_app(context, server)
    chat = start_chat(page, "asked earlier")
    bot = make_bot(server, chat, "Later Bot")
    page.get_by_role("button", name="+ New chat").click()
    page.wait_for_function(f"document.querySelector('webchat-app').client.openChatId !== {chat}")
    fill_chat(server, chat, bot, 120, "unread")
    expect(page.locator(f"webchat-chat-list li[data-chat-id='{chat}'] .badge")).to_have_text("120")
    page.locator(f"webchat-chat-list li[data-chat-id='{chat}'] .open").click()
    expect(page.locator("webchat-message[divider] .bubble")).to_contain_text("unread 0 ")
    expect_in_view(page, "unread 0 ")
    below = expect_pill_counts_below(page, "unread")
    # reading down counts them off
    page.locator("webchat-message-list .scroller").evaluate("(el) => { el.scrollTop += el.clientHeight; }")
    page.wait_for_function(f"""() => {{ const pill = document.querySelector('webchat-app').shadowRoot
      .querySelector('webchat-chat').shadowRoot.querySelector('webchat-message-list').shadowRoot.querySelector('.pill');
      return pill && parseInt(pill.textContent) < {below}; }}""")


def test_tabs_agree_on_read_state_and_new_chats(context: Any, server: Any) -> None:
    """Item 7: a chat read in one tab loses its badge in another that never opened it, and a chat
    made in one tab opens in another that had none."""
    a = open_app(context, server)
    first = start_chat(a, "first chat")
    a.get_by_role("button", name="+ New chat").click()
    a.wait_for_function(f"document.querySelector('webchat-app').client.openChatId !== {first}")
    send(a, "second chat")
    expect(bubble(a, "second chat")).to_have_count(1)
    second = int(client(a, "c.openChatId"))
    a.locator(f"webchat-chat-list li[data-chat-id='{first}'] .open").click()
    b = open_app(context, server)
    expect(b.locator("webchat-chat h2")).to_have_text("first chat")  # B never opens the second one
    bot = make_bot(server, second, "Ping Bot")
    bot_says(server, second, bot, "ping")
    for page in (a, b):
        expect(page.locator(f"webchat-chat-list li[data-chat-id='{second}'] .badge")).to_have_text("1")
    a.locator(f"webchat-chat-list li[data-chat-id='{second}'] .open").click()
    expect(bubble(a, "ping")).to_have_count(1)
    expect(b.locator(f"webchat-chat-list li[data-chat-id='{second}'] .badge")).to_have_count(0)
    assert client(b, "c.openChatId") == first

    # a fresh visitor with the launcher open in two tabs: the chat tab A's first message makes opens in B
    other = context.browser.new_context(viewport=WIDTHS["desktop"], bypass_csp=True)
    other.set_default_timeout(10_000)
    try:
        tab_a, tab_b = open_launcher(other, server), open_launcher(other, server)
        send(tab_a, "hello from tab A")
        chat = launcher_chat_id(tab_a)
        expect(bubble(tab_b, "hello from tab A")).to_have_count(1)
        assert launcher_chat_id(tab_b) == chat
        send(tab_b, "and from tab B")
        expect(bubble(tab_a, "and from tab B")).to_have_count(1)
        assert sql(server.database_url, "SELECT count(*) FROM webchat.messages WHERE chat_id = $1", chat) == 2
    finally:
        other.close()


def test_phone_launcher_keeps_focus_inside_while_open(browser: Any, server: Any) -> None:
    """Item 8: full screen on a phone the panel is a modal dialog: Tab and Shift+Tab stay inside it,
    Escape closes it and focus returns to the button. On a desktop it is not modal."""
    ctx = launcher_context(browser, "phone")
    try:
        page = open_launcher(ctx, server)
        dialog = page.get_by_role("dialog")
        expect(dialog).to_have_attribute("aria-modal", "true")
        expect(page.locator("webchat-launcher webchat-composer textarea")).to_be_focused()
        inside = "() => document.activeElement === document.querySelector('webchat-launcher')"
        seen = set()
        for key in ["Tab"] * 8 + ["Shift+Tab"] * 8:
            page.keyboard.press(key)
            assert page.evaluate(inside), f"{key} left the dialog: {focused(page)}"
            seen.add(focused(page))
        assert any("Send" in f for f in seen) and any("Close chat" in f for f in seen), seen
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        assert focused_in_launcher(page) == "bubble"
    finally:
        ctx.close()
    ctx = launcher_context(browser, "desktop")
    try:
        page = open_launcher(ctx, server)
        expect(page.get_by_role("dialog")).not_to_have_attribute("aria-modal", "true")
    finally:
        ctx.close()


def avatar_contrasts(page: Page) -> list[tuple[str, float]]:
    """(name, contrast of white on its avatar) for every avatar shown."""
    return [tuple(x) for x in page.evaluate(f"""(() => {{ {DEEP_JS}
      const lin = (c) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
      return all('webchat-message').filter((m) => m.shadowRoot.querySelector('.avatar')).map((m) => {{
        const [r, g, b] = getComputedStyle(m.shadowRoot.querySelector('.avatar')).backgroundColor
          .match(/\\d+/g).slice(0, 3).map((c) => lin(c / 255));
        return [m.message.sender_name, 1.05 / (0.2126 * r + 0.7152 * g + 0.0722 * b + 0.05)];
      }}); }})()""")]


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_axe_with_avatars_of_every_hue(browser: Any, server: Any, theme: str) -> None:
    """Item 9: 60 senders spread over the colour wheel (plus Demo Bot's and "Ana (Fernwood)"): white
    initials reach 4.5:1 on every avatar, and axe reports nothing, launcher closed and open, and in
    the full widget, light and dark."""
    ctx = browser.new_context(viewport=WIDTHS["desktop"], bypass_csp=True, color_scheme=theme)
    ctx.set_default_timeout(10_000)
    try:
        page = open_launcher(ctx, server)
        send(page, "Who is here?")
        expect(bubble(page, "Who is here?")).to_have_count(1)
        chat = launcher_chat_id(page)
        names = avatar_names(60)
        for name in names:
            bot_says(server, chat, make_bot(server, chat, name), f"Hello from {name}")
        expect(bubble(page, f"Hello from {names[-1]}")).to_have_count(1)
        contrasts = avatar_contrasts(page)
        assert len(contrasts) == len(names)
        assert [c for c in contrasts if c[1] < 4.5] == []
        expect(message(page, "Hello from Ana (Fernwood)").locator(".avatar")).to_have_text("A")
        expect(message(page, "Hello from Demo Bot").locator(".avatar")).to_have_text("DB")
        scroller = page.locator("webchat-launcher webchat-message-list .scroller")
        # axe judges what is on screen: the top, the middle and the end of the conversation
        for where in ("0", "el.scrollHeight / 2", "el.scrollHeight"):
            scroller.evaluate(f"(el) => {{ el.scrollTop = {where}; }}")
            assert axe_violations(page) == [], f"open, {theme}, scrolled to {where}"
        page.keyboard.press("Escape")
        expect(page.get_by_role("dialog")).to_be_hidden()
        assert axe_violations(page) == [], f"closed, {theme}"
        page.goto(f"{server.base}/?theme={theme}")
        expect(bubble(page, f"Hello from {names[-1]}")).to_have_count(1)
        assert [c for c in avatar_contrasts(page) if c[1] < 4.5] == []
        assert axe_violations(page) == [], f"app, {theme}"
    finally:
        ctx.close()


def test_message_menu_fits_and_delete_asks_first(context: Any, server: Any) -> None:
    """Item 10: the top message's actions menu is not cut off by the chat header; deleting asks first;
    the deleted placeholder says nothing about delivery."""
    page = open_app(context, server)
    start_chat(page, "the top message")
    mine = message(page, "the top message")
    mine.hover()
    mine.get_by_role("button", name="Message actions").click()
    menu = mine.get_by_role("menu")
    expect(menu).to_be_visible()
    box = page.locator("webchat-message-list .scroller").bounding_box()
    shown = menu.bounding_box()
    assert box and shown and shown["y"] >= box["y"] and shown["y"] + shown["height"] <= box["y"] + box["height"]
    mine.get_by_role("menuitem", name="Delete").click()
    confirm = mine.get_by_role("group", name="Delete this message?")
    expect(confirm.get_by_role("button", name="Delete")).to_be_focused()
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_have_count(0)
    expect(bubble(page, "the top message")).to_have_count(1)
    mine.hover()
    mine.get_by_role("button", name="Message actions").click()
    mine.get_by_role("menuitem", name="Delete").click()
    page.keyboard.press("Escape")  # Escape says no as well
    expect(confirm).to_have_count(0)
    mine.hover()
    mine.get_by_role("button", name="Message actions").click()
    mine.get_by_role("menuitem", name="Delete").click()
    confirm.get_by_role("button", name="Delete").click()
    deleted = message(page, "This message was deleted")
    expect(deleted).to_have_count(1)
    expect(deleted.locator(".meta")).not_to_contain_text("Sent")


def test_notifications_while_long_polling_in_a_hidden_tab(browser: Any, server: Any) -> None:
    """Item 10: a hidden tab that long-polls (WebSockets blocked) still shows notifications."""
    ctx = browser.new_context(permissions=["notifications"], bypass_csp=True)
    ctx.set_default_timeout(10_000)
    try:
        ctx.add_init_script(NOTIFICATION_SPY)
        page = ctx.new_page()
        page.route_web_socket("**/ws/webchat/**", lambda ws: ws.close())
        page.goto(server.base + "/")
        expect(page.locator("webchat-status")).to_have_attribute("status", "polling", timeout=20_000)
        chat = start_chat(page, "notify me while polling")
        bot = make_bot(server, chat, "Poll Bot")
        page.evaluate("window.__setHidden(true)")
        for text in ("first while hidden", "second while hidden"):
            bot_says(server, chat, bot, text)
            page.wait_for_function(f"window.__notes.some((n) => n.body === 'Poll Bot: {text}')", timeout=30_000)
    finally:
        ctx.close()
