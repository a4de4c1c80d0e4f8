"""Exactly-once under random interleavings: one seed drives readers, writers and listener kills.

Each seed starts a real server (in this process) on a real database and, chosen at random from
the seed: readers on WebSockets (cursor in the URL or in the resume frame, some reading slowly
from a small socket buffer so the server pages them) and on long-polls; writers on their own
connections inserting one or many rows per statement, small and large; reconnects mid-stream;
pg_terminate_backend on the listener; API writers sending bursts at once (the server's group
commit batches them). Every reader must see every message of its chats exactly
once, in seq order, across all its reconnects. Used by tests/test_stress.py and bench/stress.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import socket
import struct
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
import asyncpg
from aiohttp.test_utils import TestServer

from webchat_server.app import create_app
from webchat_server.domain.sending import send_queue_key
from webchat_server.realtime.cursor import Keeper
from webchat_server.realtime.hub import hub_key
from webchat_server.realtime.listener import listener_key
from webchat_server.settings import Settings


@dataclass
class Outcome:
    seed: int
    readers: int = 0
    messages: int = 0
    reconnects: int = 0
    listener_kills: int = 0
    paging: int = 0
    resyncs: int = 0
    # sends through the API, and transactions that carried more than one of them (group commit)
    api_sends: int = 0
    shared_batches: int = 0
    problems: list[str] = field(default_factory=list)


class RawWs:
    """A minimal WebSocket client on a plain socket, so the test controls its receive buffer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, host: str, port: int, path: str, cookie: str, rcvbuf: int | None = None) -> RawWs:
        sock = socket.socket()
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 20)
        writer.write((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      f"Sec-WebSocket-Version: 13\r\nCookie: {cookie}\r\n\r\n").encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head[:80].decode(errors="replace"))
        return cls(reader, writer)

    async def send(self, obj: Any) -> None:
        data = json.dumps(obj).encode()
        mask = os.urandom(4)
        n = len(data)
        head = bytes((0x81, 0x80 | n)) if n < 126 else struct.pack("!BBH", 0x81, 0x80 | 126, n)
        self.writer.write(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))
        await self.writer.drain()

    async def recv(self, timeout: float | None = None) -> dict[str, Any]:
        """One frame; the timeout applies only while no frame has started (readexactly consumes
        nothing when cancelled), so a timeout never leaves the stream mid-frame."""
        head = await asyncio.wait_for(self.reader.readexactly(2), timeout)
        n = head[1] & 0x7F
        if n == 126:
            n = struct.unpack("!H", await self.reader.readexactly(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", await self.reader.readexactly(8))[0]
        data = await self.reader.readexactly(n)
        opcode = head[0] & 0x0F
        if opcode == 9:  # the server's heartbeat ping: answer it as a browser would
            mask = os.urandom(4)
            self.writer.write(bytes((0x8A, 0x80 | n)) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))
            return {"type": "control"}
        if opcode == 10:
            return {"type": "control"}
        if opcode == 8:
            return {"type": "close", "code": struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None}
        return dict(json.loads(data))

    def close(self) -> None:
        self.writer.close()


async def run_seed(seed: int, database_url: str, base_settings: Settings, scale: float = 1.0) -> Outcome:
    rnd = random.Random(seed)
    out = Outcome(seed)
    settings = replace(base_settings, ws_high_water=rnd.choice([8, 16, 64]) * 1024, ws_stall_timeout=120.0,
                       probe_interval=0.3)
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    app = server.app
    assert app is not None
    sql = await asyncpg.connect(database_url)
    sessions: list[aiohttp.ClientSession] = []
    try:
        async def new_client() -> tuple[aiohttp.ClientSession, dict[str, Any]]:
            s = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
            sessions.append(s)
            async with s.get(server.make_url("/webchat/me")) as r:
                me = await r.json()
            return s, me

        n_readers = rnd.randint(2, 5)
        clients = [await new_client() for _ in range(n_readers)]
        out.readers = n_readers
        bot = await sql.fetchval("INSERT INTO webchat.accounts (kind, display_name) VALUES ('bot', 'S') RETURNING id")
        chats = [await sql.fetchval("INSERT INTO webchat.chats (title) VALUES ($1) RETURNING id", f"s{seed}-{i}")
                 for i in range(rnd.randint(1, 3))]
        for c in chats:
            await sql.execute("INSERT INTO webchat.chat_members (chat_id, account_id) "
                              "SELECT $1, unnest($2::bigint[])", c, [bot, *(me["account"]["id"] for _, me in clients)])
        total = int(rnd.randint(150, 400) * scale)
        out.messages = total
        # where every reader starts: a cursor taken before anything is written
        starts = []
        for s, me in clients:
            async with s.post(server.make_url("/webchat/poll/"), json={"cursor": None, "timeout": 0},
                              headers={"X-CSRF-Token": me["csrf_token"]}) as r:
                starts.append((await r.json())["cursor"])
        written: dict[int, int] = dict.fromkeys(chats, 0)
        done = asyncio.Event()

        async def writer(n: int) -> None:
            conn = await asyncpg.connect(database_url)
            try:
                while sum(written.values()) < total:
                    chat = rnd.choice(chats)
                    rows = rnd.choice([1, 1, 1, 2, 5, 30, 100])
                    size = rnd.choice([10, 10, 200, 4000, 9000])
                    await conn.execute("INSERT INTO webchat.messages (chat_id, sender_id, text) "
                                       "SELECT $1, $2, $3 || i || repeat('x', $4) FROM generate_series(1, $5) i",
                                       chat, bot, f"w{n} ", size, rows)
                    written[chat] += rows
                    await asyncio.sleep(rnd.choice([0, 0.002, 0.005, 0.01, 0.03]))
            finally:
                await conn.close()

        # API writers: guests who are members of every chat and send bursts at once, so the server's
        # group commit puts several sends (and several chats) into one transaction
        api_writers = [await new_client() for _ in range(rnd.choice([0, 1, 2, 3]))]
        for _, me in api_writers:
            await sql.execute("INSERT INTO webchat.chat_members (chat_id, account_id) SELECT unnest($1::bigint[]), $2",
                              chats, me["account"]["id"])

        async def api_writer(n: int) -> None:
            s, me = api_writers[n]
            headers = {"X-CSRF-Token": me["csrf_token"]}
            sent = 0

            async def one(chat: int, text: str) -> None:
                async with s.post(server.make_url("/webchat/send/"), json={
                        "text": text, "chat_id": chat, "client_id": f"a{n}-{text}"}, headers=headers) as r:
                    assert r.status == 201, await r.text()
                written[chat] += 1
                out.api_sends += 1

            while sum(written.values()) < total:
                burst = [rnd.choice(chats) for _ in range(rnd.choice([1, 2, 5, 10]))]
                await asyncio.gather(*(one(chat, f"{sent + k}") for k, chat in enumerate(burst)))
                sent += len(burst)
                await asyncio.sleep(rnd.choice([0, 0.002, 0.01]))

        async def killer() -> None:
            listener = app[listener_key]
            while not done.is_set():
                await asyncio.sleep(rnd.uniform(0.1, 0.8))
                pid = listener.backend_pid
                if pid and not done.is_set():
                    await sql.fetchval("SELECT pg_terminate_backend($1)", pid)
                    out.listener_kills += 1

        async def reader(i: int) -> None:
            s, me = clients[i]
            cookie = "; ".join(f"{c.key}={c.value}" for c in s.cookie_jar)
            keeper = Keeper(starts[i])
            seen: dict[int, list[int]] = {c: [] for c in chats}
            slow = rnd.random() < 0.5
            use_poll = rnd.random() < 0.25
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60 * max(scale, 1)

            def finished() -> bool:
                return done.is_set() and all(len(seen[c]) >= written[c] for c in chats)

            def record(ev: dict[str, Any]) -> None:
                keeper.see(ev)
                if ev["type"] == "new_message" and ev["chat_id"] in seen:
                    seen[ev["chat_id"]].append(ev["message"]["seq"])
                elif ev["type"] == "resync":
                    out.resyncs += 1

            while not finished() and loop.time() < deadline:
                if use_poll:
                    async with s.post(server.make_url("/webchat/poll/"), json={"cursor": keeper.value, "timeout": 1},
                                      headers={"X-CSRF-Token": me["csrf_token"]}) as r:
                        body = await r.json()
                    for ev in body["events"]:
                        record(ev)
                    if body["cursor"]:
                        keeper.base, keeper.tokens = body["cursor"], {}
                    if rnd.random() < 0.1:
                        use_poll = False
                    continue
                by_frame = rnd.random() < 0.5
                path = "/ws/webchat/?resume=1" if by_frame else f"/ws/webchat/?cursor={keeper.value}"
                ws = await RawWs.connect("127.0.0.1", server.port or 0, path, cookie, 4096 if slow else None)
                if by_frame:
                    await ws.send({"type": "resume", "cursor": keeper.value})
                if slow:
                    # a small kernel send buffer on the server side too, so kilobytes back up
                    for sub in app[hub_key].subscribers():
                        t = getattr(sub, "transport", None)
                        if t is not None and sub.account_id == me["account"]["id"] and not t.is_closing():
                            with contextlib.suppress(OSError):  # closed meanwhile
                                t.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
                budget = rnd.randint(10, 150)
                try:
                    # the deadline here too: a socket that goes silent is reported, never waited on forever
                    while budget > 0 and not finished() and loop.time() < deadline:
                        try:
                            ev = await ws.recv(0.5)
                        except TimeoutError:
                            continue
                        if ev["type"] == "close":
                            break
                        if ev["type"] == "control":
                            continue
                        record(ev)
                        budget -= 1
                        if slow and rnd.random() < 0.05:
                            await asyncio.sleep(rnd.uniform(0.05, 0.4))
                except (asyncio.IncompleteReadError, ConnectionError):
                    pass
                finally:
                    ws.close()
                out.reconnects += 1
                if rnd.random() < 0.2:
                    use_poll = True
            for c in chats:
                want = list(range(1, written[c] + 1))
                if seen[c] != want:
                    dups = len(seen[c]) - len(set(seen[c]))
                    missing = sorted(set(want) - set(seen[c]))
                    out.problems.append(f"seed {seed} reader {i} chat {c}: {len(seen[c])} of {written[c]} seen, "
                                        f"{dups} duplicates, missing {missing[:5]} ({len(missing)} in all), last seen "
                                        f"{seen[c][-1] if seen[c] else None}, in order "
                                        f"{seen[c] == sorted(seen[c])}")

        readers = [asyncio.create_task(reader(i)) for i in range(n_readers)]
        killing = asyncio.create_task(killer())
        await asyncio.gather(*(writer(n) for n in range(rnd.randint(1, 3))),
                             *(api_writer(n) for n in range(len(api_writers))))
        done.set()
        await asyncio.gather(*readers)
        killing.cancel()
        await asyncio.gather(killing, return_exceptions=True)
        out.paging = app[hub_key].paging_started
        out.shared_batches = sum(n for size, n in app[send_queue_key].sizes.items() if size > 1)
    finally:
        for s in sessions:
            await s.close()
        await sql.close()
        await server.close()
    return out
