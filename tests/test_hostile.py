"""A hostile or unlucky network against a real server process: split bodies, bad input, no 5xx."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from yarl import URL

from webchat_server.app import create_app
from webchat_server.db import pool_key
from webchat_server.settings import Settings

from .browser_support import IDENTITY_SECRET as BROWSER_IDENTITY_SECRET
from .browser_support import ServerProcess, png, sql
from .conftest import Api

JSON_WRITES = ("POST /webchat/send/", "POST /webchat/chats/", "PATCH /webchat/chats/{chat}/",
               "PATCH /webchat/messages/{message}/", "POST /webchat/read/", "POST /webchat/typing/",
               "POST /webchat/identify")


@pytest.fixture
async def visitor(server: ServerProcess) -> AsyncIterator[Api]:
    """A browser-like client (own cookie jar) of the module's real server process."""
    session = aiohttp.ClientSession(base_url=server.base, cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        yield await Api(session).start()  # type: ignore[arg-type]
    finally:
        await session.close()


def cookie_header(api: Api, server: ServerProcess) -> str:
    cookies = api.client.cookie_jar.filter_cookies(URL(server.base))
    return "; ".join(f"{k}={v.value}" for k, v in cookies.items())


async def raw_request(server: ServerProcess, head: str, body: bytes, cuts: list[int],
                      pause: float = 0.02) -> tuple[int, bytes]:
    """Send head+body over a plain socket in several writes (split at body offsets `cuts`), each
    its own TCP segment (TCP_NODELAY, a pause between), as a real network delivers a large body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    head_bytes = (head.replace("\n", "\r\n") + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    bounds = [0, *cuts, len(body)]
    pieces = [head_bytes + body[: bounds[1]]] + [body[a:b] for a, b in itertools.pairwise(bounds[1:])]
    for i, piece in enumerate(pieces):
        if i:
            await asyncio.sleep(pause)
        writer.write(piece)
        await writer.drain()
    answer = await reader.read()
    writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def request_head(api: Api, server: ServerProcess, method: str, path: str, content_type: str) -> str:
    return (f"{method} {path} HTTP/1.1\nHost: 127.0.0.1:{server.port}\nCookie: {cookie_header(api, server)}\n"
            f"X-CSRF-Token: {api.csrf}\nContent-Type: {content_type}\n")


@pytest.mark.parametrize("cuts", [[1460], [1460, 2920, 4000], [1, 2, 3, 700, 1460, 3000]],
                         ids=["two-writes", "four-writes", "seven-writes"])
async def test_json_body_in_several_segments_is_read_whole(server: ServerProcess, visitor: Api,
                                                           cuts: list[int]) -> None:
    text = "segmented " * 500  # 5,000 bytes: more than three 1,460-byte segments
    body = json.dumps({"text": text, "client_id": uuid.uuid4().hex}).encode()
    status, answer = await raw_request(server, request_head(visitor, server, "POST", "/webchat/send/",
                                                            "application/json"), body, cuts)
    assert status == 201, answer
    message = json.loads(answer)["message"]
    assert message["text"] == text.strip()
    assert [m["text"] for m in await visitor.messages(message["chat_id"])] == [text.strip()]


@pytest.mark.parametrize("cuts", [[1460], [100, 1460, 2920, 5000]], ids=["two-writes", "five-writes"])
async def test_multipart_body_in_several_segments_is_read_whole(server: ServerProcess, visitor: Api,
                                                                cuts: list[int]) -> None:
    image = png(64, 64) + b"\x00" * 6000  # trailing bytes keep it a PNG and make it span segments
    boundary = "----hostile" + uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nsplit upload\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"media\"; filename=\"x.png\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + image + f"\r\n--{boundary}--\r\n".encode()
    head = request_head(visitor, server, "POST", "/webchat/send/", f"multipart/form-data; boundary={boundary}")
    status, answer = await raw_request(server, head, body, cuts)
    assert status == 201, answer
    message = json.loads(answer)["message"]
    assert message["text"] == "split upload" and message["media_type"] == "image"
    got = await visitor.client.get(message["media_url"])
    assert got.status == 200 and await got.read() == image


async def test_json_body_over_the_cap_is_413_however_it_arrives(server: ServerProcess, visitor: Api) -> None:
    body = json.dumps({"text": "x" * (300 * 1024)}).encode()
    head = request_head(visitor, server, "POST", "/webchat/send/", "application/json")
    status, answer = await raw_request(server, head, body, [1460, 100_000])
    assert status == 413 and json.loads(answer)["error"]["code"] == "too_large"


async def _json_targets(api: Api) -> dict[str, str]:
    sent = await api.send("target")
    return {"chat": str(sent["chat_id"]), "message": str(sent["message"]["id"])}


async def _post_raw(api: Api, method: str, path: str, data: bytes | str) -> aiohttp.ClientResponse:
    return await api.client.request(method, path, data=data,  # type: ignore[attr-defined, no-any-return]
                                    headers={"X-CSRF-Token": api.csrf, "Content-Type": "application/json"})


async def test_non_ascii_digits_are_400_everywhere(visitor: Api) -> None:
    chat = (await visitor.send("digits"))["chat_id"]
    gets = ["/webchat/messages/?chat_id=²", f"/webchat/messages/?chat_id={chat}&before=³",
            f"/webchat/messages/?chat_id={chat}&after=٣", f"/webchat/messages/?chat_id={chat}&limit=٣",
            "/webchat/chats/²/", "/webchat/media/²", "/webchat/poll/?cursor=².1", "/webchat/poll/?cursor=1.²",
            "/webchat/poll/?timeout=٣", "/webchat/poll/?chat_id=²&timeout=0",
            f"/webchat/poll/?chat_id={chat}&last_message_id=²&timeout=0"]
    for path in gets:
        r = await visitor.client.get(path)
        assert r.status == 400, (path, r.status, await r.text())
        assert (await r.json())["error"]["code"] == "bad_request"
    writes: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/webchat/send/", {"text": "x", "chat_id": "²"}),
        ("POST", "/webchat/send/", {"text": "x", "chat_id": chat, "reply_to": "¹"}),
        ("POST", "/webchat/read/", {"chat_id": chat, "seq": "²"}),
        ("POST", "/webchat/read/", {"chat_id": "²", "seq": 1}),
        ("POST", "/webchat/typing/", {"chat_id": "²"}),
        ("PATCH", "/webchat/messages/²/", {"text": "x"}),
        ("DELETE", "/webchat/messages/²/", {}),
        ("DELETE", f"/webchat/chats/{chat}/?hard=²", {}),
    ]
    for method, path, body in writes:
        r = await _post_raw(visitor, method, path, json.dumps(body))
        assert r.status == 400, (method, path, body, r.status, await r.text())
    # in a WebSocket frame: an error frame, and the socket stays open
    ws = await visitor.ws()
    try:
        assert json.loads((await ws.receive(timeout=5)).data)["type"] == "connection"
        await ws.send_str(json.dumps({"type": "typing", "chat_id": "²"}))
        error = json.loads((await ws.receive(timeout=5)).data)
        assert error["type"] == "error" and error["error"]["code"] == "bad_request"
        await ws.send_str(json.dumps({"type": "ping", "timestamp": 1}))
        assert json.loads((await ws.receive(timeout=5)).data)["type"] == "pong"
    finally:
        await ws.close()


async def test_deeply_nested_json_is_400_on_every_json_endpoint(visitor: Api) -> None:
    targets = await _json_targets(visitor)
    for deep in ("[" * 100_000, "[" * 100_000 + "]" * 100_000, '{"text":' + "[" * 50_000):
        for endpoint in JSON_WRITES:
            method, path = endpoint.split(" ")
            r = await _post_raw(visitor, method, path.format(**targets), deep)
            assert r.status == 400, (endpoint, r.status, await r.text())
            assert (await r.json())["error"]["code"] == "bad_request"
    ws = await visitor.ws()
    try:
        assert json.loads((await ws.receive(timeout=5)).data)["type"] == "connection"
        await ws.send_str("[" * 15_000)  # under the 16 kB frame cap, far past the recursion limit
        error = json.loads((await ws.receive(timeout=5)).data)
        assert error["type"] == "error" and error["error"]["code"] == "bad_request"
        await ws.send_str(json.dumps({"type": "ping", "timestamp": 2}))
        assert json.loads((await ws.receive(timeout=5)).data)["type"] == "pong"
        await ws.send_str("[" * 100_000)  # past the frame cap: closed as "message too big", no crash
        closed = await ws.receive(timeout=5)
        assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
        assert ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    finally:
        await ws.close()


async def test_lone_surrogates_are_refused_with_400(visitor: Api) -> None:
    targets = await _json_targets(visitor)
    lone = '"a\\ud800b"'  # JSON text with an escaped lone surrogate
    cases = [("POST", "/webchat/send/", '{"text": LONE}'),
             ("POST", "/webchat/send/", '{"text": "ok", "client_id": LONE}'),
             ("POST", "/webchat/chats/", '{"title": LONE}'),
             ("PATCH", "/webchat/chats/{chat}/", '{"title": LONE}'),
             ("PATCH", "/webchat/messages/{message}/", '{"text": "\\udfff"}'),
             ("POST", "/webchat/identify", '{"user_id": LONE, "name": "n", "signature": "00"}'),
             ("POST", "/webchat/identify", '{"user_id": "u", "name": LONE, "signature": "00"}')]
    for method, path, body in cases:
        r = await _post_raw(visitor, method, path.format(**targets), body.replace("LONE", lone))
        assert r.status in (400, 403), (method, path, body, r.status, await r.text())
        if path != "/webchat/identify":  # identify may refuse the signature first (403)
            assert r.status == 400 and "surrogate" in (await r.json())["error"]["message"]
    # a proper pair (an emoji written as escapes) is text like any other
    r = await _post_raw(visitor, "POST", "/webchat/send/", '{"text": "\\ud83d\\ude00"}')
    assert r.status == 201 and (await r.json())["message"]["text"] == "\U0001f600"


async def test_identify_with_non_ascii_signature_is_not_a_500(visitor: Api) -> None:
    for signature in ("é" * 64, "²" * 64, "\u0000", "ff" * 31 + "ü"):
        r = await visitor.post("/webchat/identify", {"user_id": "u-1", "name": "N", "signature": signature})
        assert r.status in (400, 403), (signature, r.status, await r.text())
    r = await visitor.post("/webchat/identify", {"token": "é.é.é"})
    assert r.status in (400, 403)


async def test_identity_token_with_lone_surrogates_is_refused_not_a_500(visitor: Api) -> None:
    now = int(time.time())
    for claims in ({"sub": "u-\ud800", "name": "N"}, {"sub": "u-2", "name": "\udfff"},
                   {"sub": "u-3", "name": "N", "email": "a\ud800@example.com"}):
        token = jwt.encode({**claims, "exp": now + 300}, BROWSER_IDENTITY_SECRET, algorithm="HS256")
        r = await visitor.post("/webchat/identify", {"token": token})
        assert r.status in (400, 403), (claims, r.status, await r.text())
    me = (await (await visitor.get("/webchat/me")).json())["account"]
    assert me["id"] == visitor.id and me["kind"] == "guest"  # nothing changed


async def test_malformed_multipart_is_400(server: ServerProcess, visitor: Api) -> None:
    boundary = "b0undary"
    part = f'--{boundary}\r\nContent-Disposition: form-data; name="text"\r\n\r\nhello\r\n'
    cases = {
        "no boundary": ("multipart/form-data", (part + f"--{boundary}--\r\n").encode()),
        "wrong boundary": (f"multipart/form-data; boundary={boundary}",
                           part.replace(boundary, "other").encode() + b"--other--\r\n"),
        "truncated part": (f"multipart/form-data; boundary={boundary}", part.encode()[:-9]),
        "no closing delimiter": (f"multipart/form-data; boundary={boundary}", part.encode()),
        "empty": (f"multipart/form-data; boundary={boundary}", b""),
        "garbage headers": (f"multipart/form-data; boundary={boundary}",
                            f"--{boundary}\r\n\x00\x01\x02\r\n\r\nx\r\n--{boundary}--\r\n".encode()),
    }
    for name, (content_type, body) in cases.items():
        status, answer = await raw_request(server, request_head(visitor, server, "POST", "/webchat/send/",
                                                                content_type), body, [])
        assert status == 400, (name, status, answer)
        assert json.loads(answer)["error"]["code"] == "bad_request", name


async def test_overlong_url_is_400_without_a_traceback(server: ServerProcess, visitor: Api) -> None:
    before = server.log.read_text()
    # 9 kB reaches the routes (the request line may be up to 64 KiB): JSON answers, no 5xx
    status, _ = await raw_request(server, "GET /webchat/chats/" + "1" * 9000 + "/ HTTP/1.1\nHost: x\n", b"", [])
    assert 400 <= status < 500  # 401: no session cookie on this raw request
    # past the cap the HTTP parser refuses the request line itself
    for path in ("/webchat/me?x=" + "a" * 70_000, "/webchat/chats/" + "1" * 70_000 + "/"):
        status, _ = await raw_request(server, f"GET {path} HTTP/1.1\nHost: x\n", b"", [])
        assert status in (400, 414)
    await asyncio.sleep(0.2)  # let the server write its log line
    logged = server.log.read_text()[len(before):]
    assert "Traceback" not in logged and " ERROR " not in logged, logged
    assert "LineTooLong" in logged or "Bad" in logged  # still logged, at INFO


async def test_rewound_last_seq_is_409_and_logged(server: ServerProcess, visitor: Api) -> None:
    chat = (await visitor.send("one"))["chat_id"]
    await visitor.send("two", chat)
    before = server.log.read_text()
    sql(server.database_url, "UPDATE webchat.chats SET last_seq = 1 WHERE id = $1", chat)
    r = await visitor.post("/webchat/send/", {"text": "three", "chat_id": chat})
    assert r.status == 409, await r.text()
    error = (await r.json())["error"]
    assert error["code"] == "conflict" and "sequence" in error["message"]
    await asyncio.sleep(0.1)
    logged = server.log.read_text()[len(before):]
    assert f"data problem in chat {chat}" in logged and "UPDATE webchat.chats SET last_seq" in logged
    assert "Traceback" not in logged
    # the repair the log suggests makes the chat work again
    sql(server.database_url, "UPDATE webchat.chats SET last_seq = (SELECT max(greatest(seq, change_seq)) "
                             "FROM webchat.messages WHERE chat_id = $1) WHERE id = $1", chat)
    assert (await visitor.send("three", chat))["message"]["seq"] == 3


async def test_media_of_deleted_message_is_404_for_every_member(server: ServerProcess, visitor: Api) -> None:
    form = aiohttp.FormData()
    form.add_field("text", "photo")
    form.add_field("media", png(), filename="p.png", content_type="image/png")
    r = await visitor.post("/webchat/send/", data=form)
    assert r.status == 201, await r.text()
    message = (await r.json())["message"]
    session = aiohttp.ClientSession(base_url=server.base, cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        other = await Api(session).start()  # type: ignore[arg-type]
        sql(server.database_url, "INSERT INTO webchat.chat_members (chat_id, account_id) VALUES ($1, $2)",
            message["chat_id"], other.id)
        for member in (visitor, other):
            assert (await member.client.get(message["media_url"])).status == 200
        assert (await visitor.delete(f"/webchat/messages/{message['id']}/")).status == 200
        for member in (visitor, other):
            gone = await member.client.get(message["media_url"])
            assert gone.status == 404 and (await gone.json())["error"]["code"] == "not_found"
    finally:
        await session.close()
    media_id = int(message["media_url"].rsplit("/", 1)[1])
    assert sql(server.database_url, "SELECT length(bytes) FROM webchat.media WHERE id = $1", media_id) == 0
    # deleting with plain SQL (the integration contract) erases the media the same way
    form = aiohttp.FormData()
    form.add_field("media", png(), filename="p.png")
    second = (await (await visitor.post("/webchat/send/", data=form)).json())["message"]
    sql(server.database_url, "UPDATE webchat.messages SET deleted_at = now() WHERE id = $1", second["id"])
    assert (await visitor.client.get(second["media_url"])).status == 404


async def test_values_the_database_refuses_are_400_not_5xx(settings: Settings, aiohttp_client: Any) -> None:
    """The safety net behind validation: a value that reaches Postgres and does not fit (a lone
    surrogate in some future field, a number out of range) is the client's mistake, never a 500,
    and not a 503 (asyncpg's client-side DataError is an InterfaceError, a 'database down' class)."""
    app = create_app(settings)

    async def unvalidated(request: web.Request) -> web.Response:
        kind = request.query["kind"]
        pool = request.app[pool_key]
        if kind == "surrogate":
            await pool.fetchval("SELECT $1::text", "a\ud800")
        elif kind == "range":
            await pool.fetchval("SELECT $1::int4", 2**40)
        else:
            await pool.fetchval("SELECT $1::text::int", "x")
        return web.json_response({})

    app.router.add_get("/webchat/unvalidated", unvalidated)
    client = await aiohttp_client(app)
    for kind in ("surrogate", "range", "text"):
        r = await client.get("/webchat/unvalidated", params={"kind": kind})
        assert r.status == 400, (kind, r.status, await r.text())
        assert (await r.json())["error"]["code"] == "bad_request"


async def test_body_cut_short_by_the_client_leaves_no_error(server: ServerProcess, visitor: Api) -> None:
    before = server.log.read_text()
    head = request_head(visitor, server, "POST", "/webchat/send/", "application/json")
    _, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write((head.replace("\n", "\r\n") + "Content-Length: 5000\r\n\r\n").encode() + b'{"text": "' + b"x" * 1000)
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.close()  # the client gives up mid-body
    await asyncio.sleep(0.3)
    assert (await visitor.get("/webchat/chats/")).status == 200  # the server carries on
    logged = server.log.read_text()[len(before):]
    assert "Traceback" not in logged and " ERROR " not in logged, logged


async def test_server_log_has_no_unhandled_errors(server: ServerProcess) -> None:
    """Runs last in this module: nothing above may have reached the catch-all 500 path."""
    logged = server.log.read_text()
    assert "unhandled error" not in logged and "Traceback" not in logged, logged
    errors = [line for line in logged.splitlines() if " ERROR " in line]
    assert all("data problem in chat" in line for line in errors), errors
