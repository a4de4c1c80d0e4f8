"""Behind nginx with WEBCHAT_TRUSTED_PROXIES unset: the server says so, and /metrics needs its token."""

from __future__ import annotations

import asyncio
import http.client
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from cryptography.fernet import Fernet

from .browser_support import ServerProcess
from .deploy_support import Nginx, client_ssl, make_cert

pytestmark = pytest.mark.slow


@pytest.fixture
async def untrusting(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[Nginx, ServerProcess, Path]]:
    """deploy/nginx.conf in front of a server that was not told to trust it (both upstreams: one server)."""
    server = ServerProcess(database_url, tmp_path / "s", {"WEBCHAT_SECRET_KEY": Fernet.generate_key().decode()})
    await asyncio.to_thread(server.start)
    cert, key = make_cert(tmp_path / "tls")
    nginx = Nginx(tmp_path / "nginx", [server.port, server.port], cert, key)
    await asyncio.to_thread(nginx.start)
    yield nginx, server, cert
    nginx.stop()
    await asyncio.to_thread(server.stop)


def direct(server: ServerProcess, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


async def test_untrusted_proxy_is_reported_not_silent(untrusting: tuple[Nginx, ServerProcess, Path]) -> None:
    nginx, server, cert = untrusting
    log = server.log.read_text()
    assert "WEBCHAT_TRUSTED_PROXIES is unset" in log and "WARNING" in log.split("WEBCHAT_TRUSTED_PROXIES is unset")[0]
    # healthy and quiet before any forwarded request
    status, body = await asyncio.to_thread(direct, server, "/readyz")
    assert status == 200 and "proxy_warning" not in json.loads(body)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ssl(cert))) as s:
        for _ in range(5):
            async with s.get(nginx.base + "/webchat/me") as r:
                assert r.status == 200
    # /readyz names the proxy and the setting (readiness itself is not affected)
    status, body = await asyncio.to_thread(direct, server, "/readyz")
    health = json.loads(body)
    assert status == 200 and "127.0.0.1" in health["proxy_warning"]
    assert "WEBCHAT_TRUSTED_PROXIES" in health["proxy_warning"]
    # a counter, scraped directly from loopback
    status, body = await asyncio.to_thread(direct, server, "/metrics")
    assert status == 200
    count = [line for line in body.decode().splitlines()
             if line.startswith("webchat_untrusted_forwarded_requests_total ")]
    assert count and float(count[0].split()[1]) >= 5
    # one warning for the five requests, not one each
    warnings = [line for line in server.log.read_text().splitlines() if "carry forwarding headers" in line]
    assert len(warnings) == 1 and "WARNING" in warnings[0]


async def test_metrics_through_any_proxy_needs_the_token(untrusting: tuple[Nginx, ServerProcess, Path]) -> None:
    nginx, server, cert = untrusting
    async with (aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ssl(cert))) as s,
                s.get(nginx.base + "/metrics") as r):
        assert r.status == 403
    # a proxy that adds no X-Forwarded-For still says it is one (Via, X-Real-IP, X-Forwarded-Proto)
    for header in ({"Via": "1.1 edge"}, {"X-Real-IP": "203.0.113.9"}, {"X-Forwarded-Proto": "https"}):
        status, body = await asyncio.to_thread(direct, server, "/metrics", header)
        assert status == 403, header
        assert json.loads(body)["error"]["code"] == "forbidden"
    status, _ = await asyncio.to_thread(direct, server, "/metrics")
    assert status == 200  # Prometheus on this host, scraping directly
