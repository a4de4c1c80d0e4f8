"""Reaction fan-out against one message: each reaction is a message_updated to every subscriber of
the chat, carrying the message's whole reaction summary. Prints frame bytes, latency, loss and the
server's CPU per reaction, as the number of people who reacted grows."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from .common import Bench, Guest, emit, guests, join_all, percentiles


async def listen(g: Guest, message_id: int, target: int, seen: dict[int, float], frames: list[int],
                 ready: asyncio.Event, finished: asyncio.Event, done: asyncio.Event) -> None:
    """One member's socket: when each reaction count of the message first arrived, and frame sizes.
    Each frame carries the message as it is when the server reads it, so two reactions committed
    close together may arrive as one frame with both: a reaction counts as delivered with the
    first frame that includes it."""
    async with g.session.ws_connect(g.base.replace("http", "ws", 1) + "/ws/webchat/") as ws:
        ready.set()
        while not done.is_set():
            try:
                msg = await ws.receive(timeout=0.5)
            except TimeoutError:
                continue
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            ev = json.loads(msg.data)
            if ev.get("type") != "message_updated" or ev["message"]["id"] != message_id:
                continue
            total = sum(r["count"] for r in ev["message"]["reactions"])
            seen.setdefault(total, time.monotonic())
            frames.append(len(msg.data))
            if total >= target:
                finished.set()


async def scenario(subscribers: int, reactors: int, rate: float, emoji_kinds: int) -> dict[str, Any]:
    bench = Bench()
    await bench.start()
    try:
        owner = await Guest(bench.base).start()
        sent = await owner.send("react to me")
        chat_id, message_id = sent["chat_id"], sent["message"]["id"]
        conn = await asyncpg.connect(bench.database_url)
        bots = [r["id"] for r in await conn.fetch(
            "INSERT INTO webchat.accounts (kind, display_name) SELECT 'bot', 'Reactor ' || i"
            " FROM generate_series(1, $1) i RETURNING id", reactors)]
        people = await guests(bench.base, subscribers)
        await join_all(conn, chat_id, bots + [p.id for p in people])
        seen: list[dict[int, float]] = [{} for _ in people]
        frames: list[list[int]] = [[] for _ in people]
        done = asyncio.Event()
        readies = [asyncio.Event() for _ in people]
        finished = [asyncio.Event() for _ in people]
        tasks = [asyncio.create_task(listen(p, message_id, reactors, seen[i], frames[i], readies[i], finished[i],
                                            done)) for i, p in enumerate(people)]
        await asyncio.gather(*(r.wait() for r in readies))
        await asyncio.sleep(0.5)
        emojis = ["👍", "❤️", "😂", "😮", "😢", "🙏", "🎉", "🔥", "👏", "🚀"][:emoji_kinds]
        committed: dict[int, float] = {}
        cpu0, t0 = bench.server_cpu(), time.monotonic()
        for k, bot in enumerate(bots, start=1):
            delay = t0 + (k - 1) / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            # the documented way for a bot: one INSERT, committed on its own
            await conn.execute("INSERT INTO webchat.reactions (message_id, account_id, emoji) VALUES ($1, $2, $3)",
                               message_id, bot, emojis[k % len(emojis)])
            committed[k] = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(f.wait() for f in finished)), 10)
        elapsed = time.monotonic() - t0
        loadavg = Path("/proc/loadavg").read_text().split()[:3]  # noqa: ASYNC240 - a bench, after the measurement
        cpu = bench.server_cpu() - cpu0
        done.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for p in people:
            await p.close()
        await owner.close()
        await conn.close()
        latency = []
        delivered = 0
        for s in seen:
            # the first frame with at least k reactions, walking down from the highest count seen
            first = float("inf")
            arrival: dict[int, float] = {}
            for k in range(max(s, default=0), 0, -1):
                first = min(first, s.get(k, first))
                arrival[k] = first
            for k, t in committed.items():
                if k in arrival and arrival[k] != float("inf"):
                    delivered += 1
                    latency.append((arrival[k] - t) * 1000)
        sizes = [b for f in frames for b in f]
        return {
            "subscribers": subscribers, "reactions": reactors, "rate_per_s": rate, "emoji_kinds": emoji_kinds,
            "delivered": delivered, "expected": reactors * subscribers,
            "lost": reactors * subscribers - delivered,
            "latency_ms": percentiles(latency),
            "frames": len(sizes),
            "frame_bytes_first": min(sizes) if sizes else None, "frame_bytes_last": max(sizes) if sizes else None,
            "bytes_sent_total": sum(sizes),
            "server_cpu_s": round(cpu, 3), "seconds": round(elapsed, 2),
            "server_cpu_ms_per_reaction": round(cpu * 1000 / reactors, 3),
            "server_cpu_us_per_delivery": round(cpu * 1e6 / max(1, delivered), 2),
            "loadavg": loadavg,
        }
    finally:
        bench.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--subscribers", type=int, default=100)
    ap.add_argument("--reactions", type=int, default=200, help="people who react, one reaction each")
    ap.add_argument("--rate", type=float, default=20.0, help="reactions per second")
    ap.add_argument("--emoji-kinds", type=int, default=5)
    ap.add_argument("--name", default="reactions")
    args = ap.parse_args()
    emit(args.name, asyncio.run(scenario(args.subscribers, args.reactions, args.rate, args.emoji_kinds)))


if __name__ == "__main__":
    main()
