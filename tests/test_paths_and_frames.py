"""Small edges of the HTTP and WebSocket surface: one spelling per static file, 405 with Allow,
an unechoable ping, the URL cursor's byte cap."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp.test_utils import TestClient

from .conftest import Api, next_event


async def test_static_files_have_one_spelling_and_it_carries_the_policy(client: TestClient[Any, Any]) -> None:
    page = await client.get("/web/index.html")
    assert page.status == 200 and "frame-ancestors" in page.headers["Content-Security-Policy"]
    # every other spelling of the page was served without its Content-Security-Policy
    for spelling in ("/web//index.html", "/web/index.html/", "/web/%2Findex.html"):
        r = await client.get(spelling)
        assert r.status == 404, spelling


async def test_static_names_too_long_or_with_nul_are_404(client: TestClient[Any, Any]) -> None:
    for path in ("/web/" + "a" * 300 + ".html", "/web/x%00.html", "/web/x%00.js", "/web/" + "é" * 200 + ".js"):
        r = await client.get(path)
        assert r.status == 404, (path[:40], r.status, await r.text())
    assert (await client.get("/livez")).status == 200


async def test_405_names_the_allowed_methods(api: Api) -> None:
    # a raw request: the response hook refuses methods the document does not list, this one included
    reader, writer = await asyncio.open_connection(api.client.host, api.client.port)
    writer.write(b"GET /webchat/send/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    head, _, body = (await reader.read()).partition(b"\r\n\r\n")
    writer.close()
    lines = head.decode().split("\r\n")
    assert lines[0].split()[1] == "405"
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    assert {m.strip() for m in headers["allow"].split(",")} >= {"POST"}
    assert json.loads(body)["error"]["code"] == "method_not_allowed"


async def test_ping_with_a_lone_surrogate_gets_an_error_frame_and_the_socket_stays(api: Api) -> None:
    ws = await api.ws()
    assert (await next_event(ws))["type"] == "connection"
    await ws.send_str('{"type": "ping", "timestamp": "\\ud800"}')
    err = await next_event(ws)
    assert err["type"] == "error" and err["error"]["code"] == "bad_request"
    await ws.send_str(json.dumps({"type": "ping", "timestamp": 12345}))
    assert (await next_event(ws)) == {"type": "pong", "chat_id": None, "timestamp": 12345}
    await ws.close()
    assert ws.close_code != 1011  # closed by us, not by a server error


async def test_url_cursor_is_capped_in_bytes(api: Api) -> None:
    # 6,000 euro signs: 6,000 characters (under the 16,000 cap) but 18,000 bytes, 54,000 in the URL
    r = await api.get("/webchat/poll/", cursor="€" * 6000, timeout=0)
    assert r.status == 400 and r.content_type == "application/json"
    assert "bytes" in (await r.json())["error"]["message"]
    ws = await api.ws(resume=True)
    await ws.send_str(json.dumps({"type": "resume", "cursor": "-"}))
    assert (await next_event(ws))["type"] == "connection"
    await ws.close()
