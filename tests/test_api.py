"""The REST API: happy paths, validation, authorization and the SQL integration contract."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import FormData

from .browser_support import png
from .conftest import Api


async def test_me_creates_guest_once(api: Api) -> None:
    r = await api.get("/webchat/me")
    body = await r.json()
    assert body["account"]["id"] == api.id
    assert body["account"]["kind"] == "guest"
    assert body["csrf_token"] == api.csrf
    async with aiohttp.request("GET", api.client.make_url("/webchat/me")) as fresh:
        set_cookie = fresh.headers["Set-Cookie"]
    assert "webchat_session=" in set_cookie and "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie


async def test_send_without_chat_creates_titled_chat(api: Api) -> None:
    body = await api.send("Where is my order #123?\nIt was due yesterday")
    msg = body["message"]
    assert body["success"] and msg["seq"] == 1 and msg["sender_id"] == api.id
    assert msg["is_outgoing"] is False and msg["sender_kind"] == "guest"
    r = await api.get("/webchat/chats/")
    chats = (await r.json())["chats"]
    assert [c["id"] for c in chats] == [body["chat_id"]]
    assert chats[0]["title"] == "Where is my order #123? It was due yesterday"
    assert chats[0]["last_message"]["id"] == msg["id"]
    assert chats[0]["unread_count"] == 0


async def test_messages_paging(api: Api) -> None:
    chat = (await api.send("m1"))["chat_id"]
    for i in range(2, 11):
        await api.send(f"m{i}", chat)
    latest = await api.get("/webchat/messages/", chat_id=chat, limit=4)
    body = await latest.json()
    assert [m["seq"] for m in body["messages"]] == [7, 8, 9, 10] and body["has_more"]
    older = await (await api.get("/webchat/messages/", chat_id=chat, limit=4, before=7)).json()
    assert [m["seq"] for m in older["messages"]] == [3, 4, 5, 6] and older["has_more"]
    oldest = await (await api.get("/webchat/messages/", chat_id=chat, limit=4, before=3)).json()
    assert [m["seq"] for m in oldest["messages"]] == [1, 2] and not oldest["has_more"]
    after = await (await api.get("/webchat/messages/", chat_id=chat, limit=3, after=8)).json()
    assert [m["seq"] for m in after["messages"]] == [9, 10] and not after["has_more"]


async def test_chat_crud_and_ordering(api: Api) -> None:
    r = await api.post("/webchat/chats/", {"title": "Billing"})
    assert r.status == 201
    billing = (await r.json())["chat"]
    second = (await api.send("hello"))["chat_id"]
    chats = (await (await api.get("/webchat/chats/")).json())["chats"]
    assert [c["id"] for c in chats] == [second, billing["id"]]  # newest activity first
    await api.send("bump", billing["id"])
    chats = (await (await api.get("/webchat/chats/")).json())["chats"]
    assert [c["id"] for c in chats] == [billing["id"], second]

    fresh = (await (await api.post("/webchat/chats/", {})).json())["chat"]
    assert fresh["title"] == "New chat"
    await api.send("Refund for order 7", fresh["id"])
    assert (await (await api.get(f"/webchat/chats/{fresh['id']}/")).json())["chat"]["title"] == "Refund for order 7"
    await api.send("named chats keep their name", billing["id"])
    r = await api.patch(f"/webchat/chats/{billing['id']}/", {"title": "Invoices"})
    assert (await r.json())["chat"]["title"] == "Invoices"
    r = await api.patch(f"/webchat/chats/{billing['id']}/", {"is_archived": True})
    assert (await r.json())["chat"]["is_archived"] is True
    r = await api.patch(f"/webchat/chats/{billing['id']}/", {"is_archived": False})
    assert (await r.json())["chat"]["is_archived"] is False

    r = await api.delete(f"/webchat/chats/{second}/")
    assert r.status == 200 and (await r.json())["chat"]["is_archived"] is True
    r = await api.delete(f"/webchat/chats/{second}/?hard=true")
    assert r.status == 200
    chats = (await (await api.get("/webchat/chats/")).json())["chats"]
    assert [c["id"] for c in chats] == [billing["id"], fresh["id"]]
    assert [c["title"] for c in chats] == ["Invoices", "Refund for order 7"]
    assert (await api.get("/webchat/messages/", chat_id=second)).status == 404


async def test_edit_and_delete_own_message(api: Api, new_api: Any, sql: asyncpg.Connection) -> None:
    sent = await api.send("helo")
    chat, mid = sent["chat_id"], sent["message"]["id"]
    r = await api.patch(f"/webchat/messages/{mid}/", {"text": "hello"})
    edited = (await r.json())["message"]
    assert edited["text"] == "hello" and edited["edited_at"] and edited["seq"] == 1 and edited["change_seq"] == 2
    r = await api.delete(f"/webchat/messages/{mid}/")
    deleted = (await r.json())["message"]
    assert deleted["deleted"] and deleted["text"] == "" and deleted["change_seq"] == 3
    # the chat list shows the newest message as deleted, never its old text
    last = (await (await api.get("/webchat/chats/")).json())["chats"][0]["last_message"]
    assert last["id"] == mid and last["deleted"] and last["text"] == ""
    assert (await api.patch(f"/webchat/messages/{mid}/", {"text": "again"})).status == 409

    other = await new_api()
    await sql.execute("INSERT INTO webchat.chat_members (chat_id, account_id) VALUES ($1, $2)", chat, other.id)
    theirs = (await other.send("mine", chat))["message"]["id"]
    assert (await api.patch(f"/webchat/messages/{theirs}/", {"text": "hacked"})).status == 403
    assert (await api.delete(f"/webchat/messages/{theirs}/")).status == 403


async def test_read_position_and_unread_count(api: Api, sql: asyncpg.Connection) -> None:
    chat = (await api.send("hi"))["chat_id"]
    bot = await sql.fetchval("INSERT INTO webchat.accounts (kind, display_name) VALUES ('bot', 'Bot') RETURNING id")
    await sql.execute("INSERT INTO webchat.chat_members (chat_id, account_id) VALUES ($1, $2)", chat, bot)
    for i in range(3):
        await sql.execute("INSERT INTO webchat.messages (chat_id, sender_id, text) VALUES ($1, $2, $3)",
                          chat, bot, f"r{i}")
    chats = (await (await api.get("/webchat/chats/")).json())["chats"]
    assert chats[0]["unread_count"] == 3
    r = await api.post("/webchat/read/", {"chat_id": chat, "seq": 3})
    assert (await r.json())["last_read_seq"] == 3
    chats = (await (await api.get("/webchat/chats/")).json())["chats"]
    assert chats[0]["unread_count"] == 1
    # read positions never move backwards and never past the end
    r = await api.post("/webchat/read/", {"chat_id": chat, "seq": 1})
    assert (await r.json())["last_read_seq"] == 3
    r = await api.post("/webchat/read/", {"chat_id": chat, "seq": 999})
    assert (await r.json())["last_read_seq"] == 4


async def test_client_id_makes_send_idempotent(api: Api) -> None:
    first = await api.send("pay now", client_id="c-1")
    again = await api.send("pay now", first["chat_id"], client_id="c-1")
    assert again["message"]["id"] == first["message"]["id"] and again["duplicate"]
    # concurrent retries of one send still store it once
    results = await asyncio.gather(*(api.send("burst", first["chat_id"], client_id="c-2") for _ in range(8)))
    assert len({r["message"]["id"] for r in results}) == 1
    msgs = await api.messages(first["chat_id"])
    assert [m["seq"] for m in msgs] == [1, 2]
    # the same client_id in another chat is a conflict, not a silent duplicate
    other = (await api.send("other"))["chat_id"]
    r = await api.post("/webchat/send/", {"text": "x", "chat_id": other, "client_id": "c-1"})
    assert r.status == 409


async def test_media_upload_and_membership(api: Api, new_api: Any) -> None:
    form = FormData()
    form.add_field("text", "look")
    form.add_field("client_id", "up-1")
    form.add_field("media", png(), filename="x.png", content_type="application/octet-stream")
    r = await api.post("/webchat/send/", data=form)
    assert r.status == 201, await r.text()
    msg = (await r.json())["message"]
    assert msg["media_type"] == "image" and msg["media_url"]
    got = await api.client.get(msg["media_url"])
    assert got.status == 200 and got.headers["Content-Type"] == "image/png"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert await got.read() == png()
    stranger = await new_api()
    assert (await stranger.client.get(msg["media_url"])).status == 404
    assert (await api.client.get("/webchat/media/999999")).status == 404


async def test_media_rejects_wrong_type_and_size(api: Api) -> None:
    for payload, status in [(b"#!/bin/sh\necho hi\n", 415), (b"<svg xmlns='http://www.w3.org/2000/svg'/>", 415),
                            (png() + b"\x00" * (300 * 1024), 413), (b"", 400)]:
        form = FormData()
        form.add_field("media", io.BytesIO(payload), filename="f.bin")
        r = await api.post("/webchat/send/", data=form)
        assert r.status == status, (payload[:10], await r.text())
        assert (await r.json())["error"]["code"]
    chats = (await (await api.get("/webchat/chats/")).json())["chats"]
    assert chats == []  # nothing half-created


async def test_bad_input_gets_json_4xx(api: Api) -> None:
    chat = (await api.send("hi"))["chat_id"]
    cases: list[tuple[str, str, Any, int]] = [
        ("post", "/webchat/send/", {}, 400),
        ("post", "/webchat/send/", {"text": "   "}, 400),
        ("post", "/webchat/send/", {"text": 5}, 400),
        ("post", "/webchat/send/", {"text": "x" * 10_001}, 413),
        ("post", "/webchat/send/", {"text": "a\x00b"}, 400),
        ("post", "/webchat/send/", {"text": "x", "chat_id": "abc"}, 400),
        ("post", "/webchat/send/", {"text": "x", "chat_id": -1}, 400),
        ("post", "/webchat/send/", {"text": "x", "chat_id": True}, 400),
        ("post", "/webchat/send/", {"text": "x", "chat_id": 10**30}, 400),
        ("post", "/webchat/send/", {"text": "x", "client_id": "no spaces"}, 400),
        ("post", "/webchat/send/", {"text": "x", "chat_id": chat, "reply_to": 999999}, 400),
        ("post", "/webchat/send/", [1, 2], 400),
        ("post", "/webchat/chats/", {"title": "t" * 201}, 413),
        ("patch", f"/webchat/chats/{chat}/", {"title": ""}, 400),
        ("patch", f"/webchat/chats/{chat}/", {"is_archived": "maybe"}, 400),
        ("post", "/webchat/read/", {"chat_id": chat}, 400),
        ("post", "/webchat/read/", {"chat_id": chat, "seq": "x"}, 400),
        ("post", "/webchat/typing/", {}, 400),
        ("get", "/webchat/messages/", None, 400),
        ("get", "/webchat/messages/?chat_id=1&limit=0", None, 400),
        ("get", "/webchat/messages/?chat_id=1&limit=x", None, 400),
        ("get", f"/webchat/messages/?chat_id={chat}&before=1&after=1", None, 400),
        ("get", "/webchat/poll/?cursor=garbage", None, 400),
        ("get", "/webchat/poll/?timeout=999", None, 400),
        ("patch", "/webchat/messages/abc/", {"text": "x"}, 400),
        ("post", "/webchat/identify", {"user_id": "u"}, 400),
    ]
    for method, path, body, status in cases:
        if method == "get":
            r = await api.client.get(path)
        else:
            r = await getattr(api, method)(path, body)
        assert r.status == status, (method, path, body, r.status, await r.text())
        err = (await r.json())["error"]
        assert err["code"] and err["message"], (path, err)
    # malformed JSON
    r = await api.client.post("/webchat/send/", data=b"{nope", headers={"X-CSRF-Token": api.csrf,
                                                                        "Content-Type": "application/json"})
    assert r.status == 400 and (await r.json())["error"]["code"] == "bad_request"
    # nothing was stored by any of it
    assert [m["text"] for m in await api.messages(chat)] == ["hi"]


async def test_csrf_and_session_required(api: Api, client: Any) -> None:
    r = await api.client.post("/webchat/send/", json={"text": "x"})
    assert r.status == 403 and (await r.json())["error"]["code"] == "csrf"
    r = await api.client.post("/webchat/send/", json={"text": "x"}, headers={"X-CSRF-Token": "wrong"})
    assert r.status == 403
    r = await api.client.post("/webchat/send/", json={"text": "x"},
                              headers={"X-CSRF-Token": api.csrf, "Origin": "https://evil.example"})
    assert r.status == 403 and (await r.json())["error"]["code"] == "bad_origin"
    api.client.session.cookie_jar.clear()
    for path in ("/webchat/chats/", "/webchat/messages/?chat_id=1", "/webchat/poll/?timeout=0"):
        r = await api.client.get(path)
        assert r.status == 401, path


async def test_non_members_get_404_everywhere(api: Api, new_api: Any) -> None:
    sent = await api.send("secret")
    chat, mid = sent["chat_id"], sent["message"]["id"]
    eve = await new_api()
    checks = [
        await eve.get("/webchat/messages/", chat_id=chat),
        await eve.get(f"/webchat/chats/{chat}/"),
        await eve.post("/webchat/send/", {"text": "hi", "chat_id": chat}),
        await eve.patch(f"/webchat/chats/{chat}/", {"title": "mine"}),
        await eve.delete(f"/webchat/chats/{chat}/?hard=true"),
        await eve.post("/webchat/read/", {"chat_id": chat, "seq": 1}),
        await eve.post("/webchat/typing/", {"chat_id": chat, "is_typing": True}),
        await eve.patch(f"/webchat/messages/{mid}/", {"text": "x"}),
        await eve.delete(f"/webchat/messages/{mid}/"),
        await eve.get("/webchat/poll/", chat_id=chat, timeout=0),
        await eve.get(f"/webchat/chats/{chat + 1000}/"),
    ]
    for r in checks:
        assert r.status == 404, (r.url, r.status, await r.text())
    assert [m["text"] for m in await api.messages(chat)] == ["secret"]


async def test_only_creator_hard_deletes_shared_chat(api: Api, new_api: Any, sql: asyncpg.Connection) -> None:
    chat = (await api.send("ours"))["chat_id"]
    other = await new_api()
    await sql.execute("INSERT INTO webchat.chat_members (chat_id, account_id) VALUES ($1, $2)", chat, other.id)
    assert (await other.delete(f"/webchat/chats/{chat}/?hard=true")).status == 403
    assert (await api.delete(f"/webchat/chats/{chat}/?hard=true")).status == 200


async def test_identify_merges_guest_into_user(api: Api, new_api: Any) -> None:
    chat = (await api.send("as a guest", client_id="g-1"))["chat_id"]
    guest_id = api.id
    r = await api.identify("user-42", "Ada")
    assert r.status == 200, await r.text()
    user = (await r.json())["account"]
    assert user["kind"] == "user" and user["display_name"] == "Ada" and user["id"] != guest_id
    me = (await (await api.get("/webchat/me")).json())["account"]
    assert me["id"] == user["id"]
    chats = (await (await api.get("/webchat/chats/")).json())["chats"]
    assert [c["id"] for c in chats] == [chat]
    msgs = await api.messages(chat)
    assert msgs[0]["sender_id"] == user["id"] and msgs[0]["sender_name"] == "Ada"
    # the same user on another device sees the merged chat too
    laptop = await new_api()
    assert (await laptop.identify("user-42", "Ada")).status == 200
    assert [c["id"] for c in (await (await laptop.get("/webchat/chats/")).json())["chats"]] == [chat]


async def test_plain_sql_message_behaves_like_api(api: Api, sql: asyncpg.Connection) -> None:
    chat = (await api.send("question"))["chat_id"]
    bot = await sql.fetchval(
        "INSERT INTO webchat.accounts (kind, display_name) VALUES ('bot', 'Helper') RETURNING id")
    await sql.execute("INSERT INTO webchat.chat_members (chat_id, account_id) VALUES ($1, $2)", chat, bot)
    await sql.execute("INSERT INTO webchat.messages (chat_id, sender_id, text) VALUES ($1, $2, 'answer')", chat, bot)
    msgs = await api.messages(chat)
    assert [(m["seq"], m["text"], m["is_outgoing"], m["sender_name"]) for m in msgs] == [
        (1, "question", False, api.account["display_name"]), (2, "answer", True, "Helper")]
    assert msgs[1]["timestamp"]
    chats = (await (await api.get("/webchat/chats/")).json())["chats"]
    assert chats[0]["last_seq"] == 2 and chats[0]["last_message"]["text"] == "answer"
    assert chats[0]["updated_at"] == msgs[1]["timestamp"]


async def test_concurrent_senders_get_gap_free_seqs(api: Api, new_api: Any, database_url: str) -> None:
    chat = (await api.send("start"))["chat_id"]
    bot = 0
    conns = [await asyncpg.connect(database_url) for _ in range(20)]
    try:
        bot = await conns[0].fetchval(
            "INSERT INTO webchat.accounts (kind, display_name) VALUES ('bot', 'B') RETURNING id")

        async def writer(conn: asyncpg.Connection, n: int) -> None:
            for i in range(10):
                await conn.execute(
                    "INSERT INTO webchat.messages (chat_id, sender_id, text) VALUES ($1, $2, $3)",
                    chat, bot, f"{n}-{i}")

        async def api_writer() -> None:
            for i in range(10):
                await api.send(f"api-{i}", chat)

        await asyncio.gather(*(writer(c, n) for n, c in enumerate(conns)), api_writer())
    finally:
        for c in conns:
            await c.close()
    seqs: list[int] = []
    before = None
    while True:
        params: dict[str, Any] = {"limit": 200}
        if before is not None:
            params["before"] = before
        page = await api.messages(chat, **params)
        seqs = [m["seq"] for m in page] + seqs
        if len(page) < 200:
            break
        before = page[0]["seq"]
    assert seqs == list(range(1, 212))


async def test_rolled_back_insert_leaves_no_gap(api: Api, sql: asyncpg.Connection) -> None:
    chat = (await api.send("one"))["chat_id"]
    tr = sql.transaction()
    await tr.start()
    await sql.execute("INSERT INTO webchat.messages (chat_id, sender_id, text) VALUES ($1, $2, 'x')", chat, api.id)
    await tr.rollback()
    await api.send("two", chat)
    assert [m["seq"] for m in await api.messages(chat)] == [1, 2]


async def test_rate_limit_is_429(settings: Any, aiohttp_client: Any) -> None:
    from dataclasses import replace

    from webchat_server.app import create_app

    client = await aiohttp_client(create_app(replace(settings, sends_per_minute=5, rate_limit_scale=1.0)))
    api = await Api(client).start()
    chat = (await api.send("1"))["chat_id"]
    statuses = [(await api.post("/webchat/send/", {"text": "x", "chat_id": chat})).status for _ in range(15)]
    assert 429 in statuses
    r = await api.post("/webchat/send/", {"text": "x", "chat_id": chat})
    if r.status == 429:
        assert (await r.json())["error"]["code"] == "rate_limited"


async def test_database_gone_is_503_not_500(api: Api, pg_uri: str, database_url: str) -> None:
    chat = (await api.send("before"))["chat_id"]
    name = database_url.split("?")[0].rsplit("/", 1)[1]
    conn = await asyncpg.connect(pg_uri)
    try:
        await conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
    finally:
        await conn.close()
    for r in [await api.get("/webchat/chats/"), await api.get("/webchat/messages/", chat_id=chat),
              await api.post("/webchat/send/", {"text": "after", "chat_id": chat})]:
        assert r.status == 503, (r.url, r.status, await r.text())
        assert (await r.json())["error"]["code"] == "unavailable"
    health = await api.client.get("/healthz")
    assert health.status == 503 and (await health.json())["database"].startswith("down")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await api.ws()
    assert refused.value.status == 503
