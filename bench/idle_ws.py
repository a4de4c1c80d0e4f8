"""Memory per idle WebSocket: server RSS with N open, idle, authenticated connections."""

from __future__ import annotations

import argparse
import asyncio
import gc

import aiohttp
import asyncpg

from .common import Bench, close_guests, emit, guests, join_all


async def scenario(n: int) -> dict[str, object]:
    bench = Bench()
    await bench.start()
    connector = aiohttp.TCPConnector(limit=0)
    # a realistic shape: every visitor is its own guest with one chat
    people = await guests(bench.base, n, connector)
    owner = people[0]
    chat_id = (await owner.send("0:hello"))["chat_id"]
    conn = await asyncpg.connect(bench.database_url)
    await join_all(conn, chat_id, [g.id for g in people])
    await conn.close()
    await asyncio.sleep(1)
    before = bench.server_rss()
    sockets = []
    for i in range(0, n, 250):
        batch = await asyncio.gather(*(g.session.ws_connect(bench.base + "/ws/webchat/", heartbeat=None)
                                       for g in people[i:i + 250]))
        for ws in batch:
            await ws.receive(timeout=30)  # the `connection` event
        sockets += batch
    gc.collect()
    await asyncio.sleep(2)
    after = bench.server_rss()
    cpu0 = bench.server_cpu()
    await asyncio.sleep(5)
    idle_cpu = (bench.server_cpu() - cpu0) / 5
    for ws in sockets:
        await ws.close()
    await close_guests(people, connector)
    bench.stop()
    return {
        "connections": n,
        "server_rss_before_mb": round(before / 2**20, 1),
        "server_rss_after_mb": round(after / 2**20, 1),
        "rss_per_connection_kb": round((after - before) / n / 1024, 2),
        "server_cpu_percent_idle": round(100 * idle_cpu, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=5000)
    args = parser.parse_args()
    emit(f"idle_ws_{args.connections}", asyncio.run(scenario(args.connections)))


if __name__ == "__main__":
    main()
