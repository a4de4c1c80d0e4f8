"""What the Postgres rate limit costs per send: the same send transaction with and without its bucket take."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from webchat_server import db
from webchat_server.db import q

from .common import Bench, emit, percentiles


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 4)


async def scenario(rounds: int, per_round: int, writers: int) -> dict[str, Any]:
    bench = Bench()
    await db.migrate(bench.database_url)
    pool = await db.create_pool(bench.database_url, writers, writers)
    accounts = [await pool.fetchval("INSERT INTO webchat.accounts (kind, display_name) VALUES ('guest', 'g')"
                                    " RETURNING id") for _ in range(writers)]
    chats = []
    for a in accounts:
        chat = await pool.fetchval(q("chat_create"), "bench", a)
        await pool.execute(q("member_add"), chat, a)
        chats.append(chat)
    # the buckets one API send takes from: its account and its address (as ratelimit.charge builds them)
    rate, burst = 1e9, 1e12

    with_take: list[float] = []
    without: list[float] = []
    take_alone: list[float] = []

    async def send(i: int, limited: bool, shared_address: bool) -> None:
        account, chat = accounts[i % writers], chats[i % writers]
        address = "127.0.0.1" if shared_address else f"10.0.{i % writers}.1"
        async with pool.acquire() as conn:
            t0 = time.perf_counter()
            async with conn.transaction():
                if limited:
                    t1 = time.perf_counter()
                    await conn.fetch(q("rate_take"), [f"sends:a:{account}", f"sends:ip:{address}"],
                                     [rate, rate], [burst, burst], [1.0, 1.0])
                    take_alone.append(time.perf_counter() - t1)
                await conn.fetchrow(q("message_insert"), chat, account, f"m{i}", None, None, None, None)
            (with_take if limited else without).append(time.perf_counter() - t0)

    async def run(limited: bool, shared_address: bool) -> None:
        # `writers` concurrent senders, like that many people sending at once
        for start in range(0, per_round, writers):
            await asyncio.gather(*(send(i, limited, shared_address) for i in range(start, start + writers)))

    # interleave the two kinds round by round: the machine is shared, so its load drifts
    for _ in range(rounds):
        await run(True, False)
        await run(False, False)
    separate = (median_ms(with_take), median_ms(without), median_ms(take_alone), percentiles(
        [t * 1000 for t in take_alone]))
    with_take.clear()
    without.clear()
    take_alone.clear()
    for _ in range(rounds):
        await run(True, True)
        await run(False, True)
    shared = (median_ms(with_take), median_ms(without), median_ms(take_alone))
    rows = await pool.fetchval("SELECT count(*) FROM webchat.rate_limits")
    # Postgres' own execution time of the take, without the round trip or this client's scheduling
    executions = []
    async with pool.acquire() as conn:
        for i in range(1000):
            plan = await conn.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + q("rate_take"),
                                       [f"sends:a:{accounts[i % writers]}", f"sends:ip:10.0.{i % writers}.1"],
                                       [rate, rate], [burst, burst], [1.0, 1.0])
            executions.append((json.loads(plan) if isinstance(plan, str) else plan)[0]["Execution Time"])
    await pool.close()
    return {
        "sends_per_kind": rounds * per_round,
        "concurrent_writers": writers,
        "separate_addresses": {
            "send_ms_median_with_limit": separate[0],
            "send_ms_median_without_limit": separate[1],
            "cost_per_send_ms": round(separate[0] - separate[1], 4),
            "rate_take_statement_ms_median": separate[2],
            "rate_take_statement_ms": separate[3],
        },
        "one_shared_address": {
            "send_ms_median_with_limit": shared[0],
            "send_ms_median_without_limit": shared[1],
            "cost_per_send_ms": round(shared[0] - shared[1], 4),
            "rate_take_statement_ms_median": shared[2],
        },
        "rate_take_execution_ms_in_postgres": percentiles(executions),
        "bucket_rows": rows,
        "note": "measured on a shared 2-core machine under contention from other work",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=200)
    parser.add_argument("--writers", type=int, default=4)
    args = parser.parse_args()
    emit("ratelimit_cost", asyncio.run(scenario(args.rounds, args.per_round, args.writers)))


if __name__ == "__main__":
    main()
