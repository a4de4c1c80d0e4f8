"""Reaction fan-out against one message: each reaction is a message_updated to every subscriber of
the chat, carrying the message's whole reaction summary. Prints frame bytes, latency, loss and the
server's CPU per reaction, as the number of people who reacted grows."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import aiohttp
import asyncpg

from .common import Bench, Guest, emit, guests, join_all, percentiles


async def listen(g: Guest, message_id: int, seen: dict[int, float], frames: list[int], ready: asyncio.Event,
                 done: asyncio.Event) -> None:
    """One member's socket: when each reaction count of the message first arrived, and frame sizes."""
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
        tasks = [asyncio.create_task(listen(p, message_id, seen[i], frames[i], readies[i], done))
                 for i, p in enumerate(people)]
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
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(len(s) < reactors for s in seen):
            await asyncio.sleep(0.1)
        elapsed = time.monotonic() - t0
        cpu = bench.server_cpu() - cpu0
        done.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for p in people:
            await p.close()
        await owner.close()
        await conn.close()
        latency = [(s[k] - committed[k]) * 1000 for s in seen for k in committed if k in s]
        delivered = sum(len(s) for s in seen)
        sizes = [b for f in frames for b in f]
        return {
            "subscribers": subscribers, "reactions": reactors, "rate_per_s": rate, "emoji_kinds": emoji_kinds,
            "delivered": delivered, "expected": reactors * subscribers,
            "lost": reactors * subscribers - delivered,
            "latency_ms": percentiles(latency),
            "frame_bytes_first": min(sizes) if sizes else None, "frame_bytes_last": max(sizes) if sizes else None,
            "bytes_sent_total": sum(sizes),
            "server_cpu_s": round(cpu, 3), "seconds": round(elapsed, 2),
            "server_cpu_ms_per_reaction": round(cpu * 1000 / reactors, 3),
            "server_cpu_us_per_delivery": round(cpu * 1e6 / max(1, delivered), 2),
            "loadavg": open("/proc/loadavg").read().split()[:3],
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
