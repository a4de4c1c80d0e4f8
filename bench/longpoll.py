"""Parked long-poll waiters: database queries while idle, and how fast they wake on a new message.

Every waiter is a guest with its own chat (the usual support-widget shape) plus one shared chat.
Two wake measurements: a message in one visitor's chat while all the others stay parked
(repeated), and one message in the shared chat that wakes every waiter at once.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from typing import Any

import aiohttp
import asyncpg

from .common import Bench, Guest, close_guests, emit, guests, join_all, make_bot, percentiles


async def scenario(waiters: int, idle_seconds: float, single_wakes: int) -> dict[str, Any]:
    bench = Bench()
    await bench.start()
    connector = aiohttp.TCPConnector(limit=0)
    people = await guests(bench.base, waiters, connector)
    own_chat = {}
    for i in range(0, waiters, 100):
        sent = await asyncio.gather(*(g.send("0:my chat") for g in people[i:i + 100]))
        for g, s in zip(people[i:i + 100], sent, strict=True):
            own_chat[g.id] = s["chat_id"]
    conn = await asyncpg.connect(bench.database_url)
    bot = await make_bot(conn, own_chat[people[0].id])
    shared = (await people[0].send("0:shared"))["chat_id"]
    await join_all(conn, shared, [g.id for g in people] + [bot])
    await conn.execute("INSERT INTO webchat.chat_members (chat_id, account_id) SELECT id, $1 FROM webchat.chats"
                       " ON CONFLICT DO NOTHING", bot)
    cursors: dict[int, str] = {}
    for g in people:
        async with g.session.get(bench.base + "/webchat/poll/", params={"timeout": "0"}) as r:
            cursors[g.id] = (await r.json())["cursor"]

    woke: dict[int, float] = {}
    parked: dict[int, asyncio.Task[None]] = {}

    async def park(g: Guest) -> None:
        async with g.session.get(bench.base + "/webchat/poll/",
                                 params={"cursor": cursors[g.id], "timeout": "55"}) as r:
            body = await r.json()
        now = time.time_ns()
        cursors[g.id] = body["cursor"]
        for ev in body["events"]:
            if ev["type"] == "new_message":
                woke[g.id] = (now - int(ev["message"]["text"].split(":", 1)[0])) / 1e6

    async def idle_transactions() -> int:
        start = await bench.xact_commits(conn)
        await asyncio.sleep(idle_seconds)
        return await bench.xact_commits(conn) - start - 2  # minus this function's own two reads

    await asyncio.sleep(11)  # idle backends report statistics up to 10 s late
    baseline = await idle_transactions()
    for g in people:
        parked[g.id] = asyncio.create_task(park(g))
    # all parked; each poll cost one membership query when it arrived, and idle backends report
    # their statistics up to 10 s late, so wait that out before counting
    await asyncio.sleep(11)
    rss = bench.server_rss()
    cpu0 = bench.server_cpu()
    idle = await idle_transactions()
    idle_cpu = bench.server_cpu() - cpu0

    single: list[float] = []
    for g in random.sample(people, min(single_wakes, waiters)):
        woke.pop(g.id, None)
        await conn.execute("INSERT INTO webchat.messages (chat_id, sender_id, text) VALUES ($1, $2, $3)",
                           own_chat[g.id], bot, f"{time.time_ns()}:one")
        await asyncio.wait_for(parked[g.id], 10)
        single.append(woke[g.id])
        parked[g.id] = asyncio.create_task(park(g))
        await asyncio.sleep(0.05)
    await asyncio.sleep(1)
    woke.clear()
    await conn.execute("INSERT INTO webchat.messages (chat_id, sender_id, text) VALUES ($1, $2, $3)",
                       shared, bot, f"{time.time_ns()}:all")
    await asyncio.wait_for(asyncio.gather(*parked.values()), 60)
    await conn.close()
    await close_guests(people, connector)
    bench.stop()
    return {
        "waiters": waiters,
        "idle_seconds": idle_seconds,
        "db_transactions_idle_without_waiters": baseline,
        "db_transactions_idle_with_waiters": idle,
        "db_queries_per_s_per_1000_waiters": round(max(0, idle - baseline) / idle_seconds * 1000 / waiters, 3),
        "server_cpu_percent_while_idle": round(100 * idle_cpu / idle_seconds, 2),
        "server_rss_mb_with_waiters": round(rss / 2**20, 1),
        "wake_one_of_many_ms": percentiles(single),
        "wake_all_at_once": {"woken": len(woke), "latency_ms": percentiles(list(woke.values()))},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--waiters", type=int, default=1000)
    parser.add_argument("--idle-seconds", type=float, default=10)
    parser.add_argument("--single-wakes", type=int, default=50)
    args = parser.parse_args()
    emit(f"longpoll_{args.waiters}", asyncio.run(scenario(args.waiters, args.idle_seconds, args.single_wakes)))


if __name__ == "__main__":
    main()
