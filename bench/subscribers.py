"""A separate process holding many WebSocket subscribers that time every message they receive."""

from __future__ import annotations

import asyncio
import json
import re
import time
from multiprocessing.connection import Connection
from typing import Any

import aiohttp

from .common import Guest, close_guests, guests, raise_fd_limit

SEQ = re.compile(r'"seq":(\d+)')
SENT = re.compile(r'"text":"(\d+):')


class Counter:
    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.received: dict[int, set[int]] = {}
        self.duplicates = 0
        self.resyncs = 0
        self.closed = 0


async def subscribe(g: Guest, idx: int, c: Counter, ready: asyncio.Event, counts: list[int], n: int) -> None:
    seen = c.received.setdefault(idx, set())
    async with g.session.ws_connect(g.base + "/ws/webchat/", heartbeat=None, max_msg_size=0) as ws:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            now = time.time_ns()
            data = msg.data
            if data.startswith('{"type":"new_message"'):
                # the hot path reads two fields without parsing the whole frame: the client must
                # not be the bottleneck of a server benchmark
                seq = int(SEQ.search(data).group(1))  # type: ignore[union-attr]
                sent_ns = int(SENT.search(data).group(1))  # type: ignore[union-attr]
                if seq in seen:
                    c.duplicates += 1
                seen.add(seq)
                c.latencies_ms.append((now - sent_ns) / 1e6)
                continue
            ev = json.loads(data)
            kind = ev["type"]
            if kind == "connection":
                counts[0] += 1
                if counts[0] == n:
                    ready.set()
            elif kind == "resync":
                c.resyncs += 1
    c.closed += 1


async def main(pipe: Connection, base: str, n: int) -> None:
    raise_fd_limit()
    connector = aiohttp.TCPConnector(limit=0)
    people = await guests(base, n, connector)
    pipe.send([g.id for g in people])
    pipe.recv()  # joined
    counter = Counter()
    ready = asyncio.Event()
    counts = [0]
    tasks = [asyncio.create_task(subscribe(g, i, counter, ready, counts, n)) for i, g in enumerate(people)]
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


def run(pipe: Connection, base: str, n: int) -> None:
    asyncio.run(main(pipe, base, n))
