"""Presence cost: 5,000 connected accounts in 1,000 chats (5 members each), one server process.

Measures, while everyone idles and when 1,000 of them reconnect at once: presence events written
to sockets per second, presence NOTIFY payloads (and rows) per second, and database writes
(statements and rows of last_seen_at, from the server's /metrics) per second, with the server's CPU. Two
reconnect cases: at once (back within the offline grace: nobody should hear of it) and after
being gone long enough to be offline (everyone's partners hear "offline", then "online").
Clients are raw WebSockets that answer pings and, like the widget on a page in use, say
{"type": "activity", "state": "active"} about once a minute, so everyone stays online: "idle"
means no status changes, only the heartbeat-like traffic presence must not turn into writes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import time
from typing import Any

import aiohttp
import asyncpg
from cryptography.fernet import Fernet

from .common import Bench, emit, ws_frames
from .idle_ws import cookie, open_socket

PONG = bytes((0x8A, 0x80, 0, 0, 0, 0))
_ACTIVE = b'{"type":"activity","state":"active"}'
# a masked text frame (mask key 0: the payload is sent as is), what the widget sends while in use
ACTIVE = bytes((0x81, 0x80 | len(_ACTIVE), 0, 0, 0, 0)) + _ACTIVE
ACTIVE_EVERY = 55.0  # the widget repeats "active" at most once a minute while its page is in use


class Clients:
    def __init__(self, port: int, fernet: Fernet, ids: list[int], per_source: int = 200) -> None:
        self.port, self.fernet, self.ids = port, fernet, ids
        self.sources = [f"127.0.{1 + i // 250}.{1 + i % 250}" for i in range((len(ids) + per_source - 1) // per_source)]
        self.per_source = per_source
        self.sockets: dict[int, socket.socket] = {}
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.presence_events = 0

    async def _serve(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        buf = b""
        while True:
            try:
                chunk = await loop.sock_recv(sock, 65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            frames, buf = ws_frames(buf)
            for opcode, payload in frames:
                if opcode == 9:
                    await loop.sock_sendall(sock, bytes((0x8A, 0x80 | len(payload), 0, 0, 0, 0)) + payload
                                            if payload else PONG)
                elif b'"type":"presence"' in payload:
                    self.presence_events += 1

    async def open(self, indexes: list[int]) -> int:
        failed = 0
        for i in range(0, len(indexes), 200):
            part = indexes[i:i + 200]
            got = await asyncio.gather(*(open_socket(self.port, self.sources[j // self.per_source],
                                                     cookie(self.fernet, self.ids[j])) for j in part),
                                       return_exceptions=True)
            for j, s in zip(part, got, strict=True):
                if isinstance(s, socket.socket):
                    self.sockets[j] = s
                    self.tasks[j] = asyncio.create_task(self._serve(s))
                else:
                    failed += 1
        return failed

    async def in_use(self) -> None:
        """Every page says "active" once per ACTIVE_EVERY, spread evenly: users who stay online."""
        loop = asyncio.get_running_loop()
        while True:
            for sock in list(self.sockets.values()):
                with contextlib.suppress(OSError):
                    await loop.sock_sendall(sock, ACTIVE)
                await asyncio.sleep(ACTIVE_EVERY / max(len(self.sockets), 1))

    def close(self, indexes: list[int]) -> None:
        for j in indexes:
            self.tasks.pop(j).cancel()
            self.sockets.pop(j).close()


async def scenario(accounts: int, per_chat: int, idle_seconds: float) -> dict[str, Any]:
    key = Fernet.generate_key()
    bench = Bench()
    await bench.start({"WEBCHAT_SECRET_KEY": key.decode()})
    try:
        return await _measure(bench, key, accounts, per_chat, idle_seconds)
    finally:
        bench.stop()  # also when a step fails: never leave the server running


async def _measure(bench: Bench, key: bytes, accounts: int, per_chat: int, idle_seconds: float) -> dict[str, Any]:
    conn = await asyncpg.connect(bench.database_url)
    ids: list[int] = [r["id"] for r in await conn.fetch(
        "INSERT INTO webchat.accounts (kind, display_name) SELECT 'guest', 'g' || i FROM generate_series(1, $1) i "
        "RETURNING id", accounts)]
    chats = accounts // per_chat
    chat_ids = [r["id"] for r in await conn.fetch(
        "INSERT INTO webchat.chats (title) SELECT 'c' || i FROM generate_series(1, $1) i RETURNING id", chats)]
    await conn.execute("INSERT INTO webchat.chat_members (chat_id, account_id) SELECT c, a FROM "
                       "unnest($1::bigint[], $2::bigint[]) AS t(c, a)",
                       [chat_ids[i // per_chat] for i in range(chats * per_chat)], ids[:chats * per_chat])
    notes = {"payloads": 0, "rows": 0}

    def on_notify(_c: object, _pid: int, _ch: str, payload: str) -> None:
        if payload.startswith('{"t":"pr"'):
            notes["payloads"] += 1
            notes["rows"] += len(json.loads(payload)["r"])

    listen = await asyncpg.connect(bench.database_url)
    await listen.add_listener("webchat", on_notify)

    async def metrics() -> dict[str, float]:
        async with aiohttp.ClientSession() as http, http.get(bench.base + "/metrics") as r:
            text = await r.text()
        return {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
                if line.startswith("webchat_presence_")}

    clients = Clients(bench.port, Fernet(key), ids)

    async def window(seconds: float) -> dict[str, Any]:
        ev0, p0, r0, m0, cpu0, t0 = (clients.presence_events, notes["payloads"], notes["rows"], await metrics(),
                                     bench.server_cpu(), time.monotonic())
        await asyncio.sleep(seconds)
        m1 = await metrics()
        dt = time.monotonic() - t0

        def rate(name: str) -> float:
            return round((m1.get(name, 0) - m0.get(name, 0)) / dt, 2)

        return {
            "seconds": round(dt, 1),
            "presence_events_received_per_s": round((clients.presence_events - ev0) / dt, 1),
            "presence_events_received": clients.presence_events - ev0,
            "notify_payloads_per_s": round((notes["payloads"] - p0) / dt, 2),
            "notify_rows_per_s": round((notes["rows"] - r0) / dt, 1),
            "db_write_statements_per_s": rate("webchat_presence_writes_total"),
            "db_rows_written_per_s": rate("webchat_presence_rows_written_total"),
            "server_cpu_percent": round(100 * (bench.server_cpu() - cpu0) / dt, 1),
            "loadavg": os.getloadavg(),
        }

    t0 = time.monotonic()
    failed = await clients.open(list(range(accounts)))
    connect = {"connected": len(clients.sockets), "failed": failed, "seconds": round(time.monotonic() - t0, 1)}
    in_use = asyncio.create_task(clients.in_use())
    connect_burst = await window(15)  # everyone comes online: the first statuses, writes, notifies
    idle = await window(idle_seconds)
    # up to 1,000 accounts spread over all of them: one member in most chats
    back = list(range(0, accounts, max(1, accounts // 1000)))[:1000]
    clients.close(back)
    t0 = time.monotonic()
    await clients.open(back)
    reopened_in = round(time.monotonic() - t0, 1)  # past the 5 s grace, partners hear "offline"
    reconnect_at_once = {**await window(20), "reopened_in_seconds": reopened_in}
    clients.close(back)
    await asyncio.sleep(12)  # past the offline grace: partners heard "offline"
    t0 = time.monotonic()
    await clients.open(back)
    reopened_in = round(time.monotonic() - t0, 1)
    return_after_offline = {**await window(20), "reopened_in_seconds": reopened_in}
    in_use.cancel()
    clients.close(list(clients.sockets))
    await listen.close()
    await conn.close()
    return {
        "accounts": accounts, "chats": chats, "members_per_chat": per_chat, "connect": connect,
        "connect_burst": connect_burst, "idle": idle,
        "reconnect_1000_at_once": reconnect_at_once, "return_1000_after_offline": return_after_offline,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--per-chat", type=int, default=5)
    parser.add_argument("--idle-seconds", type=float, default=75)
    args = parser.parse_args()
    emit("presence", asyncio.run(scenario(args.accounts, args.per_chat, args.idle_seconds)))


if __name__ == "__main__":
    main()
