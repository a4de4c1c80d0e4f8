"""Insert -> WebSocket latency and loss for many subscribers of one chat (SQL or API writers)."""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import re
import time
from typing import Any

import aiohttp
import asyncpg

from . import subscribers
from .common import Bench, Guest, emit, join_all, make_bot, percentiles


async def write(bench: Bench, chat_id: int, sender: int, rate: float, seconds: float, via: str,
                api: Guest | None, commit_ms: list[float]) -> int:
    """Write `rate` messages per second for `seconds`; returns how many were written."""
    total = int(rate * seconds)
    pool = await asyncpg.create_pool(bench.database_url, min_size=8, max_size=8)
    start = time.monotonic()

    async def one(i: int) -> None:
        t0 = time.time_ns()
        text = f"{t0}:{i}"
        if via == "api" and api is not None:
            await api.send(text, chat_id)
        else:
            await pool.execute(
                "INSERT INTO webchat.messages (chat_id, sender_id, text) VALUES ($1, $2, $3)", chat_id, sender, text)
        commit_ms.append((time.time_ns() - t0) / 1e6)

    pending: set[asyncio.Task[None]] = set()
    errors: list[BaseException] = []

    def done(t: asyncio.Task[None]) -> None:
        pending.discard(t)
        if t.exception() is not None:
            errors.append(t.exception())  # type: ignore[arg-type]

    for i in range(total):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        t = asyncio.create_task(one(i))
        pending.add(t)
        t.add_done_callback(done)
        if len(pending) > 32:  # the database is the limit: do not queue without bound
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
    if pending:
        await asyncio.wait(pending)
    if errors:
        print("writer errors:", errors[:3])
    await pool.close()
    return total


async def gc_pauses(bench: Bench) -> dict[str, tuple[float, float]]:
    """{generation: (collections, seconds)} from the server's /metrics (webchat_gc_pause_seconds)."""
    out: dict[str, tuple[float, float]] = {}
    async with aiohttp.ClientSession() as s, s.get(bench.base + "/metrics") as r:
        text = await r.text()
    for m in re.finditer(r'^webchat_gc_pause_seconds_(count|sum)\{generation="(\d)"\} (\S+)$', text, re.MULTILINE):
        count, total = out.get(m.group(2), (0.0, 0.0))
        out[m.group(2)] = (float(m.group(3)), total) if m.group(1) == "count" else (count, float(m.group(3)))
    return out


async def scenario(subs: int, phases: list[tuple[float, float]], via: str = "sql",
                   procs: int = 2, workers: int = 1, record_sends: bool = False,
                   flame: str | None = None, client: str = "raw") -> list[dict[str, Any]]:
    bench = Bench(workers)
    await bench.start()
    owner = await Guest(bench.base).start()
    chat_id = (await owner.send("0:bench chat"))["chat_id"]
    conn = await asyncpg.connect(bench.database_url)
    bot = await make_bot(conn, chat_id)
    # subscribers live in their own processes so the clients, not the server, are not the bottleneck
    children = []
    for k in range(procs):
        parent, child = mp.Pipe()
        share = subs // procs + (1 if k < subs % procs else 0)
        proc = mp.get_context("spawn").Process(target=subscribers.run, args=(child, bench.base, share, client))
        proc.start()
        children.append((parent, proc))
    for parent, _ in children:
        ids = await asyncio.to_thread(parent.recv)
        await join_all(conn, chat_id, ids)
        parent.send("joined")
    for parent, _ in children:
        await asyncio.to_thread(parent.recv)  # ready
    await asyncio.sleep(0.5)
    results = []
    for rate, seconds in phases:
        gc0 = await gc_pauses(bench)
        cpu0, t0 = bench.server_cpu(), time.monotonic()
        commit_ms: list[float] = []
        spy = None
        if flame and bench.proc is not None:
            # py-spy (pip install py-spy) samples the server process for this phase
            spy = await asyncio.create_subprocess_exec(
                "py-spy", "record", "--pid", str(bench.proc.pid), "--output", flame, "--duration",
                str(int(seconds)), "--rate", "200", "--nonblocking",
                # a .txt file gets the collapsed stacks (one line per stack and its sample count)
                *(["--format", "raw"] if flame.endswith(".txt") else []))
        written = await write(bench, chat_id, bot, rate, seconds, via, owner, commit_ms)
        elapsed = time.monotonic() - t0
        if spy is not None:
            await spy.wait()
        for parent, _ in children:
            parent.send(written)
        parts = [await asyncio.to_thread(parent.recv) for parent, _ in children]
        got = [g for part in parts for g in part["got"]]
        report = {
            "subscribers": subs,
            "client_processes": procs,
            "client": client,
            "expected_per_subscriber": written,
            "delivered": sum(got),
            "delivered_fraction": round(sum(got) / max(1, written * subs), 5),
            "min_per_subscriber": min(got) if got else 0,
            "duplicates": sum(part["duplicates"] for part in parts),
            "resyncs": sum(part["resyncs"] for part in parts),
            "sockets_closed": sum(part["sockets_closed"] for part in parts),
            "latency_ms": percentiles([x for part in parts for x in part["latencies_ms"]]),
        }
        report.update({"server_workers": workers,
                       "write_until_committed_ms": percentiles(commit_ms), "rate_msgs_per_s": rate,
                       "seconds": seconds, "writer": via,
                       "achieved_write_rate": round(written / elapsed, 1),
                       "deliveries_per_s": round(report["delivered"] / elapsed, 1),
                       "server_cpu_percent": round(100 * (bench.server_cpu() - cpu0) / elapsed, 1),
                       "server_rss_mb": round(bench.server_rss() / 2**20, 1),
                       "connections_per_server_process": bench.connections_per_process()})
        if record_sends:
            report["send_ms"] = commit_ms
        gc1 = await gc_pauses(bench)
        # the server's garbage collections during the phase: count and total milliseconds, per generation
        report["server_gc"] = {g: {"count": round(gc1[g][0] - gc0.get(g, (0, 0))[0]),
                                   "total_ms": round(1000 * (gc1[g][1] - gc0.get(g, (0, 0))[1]), 2)}
                               for g in gc1} or None
        results.append(report)
    for parent, proc in children:
        parent.send("stop")
        await asyncio.to_thread(proc.join, 30)
    await owner.close()
    await conn.close()
    bench.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--rate", type=float, action="append", help="msgs/s (repeat for phases)")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--via", choices=["sql", "api"], default="sql")
    parser.add_argument("--name", default=None)
    parser.add_argument("--client-procs", type=int, default=2, help="processes holding the subscribers")
    parser.add_argument("--workers", type=int, default=1, help="server processes (serve --workers N)")
    parser.add_argument("--client", choices=["raw", "aiohttp"], default="raw",
                        help="subscribers' sockets: lean hand-read frames on uvloop, or aiohttp's client")
    parser.add_argument("--flame", help="write a py-spy flame graph of the server during each phase here "
                                        "(.svg, or .txt: collapsed stacks)")
    args = parser.parse_args()
    rates = args.rate or [50]
    phases = [(r, args.seconds) for r in rates]
    results = asyncio.run(scenario(args.subscribers, phases, args.via, args.client_procs, args.workers,
                                   flame=args.flame, client=args.client))
    name = args.name or f"fanout_{args.subscribers}subs_{args.via}" + (f"_{args.workers}w" if args.workers > 1 else "")
    emit(name, {"phases": results})


if __name__ == "__main__":
    main()
