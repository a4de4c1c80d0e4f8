"""Idle WebSockets: server RSS per idle authenticated socket, idle CPU, and one broadcast to all.

Clients are lean raw sockets (no client library state), spread over several 127.0.x.y source
addresses so no single address holds more than --per-source sockets (a per-address connection cap
and the ephemeral port range are both per source address). Accounts and memberships are created
by SQL and each socket carries a session cookie minted with the server's key, so setting up tens
of thousands of sockets costs the server only their upgrades.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import socket
import time

import asyncpg
from cryptography.fernet import Fernet

from webchat_server.http.auth import COOKIE_NAME

from .common import Bench, emit, upgrade_request, ws_frames


def cookie(fernet: Fernet, account_id: int) -> str:
    # aiohttp_session's EncryptedCookieStorage format: Fernet(JSON {"created", "session"})
    data = json.dumps({"created": int(time.time()), "session": {"account_id": account_id, "csrf": "x"}})
    return f"{COOKIE_NAME}={fernet.encrypt(data.encode()).decode()}"


async def open_socket(port: int, source: str, cookie_header: str) -> socket.socket:
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setblocking(False)
    sock.bind((source, 0))
    await loop.sock_connect(sock, ("127.0.0.1", port))
    await loop.sock_sendall(sock, upgrade_request(f"127.0.0.1:{port}", cookie_header))
    got = b""
    # the 101 response and then the `connection` frame
    while b'"connection"' not in got:
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 4096), 60)
        if not chunk:
            raise ConnectionError("closed during upgrade")
        got += chunk
    if not got.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(got[:100])
    return sock


async def scenario(n: int, per_source: int) -> dict[str, object]:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    key = Fernet.generate_key()
    bench = Bench()
    await bench.start({"WEBCHAT_SECRET_KEY": key.decode()})
    fernet = Fernet(key)
    conn = await asyncpg.connect(bench.database_url)
    ids: list[int] = [r["id"] for r in await conn.fetch(
        "INSERT INTO webchat.accounts (kind, display_name) SELECT 'guest', 'g' || i FROM generate_series(1, $1) i "
        "RETURNING id", n)]
    chat = await conn.fetchval("INSERT INTO webchat.chats (title, created_by) VALUES ('all', $1) RETURNING id", ids[0])
    bot = await conn.fetchval("INSERT INTO webchat.accounts (kind, display_name) VALUES ('bot', 'B') RETURNING id")
    await conn.execute("INSERT INTO webchat.chat_members (chat_id, account_id) SELECT $1, unnest($2::bigint[])",
                       chat, [*ids, bot])
    await asyncio.sleep(2)
    gc.collect()
    before = bench.server_rss()
    sources = [f"127.0.{1 + i // 250}.{1 + i % 250}" for i in range((n + per_source - 1) // per_source)]
    loop = asyncio.get_running_loop()
    arrivals: list[float] = []
    closed = 0
    pong = bytes((0x8A, 0x80, 0, 0, 0, 0))  # empty masked pong (mask 0)

    async def serve(sock: socket.socket) -> None:
        """Answer heartbeat pings, as a browser does; note when the broadcast arrives."""
        nonlocal closed
        buf = b""
        while True:
            try:
                chunk = await loop.sock_recv(sock, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                closed += 1
                return
            buf += chunk
            frames, buf = ws_frames(buf)
            for opcode, payload in frames:
                if opcode == 9:
                    await loop.sock_sendall(sock, bytes((0x8A, 0x80 | len(payload), 0, 0, 0, 0)) + payload
                                            if payload else pong)
                elif b"new_message" in payload:
                    arrivals.append(time.monotonic())

    sockets: list[socket.socket] = []
    serving: list[asyncio.Task[None]] = []
    failed = 0
    t0 = time.monotonic()
    for i in range(0, n, 200):
        batch = await asyncio.gather(*(open_socket(bench.port, sources[j // per_source], cookie(fernet, ids[j]))
                                       for j in range(i, min(n, i + 200))), return_exceptions=True)
        for s in batch:
            if isinstance(s, socket.socket):
                sockets.append(s)
                serving.append(asyncio.create_task(serve(s)))
            else:
                failed += 1
                if failed == 1:
                    print(f"# first failure: {s!r}", flush=True)
    opened_in = time.monotonic() - t0
    await asyncio.sleep(3)
    gc.collect()
    after = bench.server_rss()
    cpu0 = bench.server_cpu()
    await asyncio.sleep(10)
    idle_cpu = (bench.server_cpu() - cpu0) / 10
    closed_before_broadcast = closed
    # one message to a chat every socket is a member of
    t_insert = time.monotonic()
    await conn.execute("INSERT INTO webchat.messages (chat_id, sender_id, text) VALUES ($1, $2, 'to everyone')",
                       chat, bot)
    for _ in range(1200):
        if len(arrivals) + closed >= len(sockets):
            break
        await asyncio.sleep(0.1)
    broadcast = (max(arrivals) - t_insert) if arrivals else None
    rss_peak = bench.server_rss()
    for t in serving:
        t.cancel()
    for s in sockets:
        s.close()
    await conn.close()
    bench.stop()
    return {
        "connections_asked": n,
        "connections_open": len(sockets),
        "failed": failed,
        "source_addresses": len(sources),
        "fd_hard_limit": hard,
        "opened_in_seconds": round(opened_in, 1),
        "server_rss_before_mb": round(before / 2**20, 1),
        "server_rss_after_mb": round(after / 2**20, 1),
        "rss_per_connection_kb": round((after - before) / max(len(sockets), 1) / 1024, 2),
        "server_cpu_percent_idle": round(100 * idle_cpu, 2),
        "broadcast_received": len(arrivals),
        "closed_by_server_before_broadcast": closed_before_broadcast,
        "closed_by_server": closed,
        "broadcast_all_received_seconds": round(broadcast, 3) if broadcast is not None else None,
        "broadcast_p50_seconds": round(sorted(arrivals)[len(arrivals) // 2] - t_insert, 3) if arrivals else None,
        "server_rss_after_broadcast_mb": round(rss_peak / 2**20, 1),
        "note": "shared 2-core machine under contention from other helpers",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--per-source", type=int, default=200)
    args = parser.parse_args()
    emit(f"idle_ws_{args.connections}", asyncio.run(scenario(args.connections, args.per_source)))


if __name__ == "__main__":
    main()
