"""The send path through the HTTP API: latency to 100 sockets, highest loss-free rate, commits/s with and
without group commit, deliveries per server CPU-second, and the send-time histogram; one JSON line."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import time
from typing import Any

import asyncpg

from . import fanout
from .common import Bench, Guest, emit

# client-observed send times (ms): upper bounds of the histogram's buckets
BUCKETS = (2, 3, 4, 5, 7, 10, 15, 20, 40, 80, 160)


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def histogram(samples: list[float]) -> dict[str, int]:
    out: dict[str, int] = {}
    lower = 0.0
    for upper in BUCKETS:
        out[f"{lower:g}-{upper:g}"] = sum(1 for s in samples if lower <= s < upper)
        lower = upper
    out[f">={lower:g}"] = sum(1 for s in samples if s >= lower)
    return out


def brief(phase: dict[str, Any]) -> dict[str, Any]:
    cpu = phase["server_cpu_percent"] / 100
    return {
        "rate": phase["rate_msgs_per_s"], "achieved": phase["achieved_write_rate"],
        "delivered_fraction": phase["delivered_fraction"], "duplicates": phase["duplicates"],
        "p50_ms": phase["latency_ms"]["p50"], "p99_ms": phase["latency_ms"]["p99"],
        "send_p50_ms": phase["write_until_committed_ms"]["p50"],
        "send_p99_ms": phase["write_until_committed_ms"]["p99"],
        "server_cpu_percent": phase["server_cpu_percent"],
        "deliveries_per_server_cpu_s": round(phase["deliveries_per_s"] / cpu) if cpu else None,
        "server_gc": phase.get("server_gc"),
    }


async def latency(seconds_slow: float, seconds_fast: float, client: str) -> dict[str, Any]:
    """API send -> 100 sockets at 2 and at 50 msg/s, with the send-time histogram at 2 msg/s."""
    before = load()
    phases = await fanout.scenario(100, [(2, seconds_slow), (50, seconds_fast)], via="api",
                                   record_sends=True, client=client)
    slow, fast = phases
    return {"load_before": before, "load_after": load(), "at_2": brief(slow), "at_50": brief(fast),
            "send_histogram_ms_at_2": histogram(slow["send_ms"]),
            "send_histogram_ms_at_50": histogram(fast["send_ms"])}


async def max_rate(rates: list[float], seconds: float, client: str) -> dict[str, Any]:
    """Steps up to 1,000 msg/s through the API: the highest with nothing lost and p99 <= 1 s."""
    before = load()
    phases = await fanout.scenario(100, [(r, seconds) for r in rates], via="api", client=client)
    steps = [brief(p) for p in phases]
    ok = [s["rate"] for s in steps if s["delivered_fraction"] >= 1.0 and s["duplicates"] == 0
          and s["p99_ms"] is not None and s["p99_ms"] <= 1000 and s["achieved"] >= 0.95 * s["rate"]]
    return {"load_before": before, "load_after": load(), "steps": steps,
            "highest_loss_free_rate_p99_under_1s": max(ok) if ok else None}


async def writes(conn: asyncpg.Connection) -> int:
    """The next transaction id to be assigned: how many transactions have written so far."""
    return int(await conn.fetchval("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint"))


async def commits(senders: list[int], seconds: float) -> list[dict[str, Any]]:
    """Concurrent API senders, each into its own chat, back to back: sends/s and commits/s, with group
    commit (the default) and without (WEBCHAT_SEND_BATCH_MAX=1), runs interleaved."""
    out = []
    for batch_max in ("64", "1"):
        bench = Bench()
        await bench.start({"WEBCHAT_SEND_BATCH_MAX": batch_max})
        conn = await asyncpg.connect(bench.database_url)
        people = [await Guest(bench.base).start() for _ in range(max(senders))]
        chats = [(await g.send("start"))["chat_id"] for g in people]
        for n in senders:
            stop_at = time.monotonic() + seconds
            counts = [0] * n

            async def sender(i: int, stop_at: float = stop_at, counts: list[int] = counts,
                             people: list[Guest] = people, chats: list[int] = chats) -> None:
                while time.monotonic() < stop_at:
                    body = await people[i].send("x", chats[i])
                    assert body.get("success"), body
                    counts[i] += 1

            c0, x0, t0, cpu0 = await bench.xact_commits(conn), await writes(conn), time.monotonic(), bench.server_cpu()
            await asyncio.gather(*(sender(i) for i in range(n)))
            elapsed = time.monotonic() - t0
            c1, x1 = await bench.xact_commits(conn), await writes(conn)
            out.append({"senders": n, "group_commit": batch_max != "1", "sends_per_s": round(sum(counts) / elapsed),
                        # transactions that wrote (each got a transaction id): the sends' commits, plus
                        # the rate-limit leases and the listener's probes
                        "write_commits_per_s": round((x1 - x0) / elapsed),
                        # every transaction, reads (the session lookup of each request) included
                        "all_commits_per_s": round((c1 - c0) / elapsed),
                        "server_cpu_percent": round(100 * (bench.server_cpu() - cpu0) / elapsed, 1),
                        "load": load()})
        for g in people:
            await g.close()
        await conn.close()
        bench.stop()
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    gc.collect()
    gc.freeze()  # the load generator's own collections would count as send latency
    result: dict[str, Any] = {"code": args.label, "client": args.client}
    if "latency" in args.parts:
        result["latency"] = await latency(args.slow_seconds, args.fast_seconds, args.client)
    if "max_rate" in args.parts:
        result["max_rate"] = await max_rate(args.rate, args.step_seconds, args.client)
    if "commits" in args.parts:
        result["commits"] = await commits(args.senders, args.commit_seconds)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parts", nargs="+", default=["latency", "max_rate", "commits"],
                        choices=["latency", "max_rate", "commits"])
    parser.add_argument("--slow-seconds", type=float, default=60, help="seconds at 2 msg/s (120 sends)")
    parser.add_argument("--fast-seconds", type=float, default=15, help="seconds at 50 msg/s")
    parser.add_argument("--rate", type=float, action="append", help="max-rate steps, msg/s (repeatable)")
    parser.add_argument("--step-seconds", type=float, default=5)
    parser.add_argument("--senders", type=int, action="append", help="concurrent API senders (repeatable)")
    parser.add_argument("--commit-seconds", type=float, default=5)
    parser.add_argument("--label", default="", help="a name for the code measured (before/after)")
    parser.add_argument("--client", choices=["raw", "aiohttp"], default="raw",
                        help="the subscribers' sockets (see bench.fanout --client)")
    parser.add_argument("--name", default="send_path")
    args = parser.parse_args()
    args.rate = args.rate or [200, 400, 600, 800, 1000]
    args.senders = args.senders or [1, 4, 16]
    emit(args.name, asyncio.run(run(args)))


if __name__ == "__main__":
    main()

