"""A reverse proxy in front of the server that can refuse or drop WebSockets, the way a corporate
proxy does, so every browser engine meets the same failure without engine-specific routing."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import aiohttp
from aiohttp import web

# Content-Encoding is end to end: the proxy passes gzip bytes through as they came (auto_decompress=False)
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "content-length",
              "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions", "sec-websocket-accept"}


class WsProxy:
    def __init__(self, upstream: str, port: int) -> None:
        self.upstream = upstream
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.block_ws = False
        self.sockets: set[web.WebSocketResponse] = set()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def drop_sockets(self) -> None:
        """Cut every proxied WebSocket, as a network blip would."""

        async def drop() -> None:
            for ws in list(self.sockets):
                await ws.close(code=1011, message=b"proxy dropped the connection")

        asyncio.run_coroutine_threadsafe(drop(), self.loop).result(10)

    async def _start(self) -> None:
        self.session = aiohttp.ClientSession(auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None))
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", self._handle)
        # a long-poll parked in the proxy must not hold its shutdown for aiohttp's default minute
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def _stop(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
        assert self.runner is not None
        await self.runner.cleanup()
        await self.session.close()

    def _headers(self, request: web.Request) -> dict[str, str]:
        return {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            if self.block_ws:
                raise web.HTTPBadGateway(text="WebSockets are not allowed through this proxy")
            return await self._websocket(request)
        try:
            async with self.session.request(request.method, self.upstream + request.path_qs,
                                            headers=self._headers(request), data=await request.read(),
                                            allow_redirects=False) as up:
                body = await up.read()
                headers = {k: v for k, v in up.headers.items() if k.lower() not in HOP_BY_HOP}
                return web.Response(status=up.status, body=body, headers=headers)
        except aiohttp.ClientError:
            raise web.HTTPBadGateway(text="upstream is down") from None

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        try:
            upstream = await self.session.ws_connect(self.upstream + request.path_qs, headers=self._headers(request),
                                                     autoping=True)
        except (aiohttp.ClientError, aiohttp.WSServerHandshakeError):
            raise web.HTTPBadGateway(text="upstream is down") from None
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.sockets.add(ws)

        async def pump(src: Any, dst: Any) -> None:
            async for msg in src:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    await dst.send_str(msg.data)
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    await dst.send_bytes(msg.data)
                else:
                    break

        try:
            _done, pending = await asyncio.wait([asyncio.create_task(pump(ws, upstream)),
                                                asyncio.create_task(pump(upstream, ws))],
                                               return_when=asyncio.FIRST_COMPLETED)
            for t in pending:
                t.cancel()
        finally:
            self.sockets.discard(ws)
            await upstream.close()
            await ws.close()
        return ws
