"""A separate process holding many WebSocket subscribers that time every message they receive."""

from __future__ import annotations

import asyncio
import json
import re
import time
from multiprocessing.connection import Connection
from typing import Any

import aiohttp

from .common import Guest, close_guests, guests, raise_fd_limit, upgrade_request, ws_frames

SEQ = re.compile(r'"seq":(\d+)')
SENT = re.compile(r'"text":"(\d+):')


class Counter:
    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.received: dict[int, set[int]] = {}
        self.duplicates = 0
        self.resyncs = 0
        self.closed = 0


def take(data: str, now: int, seen: set[int], c: Counter, ready: asyncio.Event, counts: list[int], n: int) -> None:
    """One text frame: a new message is timed and checked for duplicates, the rest counted."""
    if data.startswith('{"type":"new_message"'):
        # the hot path reads two fields without parsing the whole frame: the client must
        # not be the bottleneck of a server benchmark
        seq = int(SEQ.search(data).group(1))  # type: ignore[union-attr]
        sent_ns = int(SENT.search(data).group(1))  # type: ignore[union-attr]
        if seq in seen:
            c.duplicates += 1
        seen.add(seq)
        c.latencies_ms.append((now - sent_ns) / 1e6)
        return
    kind = json.loads(data)["type"]
    if kind == "connection":
        counts[0] += 1
        if counts[0] == n:
            ready.set()
    elif kind == "resync":
        c.resyncs += 1


async def subscribe(g: Guest, idx: int, c: Counter, ready: asyncio.Event, counts: list[int], n: int) -> None:
    """An aiohttp client socket (what an integrator's Python client would use)."""
    seen = c.received.setdefault(idx, set())
    async with g.session.ws_connect(g.base + "/ws/webchat/", heartbeat=None, max_msg_size=0) as ws:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            take(msg.data, time.time_ns(), seen, c, ready, counts, n)
    c.closed += 1


class RawSocket(asyncio.Protocol):
    """A lean socket: the upgrade by hand and frames split in data_received, no task per socket,
    so 50 of them in one process read a broadcast in a fraction of what aiohttp's reader takes
    (on 2 cores the clients' CPU is taken from the server and Postgres)."""

    def __init__(self, g: Guest, idx: int, c: Counter, ready: asyncio.Event, counts: list[int], n: int) -> None:
        self.request = upgrade_request(g.base.removeprefix("http://"),
                                       "; ".join(f"{m.key}={m.value}" for m in g.session.cookie_jar))
        self.seen = c.received.setdefault(idx, set())
        self.args = (c, ready, counts, n)
        self.buf = b""
        self.upgraded = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.time_ns()
        buf = self.buf + data
        if not self.upgraded:
            head, sep, buf = buf.partition(b"\r\n\r\n")
            if not sep:
                self.buf = head
                return
            if not head.startswith(b"HTTP/1.1 101"):
                raise ConnectionError(head[:100])
            self.upgraded = True
        frames, self.buf = ws_frames(buf)
        for opcode, payload in frames:
            if opcode == 1:
                take(payload.decode(), now, self.seen, *self.args)
            elif opcode == 9 and self.transport is not None:  # ping: a masked pong (mask 0 keeps the bytes)
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
            elif opcode == 8 and self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.args[0].closed += 1


async def subscribe_raw(g: Guest, idx: int, c: Counter, ready: asyncio.Event, counts: list[int], n: int) -> None:
    port = int(g.base.rsplit(":", 1)[1])
    await asyncio.get_running_loop().create_connection(
        lambda: RawSocket(g, idx, c, ready, counts, n), "127.0.0.1", port)


async def main(pipe: Connection, base: str, n: int, client: str) -> None:
    raise_fd_limit()
    connector = aiohttp.TCPConnector(limit=0)
    people = await guests(base, n, connector)
    pipe.send([g.id for g in people])
    pipe.recv()  # joined
    counter = Counter()
    ready = asyncio.Event()
    counts = [0]
    how = subscribe_raw if client == "raw" else subscribe
    tasks = [asyncio.create_task(how(g, i, counter, ready, counts, n)) for i, g in enumerate(people)]
    await asyncio.wait_for(ready.wait(), 120)
    pipe.send("ready")
    while True:
        cmd: Any = await asyncio.to_thread(pipe.recv)
        if cmd == "stop":
            break
        # a phase ended: wait for stragglers, report, reset
        expected: int = cmd
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if all(len(s) >= expected for s in counter.received.values()):
                break
            await asyncio.sleep(0.05)
        got = [len(s) for s in counter.received.values()]
        pipe.send({
            "got": got,
            "duplicates": counter.duplicates,
            "resyncs": counter.resyncs,
            "sockets_closed": counter.closed,
            "latencies_ms": counter.latencies_ms,
        })
        counter.latencies_ms = []
        for seen in counter.received.values():
            seen.clear()  # in place: each subscriber holds a reference to its set
        counter.duplicates = 0
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await close_guests(people, connector)


def run(pipe: Connection, base: str, n: int, client: str = "raw") -> None:
    if client == "raw":
        import uvloop  # the lean client runs on the server's event loop too

        uvloop.run(main(pipe, base, n, client))
    else:
        asyncio.run(main(pipe, base, n, client))
