"""What this machine allows, with no chat server at all: a trivial uvloop process relays one line to
N TCP sockets held by client processes; the relay's latency and its write loop's time; one JSON line."""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import time
from multiprocessing.connection import Connection
from typing import Any

import uvloop

from .common import emit, free_port, percentiles


def relay(port: int, loop_ms: Connection) -> None:
    """Lines from the driver go to every subscribed socket, one write each (as the fan-out does)."""
    async def main() -> None:
        subs: list[asyncio.Transport] = []
        took: list[float] = []

        class Peer(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = transport
                self.buf = b""

            def data_received(self, data: bytes) -> None:
                *lines, self.buf = (self.buf + data).split(b"\n")
                for line in lines:
                    if line == b"SUB":
                        subs.append(self.transport)  # type: ignore[arg-type]
                    elif line == b"END":
                        loop_ms.send(took)
                    else:
                        t0 = time.perf_counter()
                        for t in subs:
                            t.write(line + b"\n")
                        took.append((time.perf_counter() - t0) * 1000)

        await asyncio.get_running_loop().create_server(Peer, "127.0.0.1", port)
        await asyncio.Event().wait()

    uvloop.run(main())


def reader(port: int, n: int, out: Connection, expect: int) -> None:
    async def main() -> None:
        latencies: list[float] = []
        done = asyncio.Event()

        class Sub(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                transport.write(b"SUB\n")  # type: ignore[attr-defined]
                self.buf = b""

            def data_received(self, data: bytes) -> None:
                now = time.time_ns()
                *lines, self.buf = (self.buf + data).split(b"\n")
                latencies.extend((now - int(line)) / 1e6 for line in lines)
                if len(latencies) >= n * expect:
                    done.set()

        loop = asyncio.get_running_loop()
        for _ in range(n):
            await loop.create_connection(Sub, "127.0.0.1", port)
        out.send("ready")
        await asyncio.wait_for(done.wait(), expect + 60)
        out.send(latencies)

    uvloop.run(main())


def run(subscribers: int, rate: float, seconds: float, procs: int) -> dict[str, Any]:
    port, total = free_port(), int(rate * seconds)
    ctx = mp.get_context("spawn")
    loop_parent, loop_child = ctx.Pipe()
    server = ctx.Process(target=relay, args=(port, loop_child))
    server.start()
    time.sleep(0.5)
    pipes, readers = [], []
    for k in range(procs):
        parent, child = ctx.Pipe()
        share = subscribers // procs + (1 if k < subscribers % procs else 0)
        p = ctx.Process(target=reader, args=(port, share, child, total))
        p.start()
        pipes.append(parent)
        readers.append(p)
    for parent in pipes:
        parent.recv()
    time.sleep(0.5)
    before = [round(x, 2) for x in os.getloadavg()]

    async def drive() -> None:
        _r, w = await asyncio.open_connection("127.0.0.1", port)
        start = time.monotonic()
        for i in range(total):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            w.write(b"%d\n" % time.time_ns())
        w.write(b"END\n")
        await w.drain()

    uvloop.run(drive())
    latencies = [x for parent in pipes for x in parent.recv()]
    took = loop_parent.recv()
    for p in [server, *readers]:
        p.kill()
    return {"subscribers": subscribers, "client_processes": procs, "rate_msgs_per_s": rate, "messages": total,
            "load_before": before, "load_after": [round(x, 2) for x in os.getloadavg()],
            "latency_ms": percentiles(latencies), "write_loop_ms": percentiles(took)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--rate", type=float, action="append", help="lines/s (repeat for phases)")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--client-procs", type=int, default=2)
    args = parser.parse_args()
    emit("floor", {"phases": [run(args.subscribers, r, args.seconds, args.client_procs)
                              for r in args.rate or [2, 50]]})


if __name__ == "__main__":
    main()
