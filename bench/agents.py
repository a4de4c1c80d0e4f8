"""20 agents hold the inbox open while 500 visitors chat: every event to every agent, commit -> socket latency, CPU."""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import jwt

from .common import Bench, emit, percentiles

SECRET = "bench-identity-secret-of-at-least-32-bytes"
LOADAVG = Path("/proc/loadavg")


def agent_token(i: int) -> str:
    now = int(time.time())
    return jwt.encode({"sub": f"agent-{i}", "name": f"Agent {i}", "role": "agent", "iat": now, "exp": now + 3600},
                      SECRET, algorithm="HS256")


async def agent(base: str, i: int, ready: asyncio.Event, stop: asyncio.Event,
                latencies: list[float], seen: dict[int, set[tuple[int, int]]], dups: list[int]) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        async with s.get(base + "/webchat/me") as r:
            csrf = (await r.json())["csrf_token"]
        async with s.post(base + "/webchat/identify", json={"token": agent_token(i)},
                          headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 200, await r.text()
        mine = seen[i] = set()
        async with s.ws_connect(base + "/ws/webchat/?resume=1", max_msg_size=0) as ws:
            await ws.send_json({"type": "resume", "cursor": None})
            hello = await ws.receive_json()
            assert hello["type"] == "connection" and hello.get("inbox") is True, hello
            ready.set()
            while not stop.is_set():
                try:
                    msg = await ws.receive(timeout=0.5)
                except TimeoutError:
                    continue
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                now = time.time_ns()
                ev = msg.json()
                if ev["type"] != "new_message":
                    continue
                key = (ev["chat_id"], ev["message"]["seq"])
                if key in mine:
                    dups[0] += 1
                mine.add(key)
                text = ev["message"]["text"]
                if text.startswith("t"):
                    latencies.append((now - int(text[1:].split(":")[0])) / 1e6)


async def main(agents: int, visitors: int, rate: float, seconds: float, new_conversations: int) -> dict[str, Any]:
    bench = Bench()
    await bench.start({"WEBCHAT_IDENTITY_SECRET": SECRET})
    conn = await asyncpg.connect(bench.database_url)
    try:
        # 500 visitors, each with an open conversation (made by SQL: the bench measures delivery)
        rows = await conn.fetch(
            "WITH v AS (INSERT INTO webchat.accounts (kind, display_name) "
            "           SELECT 'guest', 'Visitor ' || i FROM generate_series(1, $1) i RETURNING id), "
            "c AS (INSERT INTO webchat.chats (title, created_by) SELECT 'Question', id FROM v "
            "      RETURNING id, created_by) "
            "SELECT id, created_by FROM c", visitors)
        pairs = [(r["id"], r["created_by"]) for r in rows]
        chats, people = [c for c, _ in pairs], [v for _, v in pairs]
        await conn.execute("INSERT INTO webchat.chat_members (chat_id, account_id) "
                           "SELECT unnest($1::bigint[]), unnest($2::bigint[])", chats, people)
        await conn.execute("INSERT INTO webchat.messages (chat_id, sender_id, text) "
                           "SELECT unnest($1::bigint[]), unnest($2::bigint[]), 'hello'", [c for c, _ in pairs],
                           [v for _, v in pairs])
        latencies: list[float] = []
        seen: dict[int, set[tuple[int, int]]] = {}
        dups = [0]
        stop = asyncio.Event()
        readies = [asyncio.Event() for _ in range(agents)]
        tasks = [asyncio.create_task(agent(bench.base, i, readies[i], stop, latencies, seen, dups))
                 for i in range(agents)]
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 60)
        cpu0, t0 = bench.server_cpu(), time.monotonic()
        pool = await asyncpg.create_pool(bench.database_url, min_size=4, max_size=4)
        written: set[tuple[int, int]] = set()
        rnd = random.Random(1)
        total = int(rate * seconds)
        every = max(1, total // max(1, new_conversations))
        for n in range(total):
            delay = t0 + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            text = f"t{time.time_ns()}:{n}"
            if new_conversations and n % every == 0:
                # a new visitor's first message: the chat and the message in one transaction
                async with pool.acquire() as c, c.transaction():
                    v = await c.fetchval("INSERT INTO webchat.accounts (kind, display_name) VALUES ('guest', 'New') "
                                         "RETURNING id")
                    chat = await c.fetchval("INSERT INTO webchat.chats (title, created_by) VALUES ('New', $1) "
                                            "RETURNING id", v)
                    await c.execute("INSERT INTO webchat.chat_members (chat_id, account_id) VALUES ($1, $2)", chat, v)
                    seq = await c.fetchval("INSERT INTO webchat.messages (chat_id, sender_id, text) "
                                           "VALUES ($1, $2, $3) RETURNING seq", chat, v, text)
            else:
                chat, v = rnd.choice(pairs)
                seq = await pool.fetchval("INSERT INTO webchat.messages (chat_id, sender_id, text) "
                                          "VALUES ($1, $2, $3) RETURNING seq", chat, v, text)
            written.add((chat, seq))
        # until every agent has everything, or 30 s more
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(written <= s for s in seen.values()):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        elapsed = time.monotonic() - t0
        cpu = bench.server_cpu() - cpu0
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await pool.close()
        missing = sum(len(written - s) for s in seen.values())
        return {"agents": agents, "visitors": visitors, "rate_msg_s": rate, "seconds": seconds,
                "messages": len(written), "new_conversations": new_conversations,
                "deliveries_expected": len(written) * agents, "missing": missing, "duplicates": dups[0],
                "latency_ms": percentiles(latencies), "server_cpu_s": round(cpu, 2),
                "server_cpu_pct": round(100 * cpu / elapsed, 1),
                "loadavg": LOADAVG.read_text().split()[:3]}  # noqa: ASYNC240 - after the measurement
    finally:
        await conn.close()
        bench.stop()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--agents", type=int, default=20)
    p.add_argument("--visitors", type=int, default=500)
    p.add_argument("--rate", type=float, default=5.0)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--new-conversations", type=int, default=20)
    a = p.parse_args()
    emit("agents", asyncio.run(main(a.agents, a.visitors, a.rate, a.seconds, a.new_conversations)))
