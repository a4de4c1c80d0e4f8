"""One INSERT of thousands of large rows into a chat with live subscribers: flow control at work."""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp
import asyncpg

from .common import Bench, close_guests, emit, guests, join_all, make_bot


async def scenario(subscribers: int, rows: int, size: int) -> dict[str, object]:
    bench = Bench()
    await bench.start()
    connector = aiohttp.TCPConnector(limit=0)
    people = await guests(bench.base, subscribers, connector)
    chat_id = (await people[0].send("start"))["chat_id"]
    conn = await asyncpg.connect(bench.database_url)
    await join_all(conn, chat_id, [g.id for g in people])
    bot = await make_bot(conn, chat_id)
    sockets = [await g.session.ws_connect(bench.base + "/ws/webchat/", heartbeat=None, max_msg_size=0)
               for g in people]
    for ws in sockets:
        await ws.receive(timeout=30)  # `connection`
    await asyncio.sleep(1)
    base_rss = bench.server_rss()
    cpu0 = bench.server_cpu()
    peak = base_rss
    seqs: list[list[int]] = [[] for _ in sockets]
    resyncs = 0
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, bench.server_rss())
            await asyncio.sleep(0.02)

    async def read(i: int, ws: aiohttp.ClientWebSocketResponse) -> None:
        nonlocal resyncs
        while len(seqs[i]) < rows:
            msg = await ws.receive(timeout=120)
            if msg.type != aiohttp.WSMsgType.TEXT:
                resyncs += 1 if ws.close_code == 4008 else 0
                return
            ev = json.loads(msg.data)
            if ev["type"] == "new_message":
                seqs[i].append(ev["message"]["seq"])
            elif ev["type"] == "resync":
                resyncs += 1

    sampler = asyncio.create_task(sample())
    readers = [asyncio.create_task(read(i, ws)) for i, ws in enumerate(sockets)]
    t0 = time.monotonic()
    await conn.execute("INSERT INTO webchat.messages (chat_id, sender_id, text) "
                       "SELECT $1, $2, i || ':' || repeat('x', $3) FROM generate_series(1, $4) i",
                       chat_id, bot, size, rows)
    committed = time.monotonic() - t0
    await asyncio.gather(*readers, return_exceptions=True)
    elapsed = time.monotonic() - t0
    done.set()
    await sampler
    server_cpu = bench.server_cpu() - cpu0
    async with aiohttp.ClientSession() as s, s.get(bench.base + "/metrics") as r:
        text = await r.text()
    metrics = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
               if line and not line.startswith("#")}
    expected = list(range(2, rows + 2))
    for ws in sockets:
        await ws.close()
    await conn.close()
    await close_guests(people, connector)
    bench.stop()
    return {
        "subscribers": subscribers, "rows": rows, "row_bytes": size,
        "insert_seconds": round(committed, 2),
        "all_delivered_seconds": round(elapsed, 2),
        "subscribers_complete_in_order": sum(1 for s in seqs if s == expected),
        "resyncs": resyncs,
        "slow_consumers_closed": metrics.get("webchat_slow_consumers_total"),
        "paging_started": metrics.get("webchat_paging_total"),
        "server_cpu_seconds": round(server_cpu, 2),
        "server_rss_before_mb": round(base_rss / 2**20, 1),
        "server_rss_peak_growth_mb": round((peak - base_rss) / 2**20, 1),
        "note": "shared 2-core machine under contention from other helpers",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=20)
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--size", type=int, default=9000)
    args = parser.parse_args()
    emit(f"burst_{args.subscribers}subs_{args.rows}x{args.size}",
         asyncio.run(scenario(args.subscribers, args.rows, args.size)))


if __name__ == "__main__":
    main()
