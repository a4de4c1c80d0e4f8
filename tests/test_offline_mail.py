"""Availability and email when offline, against a real SMTP server (aiosmtpd) started here."""

from __future__ import annotations

import asyncio
import dataclasses
import email
import socket
from collections.abc import Iterator
from email.message import Message
from typing import Any

import asyncpg
import pytest
from aiosmtpd.controller import Controller

from webchat_server.app import create_app
from webchat_server.settings import Settings

from .conftest import Api, next_event
from .test_staff import as_agent, note


class Inbox:
    """aiosmtpd's handler: every message it accepts, parsed."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
async def mail_api(settings: Settings, smtp: tuple[Inbox, int], aiohttp_client: Any) -> Any:
    mail_settings = dataclasses.replace(settings, smtp_host="127.0.0.1", smtp_port=smtp[1], smtp_security="none",
                                        smtp_batch_seconds=0.5, smtp_from="Fernwood Bakery <chat@bakery.example>",
                                        public_url="https://chat.bakery.example")
    client = await aiohttp_client(create_app(mail_settings))

    async def make() -> Api:
        return await Api(await aiohttp_client(client.server)).start()

    return make


async def emails(inbox: Inbox, count: int, timeout: float = 20.0) -> list[Message]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(inbox.messages) < count:
        assert loop.time() < deadline, f"{len(inbox.messages)} of {count} emails arrived"
        await asyncio.sleep(0.05)
    return list(inbox.messages)


def body(msg: Message) -> str:
    payload = msg.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


async def test_replies_to_an_away_visitor_are_emailed_with_a_link_back(
        mail_api: Any, smtp: tuple[Inbox, int], sql: asyncpg.Connection) -> None:
    inbox, _ = smtp
    visitor = await mail_api()
    assert (await (await visitor.get("/webchat/availability")).json())["online"] is False
    chat_id = (await visitor.send("Do you deliver on Sundays?"))["chat_id"]
    r = await visitor.post("/webchat/contact", {"email": "sam@example.org"})
    assert r.status == 200 and (await r.json())["account"]["email"] == "sam@example.org"

    agent = await as_agent(await mail_api())
    ws = await agent.ws()
    await next_event(ws)
    assert (await (await visitor.get("/webchat/availability")).json())["online"] is True
    await agent.send("Hi Sam, yes we do!", chat_id)
    await note(agent, chat_id, "NOTE: check the Sunday rota")
    await agent.send("Orders before 10 am.", chat_id)
    got = await emails(inbox, 1)
    # each reply is emailed once, the note never (a burst is one email unless it straddles a round)
    while sum(body(m).count("Ana (Support): ") for m in got) < 2:
        got = await emails(inbox, len(got) + 1)
    text = "".join(body(m) for m in got)
    assert text.count("Hi Sam, yes we do!") == 1 and text.count("Orders before 10 am.") == 1
    assert "NOTE" not in text
    first = got[0]
    assert first["To"] == "sam@example.org" and first["From"] == "Fernwood Bakery <chat@bakery.example>"
    link = next(line for line in body(first).splitlines() if line.startswith("https://"))
    assert link.startswith("https://chat.bakery.example/webchat/continue?t=")

    # the link, opened in another browser, brings the visitor back into the conversation
    other = await mail_api()
    r = await other.client.get(link.removeprefix("https://chat.bakery.example"), allow_redirects=False)
    assert r.status == 303 and r.headers["Location"].endswith(f"/#webchat-chat={chat_id}")
    await other.start()
    assert other.id == visitor.id
    assert [m["text"] for m in await other.messages(chat_id)][-1] == "Orders before 10 am."
    # a forged or altered link leads nowhere
    r = await other.client.get("/webchat/continue", params={"t": link.partition("t=")[2][:-4] + "AAAA"})
    assert r.status == 404

    # a burst in one statement is one email; a reply the visitor has read is not emailed
    before = len(inbox.messages)
    seq = await sql.fetchval("SELECT last_seq FROM webchat.chats WHERE id = $1", chat_id)
    r = await other.post("/webchat/read/", {"chat_id": chat_id, "seq": seq})
    assert r.status == 200
    await sql.execute("INSERT INTO webchat.messages (chat_id, sender_id, text) "
                      "SELECT $1, $2, t FROM unnest(ARRAY['one', 'two', 'three']) t", chat_id, agent.id)
    got = await emails(inbox, before + 1)
    assert len(got) == before + 1
    assert [line for line in body(got[-1]).splitlines() if line.startswith("Ana (Support): ")] == [
        "Ana (Support): one", "Ana (Support): two", "Ana (Support): three"]
    await ws.close()


async def test_no_email_without_an_address_and_bad_addresses_refused(mail_api: Any, sql: asyncpg.Connection) -> None:
    visitor = await mail_api()
    chat_id = (await visitor.send("hi"))["chat_id"]
    agent = await as_agent(await mail_api())
    await agent.send("hello!", chat_id)
    assert await sql.fetchval("SELECT count(*) FROM webchat.offline_mail") == 0
    for bad in ({"email": "not an address"}, {"email": 5}, {"email": "a@b"}, {"email": "x" * 400 + "@a.b"}):
        r = await visitor.post("/webchat/contact", bad)
        assert r.status == 400, bad
    r = await agent.post("/webchat/contact", {"email": "ana@bakery.example"})
    assert r.status == 400  # agents are not visitors
    r = await visitor.post("/webchat/contact", {"email": None})
    assert r.status == 200 and (await r.json())["account"]["email"] is None


async def test_an_address_no_email_can_carry_stops_only_its_own_email(
        mail_api: Any, smtp: tuple[Inbox, int], sql: asyncpg.Connection) -> None:
    """A site's token may carry any email claim ("a@b.co\\r\\nBcc: ..."), and an agent made by the
    CLI any name: neither fits in a header. That conversation is not emailed; the others still are."""
    inbox, _ = smtp
    broken, fine = await mail_api(), await mail_api()
    r = await broken.identify("mallory", "Mallory", email="mallory@example.org\r\nBcc: all@example.org")
    assert r.status == 200, await r.text()
    first = (await broken.send("first"))["chat_id"]
    second = (await fine.send("second"))["chat_id"]
    assert (await fine.post("/webchat/contact", {"email": "fine@example.org"})).status == 200
    agent = await as_agent(await mail_api())
    await agent.send("for the broken address", first)
    await sql.execute("UPDATE webchat.offline_mail SET queued_at = queued_at - interval '1 hour' WHERE chat_id = $1",
                      first)  # due first
    await agent.send("for the fine address", second)
    got = await emails(inbox, 1)
    assert [m["To"] for m in got] == ["fine@example.org"]
    # an agent's name with a line break (the CLI took it as given) is one line in the subject
    await sql.execute("UPDATE webchat.accounts SET display_name = 'Ana\nBcc: all@example.org' WHERE id = $1",
                      agent.id)
    await agent.send("again", second)
    got = await emails(inbox, 2)
    assert got[1]["To"] == "fine@example.org" and "\n" not in got[1]["Subject"], got[1]["Subject"]
