"""One address floods the server with 20,000 WebSocket attempts (and 1,000 slowloris connections)
while 100 normal clients chat: are they unaffected, is the flood refused at the cap, does memory
come back afterwards?"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import time
from typing import Any

import aiohttp
import asyncpg
import uvloop

from .common import Bench, Guest, emit, join_all, percentiles, raise_fd_limit, upgrade_request

SEQ = re.compile(r'"seq":(\d+)')
SENT = re.compile(r'"text":"(\d+):')
FLOOD_ADDRESS = "127.0.0.66"
SLOWLORIS_ADDRESS = "127.0.0.77"
GROUP = 10
# bounded and self-stopping, however slow the shared machine is
MAX_FLOOD_SECONDS = 240


# -- the attacker (its own process, so its work does not skew the normal clients' timings) --------
async def flood(base: str, attempts: int, concurrency: int, hold: float) -> dict[str, Any]:
    raise_fd_limit()
    host, port = base.removeprefix("http://").split(":")
    connector = aiohttp.TCPConnector(limit=0, force_close=True, local_addr=(FLOOD_ADDRESS, 0))
    cookies: list[str] = []
    guests_refused = 0
    for _ in range(100):  # as many guests as the address is allowed to make
        async with aiohttp.ClientSession(connector=connector, connector_owner=False) as s, \
                s.get(base + "/webchat/me") as r:
            if r.status != 200:
                guests_refused += 1
                break
            cookies.append("; ".join(f"{k}={v.value}" for k, v in r.cookies.items()))
    await connector.close()
    # raw upgrade requests: an attacker does not pay for a client library, so neither does this one
    requests = [upgrade_request(f"{host}:{port}", c) for c in cookies or [""]]
    held: list[asyncio.StreamWriter] = []
    statuses: dict[str, int] = {}
    gate = asyncio.Semaphore(concurrency)
    t0 = time.monotonic()

    def count(what: str) -> None:
        statuses[what] = statuses.get(what, 0) + 1

    async def attempt(i: int) -> None:
        async with gate:
            if time.monotonic() - t0 > MAX_FLOOD_SECONDS:
                count("not_tried_out_of_time")
                return
            try:
                reader, writer = await asyncio.open_connection(host, int(port), local_addr=(FLOOD_ADDRESS, 0))
            except OSError as e:
                count(type(e).__name__)
                return
            try:
                writer.write(requests[i % len(requests)])
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            except (OSError, asyncio.IncompleteReadError, TimeoutError) as e:
                count(type(e).__name__)
                writer.close()
                return
            status = head[9:12].decode()
            count(status)
            if status == "101":
                held.append(writer)  # never read again: a socket that just sits there
            else:
                writer.close()

    await asyncio.gather(*(attempt(i) for i in range(attempts)))
    elapsed = time.monotonic() - t0
    await asyncio.sleep(hold)
    for w in held:
        w.close()
    return {"guests_made": len(cookies), "guest_refused": guests_refused, "attempts": attempts,
            "statuses": statuses, "upgraded_over_the_run": len(held), "seconds": round(elapsed, 1),
            "attempts_per_s": round(attempts / elapsed, 1)}


async def slowloris(host: str, port: int, connections: int, give_up: float) -> dict[str, Any]:
    raise_fd_limit()
    closed_after: list[float] = []

    async def one() -> None:
        t0 = time.monotonic()
        try:
            reader, writer = await asyncio.open_connection(host, port, local_addr=(SLOWLORIS_ADDRESS, 0))
        except OSError:
            return
        try:
            writer.write(b"GET /webchat/me HTTP/1.1\r\nHost: x\r\n")
            i = 0
            while time.monotonic() - t0 < give_up:
                if writer.is_closing():
                    break
                writer.write(f"X-Slow-{i}: y\r\n".encode())
                i += 1
                await writer.drain()
                try:
                    if await asyncio.wait_for(reader.read(1024), 1.0) == b"":
                        break
                except TimeoutError:
                    continue
            else:
                return  # still open when we gave up
        except (ConnectionError, RuntimeError):  # RuntimeError: uvloop's write to a closed transport
            pass
        finally:
            writer.close()
        closed_after.append(time.monotonic() - t0)

    await asyncio.gather(*(one() for _ in range(connections)))
    return {"connections": connections, "closed_by_server": len(closed_after),
            "closed_after_s": percentiles(closed_after)}


# -- the normal clients and the measurement --------------------------------------------------------
class Client:
    def __init__(self, base: str, i: int) -> None:
        # each normal client is a different visitor: its own address in 127.0.1.0/24
        self.connector = aiohttp.TCPConnector(limit=0, local_addr=(f"127.0.1.{i + 1}", 0))
        self.guest = Guest(base, self.connector)
        self.seen: set[int] = set()
        self.latencies: list[tuple[float, float]] = []  # (sent at, ms)
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.closed = False

    async def listen(self) -> None:
        self.ws = await self.guest.session.ws_connect(self.guest.base + "/ws/webchat/", heartbeat=None)
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            data = msg.data
            if data.startswith('{"type":"new_message"'):
                now = time.time_ns()
                self.seen.add(int(SEQ.search(data).group(1)))  # type: ignore[union-attr]
                sent = int(SENT.search(data).group(1))  # type: ignore[union-attr]
                self.latencies.append((sent / 1e9, (now - sent) / 1e6))
        self.closed = True


async def scenario(clients: int, rate: float, attempts: int, slow: int, calm: float, after: float) -> dict[str, Any]:
    bench = Bench()
    # the defaults that protect a real deployment, not the lifted ones other benches use
    await bench.start({"WEBCHAT_RATE_LIMIT_SCALE": "1", "WEBCHAT_MAX_SOCKETS_PER_ADDRESS": "200",
                       "WEBCHAT_MAX_SOCKETS_PER_ACCOUNT": "20", "WEBCHAT_SENDS_PER_MINUTE": "120"})
    people = [Client(bench.base, i) for i in range(clients)]
    for c in people:
        await c.guest.start()
    # groups of ten people, each group in its own chat
    conn = await asyncpg.connect(bench.database_url)
    chats = []
    for g in range(0, clients, GROUP):
        chat = (await people[g].guest.send(f"{time.time_ns()}:hello"))["chat_id"]
        await join_all(conn, chat, [c.guest.id for c in people[g:g + GROUP]])
        chats.append(chat)
    await conn.close()
    listeners = [asyncio.create_task(c.listen()) for c in people]
    while any(c.ws is None for c in people):  # noqa: ASYNC110 - a hundred sockets opening, polled briefly
        await asyncio.sleep(0.05)
    await asyncio.sleep(1)

    sent: dict[tuple[int, int], int] = {}  # (chat, seq) -> sender index
    send_errors: dict[str, int] = {}
    stop = asyncio.Event()

    async def chat_steadily() -> None:
        i, start = 0, time.monotonic()
        pending: set[asyncio.Task[None]] = set()

        async def one(k: int) -> None:
            who = people[k % clients]
            payload = {"text": f"{time.time_ns()}:{k}", "chat_id": chats[(k % clients) // GROUP], "client_id": f"m{k}"}
            for _ in range(3):
                # as the widget does: a send that failed in transit (say, a kept-alive connection the
                # server had just closed) is retried with the same client_id, so it is stored once
                try:
                    async with who.guest.session.post(who.guest.base + "/webchat/send/", json=payload,
                                                      headers={"X-CSRF-Token": who.guest.csrf}) as r:
                        body = await r.json()
                except (aiohttp.ClientError, OSError) as e:
                    send_errors[type(e).__name__] = send_errors.get(type(e).__name__, 0) + 1
                    continue
                if body.get("success"):
                    sent[body["chat_id"], body["message"]["seq"]] = k % clients
                else:
                    code = body["error"]["code"]
                    send_errors[code] = send_errors.get(code, 0) + 1
                return

        while not stop.is_set():
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            t = asyncio.create_task(one(i))
            pending.add(t)
            t.add_done_callback(pending.discard)
            i += 1
        if pending:
            await asyncio.wait(pending)

    rss: list[tuple[float, int]] = []
    sockets: list[int] = []

    async def sample_rss() -> None:
        async with aiohttp.ClientSession() as s:
            while not stop.is_set():
                rss.append((time.monotonic(), bench.server_rss()))
                async with s.get(bench.base + "/metrics") as r:
                    for line in (await r.text()).splitlines():
                        if line.startswith("webchat_ws_connections "):
                            sockets.append(int(float(line.split()[1])))
                await asyncio.sleep(0.25)

    chatting = asyncio.create_task(chat_steadily())
    sampling = asyncio.create_task(sample_rss())
    await asyncio.sleep(calm)
    baseline = bench.server_rss()
    flood_started = time.time()
    cpu0 = bench.server_cpu()
    cmd = [sys.executable, "-m", "bench.flood", "--role"]
    procs = [
        await asyncio.create_subprocess_exec(*cmd, "flood", "--base", bench.base, "--attempts", str(attempts),
                                             stdout=subprocess.PIPE),
        await asyncio.create_subprocess_exec(*cmd, "slowloris", "--base", bench.base, "--slowloris", str(slow),
                                             stdout=subprocess.PIPE),
    ]
    outputs = [json.loads((await p.communicate())[0]) for p in procs]
    flood_ended = time.time()
    flood_cpu = (bench.server_cpu() - cpu0) / (flood_ended - flood_started)
    t_end = time.monotonic()
    await asyncio.sleep(after)
    after_rss = bench.server_rss()
    stop.set()
    await chatting
    await sampling
    await asyncio.sleep(1)  # the last deliveries
    closed_early = sum(1 for c in people if c.closed)
    for c in people:
        assert c.ws is not None
        await c.ws.close()
    await asyncio.gather(*listeners, return_exceptions=True)
    for c in people:
        await c.guest.close()
        await c.connector.close()
    bench.stop()

    missing = sum(1 for c_i, c in enumerate(people) for (chat, seq), who in sent.items()
                  if who != c_i and chat == chats[c_i // GROUP] and seq not in c.seen)
    during = [ms for c in people for at, ms in c.latencies if flood_started <= at <= flood_ended]
    outside = [ms for c in people for at, ms in c.latencies if not flood_started <= at <= flood_ended]
    peak = max(v for t, v in rss if t <= t_end)
    return {
        "normal_clients": clients,
        "normal_msgs_per_s": rate,
        "normal_messages_sent": len(sent),
        "normal_send_errors": send_errors,
        "normal_deliveries_missing": missing,
        "normal_sockets_closed_early": closed_early,
        "peak_open_websockets_flood_included": max(sockets),
        "latency_ms_during_flood": percentiles(during),
        "latency_ms_outside_flood": percentiles(outside),
        "server_cpu_percent_during_flood": round(100 * flood_cpu, 1),
        "machine_load_average_1min": round(os.getloadavg()[0], 1),
        "flood": outputs[0],
        "slowloris": outputs[1],
        "server_rss_mb": {"baseline": round(baseline / 2**20, 1), "peak_during_flood": round(peak / 2**20, 1),
                          f"{after:g}s_after_flood": round(after_rss / 2**20, 1)},
        "note": "measured on a shared 2-core machine under contention from other work",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--role", choices=["bench", "flood", "slowloris"], default="bench")
    parser.add_argument("--base")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--rate", type=float, default=10, help="normal messages per second, all clients together")
    parser.add_argument("--attempts", type=int, default=20_000)
    parser.add_argument("--slowloris", type=int, default=1000)
    parser.add_argument("--calm", type=float, default=5)
    parser.add_argument("--after", type=float, default=25)
    args = parser.parse_args()
    uvloop.install()  # the clients must not be what is slow
    if args.role != "bench":
        # the attacker would be on another machine: here it must not take the CPU the server and
        # the normal clients need, only what is left over
        os.nice(10)
    if args.role == "flood":
        print(json.dumps(asyncio.run(flood(args.base, args.attempts, 200, 3.0))))
    elif args.role == "slowloris":
        host, port = args.base.removeprefix("http://").split(":")
        print(json.dumps(asyncio.run(slowloris(host, int(port), args.slowloris, 60.0))))
    else:
        emit("flood", asyncio.run(scenario(args.clients, args.rate, args.attempts, args.slowloris, args.calm,
                                           args.after)))


if __name__ == "__main__":
    main()
