"""Static files over a real socket: gzip, Cache-Control, validators, types, no path traversal."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import os
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from webchat_server.app import create_app
from webchat_server.http.static import accepts_gzip
from webchat_server.settings import Settings

SCRIPT = "export const hello = 'world';\n" * 200


@pytest.fixture
def static_dir(tmp_path: Path) -> Path:
    root = tmp_path / "web"
    (root / "chunks").mkdir(parents=True)
    (root / "webchat.js").write_text("import './chunks/webchat-HXQ2ZJ7K.js';\n" + SCRIPT)
    (root / "chunks" / "webchat-HXQ2ZJ7K.js").write_text(SCRIPT)
    (root / "chunks" / "webchat-HXQ2ZJ7K.js.map").write_text('{"version": 3, "mappings": ""}' + " " * 500)
    (root / "page.html").write_text("<!doctype html><title>t</title>" + "<p>text</p>" * 100)
    (root / "tiny.txt").write_text("x")
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(256))
    (root / ".secret").write_text("hidden")
    (tmp_path / "outside.txt").write_text("outside the root")
    (root / "link.txt").symlink_to(tmp_path / "outside.txt")
    return root


@pytest.fixture
async def web_client(settings: Settings, static_dir: Path, aiohttp_client: Any) -> TestClient[Any, Any]:
    app = create_app(dataclasses.replace(settings, static_dir=static_dir))
    return await aiohttp_client(app)  # type: ignore[no-any-return]


async def test_gzip_with_cache_control_and_vary(web_client: TestClient[Any, Any]) -> None:
    r = await web_client.get("/web/webchat.js", headers={"Accept-Encoding": "gzip, deflate"}, auto_decompress=False)
    assert r.status == 200
    raw = await r.read()
    assert r.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(raw).decode().endswith(SCRIPT)
    assert int(r.headers["Content-Length"]) == len(raw) < len(SCRIPT) // 10
    assert r.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert r.headers["Vary"] == "Accept-Encoding"
    assert r.headers["Cache-Control"] == "public, max-age=60"
    assert r.headers["ETag"].endswith('-gzip"') and r.headers["Last-Modified"].endswith("GMT")


async def test_identity_when_gzip_not_accepted(web_client: TestClient[Any, Any]) -> None:
    for accept in ("identity", "gzip;q=0, br", ""):
        r = await web_client.get("/web/webchat.js", headers={"Accept-Encoding": accept}, auto_decompress=False)
        assert r.status == 200, accept
        assert "Content-Encoding" not in r.headers, accept
        assert (await r.text()).endswith(SCRIPT)
        assert r.headers["Vary"] == "Accept-Encoding"


async def test_hashed_names_are_immutable(web_client: TestClient[Any, Any]) -> None:
    for path in ("/web/chunks/webchat-HXQ2ZJ7K.js", "/web/chunks/webchat-HXQ2ZJ7K.js.map"):
        r = await web_client.get(path)
        assert r.status == 200, path
        assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable", path
    r = await web_client.get("/web/chunks/webchat-HXQ2ZJ7K.js.map")
    assert r.headers["Content-Type"] == "application/json"


async def test_pages_revalidate_and_types(web_client: TestClient[Any, Any]) -> None:
    r = await web_client.get("/web/page.html")
    assert r.headers["Cache-Control"] == "no-cache"
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    r = await web_client.get("/web/image.png", headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    assert r.headers["Content-Type"] == "image/png"
    # already compressed formats are sent as they are, and do not vary
    assert "Content-Encoding" not in r.headers and "Vary" not in r.headers
    r = await web_client.get("/web/tiny.txt", headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    assert "Content-Encoding" not in r.headers and await r.text() == "x"


async def test_conditional_requests_get_304(web_client: TestClient[Any, Any]) -> None:
    gz = {"Accept-Encoding": "gzip"}
    first = await web_client.get("/web/webchat.js", headers=gz)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    r = await web_client.get("/web/webchat.js", headers={**gz, "If-None-Match": etag})
    assert r.status == 304 and await r.read() == b""
    assert r.headers["ETag"] == etag and r.headers["Cache-Control"] == "public, max-age=60"
    r = await web_client.get("/web/webchat.js", headers={**gz, "If-None-Match": f'"other", W/{etag}'})
    assert r.status == 304
    r = await web_client.get("/web/webchat.js", headers={**gz, "If-Modified-Since": modified})
    assert r.status == 304
    r = await web_client.get("/web/webchat.js", headers={**gz, "If-None-Match": '"stale"'})
    assert r.status == 200


async def test_a_changed_file_gets_a_new_etag(web_client: TestClient[Any, Any], static_dir: Path) -> None:
    first = await web_client.get("/web/webchat.js")
    await asyncio.sleep(0.01)
    (static_dir / "webchat.js").write_text("export const changed = true;\n")
    r = await web_client.get("/web/webchat.js", headers={"If-None-Match": first.headers["ETag"]})
    assert r.status == 200 and await r.text() == "export const changed = true;\n"
    assert r.headers["ETag"] != first.headers["ETag"]


async def test_head_has_headers_and_no_body(web_client: TestClient[Any, Any]) -> None:
    r = await web_client.head("/web/webchat.js", headers={"Accept-Encoding": "gzip"})
    assert r.status == 200 and r.headers["Content-Encoding"] == "gzip"
    assert await r.read() == b""


async def test_no_traversal_hidden_files_or_symlinks_out(web_client: TestClient[Any, Any]) -> None:
    port = web_client.server.port
    assert port is not None
    for target in ("/web/../outside.txt", "/web/%2e%2e/outside.txt", "/web/chunks/..%2f..%2foutside.txt",
                   "/web/..%5coutside.txt", "/web/.secret", "/web/link.txt", "/web/", "/web/chunks",
                   "/web/missing.js", "/web/%00"):
        # a raw socket: a client library would normalise the path before sending it
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        answer = await reader.read()
        writer.close()
        status = answer.split(b"\r\n", 1)[0]
        assert b" 404 " in status or b" 400 " in status, (target, status)
        assert b"outside the root" not in answer and b"hidden" not in answer, target


def test_accept_encoding_parsing() -> None:
    assert accepts_gzip("gzip")
    assert accepts_gzip("br, gzip;q=0.5")
    assert accepts_gzip("*")
    assert not accepts_gzip("gzip;q=0")
    assert not accepts_gzip("br, deflate")
    assert not accepts_gzip("")


async def test_static_files_may_be_loaded_as_module_scripts_from_any_origin(web_client: TestClient[Any, Any]) -> None:
    r = await web_client.get("/web/webchat.js", headers={"Origin": "https://shop.example"})
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in r.headers


@pytest.fixture
async def cors_client(settings: Settings, aiohttp_client: Any) -> TestClient[Any, Any]:
    app = create_app(dataclasses.replace(settings, allowed_origins=("https://www.shop.example",)))
    return await aiohttp_client(app)  # type: ignore[no-any-return]


async def test_cors_for_listed_origins_only(cors_client: TestClient[Any, Any]) -> None:
    listed = {"Origin": "https://www.shop.example"}
    asks = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-csrf-token"}
    r = await cors_client.options("/webchat/send/", headers={**listed, **asks})
    assert r.status == 204
    assert r.headers["Access-Control-Allow-Origin"] == "https://www.shop.example"
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    assert "X-CSRF-Token" in r.headers["Access-Control-Allow-Headers"]
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    me = await cors_client.get("/webchat/me", headers=listed)
    assert me.status == 200
    assert me.headers["Access-Control-Allow-Origin"] == "https://www.shop.example"
    assert me.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in me.headers["Vary"]
    # the listed origin can then send with the session's CSRF token
    csrf = (await me.json())["csrf_token"]
    sent = await cors_client.post("/webchat/send/", json={"text": "from the shop"},
                                  headers={**listed, "X-CSRF-Token": csrf})
    assert sent.status == 201 and sent.headers["Access-Control-Allow-Origin"] == "https://www.shop.example"
    # an origin nobody listed gets no grant, and its writes are refused
    other = {"Origin": "https://evil.example"}
    r = await cors_client.options("/webchat/send/", headers={**other, "Access-Control-Request-Method": "POST"})
    assert r.status == 403 and "Access-Control-Allow-Origin" not in r.headers
    r = await cors_client.get("/webchat/me", headers=other)
    assert "Access-Control-Allow-Origin" not in r.headers
    r = await cors_client.post("/webchat/send/", json={"text": "x"}, headers={**other, "X-CSRF-Token": csrf})
    assert r.status == 403
