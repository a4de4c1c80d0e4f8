"""The other side of a browser's chat: a second account on the HTTP API and a WebSocket, from sync tests."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Any

import aiohttp

# what the widget does while its page is in use: "active" again before the server's 2 minutes run
# out, so a slow run never sees this side turn "away"
ACTIVE_EVERY = 30.0


class Party:
    """A guest account like a browser's (cookie jar, CSRF header), its calls run on an event loop of
    its own thread: its WebSocket stays open (answering the server's pings) while the test drives a
    browser. A live connection is what makes an account "online"; closing it makes it "offline"."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.http: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.csrf = ""
        self.account: dict[str, Any] = {}
        self._do(self._start())

    def _do(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    async def _start(self) -> None:
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        async with self.http.get(self.base + "/webchat/me") as r:
            body = await r.json()
        self.csrf, self.account = body["csrf_token"], body["account"]

    @property
    def id(self) -> int:
        return int(self.account["id"])

    @property
    def name(self) -> str:
        return str(self.account["display_name"])

    async def _call(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert self.http is not None
        async with self.http.request(method, self.base + path, json=body, headers={"X-CSRF-Token": self.csrf}) as r:
            assert r.status in (200, 201), f"{method} {path}: {r.status} {await r.text()}"
            answer: dict[str, Any] = await r.json()
            return answer

    def call(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = self._do(self._call(method, path, body))
        return answer

    def read(self, chat: int, seq: int) -> None:
        self.call("POST", "/webchat/read/", {"chat_id": chat, "seq": seq})

    def say(self, chat: int, text: str) -> None:
        self.call("POST", "/webchat/send/", {"chat_id": chat, "text": text})

    def share_read_receipts(self, share: bool) -> None:
        self.call("PATCH", "/webchat/me", {"share_read_receipts": share})

    async def _connect(self) -> None:
        assert self.http is not None
        self.ws = await self.http.ws_connect(self.base.replace("http", "ws", 1) + "/ws/webchat/")
        self.tasks = [asyncio.create_task(self._drain(self.ws)), asyncio.create_task(self._active(self.ws))]

    @staticmethod
    async def _drain(ws: aiohttp.ClientWebSocketResponse) -> None:
        # reading is what answers the server's pings; the frames themselves are not this side's business
        async for _ in ws:
            pass

    @staticmethod
    async def _active(ws: aiohttp.ClientWebSocketResponse) -> None:
        while not ws.closed:
            await ws.send_json({"type": "activity", "state": "active"})
            await asyncio.sleep(ACTIVE_EVERY)

    def connect(self) -> None:
        self._do(self._connect())

    async def _disconnect(self) -> None:
        if self.ws is not None:
            await self.ws.close()
            self.ws = None
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks = []

    def disconnect(self) -> None:
        self._do(self._disconnect())

    async def _close(self) -> None:
        await self._disconnect()
        if self.http is not None:
            await self.http.close()

    def close(self) -> None:
        try:
            self._do(self._close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()

    def __enter__(self) -> Party:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
