"""What the Postgres rate limit costs per send: leased tokens, one statement per send, and no limit."""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from dataclasses import replace
from typing import Any

from webchat_server import db
from webchat_server.db import q
from webchat_server.domain.limits import Limits
from webchat_server.settings import Settings

from .common import Bench, emit, percentiles


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 4)


async def scenario(rounds: int, per_round: int, writers: int) -> dict[str, Any]:
    bench = Bench()
    await db.migrate(bench.database_url)
    pool = await db.create_pool(bench.database_url, writers + 2, writers + 2)
    accounts = [await pool.fetchval("INSERT INTO webchat.accounts (kind, display_name) VALUES ('guest', 'g')"
                                    " RETURNING id") for _ in range(writers)]
    chats = []
    for a in accounts:
        chat = await pool.fetchval(q("chat_create"), "bench", a)
        await pool.execute(q("member_add"), chat, a)
        chats.append(chat)
    # the default limits, scaled so that nothing is refused: the cost of paying, not of refusing
    base = Settings(rate_limit_scale=1000.0)
    kinds = {"leased": Limits(pool, base), "statement_per_send": Limits(pool, replace(base, rate_lease_seconds=0.0)),
             "none": None}
    times: dict[str, list[float]] = {k: [] for k in kinds}
    take_times: dict[str, list[float]] = {k: [] for k in kinds}

    async def send(i: int, kind: str, shared_address: bool) -> None:
        account, chat = accounts[i % writers], chats[i % writers]
        address = "127.0.0.1" if shared_address else f"10.0.{i % writers}.1"
        limits = kinds[kind]
        t0 = time.perf_counter()
        if limits is not None:
            refused = await limits.charge(account, address, sends=1).take()
            assert refused is None, refused
        t1 = time.perf_counter()
        await pool.fetch(q("send_messages"), [account], [chat], [f"m{i}"], [None], [None], ["t"], [None], [None],
                         [None], [None], [None], True)
        times[kind].append(time.perf_counter() - t0)
        take_times[kind].append(t1 - t0)

    async def run(kind: str, shared_address: bool) -> None:
        # `writers` concurrent senders, like that many people sending at once
        for start in range(0, per_round, writers):
            await asyncio.gather(*(send(i, kind, shared_address) for i in range(start, start + writers)))

    out: dict[str, Any] = {"sends_per_kind": rounds * per_round, "concurrent_writers": writers}
    for shared in (False, True):
        for k in kinds:
            times[k].clear()
            take_times[k].clear()
        # interleave the kinds round by round: the machine is shared, so its load drifts
        for _ in range(rounds):
            for kind in kinds:
                await run(kind, shared)
        out["one_shared_address" if shared else "separate_addresses"] = {
            kind: {"send_ms_median": median_ms(times[kind]),
                   "limit_ms": percentiles([t * 1000 for t in take_times[kind]])}
            for kind in kinds}
    out["lease_statements"] = {k: v.lease_queries for k, v in kinds.items() if v is not None}
    out["load"] = [round(x, 2) for x in os.getloadavg()]
    await pool.close()
    bench.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=200)
    parser.add_argument("--writers", type=int, default=4)
    args = parser.parse_args()
    emit("ratelimit_cost", asyncio.run(scenario(args.rounds, args.per_round, args.writers)))


if __name__ == "__main__":
    main()
