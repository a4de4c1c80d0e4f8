"""Where a lone API send's time goes: a database round trip, a commit, a bare HTTP request, the send
function's own time in Postgres (track_functions), and the whole send; then a person chatting under
the default rate limits (its sends' times and rate-limit lease statements); one JSON line."""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from .common import Bench, Guest, emit


async def timed(n: int, step: Callable[[], Awaitable[Any]]) -> dict[str, float]:
    """p50/p90 in ms of n sequential calls, 20 ms apart (a lone send, not a burst)."""
    out = []
    for _ in range(n):
        t = time.perf_counter()
        await step()
        out.append((time.perf_counter() - t) * 1000)
        await asyncio.sleep(0.02)
    out.sort()
    return {"p50_ms": round(statistics.median(out), 2), "p90_ms": round(out[int(len(out) * 0.9)], 2)}


async def run(n: int) -> dict[str, Any]:
    bench = Bench()
    await bench.start()
    try:
        conn = await asyncpg.connect(bench.pg_uri)
        guest = await Guest(bench.base).start()
        try:
            await conn.execute("CREATE TABLE public.breakdown (x int)")
            out: dict[str, Any] = {"load_before": [round(x, 2) for x in os.getloadavg()], "n": n}
            out["sql_select_1"] = await timed(n, lambda: conn.fetchval("SELECT 1"))
            out["sql_insert_commit"] = await timed(n, lambda: conn.execute("INSERT INTO public.breakdown VALUES (1)"))
            out["sql_insert_notify_commit"] = await timed(
                n, lambda: conn.execute("INSERT INTO public.breakdown VALUES (1); NOTIFY breakdown, '1'"))

            async def get(path: str) -> None:
                async with guest.session.get(bench.base + path) as r:
                    await r.read()

            out["http_healthz"] = await timed(n, lambda: get("/healthz"))
            out["http_me"] = await timed(n, lambda: get("/webchat/me"))
            chat = (await guest.send("hello"))["chat_id"]
            await conn.execute("ALTER SYSTEM SET track_functions = 'all'")
            await conn.execute("SELECT pg_reload_conf()")
            await asyncio.sleep(1)  # the server's pooled backends take the new setting at their next statement
            await guest.send("warm", chat)
            await conn.execute("SELECT pg_stat_reset()")
            out["http_send"] = await timed(n, lambda: guest.send("x", chat))
            await asyncio.sleep(1)  # backends report function times when they go idle
            await conn.execute("SELECT pg_stat_clear_snapshot()")
            out["postgres_functions"] = [dict(r) for r in await conn.fetch(
                "SELECT funcname AS name, calls, round((total_time / calls)::numeric, 3)::float AS ms_per_call,"
                "       round((self_time / calls)::numeric, 3)::float AS self_ms_per_call"
                "  FROM pg_stat_user_functions WHERE calls > 0 ORDER BY total_time DESC LIMIT 8")]
            out["load_after"] = [round(x, 2) for x in os.getloadavg()]
            return out
        finally:
            await guest.close()
            await conn.close()
    finally:
        bench.stop()


async def paced(n: int, gap: float) -> dict[str, Any]:
    """A person chatting under the default rate limits (nothing lifted, unlike the other benches):
    n sends `gap` seconds apart; their times and how many rate-limit lease statements they needed."""
    bench = Bench()
    await bench.start({"WEBCHAT_RATE_LIMIT_SCALE": "1", "WEBCHAT_SENDS_PER_MINUTE": "120"})
    try:
        conn = await asyncpg.connect(bench.pg_uri)
        guest = await Guest(bench.base).start()
        try:
            chat = (await guest.send("hello"))["chat_id"]
            await conn.execute("ALTER SYSTEM SET track_functions = 'all'")
            await conn.execute("SELECT pg_reload_conf()")
            await asyncio.sleep(1)
            await conn.execute("SELECT pg_stat_reset()")
            times = []
            for i in range(n):
                t = time.perf_counter()
                body = await guest.send(f"paced {i}", chat)
                times.append((time.perf_counter() - t) * 1000)
                assert body.get("success"), body
                await asyncio.sleep(gap)
            await asyncio.sleep(1)  # backends report function calls when they go idle
            await conn.execute("SELECT pg_stat_clear_snapshot()")
            leases = await conn.fetchval(
                "SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions WHERE funcname = 'rate_lease'")
            times.sort()
            return {"sends": n, "gap_s": gap, "rate_lease_calls": int(leases),
                    "send_p50_ms": round(statistics.median(times), 2), "send_p90_ms": round(times[int(n * 0.9)], 2)}
        finally:
            await guest.close()
            await conn.close()
    finally:
        bench.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=200, help="sequential calls per measurement")
    parser.add_argument("--paced", type=int, default=30, help="sends of the person chatting at default limits")
    parser.add_argument("--gap", type=float, default=1.5, help="seconds between them")
    args = parser.parse_args()
    out = asyncio.run(run(args.n))
    out["paced_default_limits"] = asyncio.run(paced(args.paced, args.gap))
    emit("send_breakdown", out)


if __name__ == "__main__":
    main()
